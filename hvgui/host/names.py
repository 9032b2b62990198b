"""Names users type and see: checkpoint names, VM names, PowerShell lines."""

from __future__ import annotations

import os
from datetime import datetime

from hvgui.host.errors import HostError

MAX_NAME = 100


def validate_name(subject: str, name: str, what: str = "checkpoint") -> str:
    """A VM or checkpoint name: 1-100 characters, not blank, no control characters."""
    if not name or not name.strip():
        raise HostError(subject, f"a {what} name cannot be blank")
    if len(name) > MAX_NAME:
        raise HostError(
            subject, f"a {what} name has at most {MAX_NAME} characters ({len(name)} given)"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise HostError(subject, f"a {what} name cannot contain control characters")
    return name


def default_checkpoint_name(vm_name: str, when: datetime) -> str:
    """Hyper-V Manager's default: `web01 - (11/25/2026 - 1:05:09 PM)` in local time."""
    local = when.astimezone()
    hour = local.hour % 12 or 12
    suffix = "AM" if local.hour < 12 else "PM"
    stamp = f"{local.month}/{local.day}/{local.year} - {hour}:{local.minute:02d}:{local.second:02d}"
    return f"{vm_name} - ({stamp} {suffix})"


def ps_quote(value: str | os.PathLike[str]) -> str:
    """A PowerShell single-quoted string literal."""
    return "'" + os.fspath(value).replace("'", "''") + "'"


def ps_size(value: int) -> str:
    """PowerShell's size literal: 1GB, 512MB, or plain bytes."""
    for unit, suffix in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
