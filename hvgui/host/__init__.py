"""The lab host: a Hyper-V host simulated on disk (no Qt). See docs/architecture.md.

The names below are loaded on first use (PEP 562): importing one of the host's small modules
(`hvgui.host.names`) does not load every operation, lxml and the VHDX engine with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.host.errors import HostError, InvalidStateError, VMBusyError
    from hvgui.host.host import Host
    from hvgui.host.layout import default_host_dir
    from hvgui.host.model import (
        VM,
        DiskEvent,
        Event,
        FibreChannelAdapter,
        Finding,
        HardDrive,
        OperationResult,
        Snapshot,
    )

# Each public name and the module that defines it.
_HOME = {
    "HostError": "errors", "InvalidStateError": "errors", "VMBusyError": "errors",
    "Host": "host",
    "default_host_dir": "layout",
    "VM": "model", "DiskEvent": "model", "Event": "model", "FibreChannelAdapter": "model",
    "Finding": "model", "HardDrive": "model", "OperationResult": "model", "Snapshot": "model",
}

__all__ = [
    "VM",
    "DiskEvent",
    "Event",
    "FibreChannelAdapter",
    "Finding",
    "HardDrive",
    "Host",
    "HostError",
    "InvalidStateError",
    "OperationResult",
    "Snapshot",
    "VMBusyError",
    "default_host_dir",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
