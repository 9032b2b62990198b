"""How the host's values are written for people, whichever backend gave them: sizes,
PowerShell's dates and the literals of the PowerShell lines both backends show (the window,
hvctl and both backends' messages say them the same way)."""

from __future__ import annotations

from datetime import datetime
from os import PathLike, fspath
from pathlib import PurePath, PurePosixPath, PureWindowsPath


def ps_datetime(when: datetime, *, between: str = " ", seconds: bool = True) -> str:
    """A time as PowerShell (en-US) prints it, in local time: `11/25/2026 1:05:09 PM`."""
    local = when.astimezone()
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local.minute:02d}" + (f":{local.second:02d}" if seconds else "")
    suffix = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year}{between}{clock} {suffix}"


def host_path(text: str) -> PurePath:
    """A path as a remote host names it, never a local `Path` (nothing opens or joins it
    here): a Windows path as `PureWindowsPath` (whose parts a POSIX `Path` would take for one
    long name), else `PurePosixPath`."""
    return PureWindowsPath(text) if "\\" in text else PurePosixPath(text)


def file_name(path: str | PathLike[str]) -> str:
    """The file name in a host's path, a Windows path too: `D:\\VMs\\web01.avhdx` ->
    `web01.avhdx`."""
    return host_path(str(path)).name


def human_size(value: int | None) -> str:
    """A size as a person reads it: `512 B`, `4.0 MiB`, `1.5 GiB`, `2.0 TiB` ("" when unknown)."""
    if value is None:
        return ""
    for unit, suffix in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= unit:
            return f"{value / unit:.1f} {suffix}"
    return f"{value} B"


# PowerShell ends a single-quoted string at any of these, not only at the ASCII quote (its
# tokenizer takes the typographic single quotes for it too); each is escaped by doubling.
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(value: str | PathLike[str]) -> str:
    """A PowerShell single-quoted string literal: the value, whatever quotes it holds."""
    text = fspath(value)
    return "'" + "".join(c + c if c in _PS_SINGLE_QUOTES else c for c in text) + "'"


def ps_size(value: int) -> str:
    """PowerShell's size literal: 1GB, 512MB, or plain bytes."""
    for unit, suffix in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
