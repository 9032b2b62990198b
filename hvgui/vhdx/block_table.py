"""Which file of a chain serves each leaf block, as runs over the whole disk.

A 4 TiB disk of 1 MiB blocks has 4,194,304 blocks: one Python object (or loop turn) per block
holds the interpreter lock for seconds, and a GUI thread waiting for that lock freezes; a row
of numbers per block of a 64 TiB disk is gigabytes. Here each file's BAT becomes runs of one
state, each chain file's share of the disk runs of bytes, and the per-block byte counts are
computed for the blocks asked for, a column (a chain file) at a time; Python loops only over
runs of the disk that differ from their neighbours.
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
    """Per leaf block, the bytes each chain file serves: `rows(first, last)[block, level]` for
    the chain's levels (0 = leaf) and, in the last column, the bytes read as zeros. Kept as
    each source's runs, not a row per block (a 64 TiB disk of 1 MiB blocks has 67 million):
    any slice of rows is computed when asked for. Reads as a sequence of BlockSource (made on
    demand, sources in chain order and zeros last)."""

    block_size: int
    size: int
    # per column (the chain's levels, then zeros): its runs' starts, lengths and the bytes
    # of the column's runs before each (numpy int64), sorted by start
    columns: tuple[tuple[Any, Any, Any], ...]

    @classmethod
    def from_ranges(cls, ranges: Sequence[Run] | Any, levels: int, block_size: int,
                    size: int) -> BlockTable:
        """From (start, end, chain index) ranges that tile [0, size) (index -1 for zeros), a
        list or a numpy (n, 3) array."""
        import numpy as np

        table = np.asarray(ranges, dtype=np.int64).reshape(-1, 3)
        columns = []
        for source in [*range(levels), ZEROS_SOURCE]:
            mine = table[table[:, 2] == source]
            mine = mine[np.argsort(mine[:, 0], kind="stable")]
            starts, lengths = mine[:, 0], mine[:, 1] - mine[:, 0]
            columns.append((starts, lengths, np.concatenate(([0], np.cumsum(lengths)))))
        return cls(block_size, size, tuple(columns))

    def rows(self, first: int, last: int) -> Any:
        """The bytes each column serves in blocks [first, last): int64 (last - first, levels
        + 1). Callers ask for at most ROWS blocks at a time (see row_chunks) or a view's."""
        import numpy as np

        served = np.zeros((max(0, last - first), len(self.columns)), dtype=np.int64)
        if last > first:  # neighbouring blocks share a bound: one lookup per bound
            bounds = np.minimum(np.arange(first, last + 1, dtype=np.int64) * self.block_size,
                                self.size)
            for column in range(len(self.columns)):
                served[:, column] = np.diff(self._below(column, bounds))
        return served

    def rows_at(self, blocks: Any) -> Any:
        """rows() of the blocks numbered in `blocks` (a numpy int64 array, inside the disk)."""
        import numpy as np

        served = np.zeros((len(blocks), len(self.columns)), dtype=np.int64)
        lows = np.minimum(blocks * self.block_size, self.size)
        highs = np.minimum(lows + self.block_size, self.size)
        for column in range(len(self.columns)):
            served[:, column] = self._below(column, highs) - self._below(column, lows)
        return served

    def _below(self, column: int, bounds: Any) -> Any:
        """The bytes of `column`'s runs below each of `bounds`: its whole runs before the run
        a bound falls in, plus the part of that run below the bound."""
        import numpy as np

        starts, lengths, before = self.columns[column]
        if not len(starts):
            return np.zeros(len(bounds), dtype=np.int64)
        run = np.searchsorted(starts, bounds, side="right") - 1
        at = np.maximum(run, 0)
        below = before[at] + np.clip(bounds - starts[at], 0, lengths[at])
        below[run < 0] = 0
        return below

    def stretches(self) -> tuple[Any, Any]:
        """(first blocks, block counts) of stretches tiling the disk whose blocks all have the
        same row: where no run of any column starts or ends, neighbouring blocks are served
        alike. As many as the runs' edges (a few for a 64 TiB disk qemu-img made)."""
        import numpy as np

        count = len(self)
        edges = [np.array([0, count - 1, count], dtype=np.int64)]
        for starts, lengths, _ in self.columns:
            for at in (starts, starts + lengths):
                edges += [at // self.block_size, (at + self.block_size - 1) // self.block_size]
        key = _sorted_unique(np.concatenate(edges))
        firsts = _sorted_unique(np.concatenate((key, key + 1)))
        firsts = firsts[(firsts >= 0) & (firsts < count)]
        return firsts, np.diff(np.concatenate((firsts, [count])))

    def weighted_rows(self) -> Iterator[tuple[Any, Any]]:
        """The whole disk's rows as (rows, how many blocks each stands for), a slice at a
        time: one row per stretch of blocks served alike when the runs are few (see
        stretches), else every row, ROWS at a time (a BAT whose states change at every block
        costs time, never an array over the disk)."""
        import numpy as np

        count = len(self)
        if sum(len(starts) for starts, _, _ in self.columns) <= count // 16:
            firsts, weights = self.stretches()
            for rows in row_chunks(len(firsts)):
                yield self.rows_at(firsts[rows]), weights[rows]
        else:
            for rows in row_chunks(count):
                yield self.rows(rows.start, rows.stop), np.ones(rows.stop - rows.start,
                                                                dtype=np.int64)

    @property
    def levels(self) -> int:
        return len(self.columns) - 1

    def __len__(self) -> int:
        return -(-self.size // self.block_size)

    def _source(self, block: int, row: Sequence[int]) -> BlockSource:
        offset = block * self.block_size
        sources = [(ZEROS_SOURCE if column == self.levels else column, int(n))
                   for column, n in enumerate(row) if n]
        return BlockSource(block, offset, min(self.block_size, self.size - offset), sources)

    def __getitem__(self, block: int) -> BlockSource:
        number = block + len(self) if block < 0 else block
        if not 0 <= number < len(self):
            raise IndexError(f"block {block} is outside the disk ({len(self)} blocks)")
        return self._source(number, self.rows(number, number + 1)[0].tolist())

    def __iter__(self) -> Iterator[BlockSource]:
        for rows in row_chunks(len(self)):
            for block, row in enumerate(self.rows(rows.start, rows.stop).tolist(), rows.start):
                yield self._source(block, row)


ROWS = 1 << 16  # blocks per whole-array step: each holds the interpreter lock about 1 ms


def _sorted_unique(values: Any) -> Any:
    """np.unique of integers by sorting (numpy 2's hashing unique took 3.5 s for 12 M)."""
    import numpy as np

    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))[: len(ordered)]]


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
        runs = image.bat.payload_state_runs()
        if joined:  # a run of blocks in one state is one run (a fully written disk: one)
            firsts = runs.starts
            lasts = np.concatenate((runs.starts[1:], [runs.count])) - 1
            kinds = kind_of[runs.values.astype(np.uint8)]
            decided = kinds >= 0
            firsts, lasts, kinds = firsts[decided], lasts[decided], kinds[decided]
        else:  # each block its own run, as in chain.coverage
            every = kind_of[runs.between(0, runs.count).astype(np.uint8)]
            firsts = lasts = np.flatnonzero(every >= 0)
            kinds = every[firsts]
        starts = firsts.astype(np.int64) * bs
        ends = np.minimum(size, (lasts.astype(np.int64) + 1) * bs)
        pieces.append(np.stack([starts, ends, kinds.astype(np.int64)], axis=1))
        ss = image.logical_sector_size
        partial_runs = np.flatnonzero(runs.values == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT)
        for run in partial_runs.tolist():
            # each needs its sector bitmap read: as many as the file holds
            ends_at = int(runs.starts[run + 1]) if run + 1 < len(runs.starts) else runs.count
            for block in range(int(runs.starts[run]), ends_at):
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


def served_arrays(images: Sequence[Image], size: int) -> tuple[Any, Any]:
    """chain.served_ranges(images, size, joined=True) in numpy: which of `images` (a chain,
    leaf first) serves each byte of [0, size), as an (n, 3) array of (start, end, level)
    (ZEROS_SOURCE for zeros), and an (m, 2) array of the ranges none of them decides. No
    Python object per range: a BAT whose states change at every block of a 64 TiB disk has
    tens of millions of them."""
    import numpy as np

    undecided = np.array([[0, size]], dtype=np.int64)
    pieces = [np.zeros((0, 3), dtype=np.int64)]
    for level, image in enumerate(images):
        if not len(undecided):
            break
        run_lo, run_hi, kinds = coverage_arrays(image, joined=True)
        # the pieces between every edge of the undecided ranges and of the runs: each is
        # inside one of each, or outside
        cuts = _sorted_unique(np.concatenate((undecided.ravel(), run_lo, run_hi)))
        lo, hi = cuts[:-1], cuts[1:]
        wanted = _containing(undecided[:, 0], undecided[:, 1], lo) >= 0
        run = _containing(run_lo, run_hi, lo)
        decided = wanted & (run >= 0)
        source = np.where(kinds[np.maximum(run[decided], 0)] == DATA, level, ZEROS_SOURCE)
        pieces.append(np.stack([lo[decided], hi[decided], source], axis=1))
        left = wanted & (run < 0)
        undecided = _joined(lo[left], hi[left])
        if not image.has_parent:  # a base disk: what it does not decide reads as zeros
            pieces.append(np.column_stack([undecided, np.full(len(undecided), ZEROS_SOURCE)]))
            undecided = undecided[:0]
    table = np.concatenate(pieces)
    return table[np.argsort(table[:, 0], kind="stable")], undecided


def _containing(starts: Any, ends: Any, points: Any) -> Any:
    """For each point, the index of the (sorted, disjoint) range holding it, or -1."""
    import numpy as np

    if not len(starts):
        return np.full(len(points), -1, dtype=np.int64)
    index = np.searchsorted(starts, points, side="right") - 1
    inside = (index >= 0) & (points < ends[np.maximum(index, 0)])
    return np.where(inside, index, -1)


def _joined(lows: Any, highs: Any) -> Any:
    """Sorted ranges with touching neighbours joined, as an (n, 2) array."""
    import numpy as np

    if not len(lows):
        return np.zeros((0, 2), dtype=np.int64)
    first = np.concatenate(([True], lows[1:] != highs[:-1]))
    last = np.concatenate((first[1:], [True]))
    return np.stack([lows[first], highs[last]], axis=1)
