"""Log replay: a file left with a non-empty log (a crash mid-update) reads as replayed.

qemu-img check -r all replays the log independently, which is the oracle here.
"""

from __future__ import annotations

import shutil
import struct
import uuid
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, VhdxImage, create_dynamic, open_disk
from hvgui.vhdx import format as F
from hvgui.vhdx.log import LogWrite, build_entry
from tests.vhdx.helpers import bat_offset, patch, qemu_raw, rewrite_headers, run, tool

LOG_OFFSET = 1 * MiB
LOG_LENGTH = 1 * MiB


def _sector(fill: bytes) -> bytes:
    return (fill * (4096 // len(fill) + 1))[:4096]


def _disk_with_log(tmp_path: Path) -> tuple[Path, bytes]:
    """A disk whose log holds an active sequence of two entries (the second wraps around the
    end of the log), plus a stale older entry and a torn newer one that must be ignored.

    The sequence: rewrite a sector of block 0, zero another, allocate block 3 at the end of the
    file (BAT sector rewritten, file extended by LastFileOffset) with a data sector in it.
    Returns the path and the bytes the disk must read as after replay.
    """
    path = tmp_path / "logged.vhdx"
    create_dynamic(path, 8 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"\x11" * MiB)
        expected = bytearray(disk.read(0, disk.size))
    with VhdxImage.open(path) as image:
        block0 = image.bat.payload_entry(0) & F.BAT_OFFSET_MASK
        file_size = image.file_size
    bat = bat_offset(path)
    bat_sector = bytearray(Path(path).read_bytes()[bat : bat + 4096])
    new_block = file_size  # block 3 goes at the current end of the file
    struct.pack_into("<Q", bat_sector, 3 * 8, new_block | F.PAYLOAD_BLOCK_FULLY_PRESENT)

    log_guid = uuid.uuid4()
    e1 = build_entry(
        log_guid=log_guid,
        sequence_number=41,
        tail=LOG_LENGTH - 12288,
        writes=[
            LogWrite(block0 + 4096, 4096, _sector(b"LOGGED! ")),
            LogWrite(block0 + 3 * 4096, 8192, None),
        ],
        flushed_file_offset=file_size,
        last_file_offset=file_size,
    )
    e2 = build_entry(
        log_guid=log_guid,
        sequence_number=42,
        tail=LOG_LENGTH - 12288,
        writes=[
            LogWrite(new_block, MiB, None),  # the new block is zeroed, extending the file
            LogWrite(new_block + 8192, 4096, _sector(b"new block ")),
            LogWrite(bat, 4096, bytes(bat_sector)),
        ],
        flushed_file_offset=file_size,
        last_file_offset=file_size + MiB,
    )
    assert (len(e1), len(e2)) == (8192, 12288)
    stale = build_entry(
        log_guid=log_guid,
        sequence_number=7,
        tail=256 * 1024,
        writes=[LogWrite(block0, 4096, _sector(b"stale"))],
        flushed_file_offset=file_size,
        last_file_offset=file_size,
    )
    torn = bytearray(
        build_entry(
            log_guid=log_guid,
            sequence_number=43,
            tail=LOG_LENGTH - 12288,
            writes=[LogWrite(block0, 4096, _sector(b"torn"))],
            flushed_file_offset=file_size,
            last_file_offset=file_size,
        )
    )
    torn[-100] ^= 0xFF  # its data sector never fully reached the disk
    log = bytearray(LOG_LENGTH)
    log[LOG_LENGTH - 12288 : LOG_LENGTH - 4096] = e1
    log[LOG_LENGTH - 4096 :] = e2[:4096]  # e2 wraps around the end of the log
    log[: len(e2) - 4096] = e2[4096:]
    log[256 * 1024 : 256 * 1024 + len(stale)] = stale
    log[512 * 1024 : 512 * 1024 + len(torn)] = torn
    patch(path, LOG_OFFSET, bytes(log))
    rewrite_headers(path, log_guid=log_guid)

    expected[4096 : 2 * 4096] = _sector(b"LOGGED! ")
    expected[3 * 4096 : 5 * 4096] = bytes(8192)
    expected[3 * MiB + 8192 : 3 * MiB + 3 * 4096] = _sector(b"new block ")
    return path, bytes(expected)


def test_qemu_agrees_with_the_test_log(tmp_path: Path) -> None:
    path, expected = _disk_with_log(tmp_path)
    copy = tmp_path / "qemu.vhdx"
    shutil.copy(path, copy)
    result = run(tool("qemu-img"), "check", "-r", "all", "-f", "vhdx", copy)
    assert result.returncode == 0, result.stderr.decode()
    assert qemu_raw(copy) == expected


def test_read_only_open_replays_in_memory_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path, expected = _disk_with_log(tmp_path)
    before = path.read_bytes()
    with open_disk(path) as disk:
        assert disk.leaf.log_state == "replayed in memory"
        assert disk.read(0, disk.size) == expected
        sources = disk.block_sources()
        assert sources[3].sources == [(0, MiB)]
    assert path.read_bytes() == before


def test_writable_open_replays_into_the_file_and_empties_the_log(tmp_path: Path) -> None:
    path, expected = _disk_with_log(tmp_path)
    with open_disk(path, writable=True) as disk:
        assert disk.leaf.log_state == "replayed"
        assert disk.read(0, disk.size) == expected
    with VhdxImage.open(path) as image:
        assert image.log_state == "empty"
        assert all(h is not None and h.log_guid == F.NULL_GUID for h in image.headers)
        assert image.file_size % MiB == 0
    assert qemu_raw(path) == expected


def test_log_that_says_the_file_was_longer_is_corrupt(tmp_path: Path) -> None:
    path, _ = _disk_with_log(tmp_path)
    with VhdxImage.open(path) as image:
        size = image.file_size - 0  # the overlay does not grow the real file
    import os

    os.truncate(path, 4 * MiB)
    assert size > 4 * MiB
    from hvgui.vhdx import CorruptFileError

    with pytest.raises(CorruptFileError, match="truncated"):
        open_disk(path)


def test_a_log_guid_without_entries_is_cleared_on_writable_open(tmp_path: Path) -> None:
    path = tmp_path / "d.vhdx"
    create_dynamic(path, 4 * MiB, block_size=1 * MiB)
    rewrite_headers(path, log_guid=uuid.uuid4())
    with open_disk(path) as disk:
        assert disk.leaf.log_state == "no valid entries"
    with open_disk(path, writable=True):
        pass
    with VhdxImage.open(path) as image:
        assert image.header.log_guid == F.NULL_GUID


def test_replayed_zeroing_writes_only_where_the_file_holds_data(tmp_path: Path) -> None:
    """A log may zero a large range of a large sparse file: the holes already read as zeros,
    so the replay claims no space there (it once wrote every zero byte)."""
    import os

    path = tmp_path / "sparse.vhdx"
    create_dynamic(path, 64 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"\x11" * MiB)
    with VhdxImage.open(path) as image:
        block0 = image.bat.payload_entry(0) & F.BAT_OFFSET_MASK
        size = image.file_size
    os.truncate(path, size + 2 * F.GiB)  # 2 GiB of holes after the data
    allocated = os.stat(path).st_blocks * 512
    guid = uuid.uuid4()
    entry = build_entry(log_guid=guid, sequence_number=5, tail=0,
                        writes=[LogWrite(block0 + 4096, F.GiB, None)],  # the most one may zero
                        flushed_file_offset=size + 2 * F.GiB,
                        last_file_offset=size + 2 * F.GiB)
    patch(path, LOG_OFFSET, entry)
    rewrite_headers(path, log_guid=guid)
    with open_disk(path, writable=True) as disk:
        assert disk.read(0, 8192) == b"\x11" * 4096 + bytes(4096)
    assert os.stat(path).st_blocks * 512 <= allocated + MiB


@pytest.mark.parametrize("target", ["out.vhdx", "out.raw"])
def test_converting_a_disk_left_with_a_log_gives_what_it_reads_as_replayed(
    tmp_path: Path, target: str
) -> None:
    from hvgui.vhdx import convert_vhd

    path, expected = _disk_with_log(tmp_path)
    before = path.read_bytes()
    out = tmp_path / target
    convert_vhd(path, out)
    assert path.read_bytes() == before  # the source is only read
    if out.suffix == ".raw":
        assert out.read_bytes() == expected
    else:
        with open_disk(out) as disk:
            assert disk.read(0, disk.size) == expected
