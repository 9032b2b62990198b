"""Merge-VHD: fold a differencing disk (and every disk up to an ancestor) into that ancestor.

Crash safety, by the spec's own mechanism (MS-VHDX 2.6.2.6.3: a child accepts a parent whose
DataWriteGuid matches `parent_linkage` *or* `parent_linkage2`), with no journal and no recovery
step: at every instant the files on disk form a valid chain that reads the same bytes.

Let C1 (the leaf being merged) ... Ck be the merged disks and P the destination (Ck's parent).

1. Ck's parent locator gains `parent_linkage2 = D'`, a fresh GUID (atomic locator rewrite, below).
   Nothing visible changed: P still has DataWriteGuid D = parent_linkage.
2. P's header gets DataWriteGuid D' (two-slot header update, crash safe by design). Ck still
   opens, through parent_linkage2; any *other* child of P now reports a broken chain, which is
   true from here on (P's content is about to change), instead of silently reading mixed data.
3. Every sector that any of C1..Ck decides is copied into P: in place where P has the block,
   into new zero-filled space at the end of P otherwise, sector bitmaps set when P is itself
   differencing. While C1..Ck exist they override exactly those sectors, so the chain through C1
   reads the same whatever part of this step reached the disk. Then fsync, BAT entries, fsync.
   Cancelling here is safe at any block boundary.
4. Each grandchild (a disk whose parent is C1) is re-pointed at P: locator rewritten with
   parent_linkage = D' and paths to P (atomic rewrite). Before: G -> C1 -> ... -> P reads X;
   after: G -> P reads X, since P now holds C1's view.
5. C1 ... Ck are deleted, leaf first, and the directory is synced.

Running merge_vhd again after a crash completes the merge: step 1 reuses the D' that P already
carries, the copy is idempotent, re-pointed grandchildren are found pointing at P already.

Atomic locator rewrite: the new locator is written into unused space of the metadata region
(never over the live one), flushed, and then the 8-byte offset/length of its table entry is
switched in a single write inside one sector, flushed again. A SIGKILL cannot split a write of
one page; a power cut cannot tear a single sector on the disks VHDX targets.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hvgui import durable, portable
from hvgui.progress import MERGE_PHASE, CancelToken, Progress, check, report
from hvgui.vhdx import format as F
from hvgui.vhdx.chain import Disk, open_disk, parse_linkage, served_ranges
from hvgui.vhdx.errors import UnsupportedError, VhdxError
from hvgui.vhdx.files import copy_range, pwrite_all, write_zeros
from hvgui.vhdx.image import DATA, VhdxImage
from hvgui.vhdx.locator import candidate_paths, parent_locator
from hvgui.vhdx.sniff import is_vhd
from hvgui.vhdx.structures import build_parent_locator

PHASE = MERGE_PHASE
DISK_SUFFIXES = (".vhdx", ".avhdx")
MAX_SCANNED_FILES = 10_000
_LOCATOR_ALIGN = 4 * F.KiB
_WRITEBACK_STEP = 32 * F.MiB  # copied bytes the disk is given to write while the copy goes on


@dataclass
class MergeResult:
    destination: Path
    merged: list[Path]
    bytes_moved: int
    repointed: list[Path] = field(default_factory=list)


def merge_vhd(
    path: str | os.PathLike[str],
    destination_path: str | os.PathLike[str] | None = None,
    *,
    children: list[Path] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> MergeResult:
    """Fold `path` and every disk between it and `destination_path` (default: its parent) into
    the destination; re-point grandchildren (found in `children` and in the disks' folders);
    delete the merged files. See the module docstring for the order of writes."""
    if is_vhd(path):  # a legacy .avhd: folded into its VHD parent (vhd_merge.py)
        from hvgui.vhdx.vhd_merge import merge_avhd

        try:
            target, moved, repointed = merge_avhd(Path(path), destination_path, children,
                                                  progress, cancel)
        except OSError as exc:
            raise VhdxError(path, f"the merge stopped: {exc.strerror or exc}; the chain still "
                            "reads the same: fix the cause and merge again") from None
        return MergeResult(target, [Path(path)], moved, repointed)
    try:
        return _merge(Path(path), destination_path, children, progress, cancel)
    except OSError as exc:  # no space left, an I/O error: the chain still reads the same
        raise VhdxError(
            path, f"the merge stopped: {exc.strerror or exc}"
            f"{f' ({exc.filename})' if exc.filename else ''}; the chain still reads the same "
            "(a merge is crash-safe): fix the cause and merge again"
        ) from None


def _merge(
    path: Path,
    destination_path: str | os.PathLike[str] | None,
    children: list[Path] | None,
    progress: Progress | None,
    cancel: CancelToken | None,
) -> MergeResult:
    report(progress, 0.0, PHASE)
    with open_disk(path) as view:
        chain = list(view.chain)
        if len(chain) < 2:
            raise VhdxError(path, "is not a differencing disk: there is no parent to merge into")
        depth = _destination_depth(Path(path), chain, destination_path)
        merged, destination = chain[:depth], chain[depth]
        sizes = {image.virtual_size for image in view.images[: depth + 1]}
        if len(sizes) > 1:
            raise UnsupportedError(path, "the disks of the chain differ in size; cannot merge")
        sectors = {image.logical_sector_size for image in view.images[: depth + 1]}
        if len(sectors) > 1:
            raise UnsupportedError(
                path, "the disks of the chain differ in logical sector size; cannot merge")
        grandchildren = _grandchildren(merged, destination, children or [])
        check(cancel)
        restore = _make_writable([destination, merged[-1], *grandchildren])
        try:
            new_guid = _bind_last_child(merged[-1], destination)
            with VhdxImage.open(destination, writable=True) as target:
                target.update_header(data_write_guid=new_guid, file_write_guid=uuid.uuid4())
                moved = _copy_into(view, depth, target, progress, cancel)
            for child in grandchildren:
                _rewrite_locator(child, _locator_for(child, destination, new_guid))
        finally:
            _restore_modes(restore)
    for file in merged:
        file.unlink(missing_ok=True)
    for folder in {f.parent for f in merged}:
        durable.sync_folder(folder)
    # The destination is now the chain's leaf unless grandchildren still depend on it.
    if grandchildren:
        _set_writable(destination, False)
    else:
        _set_writable(destination, True)
    report(progress, 1.0, PHASE)
    return MergeResult(destination, merged, moved, grandchildren)


# --- planning -------------------------------------------------------------------------------


def _destination_depth(
    leaf: Path, chain: list[Path], destination: str | os.PathLike[str] | None
) -> int:
    if destination is None:
        return 1
    target = Path(destination)
    for depth, file in enumerate(chain[1:], start=1):
        if _same_file(file, target):
            return depth
    raise VhdxError(target, f"is not an ancestor of {leaf}; its chain is "
                    + " -> ".join(p.name for p in chain))


def _grandchildren(merged: list[Path], destination: Path, known: list[Path]) -> list[Path]:
    """Disks whose parent is the merged leaf (to re-point); refuse if another disk depends on
    a merged file that is not the leaf (it would lose its parent)."""
    candidates: list[Path] = [Path(p) for p in known]
    scanned = 0
    for folder in {destination.parent, *(m.parent for m in merged)}:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.suffix.lower() in DISK_SUFFIXES and entry not in candidates:
                candidates.append(entry)
                scanned += 1
                if scanned >= MAX_SCANNED_FILES:
                    break
    chain_files = [*merged, destination]
    found: list[Path] = []
    for candidate in candidates:
        if any(_same_file(candidate, f) for f in chain_files) or not candidate.is_file():
            continue
        parent_index = _parent_in(candidate, chain_files)
        if parent_index is None or parent_index == len(merged):
            continue
        if parent_index > 0:
            raise VhdxError(
                merged[parent_index],
                f"{candidate} also depends on this disk, which the merge would delete; merge or "
                "remove that disk first",
            )
        if not any(_same_file(candidate, f) for f in found):
            found.append(candidate)
    return found


def _parent_in(candidate: Path, files: list[Path]) -> int | None:
    """Index in `files` of the candidate's parent, when it is one of them and still linked."""
    try:
        with VhdxImage.open(candidate, load_bat=False) as image:
            if not image.has_parent:
                return None
            locator = image.parent_locator
            for path in candidate_paths(candidate, locator):
                if path.is_file():
                    for index, file in enumerate(files):
                        if _same_file(path, file):
                            return index if _linked(locator, file) else None
                    return None
    except VhdxError:
        return None
    return None


def _linked(locator: dict[str, str], parent: Path) -> bool:
    with VhdxImage.open(parent, load_bat=False) as image:
        keys = ("parent_linkage", "parent_linkage2")
        accepted = {parse_linkage(locator.get(k, "")) for k in keys}
        return image.data_write_guid in accepted - {None, F.NULL_GUID}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- step 1: bind the last merged disk to the destination's future DataWriteGuid -------------


def _bind_last_child(child: Path, destination: Path) -> uuid.UUID:
    with VhdxImage.open(destination, load_bat=False) as target:
        current = target.data_write_guid
    with VhdxImage.open(child, load_bat=False) as image:
        locator = image.parent_locator
    pending = parse_linkage(locator.get("parent_linkage2", ""))
    if pending is not None and pending == current and pending != F.NULL_GUID:
        return pending  # an interrupted merge already switched the destination
    new_guid = uuid.uuid4()
    locator["parent_linkage2"] = "{" + str(new_guid) + "}"
    _rewrite_locator(child, locator)
    return new_guid


def _locator_for(child: Path, parent: Path, linkage: uuid.UUID) -> dict[str, str]:
    return parent_locator(child, parent, "{" + str(linkage) + "}")


def _rewrite_locator(path: Path, locator: dict[str, str]) -> None:
    """Replace a differencing disk's parent locator atomically (see the module docstring)."""
    with VhdxImage.open(path, writable=True, load_bat=False) as image:
        region = image.metadata_region
        entries = list(image.metadata.entries)
        index = next(
            (i for i, e in enumerate(entries)
             if e.item_id == F.META_PARENT_LOCATOR and not e.is_user), None)
        if index is None:
            raise VhdxError(path, "has no parent locator to rewrite")
        data = build_parent_locator(locator)
        current = entries[index]
        others_end = max(
            [F.METADATA_TABLE_SIZE]
            + [e.offset + e.length for i, e in enumerate(entries) if i != index and e.length]
        )
        offset = F.align_up(others_end, _LOCATOR_ALIGN)
        if offset < current.offset + current.length and current.offset < offset + len(data):
            offset = F.align_up(current.offset + current.length, _LOCATOR_ALIGN)
        if offset + len(data) > region.length:
            raise UnsupportedError(path, "no room left in the metadata region for a new locator")
        image.begin_change(visible=False)
        fd = image.fileno
        pwrite_all(fd, data, region.file_offset + offset)
        os.fsync(fd)
        # One 8-byte write (offset, length) inside the table entry switches to the new locator.
        entry_at = region.file_offset + 32 + 32 * index + 16
        pwrite_all(fd, struct.pack("<II", offset, len(data)), entry_at)
        os.fsync(fd)


# --- step 3: copy what the merged disks decide into the destination --------------------------


@dataclass
class _Piece:
    """Virtual [start, end) decided by chain level `level` (or zeros when level is -1)."""

    start: int
    end: int
    level: int


def _decided(view: Disk, depth: int) -> list[_Piece]:
    """The virtual ranges the merged disks decide, each with the level that decides it."""
    assigned, _ = served_ranges(view.images[:depth], view.size)
    pieces: list[_Piece] = []
    for a, b, src in assigned:
        if a >= b:
            continue
        if pieces and pieces[-1].end == a and pieces[-1].level == src:
            pieces[-1].end = b  # one piece per run of neighbouring blocks: one copy per run
        else:
            pieces.append(_Piece(a, b, src))
    return pieces


def _copy_into(
    view: Disk, depth: int, target: VhdxImage, progress: Progress | None,
    cancel: CancelToken | None,
) -> int:
    pieces = _decided(view, depth)
    total = sum(p.end - p.start for p in pieces) or 1
    g = target.geometry
    bs = g.block_size
    ss = target.logical_sector_size
    fd = target.fileno
    bat = target.bat
    payload_updates: list[tuple[int, int]] = []
    bitmap_updates: list[tuple[int, int]] = []
    done = 0
    written = (0, 0)  # the file range copied since the last start_writeback
    by_block: dict[int, list[_Piece]] = {}
    for piece in pieces:
        pos = piece.start
        while pos < piece.end:
            block = pos // bs
            stop = min(piece.end, (block + 1) * bs)
            by_block.setdefault(block, []).append(_Piece(pos, stop, piece.level))
            pos = stop
    for block in sorted(by_block):
        check(cancel)
        parts = by_block[block]
        entry = bat.payload_entry(block)
        state = entry & F.BAT_STATE_MASK
        block_start = block * bs
        covered = sum(p.end - p.start for p in parts)
        whole = covered == g.block_length(block)
        if state in (F.PAYLOAD_BLOCK_FULLY_PRESENT, F.PAYLOAD_BLOCK_PARTIALLY_PRESENT):
            base = entry & F.BAT_OFFSET_MASK
            new_state = state
        else:
            base = target.allocate(bs)
            keeps_parent = target.has_parent and state == F.PAYLOAD_BLOCK_NOT_PRESENT
            new_state = (F.PAYLOAD_BLOCK_PARTIALLY_PRESENT if keeps_parent and not whole
                         else F.PAYLOAD_BLOCK_FULLY_PRESENT)
            payload_updates.append((g.payload_index(block), base | new_state))
        for part in parts:
            _copy_piece(view, part, fd, base + part.start - block_start)
        if written[1] != base or written[1] - written[0] >= _WRITEBACK_STEP:
            portable.start_writeback(fd, written[0], written[1] - written[0])
            written = (base, base)
        written = (written[0], base + bs)
        if new_state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                bits = target.block_bitmap(block).copy()
            else:  # a new block: whatever bits lie there are stale
                bits = np.zeros(g.sectors_per_block, dtype=bool)
                chunk, _ = g.bitmap_location(block)
                if bat.bitmap_entry(chunk) & F.BAT_STATE_MASK != F.SB_BLOCK_PRESENT:
                    bitmap = target.allocate(F.BITMAP_BLOCK_SIZE) | F.SB_BLOCK_PRESENT
                    bat.set(g.bitmap_index(chunk), bitmap)
                    bitmap_updates.append((g.bitmap_index(chunk), bitmap))
            for part in parts:
                bits[(part.start - block_start) // ss : -(-(part.end - block_start) // ss)] = True
            chunk, byte_offset = g.bitmap_location(block)
            bitmap_base = bat.bitmap_entry(chunk) & F.BAT_OFFSET_MASK
            pwrite_all(fd, np.packbits(bits, bitorder="little").tobytes(),
                        bitmap_base + byte_offset)
        done += covered
        report(progress, 0.95 * done / total, PHASE)
    portable.start_writeback(fd, written[0], written[1] - written[0])
    os.fsync(fd)
    for index, value in bitmap_updates:
        target.set_bat_entry(index, value)
    for index, value in payload_updates:
        target.set_bat_entry(index, value)
    os.fsync(fd)
    return done


def _copy_piece(view: Disk, piece: _Piece, out_fd: int, out_offset: int) -> None:
    length = piece.end - piece.start
    if piece.level < 0:
        write_zeros(out_fd, out_offset, length)
        return
    image = view.images[piece.level]
    if image.overlay:  # an unreplayed log patches what the file holds: read through it
        pwrite_all(out_fd, view.read(piece.start, length), out_offset)
        return
    for run in image.map_range(piece.start, length):
        dest = out_offset + run.offset - piece.start
        if run.kind == DATA:
            copied = copy_range(image.fileno, run.file_offset, out_fd, dest, run.length)
            # The merged file is deleted at the end, which frees its cached pages after the
            # fsync (~40 ms for 512 MiB); dropped here they cost nothing: the copy runs ahead
            # of the disk's writing, whose end the fsync waits for anyway. (Pages rewritten
            # since the last writeback are written first: the hint cannot drop dirty pages.)
            portable.forget_cached(image.fileno, run.file_offset, run.length)
            if copied < run.length:  # past the source's end: zeros
                write_zeros(out_fd, dest + copied, run.length - copied)
        else:  # cannot happen for a decided piece; stay correct anyway
            pwrite_all(out_fd, view.read(run.offset, run.length), dest)


# --- file modes ------------------------------------------------------------------------------


def _make_writable(paths: list[Path]) -> dict[Path, int]:
    """Give the owner write permission for the merge; remember modes to restore."""
    saved: dict[Path, int] = {}
    for p in paths:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if not mode & stat.S_IWUSR:
            saved[p] = mode
            os.chmod(p, mode | stat.S_IWUSR)  # not durable: a rerun after a cut sets it again
    return saved


def _restore_modes(saved: dict[Path, int]) -> None:
    for p, mode in saved.items():
        with contextlib.suppress(OSError):  # the file may be gone (a merged file)
            durable.set_mode(p, mode)


def _set_writable(path: Path, writable: bool) -> None:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    durable.set_mode(path, mode | stat.S_IWUSR if writable else mode & ~write_bits)
