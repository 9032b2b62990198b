"""Numbers and times written the way Hyper-V Manager writes them."""

from __future__ import annotations

from datetime import datetime, timedelta


def memory_mb(size: int) -> str:
    """Assigned Memory column: whole megabytes, e.g. "2048 MB"."""
    return f"{size // (1 << 20)} MB"


def uptime(delta: timedelta) -> str:
    """Uptime column: "hh:mm:ss", with "d." in front past a day, like Hyper-V."""
    total = int(delta.total_seconds())
    if total <= 0:
        return "00:00:00"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}.{clock}" if days else clock


def hyperv_time(moment: datetime) -> str:
    """M/D/YYYY h:mm:ss AM/PM, as in checkpoint names and the details pane."""
    local = moment.astimezone() if moment.tzinfo is not None else moment
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year} {hour}:{local:%M:%S} {half}"


def sentence(problem: str) -> str:
    """An error's problem ("cannot start the VM: ...") as a sentence for a tooltip or a
    message ("" stays "")."""
    return f"{problem[:1].upper()}{problem[1:]}." if problem else ""
