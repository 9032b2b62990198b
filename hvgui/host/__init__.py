"""The lab host: a Hyper-V host simulated on disk (no Qt). See docs/architecture.md."""

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
