"""What every host backend shares: the HostBackend contract, the model types and the errors.

The lab host (`hvgui.host`) and the real Hyper-V backend (`hvgui.hyperv`) both speak these
types; the UI and hvctl depend on them, never on one backend's internals. Names load on first
use (PEP 562) so hvctl's start-up pays only for what a command touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.backend.errors import (
        AccessDeniedError,
        ConnectionLostError,
        HostError,
        InvalidStateError,
        NotFoundError,
        PausedCriticalError,
        ReadOnlyHostError,
        UnfinishedError,
        VMBusyError,
    )
    from hvgui.backend.model import (
        SOUND,
        VM,
        DiskEvent,
        Event,
        FibreChannelAdapter,
        Finding,
        HardDrive,
        Health,
        OperationResult,
        Snapshot,
    )
    from hvgui.backend.protocol import (
        EVERYTHING,
        Capabilities,
        Capability,
        HostBackend,
        HostKind,
    )

_HOME = {
    "AccessDeniedError": "errors",
    "ConnectionLostError": "errors",
    "HostError": "errors",
    "InvalidStateError": "errors",
    "NotFoundError": "errors",
    "PausedCriticalError": "errors",
    "ReadOnlyHostError": "errors",
    "UnfinishedError": "errors",
    "VMBusyError": "errors",
    "SOUND": "model",
    "VM": "model",
    "DiskEvent": "model",
    "Event": "model",
    "FibreChannelAdapter": "model",
    "Finding": "model",
    "HardDrive": "model",
    "Health": "model",
    "OperationResult": "model",
    "Snapshot": "model",
    "EVERYTHING": "protocol",
    "Capabilities": "protocol",
    "Capability": "protocol",
    "HostBackend": "protocol",
    "HostKind": "protocol",
}

__all__ = [
    "EVERYTHING",
    "SOUND",
    "VM",
    "AccessDeniedError",
    "Capabilities",
    "Capability",
    "ConnectionLostError",
    "DiskEvent",
    "Event",
    "FibreChannelAdapter",
    "Finding",
    "HardDrive",
    "Health",
    "HostBackend",
    "HostError",
    "HostKind",
    "InvalidStateError",
    "NotFoundError",
    "OperationResult",
    "PausedCriticalError",
    "ReadOnlyHostError",
    "Snapshot",
    "UnfinishedError",
    "VMBusyError",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
