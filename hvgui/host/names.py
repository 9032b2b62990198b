"""Names users type and see: checkpoint names, VM names, PowerShell lines."""

from __future__ import annotations

import os
import re
from datetime import datetime

_NOT_IN_FILE_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def file_name_for(name: str) -> str:
    """A VM name made safe as a file or folder name (its disk, its `-Path` folder): Windows'
    forbidden characters become `_`, and no name can climb out of its folder (`..`)."""
    safe = _NOT_IN_FILE_NAMES.sub("_", name).strip().rstrip(". ")
    return safe if safe.strip(".") else "_" * max(len(name), 1)


def shown(name: str, limit: int = 40) -> str:
    """A name as an error's subject: quoted (so a blank one is visible) and cut when long."""
    return f"'{name}'" if len(name) <= limit else f"'{name[:limit]}...'"


def ps_datetime(when: datetime, *, between: str = " ", seconds: bool = True) -> str:
    """A time as PowerShell (en-US) prints it, in local time: `11/25/2026 1:05:09 PM`."""
    local = when.astimezone()
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local.minute:02d}" + (f":{local.second:02d}" if seconds else "")
    suffix = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year}{between}{clock} {suffix}"


def default_checkpoint_name(vm_name: str, when: datetime) -> str:
    """Hyper-V Manager's default: `web01 - (11/25/2026 - 1:05:09 PM)` in local time."""
    return f"{vm_name} - ({ps_datetime(when, between=' - ')})"


def human_size(value: int | None) -> str:
    """A size as a person reads it: `512 B`, `4.0 MiB`, `1.5 GiB`, `2.0 TiB` ("" when unknown)."""
    if value is None:
        return ""
    for unit, suffix in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= unit:
            return f"{value / unit:.1f} {suffix}"
    return f"{value} B"


def ps_quote(value: str | os.PathLike[str]) -> str:
    """A PowerShell single-quoted string literal."""
    return "'" + os.fspath(value).replace("'", "''") + "'"


def ps_size(value: int) -> str:
    """PowerShell's size literal: 1GB, 512MB, or plain bytes."""
    for unit, suffix in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
