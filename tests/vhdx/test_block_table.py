"""The block table (numpy, whole BAT at once) says exactly what the per-block Python sweep it
replaced said, and its BAT arrays and runs what the pure-Python ones say, on crafted chains:
fully and partially present blocks, ZERO, UNMAPPED and UNDEFINED states, NOT_PRESENT blocks,
parents of other block sizes, legacy VHD chains with sector bitmaps."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from hvgui.vhdx import create_differencing, create_dynamic, open_disk
from hvgui.vhdx import format as F
from hvgui.vhdx.block_table import BlockSource, runs_of
from hvgui.vhdx.chain import Disk, coverage, resolve_coverage
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.vhd_create import create_vhd, create_vhd_differencing
from tests.vhdx.damage import set_bat_entry

MiB = 1 << 20
SECTOR = 512


# ---- the code this replaced, kept as the reference (chain.coverage, payload_states: the
# pure-Python paths convert-vhd still uses) --------------------------------------------------
def old_block_sources(disk: Disk) -> list[BlockSource]:
    unresolved: list[tuple[int, int]] = [(0, disk.size)]
    assigned: list[tuple[int, int, int]] = []
    for level, image in enumerate(disk.images):
        if not unresolved:
            break
        unresolved = resolve_coverage(unresolved, coverage(image), level, image.has_parent,
                                      assigned)
    assigned.extend((a, b, -1) for a, b in unresolved)
    assigned.sort()
    bs = disk.block_size
    result: list[BlockSource] = []
    counts: dict[int, int] = {}
    current = 0

    def flush() -> None:
        order = sorted(counts, key=lambda s: (s < 0, s))
        result.append(BlockSource(current, current * bs, min(bs, disk.size - current * bs),
                                  [(s, counts[s]) for s in order]))
        counts.clear()

    for a, b, src in assigned:
        pos = a
        while pos < b:
            block = pos // bs
            if block != current:
                flush()
                current = block
            stop = min(b, (block + 1) * bs)
            counts[src] = counts.get(src, 0) + stop - pos
            pos = stop
    if counts:
        flush()
    return result


# ---- crafted chains ------------------------------------------------------------------------
def set_state(path: Path, block: int, state: int) -> None:
    """Give payload block `block` of a VHDX `state` (no data offset: states 1-3)."""
    with open_disk(path) as disk:
        leaf = disk.leaf
        assert isinstance(leaf, VhdxImage)
        index = leaf.geometry.payload_index(block)
    set_bat_entry(path, index, state)


def vhdx_chain(tmp_path: Path, seed: int) -> Path:
    """A base and 1-3 children of random block sizes, each writing random ranges (children
    write sectors: PARTIALLY_PRESENT blocks), then some NOT_PRESENT blocks of each file made
    ZERO, UNMAPPED or UNDEFINED."""
    rng = random.Random(seed)
    size = rng.choice([20, 37, 64]) * MiB + rng.choice([0, 3 * SECTOR])
    files = [tmp_path / "base.vhdx"]
    create_dynamic(files[0], size, block_size=rng.choice([1, 2, 4]) * MiB)
    for depth in range(rng.randint(1, 3) + 1):
        if depth:
            files.append(tmp_path / f"child{depth}.avhdx")
            create_differencing(files[-1], files[-2], block_size=rng.choice([1, 2, 8]) * MiB)
        with open_disk(files[-1], writable=True) as disk:
            for _ in range(rng.randint(2, 10)):
                length = rng.choice([SECTOR, 9 * SECTOR, 700 * SECTOR, MiB, 3 * MiB])
                offset = rng.randrange(0, (size - length) // SECTOR) * SECTOR
                disk.write(offset, bytes([depth + 1]) * length)
    for file in files:
        with open_disk(file) as disk:
            leaf = disk.leaf
            assert isinstance(leaf, VhdxImage)
            blocks = leaf.geometry.payload_blocks
            taken = set(leaf.bat.payload_states()[0])
        free = sorted(set(range(blocks)) - taken)
        for block in rng.sample(free, min(3, len(free))):
            set_state(file, block, rng.choice([F.PAYLOAD_BLOCK_ZERO, F.PAYLOAD_BLOCK_UNMAPPED,
                                               F.PAYLOAD_BLOCK_UNDEFINED]))
    return files[-1]


def vhd_chain(tmp_path: Path, seed: int) -> Path:
    rng = random.Random(seed)
    size = rng.choice([17, 40]) * MiB
    files = [tmp_path / "base.vhd"]
    create_vhd(files[0], size)
    for depth in range(3):
        if depth:
            files.append(tmp_path / f"child{depth}.avhd")
            create_vhd_differencing(files[-1], files[-2])
        with open_disk(files[-1], writable=True) as disk:
            for _ in range(rng.randint(2, 8)):
                length = rng.choice([SECTOR, 5 * SECTOR, 1000 * SECTOR, 2 * MiB])
                offset = rng.randrange(0, (size - length) // SECTOR) * SECTOR
                disk.write(offset, bytes([depth + 1]) * length)
    return files[-1]


def assert_same_as_before(leaf: Path) -> list[BlockSource]:
    with open_disk(leaf) as disk:
        for image in disk.images:
            assert runs_of(image) == coverage(image)
            joined = runs_of(image, joined=True)
            assert sum(b - a for a, b, _ in joined) == sum(b - a for a, b, _ in coverage(image))
            assert all(b1 < a2 or k1 != k2 for (_, b1, k1), (a2, _, k2)
                       in itertools.pairwise(joined))
            if isinstance(image, VhdxImage):
                blocks, states, _ = image.bat.payload_states()
                runs = image.bat.payload_state_runs()
                assert all(runs.values[1:] != runs.values[:-1])  # neighbouring runs differ
                per_block = runs.between(0, runs.count).tolist()
                assert len(per_block) == image.geometry.payload_blocks
                assert [per_block[b] for b in blocks] == states
                assert set(per_block[b] for b in set(range(len(per_block))) - set(blocks)) <= {0}
        new = disk.block_sources()
        assert new == old_block_sources(disk)
        table = disk.block_table()
        assert [table[i] for i in range(len(table))] == new
        every = table.rows(0, len(table)).tolist()
        firsts, counts = table.stretches()  # blocks served alike, for counts over the disk
        assert sum(counts.tolist()) == len(table) and firsts.tolist()[:1] == [0]
        for first, count in zip(firsts.tolist(), counts.tolist(), strict=True):
            assert every[first: first + count] == [every[first]] * count
        sums = [0] * (table.levels + 1)  # the weighted rows add up to every row
        for rows, weights in table.weighted_rows():
            for row, weight in zip(rows.tolist(), weights.tolist(), strict=True):
                sums = [a + b * weight for a, b in zip(sums, row, strict=True)]
        assert sums == [sum(column) for column in zip(*every, strict=True)]
        if new:
            assert table[-1] == new[-1]
        with pytest.raises(IndexError):
            table[len(new)]
    return new


@pytest.mark.parametrize("seed", range(6))
def test_vhdx_chains_with_every_state_give_the_same_sources(tmp_path: Path, seed: int) -> None:
    sources = assert_same_as_before(vhdx_chain(tmp_path, seed))
    assert any(len(s.sources) > 1 for s in sources)  # partial blocks were made
    assert any(index == -1 for s in sources for index, _ in s.sources)  # zeros somewhere


@pytest.mark.parametrize("seed", range(3))
def test_vhd_chains_with_sector_bitmaps_give_the_same_sources(tmp_path: Path, seed: int) -> None:
    sources = assert_same_as_before(vhd_chain(tmp_path, seed))
    assert any(len(s.sources) > 1 for s in sources)


def test_a_disk_with_an_odd_last_block_and_no_data(tmp_path: Path) -> None:
    disk_path = tmp_path / "odd.vhdx"
    create_dynamic(disk_path, 5 * MiB + SECTOR, block_size=2 * MiB)
    sources = assert_same_as_before(disk_path)
    assert [s.length for s in sources] == [2 * MiB, 2 * MiB, MiB + SECTOR]
    assert all(s.sources == [(-1, s.length)] for s in sources)
