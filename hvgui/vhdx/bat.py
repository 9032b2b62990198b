"""The Block Allocation Table: geometry (index arithmetic) and a sparse, paged in-memory copy.

Only pages holding a non-zero entry are kept, so a 64 TiB child with a mostly empty BAT costs
memory in proportion to what is allocated, not to the virtual size. A page whose payload
entries are all one value (and sector bitmap entries another: a qemu-img-made disk's pages
are all ZERO) is kept as those two values, not 64 KiB: a 64 TiB disk's 512 MiB BAT of ZERO
entries costs under a megabyte.
"""

from __future__ import annotations

import collections
import itertools
import struct
import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hvgui.vhdx import format as F
from hvgui.vhdx.problems import Problems, Tally
from hvgui.vhdx.state_runs import StateRuns

PAGE_ENTRIES = 8192  # 64 KiB of BAT per page
PAGE_BYTES = PAGE_ENTRIES * 8


class BatGeometry(NamedTuple):
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


class UniformPage(NamedTuple):
    """A full page whose payload entries all hold `payload` and bitmap entries `bitmap`."""

    payload: int
    bitmap: int


class Bat:
    """A sparse copy of the BAT: `get`/`set` by entry index; absent pages read as zero."""

    def __init__(self, geometry: BatGeometry) -> None:
        self.geometry = geometry
        # entries in the machine's byte order, or a UniformPage (expanded when written)
        self.pages: dict[int, array[int] | UniformPage] = {}

    def _is_bitmap(self, index: int) -> bool:
        period = self.geometry.chunk_ratio + 1
        return index % period == period - 1

    def get(self, index: int) -> int:
        page = self.pages.get(index // PAGE_ENTRIES)
        if page is None:
            return 0
        if isinstance(page, UniformPage):
            return page.bitmap if self._is_bitmap(index) else page.payload
        return int(page[index % PAGE_ENTRIES])

    def set(self, index: int, value: int) -> None:
        key = index // PAGE_ENTRIES
        page = self.pages.get(key)
        if page is None:
            page = self.pages[key] = array("Q", bytes(PAGE_BYTES))
        elif isinstance(page, UniformPage):
            page = self.pages[key] = self._page(key)
        page[index % PAGE_ENTRIES] = value

    def _page(self, key: int) -> array[int]:
        """Page `key`'s entries as an array (a UniformPage expanded; a fresh array)."""
        page = self.pages[key]
        if not isinstance(page, UniformPage):
            return page
        entries = array("Q", [page.payload]) * PAGE_ENTRIES
        for at in self._bitmaps_in(key):
            entries[at] = page.bitmap
        return entries

    def _bitmaps_in(self, key: int) -> range:
        """Where in page `key` its sector bitmap entries are."""
        period = self.geometry.chunk_ratio + 1
        return range((period - 1 - key * PAGE_ENTRIES % period) % period, PAGE_ENTRIES, period)

    def keep_page(self, key: int, raw: bytes) -> None:
        """Page `key` as read from the file (little-endian entries, perhaps fewer than a page)."""
        if len(raw) == PAGE_BYTES:
            bitmaps = self._bitmaps_in(key)
            payload = raw[8:16] if bitmaps.start == 0 else raw[:8]
            bitmap = raw[bitmaps.start * 8: bitmaps.start * 8 + 8] if bitmaps else bytes(8)
            expected = bytearray(payload * PAGE_ENTRIES)
            for at in bitmaps:
                expected[at * 8: at * 8 + 8] = bitmap
            if raw == expected:
                self.pages[key] = UniformPage(int.from_bytes(payload, "little"),
                                              int.from_bytes(bitmap, "little"))
                return
        page = array("Q", raw + bytes(PAGE_BYTES - len(raw)))
        if sys.byteorder == "big":
            page.byteswap()
        self.pages[key] = page

    def payload_entry(self, block: int) -> int:
        return self.get(self.geometry.payload_index(block))

    def bitmap_entry(self, chunk: int) -> int:
        return self.get(self.geometry.bitmap_index(chunk))

    def nonzero(self) -> tuple[list[int], list[int]]:
        """(entry indexes, entry values) of every non-zero entry, in index order. Pure Python
        (itertools.compress walks a page in C): a disk command loads no numpy for it."""
        indexes: list[int] = []
        values: list[int] = []
        for key in sorted(self.pages):
            page = self._page(key)
            first = key * PAGE_ENTRIES
            indexes.extend(itertools.compress(range(first, first + len(page)), page))
            values.extend(itertools.compress(page, page))
        return indexes, values

    def used_end(self) -> int:
        """Where the furthest block any entry's file offset points at ends (0: none), whatever
        the entry's state: an offset kept is space the entry may use again. A uniform page is
        looked at once, not expanded: a merge asks this of its parent, and a big parent's BAT
        is mostly such pages (0.7 s for a 4 TiB one expanded)."""
        g = self.geometry
        period = g.chunk_ratio + 1
        end = 0
        for key, page in self.pages.items():
            if isinstance(page, UniformPage):
                if page.payload & F.BAT_OFFSET_MASK:
                    end = max(end, (page.payload & F.BAT_OFFSET_MASK) + g.block_size)
                if self._bitmaps_in(key) and page.bitmap & F.BAT_OFFSET_MASK:
                    end = max(end, (page.bitmap & F.BAT_OFFSET_MASK) + F.BITMAP_BLOCK_SIZE)
                continue
            first = key * PAGE_ENTRIES
            for index, value in zip(itertools.compress(range(first, first + len(page)), page),
                                    itertools.compress(page, page), strict=True):
                offset = value & F.BAT_OFFSET_MASK
                if offset:
                    bitmap = index % period == period - 1
                    end = max(end, offset + (F.BITMAP_BLOCK_SIZE if bitmap else g.block_size))
        return end

    def payload_state_runs(self) -> StateRuns:
        """The BAT state of every payload block (0, NOT_PRESENT, where the entry is zero), as
        runs made a page at a time: a 4 TiB disk has millions of entries, and a whole-array
        step over them holds the interpreter lock (and the GUI thread) for tens of ms; a byte
        per block of a 64 TiB disk is 64 MiB. payload_states stays pure Python for the
        commands that must not load numpy."""
        import numpy as np

        g = self.geometry
        period = g.chunk_ratio + 1
        count = g.payload_blocks

        def block_of(index: int) -> int:  # the block of the first payload entry from `index`
            index += index % period == period - 1
            return index - index // period

        def pieces() -> Iterator[tuple[int, Any]]:
            reached = 0  # blocks before this are covered
            for key in sorted(self.pages):
                first = key * PAGE_ENTRIES
                start = block_of(first)
                if start > reached:
                    yield reached, np.zeros(1, dtype=np.int8)  # absent pages: all zero
                page = self.pages[key]
                if isinstance(page, UniformPage):
                    yield start, np.full(1, page.payload & F.BAT_STATE_MASK, dtype=np.int8)
                else:
                    entries = np.frombuffer(page, dtype=np.uint64)
                    index = np.arange(first, first + len(entries))
                    payload = index % period != period - 1
                    yield start, (entries[payload] & np.uint64(F.BAT_STATE_MASK)).astype(np.int8)
                reached = block_of(first + PAGE_ENTRIES)
            if reached < count:
                yield reached, np.zeros(1, dtype=np.int8)

        return StateRuns.from_pieces(count, pieces())

    def payload_states(self) -> tuple[list[int], list[int], list[int]]:
        """(block numbers, states, file offsets) of payload entries that are not zero."""
        per_chunk = self.geometry.chunk_ratio + 1
        blocks: list[int] = []
        states: list[int] = []
        offsets: list[int] = []
        for index, value in zip(*self.nonzero(), strict=True):
            chunk, within = divmod(index, per_chunk)
            if within != per_chunk - 1:  # not a sector bitmap entry
                blocks.append(index - chunk)
                states.append(value & F.BAT_STATE_MASK)
                offsets.append(value & F.BAT_OFFSET_MASK)
        return blocks, states, offsets

    def state_counts(self) -> dict[str, int]:
        """How many payload blocks are in each state (names as in the spec)."""
        _, states, _ = self.payload_states()
        counts = {name: 0 for name in F.PAYLOAD_STATE_NAMES.values()}
        for v, n in collections.Counter(states).items():
            counts[F.PAYLOAD_STATE_NAMES.get(v, f"state {v}")] += n
        counts["NOT_PRESENT"] = self.geometry.payload_blocks - sum(
            n for name, n in counts.items() if name != "NOT_PRESENT"
        )
        return counts


@dataclass
class BatScan:
    """What decoding a BAT found: the table itself (when kept), how many non-zero payload and
    sector-bitmap entries are in each state, and the blocks stored in the file."""

    geometry: BatGeometry
    bat: Bat
    payload_states: dict[int, int] = field(default_factory=dict)
    bitmap_states: dict[int, int] = field(default_factory=dict)
    stored: int = 0  # payload blocks stored in the file
    jumps: int = 0  # of those, how many do not follow the previous one in the file
    last_offset: int = -1

    def note_stored(self, offset: int) -> None:
        """A payload block stored at `offset` (called in block order)."""
        if self.stored and offset != self.last_offset + self.geometry.block_size:
            self.jumps += 1
        self.stored += 1
        self.last_offset = offset

    def payload_counts(self) -> dict[int, int]:
        """Payload blocks in each state, NOT_PRESENT (0) included."""
        counts = {k: v for k, v in self.payload_states.items() if k and v}
        counts[0] = self.geometry.payload_blocks - sum(counts.values())
        return {k: v for k, v in sorted(counts.items()) if v}

    def bitmap_counts(self) -> dict[int, int]:
        counts = {k: v for k, v in self.bitmap_states.items() if k and v}
        counts[0] = self.geometry.bitmap_blocks - sum(counts.values())
        return {k: v for k, v in sorted(counts.items()) if v}

    def fragmentation(self) -> int:
        """Percent of stored blocks that do not follow the previous one in the file (Get-VHD's
        FragmentationPercentage; 0 for a disk laid out in virtual order)."""
        return round(100 * self.jumps / (self.stored - 1)) if self.stored > 1 else 0


_ZEROS = bytes(PAGE_BYTES)
_HIGH_NIBBLES = bytes(range(0, 256, 16))  # a BAT entry's third byte without reserved bits
_PLAIN_STATES = bytes((0, 1, 2, 3))  # not allocated: NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED


def decode_bat(
    geometry: BatGeometry,
    region: tuple[int, int],
    file_size: int,
    read: Callable[[int, int], bytes],
    next_data: Callable[[int], int | None] | None,
    fixed: list[tuple[int, int, str]],
    problems: Problems,
    *,
    keep: bool = True,
    fully_allocated: bool = False,
) -> BatScan:
    """Decode and check the BAT in `region` (file offset, length): entry states, blocks inside
    the file and above the header area, no two blocks (or a block and one of the `fixed`
    structures, as (offset, length, name)) sharing space. `next_data(offset)` finds where a
    sparse file's data resumes, so that holes (which read as zeros) are skipped; None when every
    byte must be read (an unreplayed log patches them). `keep=False` keeps no table, only what
    it holds (the survey of a trimmed 64 TiB disk stays small).

    Work is in proportion to the table's non-empty pages; entries are looked at one by one
    only in pages holding allocated or invalid ones, and the allocated ones are bounded by the
    file's size."""
    g = geometry
    base, region_length = region
    total = g.total_entries
    scan = BatScan(g, Bat(g))
    if total * 8 > region_length:
        problems.error(
            "bat-small",
            f"the BAT region is {region_length} bytes but the disk's size and block size need "
            f"{total} entries ({total * 8} bytes)",
        )
        total = region_length // 8
    ratio, period = g.chunk_ratio, g.chunk_ratio + 1
    room = -(-file_size // F.MiB)  # blocks are 1 MiB aligned and apart: at most this many
    extents: list[tuple[int, int, str]] = []
    partial: list[int] = []
    bitmaps: set[int] = set()  # chunks whose sector bitmap is stored
    reserved_bits = Tally(problems, "error", "bat-reserved-bits")
    reserved_state = Tally(problems, "error", "bat-reserved-state")
    partial_alone = Tally(problems, "error", "partial-without-parent")
    bitmap_state = Tally(problems, "error", "bitmap-reserved-state")
    bitmap_alone = Tally(problems, "warning", "bitmap-without-parent")
    in_header = Tally(problems, "error", "block-in-header")
    past_end = Tally(problems, "error", "block-past-eof")
    payload_states, bitmap_states = scan.payload_states, scan.bitmap_states

    def stored(index: int, offset: int, length: int, full: int) -> bool:
        """Check an allocated block; record its extent when it is inside the file."""
        if offset < F.HEADER_AREA:
            in_header.hit(f"BAT entry {index} points into the header area")
            return False
        if offset + length > file_size:
            past_end.hit(f"BAT entry {index} points past the end of the file (block at "
                         f"{offset}, file is {file_size} bytes)")
            return False
        extents.append((offset, min(full, file_size - offset), ""))
        return True

    def entries(first: int, raw: bytes) -> bool:
        """Look at each non-zero entry of a page; False once the blocks cannot all fit."""
        for i, value in enumerate(struct.unpack(f"<{len(raw) // 8}Q", raw)):
            if not value:
                continue
            index = first + i
            state = value & F.BAT_STATE_MASK
            offset = value & F.BAT_OFFSET_MASK
            if value & F.BAT_RESERVED_MASK:
                reserved_bits.hit(f"BAT entry {index} has reserved bits set")
            if index % period == ratio:
                bitmap_states[state] = bitmap_states.get(state, 0) + 1
                if not g.has_parent:
                    bitmap_alone.hit(f"BAT entry {index} is a sector bitmap entry that is set "
                                     "in a disk with no parent")
                if state == F.SB_BLOCK_PRESENT:
                    if stored(index, offset, F.BITMAP_BLOCK_SIZE, F.BITMAP_BLOCK_SIZE):
                        bitmaps.add(index // period)
                elif state != F.SB_BLOCK_NOT_PRESENT:
                    bitmap_state.hit(f"BAT entry {index} has the reserved sector bitmap state "
                                     f"{state}")
            else:
                block = index - index // period
                payload_states[state] = payload_states.get(state, 0) + 1
                if state == F.PAYLOAD_BLOCK_FULLY_PRESENT or (
                        state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT and g.has_parent):
                    if stored(index, offset, max(1, g.block_length(block)), g.block_size):
                        scan.note_stored(offset)
                        if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                            partial.append(block)
                elif state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                    partial_alone.hit(
                        f"BAT entry {index} has the reserved payload state 7: block {block} is "
                        "PARTIALLY_PRESENT in a disk with no parent")
                elif state > F.PAYLOAD_BLOCK_UNMAPPED:
                    reserved_state.hit(
                        f"block {block} has an undefined BAT state (BAT entry {index} has the "
                        f"reserved payload state {state})")
            if len(extents) > room:
                problems.error(
                    "blocks-overlap",
                    f"the BAT allocates more blocks than the file has room for ({len(extents)} "
                    f"so far, the file holds {room} MiB): blocks overlap; the rest of the BAT "
                    "was not read")
                return False
        return True

    def plain(first: int, raw: bytes) -> bool:
        """Whether a page holds nothing but unallocated payload states (a trimmed disk):
        checked and counted a byte column at a time, without looking at each entry."""
        states = raw[0::8]
        if states.translate(None, _PLAIN_STATES) or raw[1::8].count(0) != len(states) \
                or raw[2::8].translate(None, _HIGH_NIBBLES):
            return False
        first_bitmap = (ratio - first % period) % period
        bitmaps = states[first_bitmap::period]
        if bitmaps.count(0) != len(bitmaps):
            return False
        for state in (1, 2, 3):
            payload_states[state] = payload_states.get(state, 0) + states.count(state)
        return True

    n_pages = -(-total // PAGE_ENTRIES)
    page = 0
    while page < n_pages:
        if next_data is not None:
            data = next_data(base + page * PAGE_BYTES)
            if data is None:  # only a hole up to the end of the file
                break
            page = max(page, (data - base) // PAGE_BYTES)
            if page >= n_pages:
                break
        first = page * PAGE_ENTRIES
        raw = read(base + first * 8, min(PAGE_ENTRIES, total - first) * 8)
        raw = raw[: len(raw) // 8 * 8]  # a survey's read stops at the end of the file
        if not raw:
            break
        if raw != _ZEROS[: len(raw)]:
            if not plain(first, raw) and not entries(first, raw):
                break
            if keep:
                scan.bat.keep_page(page, raw)
        page += 1
    for tally in (reserved_bits, reserved_state, partial_alone, bitmap_state, bitmap_alone,
                  in_header, past_end):
        tally.report()
    for block in partial:
        if block // ratio not in bitmaps:
            problems.error("bitmap-missing", f"block {block} is partially present but its "
                           "sector bitmap is not present")
            break
    if fully_allocated:
        missing = g.payload_blocks - payload_states.get(F.PAYLOAD_BLOCK_FULLY_PRESENT, 0)
        if missing:
            problems.warning("fixed-not-allocated",
                             f"{missing} blocks of a fixed disk are not allocated")
    _check_overlaps(extents, fixed, problems)
    return scan


def _check_overlaps(
    extents: list[tuple[int, int, str]], fixed: list[tuple[int, int, str]], problems: Problems
) -> None:
    """Blocks (unnamed extents) and the named structures must not share space in the file."""
    spans = sorted([*extents, *fixed], key=lambda e: e[0])  # stable: blocks first at a tie
    clashes = [(a, b) for a, b in itertools.pairwise(spans) if b[0] < a[0] + a[1]]
    if not clashes:
        return
    a, b = clashes[0]

    def what(extent: tuple[int, int, str]) -> str:
        return extent[2] or f"the block at file offset {extent[0]}"

    more = f" ({len(clashes)} overlaps in all)" if len(clashes) > 1 else ""
    problems.error(
        "block-overlaps-region" if a[2] or b[2] else "blocks-overlap",
        f"BAT blocks overlap: {what(a)} and {what(b)} share the same space in the file "
        f"(writing one would overwrite the other){more}",
    )
