"""What every host backend shares: the model types (and the HostBackend contract, issue 9).

The lab host (`hvgui.host`) and the real Hyper-V backend (`hvgui.hyperv`) both speak these
types; the UI and hvctl depend on them, never on one backend's internals. Names load on first
use (PEP 562) so hvctl's start-up pays only for what a command touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.backend.model import (
        VM,
        DiskEvent,
        Event,
        FibreChannelAdapter,
        Finding,
        HardDrive,
        OperationResult,
        Snapshot,
    )

_HOME = {
    "VM": "model",
    "DiskEvent": "model",
    "Event": "model",
    "FibreChannelAdapter": "model",
    "Finding": "model",
    "HardDrive": "model",
    "OperationResult": "model",
    "Snapshot": "model",
}

__all__ = [
    "VM",
    "DiskEvent",
    "Event",
    "FibreChannelAdapter",
    "Finding",
    "HardDrive",
    "OperationResult",
    "Snapshot",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
