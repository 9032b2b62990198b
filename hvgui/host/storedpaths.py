"""How configurations and pointer files store paths, so that a copied lab is a copy.

A path inside the host is stored relative to the folder of the file that holds it
(`../Virtual Hard Disks/web01.vhdx` in `Virtual Machines/<id>.xml`): `cp -a lab lab2` then
gives two labs whose files name their own disks, never each other's. Paths outside the host
(a folder the user allowed) stay absolute. On reading, a relative path is taken from the
holding file's folder, never from the current folder, so in memory every path is absolute.
Configurations written before this rule hold absolute paths; they are read as they are and
stored in this form by the next operation that writes them.

This is the one place the stored form is decided (a Windows form under a per-host Windows
root, as real Hyper-V configurations hold, would replace these two functions).
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
    if not text or os.path.isabs(text):
        return text
    if _WINDOWS_ABSOLUTE.match(text):
        found = winpaths.find(text, folder)
        return str(found) if found is not None else text
    return os.path.normpath(os.path.join(os.path.abspath(folder), text))


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


def resolve_all(root: etree._Element, folder: Path) -> None:
    """Make every stored path of a configuration tree absolute (in place)."""
    for node in _path_nodes(root):
        text = (node.text or "").strip()
        if text and resolve(text, folder) != text:
            node.text = resolve(text, folder)


def stored_all(root: etree._Element, folder: Path, host_root: Path) -> None:
    """Store every path inside `host_root` relative to `folder` (in place)."""
    for node in _path_nodes(root):
        text = (node.text or "").strip()
        if text:
            node.text = stored(text, folder, host_root)
