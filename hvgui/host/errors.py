"""The lab host's errors: every one names the file or VM concerned and says what is wrong."""

from __future__ import annotations

from hvgui.errors import HvError


class HostError(HvError):
    """Something about the host, a VM or one of their files is wrong or not allowed."""


class VMBusyError(HostError):
    """Another operation is running on this VM: `VM is busy: <operation>`."""


class InvalidStateError(HostError):
    """An operation the VM's current state does not allow (e.g. Pause while Off)."""
