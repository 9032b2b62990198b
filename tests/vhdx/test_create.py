"""Creating disks: layout rules of the spec, what independent tools say about our files."""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path

import pytest

from hvgui.vhdx import (
    GiB,
    MiB,
    TiB,
    VhdxError,
    VhdxImage,
    create_differencing,
    create_dynamic,
    create_fixed,
    open_disk,
)
from hvgui.vhdx.bat import PAGE_ENTRIES
from tests.vhdx.helpers import fill_disk, qemu_check, qemu_raw, random_bytes


@pytest.mark.parametrize("block_size", [1 * MiB, 2 * MiB, 32 * MiB, 256 * MiB])
@pytest.mark.parametrize("kind", ["fixed", "dynamic"])
def test_qemu_accepts_our_disks_and_reads_what_we_wrote(
    tmp_path: Path, kind: str, block_size: int
) -> None:
    path = tmp_path / "disk.vhdx"
    size = 24 * MiB + 512 * 3  # not a multiple of the block size: a short last block
    create = create_fixed if kind == "fixed" else create_dynamic
    create(path, size, block_size=block_size)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"\x55\xaa" * 256)
        disk.write(3 * MiB + 17, random_bytes(2 * MiB, 1))
        disk.write(size - 1000, b"\xee" * 1000)
        expected = disk.read(0, size)
    assert expected[:2] == b"\x55\xaa" and expected[-1:] == b"\xee"
    qemu_check(path)
    assert qemu_raw(path) == expected


def test_fully_written_dynamic_disk_matches_qemu(tmp_path: Path) -> None:
    path = tmp_path / "full.vhdx"
    create_dynamic(path, 16 * MiB, block_size=4 * MiB)
    data = fill_disk(path)
    qemu_check(path)
    assert qemu_raw(path) == data


def test_layout_follows_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "d.vhdx"
    create_dynamic(path, 40 * MiB, block_size=1 * MiB, logical_sector_size=4096)
    with open_disk(path, writable=True) as disk:
        disk.write(5 * MiB, b"x" * 4096)
    raw = path.read_bytes()
    assert raw[:8] == b"vhdxfile"
    assert raw[8:18].decode("utf-16-le") == "hvgui"
    assert raw[192 * 1024 : 256 * 1024] == raw[256 * 1024 : 320 * 1024]  # identical tables
    with VhdxImage.open(path) as image:
        assert all(h is not None for h in image.headers)  # both slots valid
        seqs = sorted(h.sequence_number for h in image.headers if h)
        assert seqs[1] == seqs[0] + 1
        assert image.logical_sector_size == 4096
        assert image.file_size % MiB == 0
        for region in image.region_table.entries:
            assert region.file_offset % MiB == 0 and region.length % MiB == 0
        blocks, states, offsets = image.bat.payload_states()
        assert blocks == [5] and states == [6]
        assert offsets[0] >= 4 * MiB and offsets[0] % MiB == 0


def test_differencing_copies_the_parent_and_records_where_it_is(tmp_path: Path) -> None:
    parent = tmp_path / "Base disk.vhdx"
    create_dynamic(parent, 8 * MiB, logical_sector_size=4096, physical_sector_size=512)
    (tmp_path / "snaps").mkdir()
    child = tmp_path / "snaps" / "child.avhdx"
    create_differencing(child, parent)
    with VhdxImage.open(parent) as p, VhdxImage.open(child) as c:
        assert c.disk_type == "Differencing"
        assert c.block_size == 2 * MiB
        assert (c.virtual_size, c.logical_sector_size, c.physical_sector_size) == (
            8 * MiB,
            4096,
            512,
        )
        assert c.disk_identifier == p.disk_identifier
        loc = c.parent_locator
        assert loc["parent_linkage"] == "{" + str(p.data_write_guid) + "}"
        assert loc["parent_linkage"] == loc["parent_linkage"].lower()
        assert loc["relative_path"] == "..\\Base disk.vhdx"
        assert loc["absolute_win32_path"].endswith("\\Base disk.vhdx")
    with open_disk(child) as disk:
        assert disk.chain == [child, parent]


def test_child_of_a_64_tib_parent_is_created_in_constant_time(tmp_path: Path) -> None:
    parent = tmp_path / "huge.vhdx"
    create_dynamic(parent, 64 * TiB, block_size=256 * MiB)
    child = tmp_path / "huge.avhdx"
    create_differencing(child, parent)
    # Constant work: the BAT of 2 MiB blocks over 64 TiB is 256 MiB long but left sparse,
    # never written (the time it takes is benchmarks/run.py's differencing row).
    assert os.stat(child).st_blocks * 512 < 8 * MiB
    with open_disk(child, writable=True) as disk:
        assert disk.size == 64 * TiB
        disk.write(40 * TiB, b"deep")
        assert disk.read(40 * TiB - 2, 8) == b"\0\0deep\0\0"
        assert len(disk.leaf.bat.pages) <= 2  # memory follows what is allocated
    with open_disk(child) as disk:
        assert disk.read(40 * TiB, 4) == b"deep"


def test_fixed_disk_bat_points_every_block_in_order(tmp_path: Path) -> None:
    path = tmp_path / "f.vhdx"
    create_fixed(path, 9 * GiB + 4 * MiB, block_size=1 * MiB)  # > one BAT page of entries
    with VhdxImage.open(path) as image:
        assert image.disk_type == "Fixed"
        blocks, states, offsets = image.bat.payload_states()
        n = image.geometry.payload_blocks
        assert n > PAGE_ENTRIES
        assert blocks == list(range(n))
        assert set(states) == {6}
        assert all(b - a == MiB for a, b in itertools.pairwise(offsets))
        assert image.file_size == offsets[-1] + MiB
    qemu_check(path)


def test_create_rejects_bad_parameters_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.vhdx"
    bad = [
        dict(size=0),
        dict(size=MiB + 100),
        dict(size=65 * TiB),
        dict(size=MiB, block_size=3 * MiB),
        dict(size=MiB, block_size=512 * 1024),
        dict(size=MiB, block_size=512 * MiB),
        dict(size=MiB, logical_sector_size=1024),
        dict(size=MiB, physical_sector_size=2048),
    ]
    for kwargs in bad:
        size = kwargs.pop("size")
        with pytest.raises(VhdxError) as info:
            create_dynamic(path, size, **kwargs)
        assert str(path) in str(info.value)
        assert not path.exists()
    create_dynamic(path, MiB)
    before = path.read_bytes()
    with pytest.raises(VhdxError, match="already exists"):
        create_fixed(path, 2 * MiB)
    with pytest.raises(VhdxError, match="already exists"):
        create_differencing(path, path)
    assert path.read_bytes() == before


def test_creating_a_fixed_disk_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    from hvgui.progress import Cancelled, CancelToken

    seen: list[float] = []
    create_fixed(
        tmp_path / "a.vhdx", 64 * GiB, block_size=1 * MiB, progress=lambda f, phase: seen.append(f)
    )
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) > 2
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        create_fixed(tmp_path / "b.vhdx", 64 * GiB, block_size=1 * MiB, cancel=token)
    assert not (tmp_path / "b.vhdx").exists()


def test_header_fields_are_what_hyper_v_writes(tmp_path: Path) -> None:
    path = tmp_path / "h.vhdx"
    create_dynamic(path, 8 * MiB)
    raw = path.read_bytes()
    for offset in (64 * 1024, 128 * 1024):
        assert raw[offset : offset + 4] == b"head"
        log_guid = raw[offset + 48 : offset + 64]
        log_version, version, log_length, log_offset = struct.unpack_from("<HHIQ", raw, offset + 64)
        assert log_guid == bytes(16)
        assert (log_version, version, log_length, log_offset) == (0, 1, MiB, MiB)
