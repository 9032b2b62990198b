"""Per-block values (BAT states) kept as runs: where each run starts and its value.

A 64 TiB disk of 1 MiB blocks has 67 million blocks: a byte per block is 64 MiB per chain file,
while the runs are as many as the places its BAT changes state (one for a disk qemu-img made).
numpy is imported inside the functions (hvctl's disk commands never load it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StateRuns:
    """Values of blocks [0, count): run i holds `values[i]` from block `starts[i]` up to the next
    start (numpy int64 and int8 arrays; neighbouring runs differ)."""

    count: int
    starts: Any
    values: Any

    @classmethod
    def from_pieces(cls, count: int, pieces: Iterable[tuple[int, Any]]) -> StateRuns:
        """From pieces (first block, dense values) in block order: each piece's values run from
        its first block on, the last one up to the next piece (a one-value piece covers a
        whole stretch). Pieces at or past `count` are dropped."""
        import numpy as np

        starts: list[Any] = [np.zeros(0, dtype=np.int64)]
        values: list[Any] = [np.zeros(0, dtype=np.int8)]
        for first, dense in pieces:
            dense = np.asarray(dense, dtype=np.int8)[: max(0, count - first)]
            if not len(dense):
                continue
            at = np.concatenate(([0], np.flatnonzero(dense[1:] != dense[:-1]) + 1))
            starts.append(at.astype(np.int64) + first)
            values.append(dense[at])
        return cls.from_runs(count, np.concatenate(starts), np.concatenate(values))

    @classmethod
    def from_runs(cls, count: int, starts: Any, values: Any) -> StateRuns:
        """From runs (ascending starts, the first 0, and their values) that may repeat a value
        or start at or past `count`: those are dropped."""
        import numpy as np

        inside = np.asarray(starts, dtype=np.int64) < count
        starts = np.asarray(starts, dtype=np.int64)[inside]
        values = np.asarray(values, dtype=np.int8)[inside]
        keep = np.concatenate(([True], values[1:] != values[:-1]))[: len(values)]
        return cls(count, starts[keep], values[keep])

    def between(self, first: int, last: int) -> Any:
        """The values of blocks [first, last) as a dense int8 array."""
        import numpy as np

        return self.at_blocks(np.arange(first, last, dtype=np.int64))

    def at_blocks(self, blocks: Any) -> Any:
        """The values at `blocks` (a numpy array of block numbers inside [0, count))."""
        import numpy as np

        if not len(self.starts):
            return np.zeros(len(blocks), dtype=np.int8)
        run = np.searchsorted(self.starts, blocks, side="right") - 1
        return self.values[np.maximum(run, 0)]

    def at(self, block: int) -> int:
        import numpy as np

        return int(self.at_blocks(np.array([block], dtype=np.int64))[0])
