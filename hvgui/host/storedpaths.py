"""How configurations and pointer files store paths, so that a copied lab is a copy.

Configurations hold Windows paths, as a real host's do: a path inside the host is stored as the
Windows host the lab stands for names it, below the host's Windows root
(`C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Virtual Hard Disks\\web01.vhdx`, winpaths.py). On
reading, such a path is mapped back below the lab folder the file is in (the nearest folder
above it with `.hvgui`), never outside it, so `cp -a lab lab2` gives two labs whose files name
their own disks, never each other's. A Windows path from a real host's configuration is found
in the copy by winpaths.find. Paths outside the host (a folder the user allowed) stay absolute.
Pointer files (ours) hold a path relative to their folder. Hosts written before hold relative
or absolute paths; they are read as they are and stored in this form by the next operation.

This is the one place the stored form is decided.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from hvgui.host import winpaths

_WINDOWS_ABSOLUTE = winpaths.WINDOWS_ABSOLUTE  # C:\..., \\server\..., \\?\...
_PATH_LEAVES = (
    "global_settings/data_root",
    "global_settings/snapshots/data_root",
    "savedstate/memlocation",
    "savedstate/vsvlocation",
)


def resolve(text: str, folder: Path) -> str:
    """A stored path as an absolute path (relative ones from `folder`; a Windows path from a
    real host's configuration: the file it stands for in this copy, winpaths.py, or as it
    is when there is none)."""
    return _resolve(text, folder)[0]


def _resolve(text: str, folder: Path) -> tuple[str, bool]:
    """`resolve`, and whether the answer came from searching the copy's files (it may then
    change when they do)."""
    if not text or os.path.isabs(text):
        return text, False
    if _WINDOWS_ABSOLUTE.match(text):
        lab = winpaths.lab_root_of(Path(os.path.abspath(folder)))
        if lab is not None:  # a lab host's own name for one of its files
            local = winpaths.read_names(lab).to_local(lab, text)
            if local is not None:
                return str(local), False
        found = winpaths.find(text, folder)
        return (str(found) if found is not None else text), True
    return os.path.normpath(os.path.join(os.path.abspath(folder), text)), False


def stored(text: str, folder: Path, host_root: Path) -> str:
    """How an absolute path is stored in a file in `folder`: relative when inside the host."""
    if not text or not os.path.isabs(text):
        return text
    path, root = os.path.normpath(text), os.path.normpath(host_root)
    if path != root and not path.startswith(root.rstrip(os.sep) + os.sep):
        return text
    return os.path.relpath(path, os.path.normpath(folder))


def _path_nodes(root: etree._Element) -> Iterator[etree._Element]:
    for where in _PATH_LEAVES:
        node = root.find(where)
        if node is not None:
            yield node
    pending = root.find("global_settings/snapshots/pending_merge")
    if pending is not None:
        yield from (node for node in pending if str(node.tag).startswith("disk"))
    yield from root.iter("pathname")  # every drive of every controller


def resolve_all(root: etree._Element, folder: Path) -> bool:
    """Make every stored path of a configuration tree absolute (in place). True when one was
    found by searching a copy's files (a real host's path: the answer may change with them);
    otherwise the answer depends only on the text, `folder` and its lab's Windows names."""
    searched = False
    for node in _path_nodes(root):
        text = (node.text or "").strip()
        if not text:
            continue
        resolved, looked = _resolve(text, folder)
        searched = searched or looked
        if resolved != text:
            node.text = resolved
    return searched


def stored_all(root: etree._Element, folder: Path, host_root: Path) -> None:
    """Store every path inside `host_root` as the Windows host the lab stands for names it
    (its Windows root, winpaths.HostNames), in place; paths outside stay as they are, and so
    do all paths of a file outside the lab (its reader could not map them back)."""
    names = winpaths.read_names(host_root)
    if names.to_windows(host_root, str(folder)) is None:
        return  # a file outside the lab (an allowed folder) is read without it: local paths
    for node in _path_nodes(root):
        text = (node.text or "").strip()
        if text and os.path.isabs(text):
            node.text = names.to_windows(host_root, text) or text
