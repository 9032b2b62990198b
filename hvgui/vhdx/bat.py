"""The Block Allocation Table: geometry (index arithmetic) and a sparse, paged in-memory copy.

Only pages holding a non-zero entry are kept, so a 64 TiB child with a mostly empty BAT costs
memory in proportion to what is allocated, not to the virtual size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hvgui.vhdx import format as F
from hvgui.vhdx.structures import Malformed

PAGE_ENTRIES = 8192  # 64 KiB of BAT per page
PAGE_BYTES = PAGE_ENTRIES * 8


@dataclass(frozen=True)
class BatGeometry:
    block_size: int
    logical_sector_size: int
    virtual_size: int
    has_parent: bool

    @property
    def chunk_ratio(self) -> int:
        """Payload blocks per sector bitmap block."""
        return (F.SECTORS_PER_BITMAP * self.logical_sector_size) // self.block_size

    @property
    def payload_blocks(self) -> int:
        return -(-self.virtual_size // self.block_size)

    @property
    def bitmap_blocks(self) -> int:
        return -(-self.payload_blocks // self.chunk_ratio)

    @property
    def total_entries(self) -> int:
        if self.has_parent:
            return self.bitmap_blocks * (self.chunk_ratio + 1)
        return self.payload_blocks + (self.payload_blocks - 1) // self.chunk_ratio

    @property
    def sectors_per_block(self) -> int:
        return self.block_size // self.logical_sector_size

    @property
    def bitmap_bytes_per_block(self) -> int:
        return self.sectors_per_block // 8

    def payload_index(self, block: int) -> int:
        return block + block // self.chunk_ratio

    def bitmap_index(self, chunk: int) -> int:
        return chunk * (self.chunk_ratio + 1) + self.chunk_ratio

    def block_length(self, block: int) -> int:
        """Virtual bytes in payload block `block` (the last block may be short)."""
        return min(self.block_size, self.virtual_size - block * self.block_size)

    def bitmap_location(self, block: int) -> tuple[int, int]:
        """(chunk, byte offset inside the chunk's bitmap block) of payload block `block`."""
        chunk, within = divmod(block, self.chunk_ratio)
        return chunk, within * self.bitmap_bytes_per_block


class Bat:
    """A sparse copy of the BAT: `get`/`set` by entry index; absent pages read as zero."""

    def __init__(self, geometry: BatGeometry) -> None:
        self.geometry = geometry
        self.pages: dict[int, np.ndarray] = {}

    def get(self, index: int) -> int:
        page = self.pages.get(index // PAGE_ENTRIES)
        if page is None:
            return 0
        return int(page[index % PAGE_ENTRIES])

    def set(self, index: int, value: int) -> None:
        key = index // PAGE_ENTRIES
        page = self.pages.get(key)
        if page is None:
            page = self.pages[key] = np.zeros(PAGE_ENTRIES, dtype="<u8")
        page[index % PAGE_ENTRIES] = value

    def payload_entry(self, block: int) -> int:
        return self.get(self.geometry.payload_index(block))

    def bitmap_entry(self, chunk: int) -> int:
        return self.get(self.geometry.bitmap_index(chunk))

    def nonzero(self) -> tuple[np.ndarray, np.ndarray]:
        """(entry indexes, entry values) of every non-zero entry, in index order."""
        idx_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        for key in sorted(self.pages):
            page = self.pages[key]
            nz = np.flatnonzero(page)
            idx_parts.append(nz.astype(np.int64) + key * PAGE_ENTRIES)
            val_parts.append(page[nz])
        if not idx_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="<u8")
        return np.concatenate(idx_parts), np.concatenate(val_parts)

    def payload_states(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(block numbers, states, file offsets) of payload entries that are not zero."""
        idx, vals = self.nonzero()
        ratio = self.geometry.chunk_ratio
        payload = (idx % (ratio + 1)) != ratio
        idx, vals = idx[payload], vals[payload]
        blocks = idx - idx // (ratio + 1)
        return blocks, (vals & F.BAT_STATE_MASK).astype(np.int64), (vals & F.BAT_OFFSET_MASK)

    def state_counts(self) -> dict[str, int]:
        """How many payload blocks are in each state (names as in the spec)."""
        _, states, _ = self.payload_states()
        counts = {name: 0 for name in F.PAYLOAD_STATE_NAMES.values()}
        values, numbers = np.unique(states, return_counts=True)
        for v, n in zip(values.tolist(), numbers.tolist(), strict=True):
            counts[F.PAYLOAD_STATE_NAMES.get(v, f"state {v}")] += n
        counts["NOT_PRESENT"] = self.geometry.payload_blocks - sum(
            n for name, n in counts.items() if name != "NOT_PRESENT"
        )
        return counts


def validate_page(
    geometry: BatGeometry, first_index: int, values: np.ndarray, file_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Check one page of BAT entries; return (file offsets, lengths) of what they allocate.

    Raises Malformed for reserved bits or states, and blocks outside the file.
    """
    idx = np.arange(first_index, first_index + len(values), dtype=np.int64)
    ratio = geometry.chunk_ratio
    states = (values & F.BAT_STATE_MASK).astype(np.int64)
    offsets = (values & F.BAT_OFFSET_MASK).astype(np.uint64)
    is_bitmap = (idx % (ratio + 1)) == ratio

    bad = np.flatnonzero(values & F.BAT_RESERVED_MASK)
    if bad.size:
        raise Malformed(f"BAT entry {int(idx[bad[0]])} has reserved bits set")
    payload_ok = np.isin(states, (0, 1, 2, 3, 6, 7) if geometry.has_parent else (0, 1, 2, 3, 6))
    bitmap_ok = np.isin(states, (0, 6))
    bad = np.flatnonzero(np.where(is_bitmap, ~bitmap_ok, ~payload_ok))
    if bad.size:
        i = int(idx[bad[0]])
        kind = "sector bitmap" if bool(is_bitmap[bad[0]]) else "payload"
        raise Malformed(f"BAT entry {i} has the reserved {kind} state {int(states[bad[0]])}")

    allocated = np.where(is_bitmap, states == 6, (states == 6) | (states == 7))
    if not allocated.any():
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    a_idx = idx[allocated]
    a_off = offsets[allocated]
    a_bitmap = is_bitmap[allocated]
    blocks = a_idx - a_idx // (ratio + 1)
    # Only the part of the last block inside the virtual disk has to be in the file.
    payload_len = np.minimum(
        geometry.block_size, geometry.virtual_size - blocks * geometry.block_size
    )
    lengths = np.where(a_bitmap, F.BITMAP_BLOCK_SIZE, np.maximum(payload_len, 1)).astype(np.uint64)
    bad = np.flatnonzero(a_off < F.HEADER_AREA)
    if bad.size:
        raise Malformed(f"BAT entry {int(a_idx[bad[0]])} points into the header area")
    bad = np.flatnonzero(a_off + lengths > np.uint64(file_size))
    if bad.size:
        i = int(bad[0])
        raise Malformed(
            f"BAT entry {int(a_idx[i])} points past the end of the file "
            f"(block at {int(a_off[i])}, file is {file_size} bytes)"
        )
    full_lengths = np.where(a_bitmap, F.BITMAP_BLOCK_SIZE, geometry.block_size).astype(np.uint64)
    return a_off, np.minimum(full_lengths, np.uint64(file_size) - a_off)


def check_overlaps(starts: np.ndarray, lengths: np.ndarray, names: dict[int, str]) -> None:
    """Raise Malformed if any two [start, start+length) ranges overlap.

    `names` names fixed structures (BAT region, metadata, log) by their index in the arrays;
    every other range is a block.
    """
    if starts.size < 2:
        return
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    e = s + lengths[order]
    clash = np.flatnonzero(s[1:] < e[:-1])
    if clash.size:
        i = int(clash[0])

        def what(k: int) -> str:
            return names.get(int(order[k]), f"the block at file offset {int(s[k])}")

        raise Malformed(f"BAT blocks overlap: {what(i)} and {what(i + 1)}")
