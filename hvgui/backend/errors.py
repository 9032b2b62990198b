"""The errors every host backend raises: each names the VM, checkpoint or file concerned and
says what is wrong in words the window and hvctl show as they are (`<subject>: <problem>`).

The UI and hvctl catch `HostError` (and its kinds below), never one backend's own exceptions.
"""

from __future__ import annotations

from hvgui.errors import HvError


class HostError(HvError):
    """Something about the host, a VM or one of their files is wrong or not allowed."""


class NotFoundError(HostError):
    """No VM or checkpoint has the name or Id asked for (Hyper-V: ObjectNotFound)."""


class VMBusyError(HostError):
    """Another operation is running on this VM: `VM is busy: <operation>`."""


class ReadOnlyHostError(HostError):
    """The host's folder cannot be written (read-only mount, no write permission): it can be
    listed, checked and inspected, and nothing else."""


class InvalidStateError(HostError):
    """An operation the VM's current state does not allow (e.g. Pause while Off)."""


class PausedCriticalError(InvalidStateError):
    """A guest write found no space for the disk to grow: the VM is now Paused-Critical."""


class AccessDeniedError(HostError):
    """The host refused the user (a remote host: not in Hyper-V Administrators)."""


class ConnectionLostError(HostError):
    """A remote host stopped answering; an operation sent to it may still be running there."""


class UnfinishedError(HostError):
    """An operation stopped past its commit point: its journal finishes it later."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(
            operation,
            f"stopped after its point of no return: {reason}; it will be completed when the "
            "host is next opened or on the VM's next operation (free space or fix the cause)",
        )
