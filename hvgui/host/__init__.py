"""The lab host: a Hyper-V host simulated on disk (no Qt). See docs/architecture.md.

The names below are loaded on first use (PEP 562): importing one of the host's small modules
(`hvgui.host.names`) does not load every operation, lxml and the VHDX engine with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.host.errors import HostError, InvalidStateError, NotFoundError, VMBusyError
    from hvgui.host.host import Host
    from hvgui.host.layout import default_host_dir

# Each public name and the module that defines it.
_HOME = {
    "HostError": "errors", "InvalidStateError": "errors", "NotFoundError": "errors",
    "VMBusyError": "errors",
    "Host": "host",
    "default_host_dir": "layout",
}

__all__ = [
    "Host",
    "HostError",
    "InvalidStateError",
    "NotFoundError",
    "VMBusyError",
    "default_host_dir",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
