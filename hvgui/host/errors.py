"""The lab host's errors: the backend errors (hvgui/backend/errors.py), which every backend
raises, so the window and hvctl catch one family whichever host they talk to."""

from __future__ import annotations

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

__all__ = [
    "AccessDeniedError",
    "ConnectionLostError",
    "HostError",
    "InvalidStateError",
    "NotFoundError",
    "PausedCriticalError",
    "ReadOnlyHostError",
    "UnfinishedError",
    "VMBusyError",
]
