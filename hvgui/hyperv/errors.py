"""A real host's errors as hvgui's: PowerShell error records (FullyQualifiedErrorId, category,
exception type, message) become not found, invalid state, busy, access denied or connection
lost, each showing the host's own message."""

from __future__ import annotations

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
           "error_from_record"]


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


def error_from_record(data: dict[str, Any], subject: str) -> HostError:
    """The hvgui error for one error record; `subject` (the VM or file the script was about)
    is used when the record names no target."""
    error_id = str(data.get("FullyQualifiedErrorId") or "").split(",", 1)[0]
    category = str(data.get("Category") or "")
    exception = str(data.get("ExceptionType") or "")
    message = " ".join(str(data.get("Message") or "").split()) or "the host reported an error"
    target = str(data.get("TargetObject") or "") or subject
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
