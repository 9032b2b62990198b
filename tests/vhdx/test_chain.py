"""Reading and writing through chains: GUID rules, read-only parents, block map, file object."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from hvgui.vhdx import (
    MiB,
    ParentMismatchError,
    ReadOnlyError,
    VhdxError,
    VhdxImage,
    create_differencing,
    create_dynamic,
    create_fixed,
    open_disk,
    set_read_only,
)
from hvgui.vhdx.image import bit_runs
from tests.vhdx.helpers import build_chain, pyvhdi_raw


def _guids(path: Path) -> tuple[object, object]:
    with VhdxImage.open(path) as image:
        return image.file_write_guid, image.data_write_guid


def test_write_guids_are_renewed_once_per_session(tmp_path: Path) -> None:
    path = tmp_path / "d.vhdx"
    create_dynamic(path, 8 * MiB, block_size=1 * MiB)
    before = _guids(path)
    with open_disk(path, writable=True) as disk:
        pass
    assert _guids(path) == before  # opening without writing changes nothing
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"a" * 512)
        first = _guids(disk.path)
        disk.write(MiB, b"b" * 512)
        assert _guids(disk.path) == first  # once per session
    assert first[0] != before[0] and first[1] != before[1]
    with VhdxImage.open(path) as image:
        assert all(h is not None for h in image.headers)


def test_writing_a_parent_breaks_its_child(tmp_path: Path) -> None:
    parent = tmp_path / "p.vhdx"
    create_dynamic(parent, 4 * MiB, block_size=1 * MiB)
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent)
    with open_disk(child) as disk:
        assert disk.read(0, 4) == bytes(4)
    with open_disk(parent, writable=True) as disk:
        disk.write(0, b"oops")
    with pytest.raises(ParentMismatchError) as info:
        open_disk(child)
    assert str(child) in str(info.value) and "modified after" in str(info.value)


def test_read_only_files_and_sessions_refuse_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.vhdx"
    create_fixed(path, 2 * MiB, block_size=1 * MiB)
    with open_disk(path) as disk, pytest.raises(ReadOnlyError):
        disk.write(0, b"x")
    set_read_only(path, True)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert os.stat(path).st_mode & 0o222 == 0
    with pytest.raises(ReadOnlyError) as info:
        open_disk(path, writable=True)
    assert str(path) in str(info.value)
    set_read_only(path, False)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"x")


def test_parents_are_opened_read_only(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 4 * MiB, [1 * MiB, 1 * MiB])
    with open_disk(chain[0], writable=True) as disk:
        assert disk.images[0].writable and not disk.images[1].writable
        with pytest.raises(ReadOnlyError):
            disk.images[1].write(0, b"\0" * 512)


def test_unaligned_writes_in_a_child_keep_the_parent_bytes_around_them(tmp_path: Path) -> None:
    parent = tmp_path / "p.vhdx"
    create_dynamic(parent, 4 * MiB, block_size=1 * MiB)
    with open_disk(parent, writable=True) as disk:
        disk.write(0, bytes(range(256)) * (4 * MiB // 256))
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    expected = bytearray(bytes(range(256)) * (4 * MiB // 256))
    with open_disk(child, writable=True) as disk:
        for offset, data in [(3, b"ABC"), (1021, b"xyzw" * 3), (MiB - 2, b"edge"), (2 * MiB, b"Q")]:
            disk.write(offset, data)
            expected[offset : offset + len(data)] = data
        assert disk.read(0, disk.size) == bytes(expected)
    assert pyvhdi_raw([child, parent]) == bytes(expected)
    with VhdxImage.open(child) as image:
        counts = image.bat.state_counts()
        assert counts["PARTIALLY_PRESENT"] == 3 and counts["FULLY_PRESENT"] == 0


def test_a_block_written_whole_becomes_fully_present(tmp_path: Path) -> None:
    parent = tmp_path / "p.vhdx"
    create_dynamic(parent, 4 * MiB, block_size=1 * MiB)
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    with open_disk(child, writable=True) as disk:
        disk.write(0, b"\1" * MiB)  # a whole block at once
        disk.write(MiB, b"\2" * (MiB // 2))  # half, then the other half
        disk.write(MiB + MiB // 2, b"\3" * (MiB // 2))
    with VhdxImage.open(child) as image:
        assert image.bat.state_counts()["FULLY_PRESENT"] == 2
    with open_disk(child) as disk:
        assert disk.read(MiB - 1, 2) == b"\1\2" and disk.read(2 * MiB - 1, 1) == b"\3"


def test_block_sources_show_who_serves_each_block(tmp_path: Path) -> None:
    base = tmp_path / "base.vhdx"
    create_dynamic(base, 10 * MiB, block_size=4 * MiB)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"b" * 100)  # allocates base block 0 (4 MiB: leaf blocks 0 and 1)
    mid = tmp_path / "mid.avhdx"
    create_differencing(mid, base, block_size=1 * MiB)
    with open_disk(mid, writable=True) as disk:
        disk.write(MiB, b"m" * 4096)  # partial leaf block 1
        disk.write(6 * MiB, b"m" * MiB)  # whole block 6
    leaf = tmp_path / "leaf.avhdx"
    create_differencing(leaf, mid, block_size=2 * MiB)
    with open_disk(leaf, writable=True) as disk:
        disk.write(MiB + 4096, b"l" * 512)
        sources = disk.block_sources()
    assert [s.index for s in sources] == [0, 1, 2, 3, 4]
    assert [s.length for s in sources] == [2 * MiB] * 5
    assert sources[0].sources == [(0, 512), (1, 4096), (2, 2 * MiB - 4608)]
    assert sources[0].partial
    assert sources[1].sources == [(2, 2 * MiB)]  # base block 0 covers 0..4 MiB
    assert sources[2].sources == [(-1, 2 * MiB)]
    assert sources[3].sources == [(1, MiB), (-1, MiB)]
    assert sources[4].sources == [(-1, 2 * MiB)]
    assert sum(n for s in sources for _, n in s.sources) == 10 * MiB


def test_block_sources_of_a_big_sparse_disk(tmp_path: Path) -> None:
    path = tmp_path / "big.vhdx"
    create_dynamic(path, 127 << 30)
    child = tmp_path / "big.avhdx"
    create_differencing(child, path)
    with open_disk(child, writable=True) as disk:
        disk.write(100 << 30, b"z" * 4096)
        sources = disk.block_sources()
    assert len(sources) == (127 << 30) // (2 * MiB)
    assert sources[(100 << 30) // (2 * MiB)].sources == [(0, 4096), (-1, 2 * MiB - 4096)]


def test_as_file_reads_writes_and_seeks(tmp_path: Path) -> None:
    chain, expected = build_chain(tmp_path, 4 * MiB, [1 * MiB, 2 * MiB])
    with open_disk(chain[0], writable=True) as disk:
        f = disk.as_file()
        assert isinstance(f, io.RawIOBase)
        assert f.readable() and f.writable() and f.seekable()
        buffered = io.BufferedRandom(f)
        buffered.seek(12345)
        assert buffered.read(1000) == bytes(expected[12345:13345])
        buffered.seek(-10, io.SEEK_END)
        assert buffered.read() == bytes(expected[-10:])
        assert buffered.read() == b""
        buffered.seek(777)
        buffered.write(b"through the file object")
        buffered.flush()
        assert disk.read(777, 23) == b"through the file object"
    with open_disk(chain[0]) as disk:
        f = disk.as_file()
        assert not f.writable()
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")


def test_disk_reports_the_leaf_facts(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 4 * MiB, [1 * MiB, 2 * MiB])
    with open_disk(chain[0]) as disk:
        assert disk.path == chain[0]
        assert (disk.size, disk.block_size, disk.disk_type) == (4 * MiB, 2 * MiB, "Differencing")
        assert disk.chain == chain
        assert disk.read(4 * MiB - 2, 10) == disk.read(4 * MiB - 2, 2)  # clipped at the end


def test_a_closed_disk_refuses_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "d.vhdx"
    create_dynamic(path, 4 * MiB, block_size=1 * MiB)
    disk = open_disk(path, writable=True)
    disk.close()
    disk.close()  # closing twice is harmless
    with pytest.raises(VhdxError, match="closed"):
        disk.read(0, 1)
    with pytest.raises(VhdxError, match="closed"):
        disk.write(0, b"x")


def test_writes_outside_the_disk_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.vhdx"
    create_dynamic(path, 4 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        for offset, data in [(-1, b"x"), (4 * MiB - 1, b"xy"), (4 * MiB, b"x")]:
            with pytest.raises(VhdxError, match="outside the disk"):
                disk.write(offset, data)
        assert disk.read(4 * MiB, 10) == b""


@pytest.mark.parametrize("seed", range(6))
def test_a_sector_bitmap_read_as_runs_matches_its_bits(seed: int) -> None:
    """bit_runs (reads through a differencing disk, without numpy) gives the same runs as
    numpy's view of the same bitmap: all clear, all set, one bit, and random patterns."""
    import random

    import numpy as np

    rng = random.Random(seed)
    count = rng.choice([8, 4096, 65536])
    raw = {0: bytes(count // 8), 1: b"\xff" * (count // 8),
           2: (1 << rng.randrange(count)).to_bytes(count // 8, "little")}.get(
        seed, bytes(rng.choice([0, 0, 255, 255, rng.randrange(256)])
                    for _ in range(count // 8)))
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little").astype(bool)
    cuts = (np.flatnonzero(bits[1:] != bits[:-1]) + 1).tolist()
    assert bit_runs(raw, count) == ([0, *cuts, count], bool(bits[0]))
