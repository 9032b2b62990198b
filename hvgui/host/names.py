"""Names users type and see: checkpoint names, VM names."""

from __future__ import annotations

import re
from datetime import datetime

from hvgui.backend.formats import ps_datetime

_NOT_IN_FILE_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def file_name_for(name: str) -> str:
    """A VM name made safe as a file or folder name (its disk, its `-Path` folder): Windows'
    forbidden characters become `_`, and no name can climb out of its folder (`..`)."""
    safe = _NOT_IN_FILE_NAMES.sub("_", name).strip().rstrip(". ")
    return safe if safe.strip(".") else "_" * max(len(name), 1)


def shown(name: str, limit: int = 40) -> str:
    """A name as an error's subject: quoted (so a blank one is visible) and cut when long."""
    return f"'{name}'" if len(name) <= limit else f"'{name[:limit]}...'"


def default_checkpoint_name(vm_name: str, when: datetime) -> str:
    """Hyper-V Manager's default: `web01 - (11/25/2026 - 1:05:09 PM)` in local time."""
    return f"{vm_name} - ({ps_datetime(when, between=' - ')})"
