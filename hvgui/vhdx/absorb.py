"""The two file changes of a streamed merge (merge.py's docstring has the whole protocol):
`absorb` copies into a differencing disk every sector its parent decides and it does not,
and `take_parents_place` then makes it stand where its parent stood."""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import uuid
from typing import TYPE_CHECKING

import numpy as np

from hvgui.progress import CancelToken, check
from hvgui.vhdx import format as F
from hvgui.vhdx.chain import served_ranges
from hvgui.vhdx.files import pwrite_all
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.metadata_switch import switch_items
from hvgui.vhdx.pieces import Piece, copy_piece, split_by_block

if TYPE_CHECKING:
    from collections.abc import Callable

    from hvgui.vhdx.chain import Disk

PRESENT = (F.PAYLOAD_BLOCK_FULLY_PRESENT, F.PAYLOAD_BLOCK_PARTIALLY_PRESENT)


def stored_bytes(image: VhdxImage) -> int:
    """The payload blocks a file holds (fully or partially present), in bytes."""
    _, states, _ = image.bat.payload_states()
    return sum(1 for s in states if s in PRESENT) * image.block_size


def parent_pieces(view: Disk, child: VhdxImage) -> list[Piece]:
    """What view.images[1] (the parent) decides that `child` (view's leaf) leaves to it: level
    1 for the parent's data, -1 for its zeros. A base parent's unwritten blocks, read as zeros,
    are left out where the child has nothing (its own unwritten blocks read zeros once it is a
    base disk itself); they stay in where the child's block is partial, to fill it."""
    parent = view.images[1]
    decided, _ = served_ranges([parent], view.size)
    _, open_ranges = served_ranges([child], view.size)
    pieces: list[Piece] = []
    i = 0
    for a, b in open_ranges:
        while i < len(decided) and decided[i][1] <= a:
            i += 1
        j = i
        while j < len(decided) and decided[j][0] < b:
            lo, hi, level = max(a, decided[j][0]), min(b, decided[j][1]), decided[j][2]
            if lo < hi:
                pieces.append(Piece(lo, hi, 1 if level == 0 else -1))
            j += 1
    if parent.has_parent:
        return pieces
    blocks, states, _ = child.bat.payload_states()
    partial = [b for b, s in zip(blocks, states, strict=True)
               if s == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT]
    bs = child.block_size
    kept: list[Piece] = []
    for p in pieces:
        if p.level >= 0:
            kept.append(p)
            continue
        first = bisect.bisect_left(partial, p.start // bs)
        for block in partial[first : bisect.bisect_left(partial, -(-p.end // bs))]:
            lo, hi = max(p.start, block * bs), min(p.end, (block + 1) * bs)
            if lo < hi:
                kept.append(Piece(lo, hi, -1))
    return kept


def absorb_growth(view: Disk, child: VhdxImage) -> int:
    """At most how many bytes `absorb` adds to the child: a block for each block the parent
    has data for and the child lacks, a sector bitmap block for each chunk of them that will
    be partial where the child has none."""
    g = child.geometry
    blocks: set[int] = set()
    chunks: set[int] = set()
    for block, parts in split_by_block(parent_pieces(view, child), g.block_size).items():
        state = child.bat.payload_entry(block) & F.BAT_STATE_MASK
        if state in PRESENT or not any(p.level >= 0 for p in parts):
            continue
        blocks.add(block)
        chunk, _ = g.bitmap_location(block)
        whole = sum(p.end - p.start for p in parts) == g.block_length(block)
        if (not whole and view.images[1].has_parent  # a base parent's blocks end whole
                and child.bat.bitmap_entry(chunk) & F.BAT_STATE_MASK != F.SB_BLOCK_PRESENT):
            chunks.add(chunk)
    return len(blocks) * g.block_size + len(chunks) * F.BITMAP_BLOCK_SIZE


def absorb(
    view: Disk, child: VhdxImage, progress: Callable[[float], None],
    cancel: CancelToken | None,
) -> int:
    """Copy into `child` (view's leaf, open writable) what its parent decides and it does not.
    The child reads the same throughout: data is flushed before the sector bitmap bits and
    BAT entries that make it the child's own. Returns the bytes written (the parent's
    unwritten parts of its blocks are not copied: they read zeros in new space). Idempotent."""
    pieces = parent_pieces(view, child)
    total = sum(p.end - p.start for p in pieces) or 1
    g = child.geometry
    bs, ss = g.block_size, child.logical_sector_size
    bat = child.bat
    fd = child.fileno
    payload_updates: list[tuple[int, int]] = []
    bitmap_entries: list[tuple[int, int]] = []
    bitmaps: list[tuple[int, np.ndarray]] = []
    child.give_back_unused_end()
    size_before = child.file_size
    parent_is_base = not view.images[1].has_parent
    done = moved = 0
    by_block = split_by_block(pieces, bs)
    if parent_is_base:
        # A base disk has no partial blocks (readers refuse them); a partial block the
        # parent leaves no sector of (a forward merge into the child filled it) is whole.
        for block, state, offset in zip(*bat.payload_states(), strict=True):
            if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT and block not in by_block:
                payload_updates.append((g.payload_index(block),
                                        offset | F.PAYLOAD_BLOCK_FULLY_PRESENT))
    if pieces or payload_updates:
        child.begin_change(visible=False)  # the child's view does not change
    try:
        if not parent_is_base:
            # The sector bitmap blocks new partial blocks need come first: entries point
            # at them before the payload entries are written, so that a cut then leaves
            # unused blocks only after them (given back by the rerun), never below.
            for block, parts in sorted(by_block.items()):
                chunk, _ = g.bitmap_location(block)
                if (bat.payload_entry(block) & F.BAT_STATE_MASK
                        == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT
                        or bat.bitmap_entry(chunk) & F.BAT_STATE_MASK == F.SB_BLOCK_PRESENT
                        or _whole(parts, block * bs, g.block_length(block), ss)):
                    continue
                bitmap = child.allocate(F.BITMAP_BLOCK_SIZE) | F.SB_BLOCK_PRESENT
                bat.set(g.bitmap_index(chunk), bitmap)
                bitmap_entries.append((g.bitmap_index(chunk), bitmap))
        for block, parts in sorted(by_block.items()):
            check(cancel)
            progress(done / total)
            entry = bat.payload_entry(block)
            state = entry & F.BAT_STATE_MASK
            block_start = block * bs
            done += sum(p.end - p.start for p in parts)
            fresh = state != F.PAYLOAD_BLOCK_PARTIALLY_PRESENT
            if fresh:
                before = child.file_size
                base = child.allocate(bs)  # new zero-filled space: zeros need no writing
                bits = np.zeros(g.sectors_per_block, dtype=bool)
            else:
                base = entry & F.BAT_OFFSET_MASK
                bits = child.block_bitmap(block).copy()
            wrote = 0
            for part in parts:
                wrote += copy_piece(view, part, fd, base + part.start - block_start,
                                    fresh=fresh)
                bits[(part.start - block_start) // ss : -(-(part.end - block_start) // ss)] = True
            moved += wrote
            if fresh and not wrote:  # the parent's part of the block reads as zeros
                os.ftruncate(fd, before)  # the space goes back: nothing points at it
                child.file_size = before
                if parent_is_base:
                    continue  # the child's unwritten block reads zeros as well, once a base
                if sum(p.end - p.start for p in parts) == g.block_length(block):
                    payload_updates.append((g.payload_index(block), F.PAYLOAD_BLOCK_ZERO))
                    continue
                base = child.allocate(bs)  # partial: its bits say zeros hide the grandparent
            elif fresh and parent_is_base:
                bits[:] = True  # the rest of the new block reads zeros, as the parent does
            if bits[: -(-g.block_length(block) // ss)].all():
                payload_updates.append((g.payload_index(block),
                                        base | F.PAYLOAD_BLOCK_FULLY_PRESENT))
                continue
            bitmaps.append((block, bits))  # its sector bitmap block: there, or made above
            if state != F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                payload_updates.append((g.payload_index(block),
                                        base | F.PAYLOAD_BLOCK_PARTIALLY_PRESENT))
    except BaseException:
        # Nothing points at the space taken yet: give it back (a cut leaves it unused, which
        # the next run gives back first).
        if child.file_size > size_before:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size_before)
        raise
    if not (payload_updates or bitmaps):
        return 0
    os.fsync(fd)
    for index, value in bitmap_entries:
        child.set_bat_entry(index, value)
    for block, bits in bitmaps:
        chunk, byte_offset = g.bitmap_location(block)
        at = (bat.bitmap_entry(chunk) & F.BAT_OFFSET_MASK) + byte_offset
        pwrite_all(fd, np.packbits(bits, bitorder="little").tobytes(), at)
    if bitmaps:
        os.fsync(fd)
    for index, value in payload_updates:
        child.set_bat_entry(index, value)
    os.fsync(fd)
    progress(1.0)
    return moved


def _whole(parts: list[Piece], block_start: int, length: int, sector: int) -> bool:
    """Whether `parts` (of one block) cover every sector of its `length` bytes."""
    bits = np.zeros(-(-length // sector), dtype=bool)
    for part in parts:
        bits[(part.start - block_start) // sector : -(-(part.end - block_start) // sector)] = True
    return bool(bits.all())


def take_parents_place(child: VhdxImage, parent: VhdxImage) -> None:
    """Make `child` (which has absorbed everything `parent` decides) the disk `parent` is:
    `parent`'s parent (or none), its Page 83 id, physical sector size and file flags, and
    no user metadata of the child's own (a forward merge deletes the child's file, and the
    parent has none, else no stream); one atomic metadata switch, after which the merged
    disk has the parent's items, byte for byte, but for its block size. For a base parent
    the sector bitmap entries are cleared first (no block is partial any more: the child's
    view does not change)."""
    changes: dict[uuid.UUID, bytes | None] = {}
    flags = ((F.LEAVE_BLOCK_ALLOCATED if parent.metadata.leave_block_allocated else 0)
             | (F.HAS_PARENT if parent.has_parent else 0))
    changes[F.META_FILE_PARAMETERS] = struct.pack("<II", child.block_size, flags)
    if parent.has_parent:
        changes[F.META_PARENT_LOCATOR] = _raw_item(parent, F.META_PARENT_LOCATOR)
    else:
        g = child.geometry
        cleared = False
        for chunk in range(g.bitmap_blocks):
            if child.bat.bitmap_entry(chunk):
                child.set_bat_entry(g.bitmap_index(chunk), 0)
                cleared = True
        if cleared:
            os.fsync(child.fileno)  # no entry points past the end the file is cut to
            # Unused now; at the file's end, readers (7-Zip) take them for trailing garbage.
            child.give_back_unused_end()
        changes[F.META_PARENT_LOCATOR] = None
    for item in (F.META_PAGE83, F.META_PHYSICAL_SECTOR):
        changes[item] = _raw_item(parent, item)
    same = [k for k, v in changes.items() if v is not None and v == _raw_item(child, k)]
    switch_items(child, {k: v for k, v in changes.items() if k not in same}, drop_user=True)


def _raw_item(image: VhdxImage, item_id: uuid.UUID) -> bytes:
    """The bytes of a system metadata item of `image` (which its opening checked)."""
    entry = next(e for e in image.metadata.entries if e.item_id == item_id and not e.is_user)
    return image.pread(image.metadata_region.file_offset + entry.offset, entry.length)
