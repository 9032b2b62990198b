"""The one BAT decoder, strict and collecting: a trimmed table (whole pages of unallocated
states, counted a byte column at a time) reads and counts the same as entry by entry."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hvgui.vhdx import CorruptFileError, MiB, create_dynamic, dump_vhdx, open_disk, test_vhd
from hvgui.vhdx import format as F
from tests.vhdx.helpers import bat_offset, patch

BLOCKS = 20_000  # more than two 8192-entry pages of BAT


def _trimmed(tmp_path: Path) -> Path:
    """Block 0 written, then every other block ZERO or UNMAPPED (as a guest's trim leaves
    them), except block 1, NOT_PRESENT."""
    path = tmp_path / "trimmed.vhdx"
    create_dynamic(path, BLOCKS * MiB, block_size=MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"kept" * 1024)
    chunk_ratio = (1 << 23) * 512 // MiB
    entries = bytearray()
    for index in range(2, BLOCKS + BLOCKS // chunk_ratio):
        state = 0 if index % (chunk_ratio + 1) == chunk_ratio else (2 if index % 3 else 3)
        entries += struct.pack("<Q", state)
    patch(path, bat_offset(path) + 2 * 8, bytes(entries))
    return path


def test_a_trimmed_table_is_read_and_counted_like_any_other(tmp_path: Path) -> None:
    path = _trimmed(tmp_path)
    with open_disk(path) as disk:
        assert disk.read(0, 8) == b"keptkept"
        assert disk.read(7 * MiB, 4) == bytes(4)
        counts = disk.images[0].bat.state_counts()  # entry by entry
    dumped = dump_vhdx(path)["bat"]["counts"]  # whole pages at a time
    assert dumped == {name: n for name, n in counts.items() if n}
    assert dumped["NOT_PRESENT"] == 1 and dumped["FULLY_PRESENT"] == 1
    assert dumped["ZERO"] + dumped["UNMAPPED"] == BLOCKS - 2
    assert test_vhd(path) == []


def test_one_bad_entry_in_a_trimmed_page_is_found(tmp_path: Path) -> None:
    path = _trimmed(tmp_path)
    patch(path, bat_offset(path) + 9000 * 8, struct.pack("<Q", F.PAYLOAD_BLOCK_ZERO | 0x100))
    with pytest.raises(CorruptFileError, match="BAT entry 9000 has reserved bits set"):
        open_disk(path)
    found = {f.code: f.severity for f in test_vhd(path)}
    assert found == {"bat-reserved-bits": "error"}


def test_neither_open_nor_survey_reads_the_sparse_bat_of_an_empty_64_tib_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its 512 MiB BAT is one hole up to the end of the file: both modes skip it."""
    from hvgui.vhdx import VhdxImage, info

    path = tmp_path / "big.vhdx"
    create_dynamic(path, 64 << 40, block_size=MiB)
    total = [0]
    survey_read, image_read = info._read, VhdxImage.pread

    def counting_survey(*args: object) -> bytes:
        data = survey_read(*args)  # type: ignore[arg-type]
        total[0] += len(data)
        return data

    def counting_image(image: VhdxImage, offset: int, length: int) -> bytes:
        total[0] += length
        return image_read(image, offset, length)

    monkeypatch.setattr(info, "_read", counting_survey)
    monkeypatch.setattr(VhdxImage, "pread", counting_image)
    assert dump_vhdx(path)["bat"]["counts"] == {"NOT_PRESENT": 64 << 20}
    assert 0 < total[0] < 4 * MiB
    total[0] = 0
    with open_disk(path) as disk:
        assert disk.read(63 << 40, 4096) == bytes(4096)
    assert 0 < total[0] < 4 * MiB
