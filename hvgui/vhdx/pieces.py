"""Pieces of a virtual disk that one level of a chain decides, and copying them into a file
(both directions of a merge: merge.py into the parent, absorb.py into the child)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hvgui import portable
from hvgui.vhdx.direct_copy import DirectCopier
from hvgui.vhdx.files import copy_range, data_extents, pwrite_all, write_zeros
from hvgui.vhdx.image import DATA

if TYPE_CHECKING:
    from hvgui.vhdx.chain import Disk


@dataclass
class Piece:
    """Virtual [start, end) decided by chain level `level` (or zeros when level is -1)."""

    start: int
    end: int
    level: int


def split_by_block(pieces: list[Piece], block_size: int) -> dict[int, list[Piece]]:
    """The pieces cut at block boundaries, by block number."""
    by_block: dict[int, list[Piece]] = {}
    for piece in pieces:
        pos = piece.start
        while pos < piece.end:
            block = pos // block_size
            stop = min(piece.end, (block + 1) * block_size)
            by_block.setdefault(block, []).append(Piece(pos, stop, piece.level))
            pos = stop
    return by_block


def copy_piece(view: Disk, piece: Piece, out_fd: int, out_offset: int, *,
               fresh: bool = False, direct: DirectCopier | None = None) -> int:
    """Write what `view` reads in `piece` (decided by view.images[piece.level], which the
    levels above it leave to it) at `out_offset` of `out_fd`. `fresh`: the destination is new
    space that reads zeros already, so the source's holes (zeros) are not copied. `direct`:
    the stored runs it takes are written by it (O_DIRECT, finished by its `finish`), the
    source's pages dropped from the cache as below. Returns the bytes written."""
    length = piece.end - piece.start
    if piece.level < 0:
        if fresh:
            return 0
        write_zeros(out_fd, out_offset, length)
        return length
    image = view.images[piece.level]
    if image.overlay:  # an unreplayed log patches what the file holds: read through it
        pwrite_all(out_fd, view.read(piece.start, length), out_offset)
        return length
    wrote = 0
    for run in image.map_range(piece.start, length):
        dest = out_offset + run.offset - piece.start
        if run.kind != DATA:  # cannot happen for a decided piece; stay correct anyway
            pwrite_all(out_fd, view.read(run.offset, run.length), dest)
            wrote += run.length
            continue
        start, end = run.file_offset, run.file_offset + run.length
        if not fresh and direct is not None and direct.copy(image.fileno, start, dest, run.length):
            wrote += run.length
            continue
        for a, b in data_extents(image.fileno, start, end) if fresh else [(start, end)]:
            copied = copy_range(image.fileno, a, out_fd, dest + a - start, b - a)
            if copied < b - a and not fresh:  # past the source's end: zeros
                write_zeros(out_fd, dest + a - start + copied, b - a - copied)
            wrote += b - a
        # The source file is deleted at the end, which frees its cached pages after the
        # fsync (~40 ms for 512 MiB); dropped here they cost nothing: the copy runs ahead
        # of the disk's writing, whose end the fsync waits for anyway. (Pages rewritten
        # since the last writeback are written first: the hint cannot drop dirty pages.)
        portable.forget_cached(image.fileno, run.file_offset, run.length)
    return wrote
