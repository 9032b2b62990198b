"""Merge-VHD for legacy VHD: fold a differencing VHD (`.avhd`) into its parent.

At every instant the files on disk form a chain that reads the same bytes:
1. Everything is checked first (the chain opens, sizes agree, no other differencing disk of
   the parent would see its data change); nothing is written before.
2. Every sector the child holds is written into the parent (allocating blocks there and setting
   their sector bits when the parent is itself differencing). While the child exists it
   overrides exactly those sectors, so the chain reads the same whatever part of this reached
   the disk; cancelling is safe at any point. Then fsync.
3. Each grandchild (a disk whose parent is the child) is re-pointed at the parent: a copy of it
   with the parent's unique id, name, time stamp and locators is made durable beside it and
   renamed over it (no torn header is ever possible).
4. The child is deleted and the folder synced.
The parent keeps its unique id: VHD has no second linkage to make a crash window safe, so a
merge whose parent has other children is refused instead (they would read changed data).
"""

from __future__ import annotations

import contextlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from hvgui import durable, portable
from hvgui.progress import MERGE_PHASE, CancelToken, Progress, check, report
from hvgui.vhdx import vhd_format as V
from hvgui.vhdx.chain import open_disk, set_read_only
from hvgui.vhdx.errors import UnsupportedError, VhdxError
from hvgui.vhdx.files import copy_range, pwrite_all
from hvgui.vhdx.locator import absolute_win_path, find_parent, relative_win_path
from hvgui.vhdx.sniff import is_vhd
from hvgui.vhdx.vhd import VhdImage

PHASE = MERGE_PHASE
MAX_SCANNED_FILES = 10_000
_STEP = 4 << 20


def merge_avhd(
    path: Path,
    destination_path: str | os.PathLike[str] | None,
    children: list[Path] | None,
    progress: Progress | None,
    cancel: CancelToken | None,
) -> tuple[Path, int, list[Path]]:
    """(the parent merged into, bytes moved, grandchildren re-pointed); see the module doc."""
    with open_disk(path) as chain:
        if len(chain.chain) < 2:
            raise UnsupportedError(path, "is not a differencing disk: there is no parent to "
                                   "merge into")
        parent_path = chain.chain[1]
    if destination_path is not None and not _same(Path(destination_path), parent_path):
        raise UnsupportedError(path, "a VHD merges into its parent only (merge one level at "
                               "a time)")
    folders = {path.parent, parent_path.parent, *(c.parent for c in children or [])}
    siblings = [c for c in _children_of(parent_path, folders, children) if not _same(c, path)]
    if siblings:
        names = ", ".join(c.name for c in siblings)
        raise UnsupportedError(path, f"its parent {parent_path.name} is also the parent of "
                               f"{names}: merging would change what they read")
    grandchildren = _children_of(path, folders, children)
    report(progress, 0.0, PHASE)
    moved = _copy_into_parent(path, parent_path, progress, cancel)
    for grandchild in grandchildren:
        _repoint(grandchild, parent_path)
    durable.remove(path)
    report(progress, 1.0, PHASE)
    return parent_path, moved, grandchildren


def _copy_into_parent(path: Path, parent_path: Path, progress: Progress | None,
                      cancel: CancelToken | None) -> int:
    set_read_only(parent_path, False)
    with VhdImage.open(path) as child, VhdImage.open(parent_path, writable=True) as parent:
        if child.virtual_size != parent.virtual_size:
            raise UnsupportedError(path, f"its size ({child.virtual_size} bytes) differs from "
                                   f"its parent's ({parent.virtual_size})")
        runs = child.coverage()
        total = sum(b - a for a, b, _ in runs) or 1
        done = 0
        for start, end, _ in runs:
            pos = start
            while pos < end:
                check(cancel)
                n = min(_STEP, end - pos)
                for run in child.map_range(pos, n):  # all DATA: coverage says so
                    parent.copy_from(run.offset, child.fileno, run.file_offset, run.length)
                done += n
                pos += n
                report(progress, 0.95 * done / total, PHASE)
        parent.flush()
    return done


def _children_of(path: Path, folders: set[Path], listed: list[Path] | None) -> list[Path]:
    """Differencing VHDs in `folders` (and `listed`) whose parent locator leads to `path` and
    whose parent id is its unique id."""
    with VhdImage.open(path, load_bat=False) as image:
        unique = image.unique_id
    candidates: list[Path] = list(listed or [])
    for folder in sorted(folders):
        with contextlib.suppress(OSError):
            candidates += sorted(folder.iterdir())[:MAX_SCANNED_FILES]
    found: list[Path] = []
    for candidate in candidates:
        if _same(candidate, path) or any(_same(candidate, f) for f in found):
            continue
        if not candidate.is_file() or not is_vhd(candidate):
            continue
        try:
            with VhdImage.open(candidate, load_bat=False) as other:
                if not other.has_parent or other.header is None \
                        or other.header.parent_unique_id != unique:
                    continue
                parent = find_parent(candidate, other.locator)
        except VhdxError:
            continue
        if parent is not None and _same(parent, path):
            found.append(candidate)
    return found


def _repoint(grandchild: Path, parent_path: Path) -> None:
    """Make `grandchild` name `parent_path` as its parent: a patched copy renamed over it."""
    with VhdImage.open(parent_path, load_bat=False) as parent:
        parent_id = parent.unique_id
    with VhdImage.open(grandchild, load_bat=False) as image:
        assert image.header is not None
        header, size = image.header, image.file_size
        footer_raw = image.pread(size - V.FOOTER_SIZE, V.FOOTER_SIZE)
        header_at = image.footer.data_offset
    stamp = V.to_vhd_time(datetime.fromtimestamp(os.stat(parent_path).st_mtime, UTC))
    # New locator data goes where the footer was; the footer moves past it.
    offset = size - V.FOOTER_SIZE
    pieces: list[tuple[int, bytes]] = []
    locators = []
    for code, value in (("W2ku", absolute_win_path(parent_path)),
                        ("W2ru", relative_win_path(grandchild, parent_path))):
        data = value.encode("utf-16-le")
        space = max(V.SECTOR, -(-len(data) // V.SECTOR) * V.SECTOR)
        locators.append(V.LocatorEntry(code, space, len(data), offset))
        pieces.append((offset, data + bytes(space - len(data))))
        offset += space
    raw = V.build_dynamic_header(header.table_offset, header.max_table_entries,
                                 header.block_size, (parent_id, stamp, parent_path.name),
                                 tuple(locators))
    pieces += [(header_at, raw), (offset, footer_raw)]
    mode = stat.S_IMODE(os.stat(grandchild).st_mode)
    temp = grandchild.with_name(f".{grandchild.name}.{os.getpid()}.partial")
    try:
        src = portable.open_fd(grandchild, os.O_RDONLY)
        try:
            dst = portable.open_fd(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode | stat.S_IWUSR)
            try:
                copy_range(src, 0, dst, 0, size)
                for at, data in pieces:
                    pwrite_all(dst, data, at)
                os.fsync(dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        durable.set_mode(temp, mode)
        durable.rename(temp, grandchild)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


__all__ = ["merge_avhd"]
