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

import json
import ntpath
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from hvgui.host.errors import HostError
from hvgui.host.fileio import atomic_write, parse_json, read_bounded
from hvgui.host.layout import MAX_SCAN, SNAPSHOTS, VIRTUAL_MACHINES, child_any_case
from hvgui.vhdx.locator import WindowsNames

# C:\..., \\server\share\..., \\?\C:\..., \\?\Volume{GUID}\...
WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")
_PREFIX = re.compile(
    r"^(\\\\[?.]\\(Volume\{[0-9A-Fa-f-]+\}\\|UNC\\[^\\]+\\[^\\]+\\|[A-Za-z]:\\)"
    r"|\\\\[^\\?.][^\\]*\\[^\\]+\\|[A-Za-z]:\\)",
    re.IGNORECASE,
)
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


def _below(base: Path, names: list[str]) -> Path | None:
    node: Path | None = base
    for name in names:
        node = child_any_case(node, name) if node is not None else None
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


# ---------------------------------------------------------------- a lab host's Windows names
DEFAULT_ROOT = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
NAMES_FILE = "windows.json"  # in .hvgui: the host's Windows root and volume GUID
_ROOT_FORM = re.compile(r'^[A-Za-z]:(\\[^\\/:*?"<>|\x00-\x1f]+)*$')


@dataclass(frozen=True)
class HostNames:
    """The Windows host a lab host stands for: its folder is `root` there, on the volume
    `\\\\?\\Volume{volume}\\`. Configurations and parent locators hold these names."""

    root: str
    volume: str  # lower-case GUID

    def to_windows(self, host_root: Path, path: str) -> str | None:
        """`path` (inside `host_root`) as the Windows host names it; None when outside."""
        rel = os.path.relpath(os.path.normpath(path), os.path.normpath(host_root))
        if rel == os.curdir:
            return self.root
        if rel.startswith(os.pardir) or os.path.isabs(rel):
            return None
        return self.root + "\\" + rel.replace(os.sep, "\\")

    def to_local(self, host_root: Path, text: str) -> Path | None:
        """A Windows path below `root` (any case) as the file in `host_root`; None otherwise.
        Never outside `host_root`: `..` is dropped."""
        root = self.root.rstrip("\\").casefold()
        folded = text.replace("/", "\\").casefold()
        if folded != root and not folded.startswith(root + "\\"):
            return None
        names = [p for p in text.replace("/", "\\")[len(root):].split("\\")
                 if p and p not in (".", "..")]
        return host_root.joinpath(*names)

    def volume_path(self, windows: str) -> str:
        """`C:\\dir\\file` as `\\\\?\\Volume{GUID}\\dir\\file`."""
        return f"\\\\?\\Volume{{{self.volume}}}\\" + windows[3:]


def check_root(text: str) -> str:
    """A Windows root as given at creation: `D:\\Hyper-V`; HostError for anything else."""
    value = text.strip().rstrip("\\")
    if len(value) > 200 or not _ROOT_FORM.match(value) or ".." in value.split("\\"):
        raise HostError(text, "not a Windows folder path like C:\\ProgramData\\Microsoft\\"
                        "Windows\\Hyper-V (a drive letter, then folder names)")
    return value[0].upper() + value[1:]


_NAMES: dict[Path, tuple[tuple[int, int, int], HostNames]] = {}


def shell_name(host_root: Path, path: str | os.PathLike[str]) -> str:
    """`path` as a PowerShell line for the Windows host the lab stands for names it
    (`C:\\ProgramData\\...\\Virtual Hard Disks\\web01.vhdx`); a path outside the lab, which
    that host has no name for, as it is here."""
    text = os.fspath(path)
    return read_names(host_root).to_windows(host_root, text) or text


def read_names(host_root: Path) -> HostNames:
    """The host's Windows names; a host made before them: the default root, and a volume GUID
    derived from its folder (stable while it stays there)."""
    path = host_root / ".hvgui" / NAMES_FILE
    try:
        st = path.stat()
    except OSError:
        return HostNames(DEFAULT_ROOT, str(uuid.uuid5(uuid.NAMESPACE_URL, host_root.as_uri())))
    # The inode too: a rewrite (a new file renamed over) may keep the size and the clock tick.
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _NAMES.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = parse_json(read_bounded(path, 4096))
        names = HostNames(check_root(str(data["WindowsRoot"])),
                          str(uuid.UUID(str(data["VolumeGuid"]))))
    except (OSError, ValueError, KeyError, TypeError, HostError) as exc:
        raise HostError(path, f"not the host's Windows names: {exc}") from None
    _NAMES[path] = (stamp, names)
    return names


def write_names(host_root: Path, root: str) -> HostNames:
    """Set the host's Windows root (at creation) and give it a volume GUID of its own."""
    names = HostNames(check_root(root), str(uuid.uuid4()))
    data = {"WindowsRoot": names.root, "VolumeGuid": names.volume}
    atomic_write(host_root / ".hvgui" / NAMES_FILE, json.dumps(data, indent=1).encode())
    return names


_LABS: dict[Path, Path | None] = {}


def lab_root_of(folder: Path) -> Path | None:
    """The lab host a configuration's folder belongs to (the nearest folder above it with
    `.hvgui` and `Virtual Machines`), or None for a folder from a real host."""
    if folder in _LABS:
        return _LABS[folder]
    found = None
    for candidate in [folder, *list(folder.parents)[:12]]:
        if (candidate / ".hvgui").is_dir() and (candidate / VIRTUAL_MACHINES).is_dir():
            found = candidate
            break
    if len(_LABS) > 4096:
        _LABS.clear()
    if found is not None:  # a folder from a real host becomes a lab at its first operation
        _LABS[folder] = found
    return found


def vhdx_names(host_root: Path) -> WindowsNames:
    """The host's names for the parent locators its operations write (vhdx.locator)."""
    names = read_names(host_root)
    return WindowsNames(lambda path: names.to_windows(host_root, str(path)), names.volume)
