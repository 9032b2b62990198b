"""Windows paths in configurations, mapped to files here.

A configuration from a real host names its files as that host saw them
(`C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Virtual Hard Disks\\web01.vhdx`). A copy of
it (a folder copied off the host, or made by Export-VM) keeps those names while the files sit
in the copy. A Windows path is resolved the way Hyper-V's own import does: the tail of the path
below the configuration's folder, its VM folder (data root) or the folder of the copy, longest
tail first, then the file's name anywhere in the copy; names compare case-insensitively, as on
Windows. What is found always lies inside the copy: `..` and drive or volume prefixes never
lead out of it. What is not found keeps its Windows path, and `looked_for` says in words where
it was looked for.
"""

from __future__ import annotations

import ntpath
import os
import re
from pathlib import Path

from hvgui.host.layout import SNAPSHOTS, VIRTUAL_MACHINES

# C:\..., \\server\share\..., \\?\C:\..., \\?\Volume{GUID}\...
WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")
_PREFIX = re.compile(
    r"^(\\\\[?.]\\(Volume\{[0-9A-Fa-f-]+\}\\|UNC\\[^\\]+\\[^\\]+\\|[A-Za-z]:\\)"
    r"|\\\\[^\\?.][^\\]*\\[^\\]+\\|[A-Za-z]:\\)",
    re.IGNORECASE,
)
MAX_SCAN = 10_000  # entries looked at when searching a copy by file name
MAX_DEPTH = 8  # folders below the copy's root searched by name


def is_windows(text: str) -> bool:
    return bool(WINDOWS_ABSOLUTE.match(text))


def parts_of(text: str) -> list[str]:
    """The path's names below its drive, share or volume; never `.` or `..`."""
    rest = _PREFIX.sub("", text.replace("/", "\\"), count=1)
    return [p for p in rest.split("\\") if p and p not in (".", "..")]


def search_roots(config_folder: Path) -> list[Path]:
    """Where a configuration's files are looked for: its folder, then its VM folder (the data
    root: the folder holding `Virtual Machines` or `Snapshots`)."""
    roots = [config_folder]
    if config_folder.name.casefold() in (VIRTUAL_MACHINES.casefold(), SNAPSHOTS.casefold()):
        roots.append(config_folder.parent)
    return roots


def _child(folder: Path, name: str) -> Path | None:
    """`folder/name`, or the entry whose name matches but for case; None when neither."""
    exact = folder / name
    if os.path.lexists(exact):
        return exact
    wanted = name.casefold()
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_SCAN:
                    break
                if entry.name.casefold() == wanted:
                    return folder / entry.name
    except OSError:
        pass
    return None


def _below(base: Path, names: list[str]) -> Path | None:
    node: Path | None = base
    for name in names:
        node = _child(node, name) if node is not None else None
        if node is None:
            return None
    return node if node is not None and node.is_file() else None


def _by_name(root: Path, name: str) -> Path | None:
    """The first file named `name` (any case) below `root`, in sorted order, bounded."""
    wanted, seen = name.casefold(), 0
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        seen += len(entries)
        if seen > MAX_SCAN:
            return None
        folders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH and entry.name != ".hvgui":
                    folders.append((Path(entry.path), depth + 1))
            elif entry.name.casefold() == wanted and entry.is_file():
                return Path(entry.path)
        stack.extend(reversed(folders))
    return None


def find(text: str, config_folder: Path) -> Path | None:
    """The file a Windows path of a copied configuration stands for, inside the copy."""
    names = parts_of(text)
    if not names:
        return None
    roots = search_roots(config_folder)
    for root in roots:
        for start in range(len(names)):  # the longest tail first
            found = _below(root, names[start:])
            if found is not None:
                return found
    return _by_name(roots[-1], names[-1])


def looked_for(text: str, config_folder: Path) -> str:
    roots = search_roots(config_folder)
    return (
        f"looked for {text} in: {', '.join(str(r) for r in roots)}, and by the name "
        f"{ntpath.basename(text)!r} anywhere in {roots[-1]}"
    )
