"""The one BAT decoder, strict and collecting: a trimmed table (whole pages of unallocated
states, counted a byte column at a time) reads and counts the same as entry by entry."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hvgui.vhdx import CorruptFileError, MiB, create_dynamic, dump_vhdx, open_disk, test_vhd
from hvgui.vhdx import format as F
from hvgui.vhdx.bat import UniformPage
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


def _uniform_disk(tmp_path: Path, bitmap_entry: int) -> Path:
    """20,000 blocks all ZERO (as qemu-img makes them), sector bitmap entries `bitmap_entry`,
    block 3 written (its page is then not uniform)."""
    path = tmp_path / "uniform.vhdx"
    create_dynamic(path, BLOCKS * MiB, block_size=MiB)
    chunk_ratio = (1 << 23) * 512 // MiB
    entries = bytearray()
    for index in range(BLOCKS + BLOCKS // chunk_ratio):
        bitmap = index % (chunk_ratio + 1) == chunk_ratio
        entries += struct.pack("<Q", bitmap_entry if bitmap else F.PAYLOAD_BLOCK_ZERO)
    patch(path, bat_offset(path), bytes(entries))
    with open_disk(path, writable=True) as disk:
        disk.write(3 * MiB, b"data" * 1024)
    return path


@pytest.mark.parametrize("bitmap_entry", [0, F.SB_BLOCK_NOT_PRESENT | (7 << 20)])
def test_pages_of_one_value_are_kept_small_and_read_the_same(
    tmp_path: Path, bitmap_entry: int
) -> None:
    """A page whose entries all repeat one value costs two numbers, not 64 KiB, and reads,
    lists and changes like any other."""
    path = _uniform_disk(tmp_path, bitmap_entry)
    raw = path.read_bytes()
    start = bat_offset(path)
    with open_disk(path, writable=True) as disk:
        bat = disk.images[0].bat
        total = bat.geometry.total_entries
        on_disk = struct.unpack(f"<{total}Q", raw[start: start + total * 8])
        assert [bat.get(i) for i in range(total)] == list(on_disk)
        assert sum(isinstance(page, UniformPage) for page in bat.pages.values()) == 1
        assert bat.nonzero() == ([i for i, v in enumerate(on_disk) if v],
                                 [v for v in on_disk if v])
        runs = bat.payload_state_runs()
        assert runs.between(0, BLOCKS).tolist() == [
            v & 7 for i, v in enumerate(on_disk) if i % 4097 != 4096]
        assert runs.starts.tolist() == [0, 3, 4]  # ZERO, the written block, ZERO
        disk.write(9000 * MiB, b"late")  # a write into a uniform page expands it
        assert disk.read(9000 * MiB, 4) == b"late" and disk.read(9001 * MiB, 4) == bytes(4)
        assert not any(isinstance(page, UniformPage) for page in bat.pages.values())
    with open_disk(path) as disk:
        assert disk.read(9000 * MiB, 4) == b"late"


@pytest.mark.parametrize("has_parent", [False, True])
def test_the_used_end_of_uniform_pages_is_the_end_their_entries_give(has_parent: bool) -> None:
    """Bat.used_end looks at a uniform page once; what it gives is what walking every
    non-zero entry gives (a merge cuts its parent's file there)."""
    from hvgui.vhdx.bat import PAGE_ENTRIES, Bat, BatGeometry

    g = BatGeometry(MiB, 512, 64 << 30, has_parent)  # 4096 blocks a chunk: a bitmap entry a page
    period = g.chunk_ratio + 1

    def walked(bat: Bat) -> int:
        end = 0
        for index, value in zip(*bat.nonzero(), strict=True):
            offset = value & F.BAT_OFFSET_MASK
            if offset:
                bitmap = index % period == period - 1
                end = max(end, offset + (F.BITMAP_BLOCK_SIZE if bitmap else g.block_size))
        return end

    payload_at, bitmap_at = 40 * MiB, 900 * MiB
    for payload, bitmap in [(F.PAYLOAD_BLOCK_ZERO, 0),
                            (F.PAYLOAD_BLOCK_ZERO | payload_at, 0),
                            (F.PAYLOAD_BLOCK_FULLY_PRESENT | payload_at,
                             F.SB_BLOCK_PRESENT | bitmap_at)]:
        bat = Bat(g)
        bat.pages[0] = UniformPage(payload, bitmap)
        bat.pages[1] = UniformPage(payload, bitmap)
        bat.set(3 * PAGE_ENTRIES + 5, F.PAYLOAD_BLOCK_FULLY_PRESENT | 7 * MiB)
        assert bat.used_end() == walked(bat)
    assert bat.used_end() == bitmap_at + F.BITMAP_BLOCK_SIZE
    assert Bat(g).used_end() == 0
