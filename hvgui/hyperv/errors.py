"""A real host's errors as hvgui's: PowerShell error records (FullyQualifiedErrorId, category,
exception type, message) become not found, invalid state, busy, access denied or connection
lost, each showing the host's own message; a host that lacks the Hyper-V module, or lets the
user in but not manage Hyper-V, says the fix too (the same words at connect and later)."""

from __future__ import annotations

import re
from typing import Any

from hvgui.backend.errors import (
    AccessDeniedError,
    ConnectionLostError,
    HostError,
    InvalidStateError,
    NotFoundError,
    VMBusyError,
)

__all__ = ["AccessDeniedError", "ConnectError", "ConnectionLostError", "NotFoundError",
           "cannot_manage", "error_from_record", "lost_while", "module_missing"]

INSTALL_MODULE = (
    "install it on the host, as administrator: Install-WindowsFeature Hyper-V-PowerShell "
    "(Windows Server) or Enable-WindowsOptionalFeature -Online -FeatureName "
    "Microsoft-Hyper-V-Management-PowerShell (Windows 10/11)"
)
# A Hyper-V cmdlet's name (Get-VM, Get-VMSnapshot, Get-VHD...): its module is the one missing.
_HYPERV_COMMAND = re.compile(r"^[A-Za-z]+-(VM|VHD)", re.IGNORECASE)


class ConnectError(HostError):
    """The host could not be reached or refused the connection: the message names the cause
    and the fix."""


# The first part of a FullyQualifiedErrorId ("InvalidState,Microsoft.HyperV...StartVM") and
# the ErrorCategory names, each with the hvgui error it means.
_BY_ERROR_ID: dict[str, type[HostError]] = {
    "ObjectNotFound": NotFoundError,
    "NotFound": NotFoundError,
    "HvguiSnapshotNotFound": NotFoundError,
    "PathNotFound": NotFoundError,
    "FileNotFound": NotFoundError,
    "AccessDenied": AccessDeniedError,
    "UnauthorizedAccess": AccessDeniedError,
    "InvalidState": InvalidStateError,
    "ObjectInUse": VMBusyError,
    "OperationInProgress": VMBusyError,
    "ResourceBusy": VMBusyError,
}
_BY_CATEGORY: dict[str, type[HostError]] = {
    "ObjectNotFound": NotFoundError,
    "PermissionDenied": AccessDeniedError,
    "SecurityError": AccessDeniedError,
    "ResourceBusy": VMBusyError,
    "ConnectionError": ConnectionLostError,
}
_BY_EXCEPTION: dict[str, type[HostError]] = {
    "System.IO.FileNotFoundException": NotFoundError,
    "System.IO.DirectoryNotFoundException": NotFoundError,
    "System.Management.Automation.ItemNotFoundException": NotFoundError,
    "System.UnauthorizedAccessException": AccessDeniedError,
    "System.Management.Automation.ValidationMetadataException": InvalidStateError,
}
# Get-VM -Name/-Id of a missing VM says so with InvalidParameter (InvalidArgument).
_NOT_FOUND_WORDS = ("unable to find", "was not found", "could not be found", "cannot find")


def lost_while(host: str, script: str, cause: str) -> ConnectionLostError:
    """The connection broke while `script` ran: what it started may go on there."""
    return ConnectionLostError(
        host, f"the connection was lost while {script} ran ({cause}): the operation may still "
        "be running on the host; the window refreshes when the host answers again")


def module_missing(host: str, said: str) -> ConnectError:
    return ConnectError(host, f"the Hyper-V PowerShell module is missing ({said}): "
                        f"{INSTALL_MODULE}")


def cannot_manage(host: str, user: str, said: str) -> AccessDeniedError:
    """The user got in (WinRM let it) but Hyper-V refuses it: Get-VM then lists nothing and
    the other cmdlets fail with PermissionDenied."""
    member = f"'{user}'" if user else "<user>"
    return AccessDeniedError(
        host, f"{user or 'this user'} may connect but not manage Hyper-V ({said}): add it "
        "to the host's 'Hyper-V Administrators' group, as administrator: Add-LocalGroupMember "
        f"-Group 'Hyper-V Administrators' -Member {member}, then connect again"
    )


def error_from_record(data: dict[str, Any], subject: str, host: str = "") -> HostError:
    """The hvgui error for one error record; `subject` (the VM or file the script was about)
    is used when the record names no target, `host` (the computer) for what is the host's
    own problem: its Hyper-V module missing, Hyper-V refusing the user."""
    error_id = str(data.get("FullyQualifiedErrorId") or "").split(",", 1)[0]
    category = str(data.get("Category") or "")
    exception = str(data.get("ExceptionType") or "")
    message = " ".join(str(data.get("Message") or "").split()) or "the host reported an error"
    target = str(data.get("TargetObject") or "") or subject
    if (exception.endswith("CommandNotFoundException") or error_id in (
            "CommandNotFoundException", "Modules_ModuleNotFound")) and (
            _HYPERV_COMMAND.match(target) or "Hyper-V" in message):
        return module_missing(host or subject, message)
    if category == "PermissionDenied" and exception.endswith("VirtualizationException"):
        return cannot_manage(host or subject, "", message)
    kind = (
        _BY_ERROR_ID.get(error_id)
        or _BY_EXCEPTION.get(exception)
        or _BY_CATEGORY.get(category)
    )
    if kind is None and any(words in message.lower() for words in _NOT_FOUND_WORDS):
        kind = NotFoundError
    if kind is None and category == "InvalidOperation":
        kind = InvalidStateError
    return (kind or HostError)(target, message)
