"""Parent locator paths: write Windows-style paths for a child, map them back to POSIX paths.

Hyper-V writes `relative_path` (`.\\parent.avhdx`), `absolute_win32_path` (`C:\\...`) and
`volume_path` (`\\\\?\\Volume{guid}\\...`). We resolve relative first, then volume, then
absolute, then the bare file name beside the child. On POSIX systems drive letters and `\\\\?\\`
prefixes are dropped; on Windows a drive letter is kept (a volume GUID still cannot be mapped
to a drive without asking the system: its path is taken on the child's drive).
"""

from __future__ import annotations

import ntpath
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

LOOKUP_ORDER = ("relative_path", "volume_path", "absolute_win32_path")
_VOLUME_PREFIX = re.compile(r"^\\\\\?\\Volume\{[0-9A-Fa-f-]+\}", re.IGNORECASE)
_LONG_PREFIX = re.compile(r"^\\\\[?.]\\(UNC\\)?", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")
# The native path flavour: ntpath on Windows (tests swap it in to check the Windows branch).
_native = os.path


def relative_win_path(child: Path, parent: Path) -> str:
    """The parent's path relative to the child's folder, Windows style: `.\\p.vhdx`."""
    try:
        rel = _native.relpath(_native.abspath(parent), _native.dirname(_native.abspath(child)))
    except ValueError:  # Windows: on another drive, there is no relative path
        return absolute_win_path(parent)
    rel = rel.replace("/", "\\")
    if not rel.startswith(".."):
        rel = ".\\" + rel
    return rel


def absolute_win_path(parent: Path) -> str:
    """A Windows-style absolute path: the path itself on Windows; `C:\\dir\\p.vhdx` for the POSIX
    path `/dir/p.vhdx` (the drive letter is nominal; resolving drops it again)."""
    full = _native.abspath(parent)
    if _native is ntpath:
        return str(full)
    return "C:" + str(full).replace("/", "\\")


ZERO_LINKAGE = "{00000000-0000-0000-0000-000000000000}"  # parent_linkage2 at rest, as Hyper-V


@dataclass(frozen=True)
class WindowsNames:
    """How the Windows host a lab stands for names a file (`absolute`: `C:\\...`, or None for a
    file it has no name for), and the GUID of the volume its files are on."""

    absolute: Callable[[Path], str | None]
    volume: str


_NAMES: ContextVar[WindowsNames | None] = ContextVar("hvgui_windows_names", default=None)


@contextmanager
def windows_names(names: WindowsNames) -> Iterator[None]:
    """Parent locators written inside this block name files as `names` says (a lab host sets
    it around its operations)."""
    token = _NAMES.set(names)
    try:
        yield
    finally:
        _NAMES.reset(token)


def windows_absolute(path: Path) -> str:
    """`path` as a Windows host names it: the lab host's name inside a `windows_names` block
    (`D:\\Labs\\Hyper-V\\...`), else `absolute_win_path`."""
    names = _NAMES.get()
    return (names.absolute(path) if names is not None else None) or absolute_win_path(path)


def parent_locator(child: Path, parent: Path, linkage: str) -> dict[str, str]:
    """The five keys Hyper-V writes in an AVHDX's parent locator: `parent_linkage` (the
    parent's DataWriteGuid), `parent_linkage2` (zero), `relative_path`, `volume_path`
    (`\\\\?\\Volume{GUID}\\...`) and `absolute_win32_path`."""
    names = _NAMES.get()
    absolute = windows_absolute(parent)
    if names is not None:
        volume = names.volume
    else:  # no lab host: a GUID of the file system the parent is on, stable while it is
        device = os.stat(_native.dirname(_native.abspath(parent))).st_dev
        volume = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hvgui-volume:{device}"))
    drive = re.match(r"^[A-Za-z]:\\", absolute)
    return {
        "parent_linkage": linkage,
        "parent_linkage2": ZERO_LINKAGE,
        "relative_path": relative_win_path(child, parent),
        "volume_path": f"\\\\?\\Volume{{{volume}}}\\" + absolute[3:] if drive else absolute,
        "absolute_win32_path": absolute,
    }


def to_posix(value: str, base: Path) -> Path | None:
    """Map one locator value to a path here (relative values against `base`)."""
    if not value:
        return None
    v = value.strip().rstrip("\0")
    v = _VOLUME_PREFIX.sub("", v)
    v = _LONG_PREFIX.sub("", v)
    if _native is ntpath:  # a rooted path without a drive stays on `base`'s drive
        return Path(ntpath.normpath(ntpath.join(base, v.replace("/", "\\")))) if v else None
    v = _DRIVE.sub("", v)
    posix = v.replace("\\", "/")
    if not posix:
        return None
    p = Path(posix)
    if not p.is_absolute():
        p = base / p
    return Path(os.path.normpath(p))


def candidate_paths(child: Path, locator: dict[str, str]) -> list[Path]:
    """Where the parent may be, in lookup order, without duplicates."""
    base = Path(_native.dirname(_native.abspath(child)))
    found: list[Path] = []
    for key in LOOKUP_ORDER:
        p = to_posix(locator.get(key, ""), base)
        if p is not None and p not in found:
            found.append(p)
    for key in LOOKUP_ORDER:
        value = locator.get(key, "")
        if value:
            name = ntpath.basename(value.replace("/", "\\"))
            if name and name not in (".", ".."):
                p = Path(_native.join(base, name))
                if p not in found:
                    found.append(p)
    return found


def looked_for(child: Path, locator: dict[str, str]) -> str:
    """`candidate_paths` for a message: each as it is here, except the one the locator records
    as a Windows path with a drive (`absolute_win32_path`), named as recorded
    (`C:\\ProgramData\\...\\web01.vhdx`): on POSIX its drive is dropped, and the path
    looked at (`/ProgramData/...`) would read as a mistake."""
    shown = [str(p) for p in candidate_paths(child, locator)]
    recorded = locator.get("absolute_win32_path", "").strip().rstrip("\0")
    if _native is not ntpath and _DRIVE.match(recorded):
        base = Path(_native.dirname(_native.abspath(child)))
        mapped = to_posix(recorded, base)
        # Unless the relative path leads there too: then it is the file beside, named here.
        if mapped is not None and mapped != to_posix(locator.get("relative_path", ""), base):
            shown = [recorded if text == str(mapped) else text for text in shown]
    return ", ".join(shown)


MAX_FOLDER_SCAN = 10_000


def find_parent(child: Path, locator: dict[str, str]) -> Path | None:
    """The first candidate that is a file; failing that, a file beside the child whose name
    matches a recorded name but for case (Windows names are case-insensitive: a chain copied
    from Windows may spell `Base.VHDX` where the locator says `base.vhdx`)."""
    candidates = candidate_paths(child, locator)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    wanted = {ntpath.basename(v.replace("/", "\\")).lower()
              for k, v in locator.items() if k in LOOKUP_ORDER and v}
    wanted.discard("")
    folder = Path(_native.dirname(_native.abspath(child)))
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_FOLDER_SCAN:
                    break
                if entry.name.lower() in wanted and entry.is_file():
                    return folder / entry.name
    except OSError:
        pass
    return None


def parent_file_name(locator: dict[str, str]) -> str:
    """The parent's file name as the locator records it (for messages)."""
    for key in LOOKUP_ORDER:
        value = locator.get(key, "")
        if value:
            return ntpath.basename(value.replace("/", "\\"))
    return "(no path in the parent locator)"
