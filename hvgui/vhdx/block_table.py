"""Which file of a chain serves each leaf block, as arrays over the whole disk.

A 4 TiB disk of 1 MiB blocks has 4,194,304 blocks: one Python object (or loop turn) per block
holds the interpreter lock for seconds, and a GUI thread waiting for that lock freezes. Here
the BAT is read into numpy arrays and the per-block byte counts are computed a column (a chain
file) at a time; Python loops only over runs of the disk that differ from their neighbours.
numpy is imported inside the functions: the disk commands that never call them (hvctl's
start-up) do not load it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hvgui.vhdx import format as F
from hvgui.vhdx.image import DATA, ZERO, VhdxImage

if TYPE_CHECKING:
    from hvgui.vhdx.vhd import VhdImage

    Image = VhdxImage | VhdImage

ZEROS_SOURCE = -1  # the chain index of "allocated nowhere: reads as zeros"
Run = tuple[int, int, int]  # (start, end, kind) in virtual bytes


@dataclass(frozen=True)
class BlockSource:
    """Who serves one leaf-sized block: (chain index, bytes) pairs; -1 = zeros from nowhere."""

    index: int
    offset: int
    length: int
    sources: list[tuple[int, int]]

    @property
    def partial(self) -> bool:
        return len(self.sources) > 1


@dataclass(frozen=True)
class BlockTable:
    """Per leaf block, the bytes each chain file serves: `served[block, level]` for the chain's
    levels (0 = leaf) and, in the last column, the bytes read as zeros. Reads as a sequence of
    BlockSource (made on demand, sources in chain order and zeros last)."""

    block_size: int
    size: int
    served: Any  # numpy int32/int64 array, shape (blocks, levels + 1)

    @classmethod
    def from_ranges(cls, ranges: Sequence[Run], levels: int, block_size: int,
                    size: int) -> BlockTable:
        """From (start, end, chain index) ranges that tile [0, size) (index -1 for zeros)."""
        import numpy as np

        count = -(-size // block_size)
        table = np.array(ranges, dtype=np.int64).reshape(-1, 3)
        served = np.zeros((count, levels + 1),
                          dtype=np.int32 if block_size < 1 << 31 else np.int64)
        for column, source in enumerate([*range(levels), ZEROS_SOURCE]):
            mine = table[table[:, 2] == source]
            if not len(mine):
                continue
            mine = mine[np.argsort(mine[:, 0], kind="stable")]
            starts, lengths = mine[:, 0], mine[:, 1] - mine[:, 0]
            before = np.concatenate(([0], np.cumsum(lengths)))
            for rows in row_chunks(count):
                # Bytes of this source below each block bound: the whole runs before the run
                # the bound falls in, plus the part of that run below the bound.
                bounds = np.minimum(np.arange(rows.start, rows.stop + 1, dtype=np.int64)
                                    * block_size, size)
                run = np.searchsorted(starts, bounds, side="right") - 1
                at = np.maximum(run, 0)
                below = before[at] + np.clip(bounds - starts[at], 0, lengths[at])
                below[run < 0] = 0
                served[rows, column] = np.diff(below)
        return cls(block_size, size, served)

    @property
    def levels(self) -> int:
        return int(self.served.shape[1]) - 1

    def __len__(self) -> int:
        return int(self.served.shape[0])

    def _source(self, block: int, row: Sequence[int]) -> BlockSource:
        offset = block * self.block_size
        sources = [(ZEROS_SOURCE if column == self.levels else column, int(n))
                   for column, n in enumerate(row) if n]
        return BlockSource(block, offset, min(self.block_size, self.size - offset), sources)

    def __getitem__(self, block: int) -> BlockSource:
        number = block + len(self) if block < 0 else block
        if not 0 <= number < len(self):
            raise IndexError(f"block {block} is outside the disk ({len(self)} blocks)")
        return self._source(number, self.served[number].tolist())

    def __iter__(self) -> Iterator[BlockSource]:
        for block, row in enumerate(self.served.tolist()):
            yield self._source(block, row)


ROWS = 1 << 16  # blocks per whole-array step: each holds the interpreter lock about 1 ms


def row_chunks(count: int) -> Iterator[slice]:
    """[0, count) in steps of ROWS blocks: between two, a waiting thread (the GUI's) gets the
    interpreter lock, which one step over 4 million blocks would hold for 30-150 ms."""
    for start in range(0, count, ROWS):
        yield slice(start, min(count, start + ROWS))


def coverage_arrays(image: Image, *, joined: bool = False) -> tuple[Any, Any, Any]:
    """The runs `image` decides (see chain.coverage) as numpy arrays (starts, ends, kinds),
    sorted; `joined` joins neighbouring runs of one kind (fewer runs, the same bytes)."""
    import numpy as np

    size = image.virtual_size
    bs = image.block_size
    pieces: list[Any] = [np.zeros((0, 3), dtype=np.int64)]
    if isinstance(image, VhdxImage):
        kind_of = np.full(256, -1, dtype=np.int8)  # by BAT state; -1: not decided here
        kind_of[F.PAYLOAD_BLOCK_FULLY_PRESENT] = DATA
        for state in (F.PAYLOAD_BLOCK_ZERO, F.PAYLOAD_BLOCK_UNMAPPED, F.PAYLOAD_BLOCK_UNDEFINED):
            kind_of[state] = ZERO
        states = image.bat.payload_state_array()
        for rows in row_chunks(len(states)):
            # whole blocks of one kind in a row: one run (a fully written disk is one run
            # unless `joined` is False, when each block is its own as in chain.coverage)
            kinds = kind_of[states[rows].astype(np.uint8)]
            blocks = np.flatnonzero(kinds >= 0)
            if not joined:
                firsts, lasts = blocks, blocks
            else:
                cut = np.flatnonzero((np.diff(blocks) != 1) | (np.diff(kinds[blocks]) != 0))
                firsts = blocks[np.concatenate(([0], cut + 1))] if len(blocks) else blocks
                lasts = blocks[np.concatenate((cut, [len(blocks) - 1]))] if len(blocks) \
                    else blocks
            starts = (firsts + rows.start).astype(np.int64) * bs
            ends = np.minimum(size, (lasts + rows.start + 1).astype(np.int64) * bs)
            pieces.append(np.stack([starts, ends, kinds[firsts].astype(np.int64)], axis=1))
        ss = image.logical_sector_size
        partial = np.flatnonzero(states == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT).tolist()
        for block in partial:  # each needs its sector bitmap read: as many as the file holds
            start = block * bs
            end = min(size, start + bs)
            bounds, first_present = image.block_runs(block)
            edges = np.array(bounds, dtype=np.int64)
            present = np.arange(len(bounds) - 1) % 2 == (0 if first_present else 1)
            lows = start + edges[:-1][present] * ss
            pieces.append(np.stack([lows, np.minimum(end, start + edges[1:][present] * ss),
                                    np.full(len(lows), DATA)], axis=1))
    elif image.header is None:  # a fixed VHD: all of it
        pieces.append(np.array([[0, size, DATA]], dtype=np.int64))
    elif not image.has_parent:  # a dynamic VHD: its allocated blocks
        starts = np.flatnonzero(image.sectors >= 0).astype(np.int64) * bs
        pieces.append(np.stack([starts, np.minimum(size, starts + bs),
                                np.full(len(starts), DATA)], axis=1))
    else:  # a differencing VHD: its sector bitmaps, block by block
        pieces.append(np.array(image.coverage(), dtype=np.int64).reshape(-1, 3))
    table = np.concatenate(pieces).astype(np.int64)
    table = table[table[:, 0] < table[:, 1]]
    table = table[np.argsort(table[:, 0], kind="stable")]
    starts, ends, kinds = table[:, 0], table[:, 1], table[:, 2]
    if joined and len(table):
        first = np.concatenate(([True], (starts[1:] != ends[:-1]) | (kinds[1:] != kinds[:-1])))
        last = np.concatenate((first[1:], [True]))
        starts, ends, kinds = starts[first], ends[last], kinds[first]
    return starts, ends, kinds


def runs_of(image: Image, *, joined: bool = False) -> list[Run]:
    """coverage_arrays as a list of (start, end, kind) tuples."""
    starts, ends, kinds = coverage_arrays(image, joined=joined)
    return list(zip(starts.tolist(), ends.tolist(), kinds.tolist(), strict=True))
