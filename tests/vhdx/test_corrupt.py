"""Hostile and damaged files: every one ends in a clean VhdxError naming the file."""

from __future__ import annotations

import os
import random
import shutil
import struct
import tracemalloc
from pathlib import Path

import pytest

from hvgui.vhdx import (
    CorruptFileError,
    MiB,
    ParentNotFoundError,
    TiB,
    UnsupportedError,
    VhdxError,
    VhdxImage,
    create_differencing,
    create_dynamic,
    open_disk,
)
from hvgui.vhdx import format as F
from hvgui.vhdx.structures import RegionEntry, build_region_table
from tests.vhdx.helpers import (
    bat_offset,
    metadata_item_offset,
    metadata_table_offset,
    patch,
    rewrite_locator,
)


def _disk(tmp_path: Path, name: str = "d.vhdx") -> Path:
    """A dynamic disk with two allocated 1 MiB blocks (at 4 and 5 MiB in the file)."""
    path = tmp_path / name
    create_dynamic(path, 8 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"first block" * 100)
        disk.write(3 * MiB, b"second block" * 100)
    return path


def _corrupt(
    path: Path,
    match: str | None = None,
    kind: type[VhdxError] = CorruptFileError,
    subject: Path | None = None,
) -> VhdxError:
    """Opening and reading `path` fails with `kind`, naming `subject` (default: `path`)."""
    with pytest.raises(kind, match=match) as info, open_disk(path) as disk:
        disk.read(0, disk.size)
    assert str(info.value).startswith(str(subject or path) + ": ")
    return info.value


@pytest.mark.parametrize(
    "size",
    [
        0,
        100,
        70 * 1024,
        150 * 1024,
        200 * 1024,
        900 * 1024,
        int(1.5 * MiB),
        int(2.5 * MiB),
        int(3.5 * MiB),
        int(4.5 * MiB),
        int(5.5 * MiB),
    ],
)
def test_truncated_anywhere(tmp_path: Path, size: int) -> None:
    path = _disk(tmp_path)
    os.truncate(path, size)
    _corrupt(path)


def test_one_bad_header_is_survived_both_are_not(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    with open_disk(path) as disk:
        expected = disk.read(0, disk.size)
    patch(path, F.HEADER_OFFSETS[0] + 200, b"\xff")
    with open_disk(path) as disk:
        assert disk.read(0, disk.size) == expected
    with open_disk(path, writable=True) as disk:  # a writer repairs both slots
        disk.write(0, b"F")
    with VhdxImage.open(path) as image:
        assert all(h is not None for h in image.headers)
    patch(path, F.HEADER_OFFSETS[0] + 200, b"\xff")
    patch(path, F.HEADER_OFFSETS[1] + 200, b"\xff")
    _corrupt(path, "both headers are invalid")


def test_one_bad_region_table_is_survived_both_are_not(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    patch(path, F.REGION_TABLE_OFFSETS[0] + 40, b"\x01\x02")
    with open_disk(path) as disk:
        assert disk.read(0, 11) == b"first block"
    patch(path, F.REGION_TABLE_OFFSETS[1] + 40, b"\x01\x02")
    _corrupt(path, "region tables are invalid")


def test_not_a_vhdx(tmp_path: Path) -> None:
    path = tmp_path / "raw.img"
    path.write_bytes(bytes(2 * MiB))
    _corrupt(path, "not a VHDX")
    with pytest.raises(VhdxError, match="no such file"):
        open_disk(tmp_path / "missing.vhdx")
    with pytest.raises(VhdxError, match="directory"):
        open_disk(tmp_path)


def _set_bat(path: Path, index: int, value: int) -> None:
    patch(path, bat_offset(path) + index * 8, struct.pack("<Q", value))


def test_bat_entry_past_the_end_of_the_file(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    _set_bat(path, 1, (500 * MiB) | F.PAYLOAD_BLOCK_FULLY_PRESENT)
    _corrupt(path, "past the end of the file")


def test_overlapping_blocks(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    with VhdxImage.open(path) as image:
        first = image.bat.payload_entry(0)
    _set_bat(path, 1, first)
    _corrupt(path, "overlap")
    path2 = _disk(tmp_path, "e.vhdx")
    _set_bat(path2, 1, (2 * MiB) | F.PAYLOAD_BLOCK_FULLY_PRESENT)  # onto the metadata region
    _corrupt(path2, "metadata region")
    path3 = _disk(tmp_path, "f.vhdx")
    _set_bat(path3, 1, (512 * 1024) | F.PAYLOAD_BLOCK_FULLY_PRESENT)  # inside the header area
    _corrupt(path3)


@pytest.mark.parametrize("value", [4, 5, 7, 8 | 6])
def test_reserved_bat_states_and_bits(tmp_path: Path, value: int) -> None:
    path = _disk(tmp_path)
    _set_bat(path, 2, (6 * MiB) | value)
    _corrupt(path, "reserved")


def test_reserved_sector_bitmap_state(tmp_path: Path) -> None:
    parent = _disk(tmp_path)
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    ratio = (1 << 23) * 512 // MiB
    _set_bat(child, ratio, F.PAYLOAD_BLOCK_ZERO)  # the bitmap entry of chunk 0
    _corrupt(child, "reserved sector bitmap state")


def test_partially_present_block_without_bitmap(tmp_path: Path) -> None:
    parent = _disk(tmp_path)
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    os.truncate(child, 6 * MiB)
    _set_bat(child, 0, (5 * MiB) | F.PAYLOAD_BLOCK_PARTIALLY_PRESENT)
    _corrupt(child, "sector bitmap is not present")


def test_absurd_virtual_size_block_size_and_bat_claims(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    size_at = metadata_item_offset(path, F.META_VIRTUAL_DISK_SIZE)
    params_at = metadata_item_offset(path, F.META_FILE_PARAMETERS)
    copy = tmp_path / "copy.vhdx"
    cases: list[tuple[int, bytes, str]] = [
        (size_at, struct.pack("<Q", 65 * TiB), "64 TiB"),
        (size_at, struct.pack("<Q", 1 << 62), "64 TiB"),
        (size_at, struct.pack("<Q", 1000), "multiple"),
        (size_at, struct.pack("<Q", 0), "multiple"),
        (size_at, struct.pack("<Q", 64 * TiB), "BAT region"),  # 2^26 entries, 1 MiB region
        (params_at, struct.pack("<I", 3 * MiB), "power of 2"),
        (params_at, struct.pack("<I", 512 * MiB), "power of 2"),
        (params_at, struct.pack("<I", 0), "power of 2"),
    ]
    for offset, data, match in cases:
        shutil.copy(path, copy)
        patch(copy, offset, data)
        tracemalloc.start()
        try:
            _corrupt(copy, match)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 32 * MiB


def test_unknown_required_metadata_item_and_region_are_refused(tmp_path: Path) -> None:
    path = _disk(tmp_path)
    table = metadata_table_offset(path)
    # Turn the Page 83 entry (5th) into an unknown item that is still required.
    patch(path, table + 32 + 4 * 32, bytes(range(16)))
    _corrupt(path, "unknown required metadata item", UnsupportedError)

    path2 = _disk(tmp_path, "r.vhdx")
    with VhdxImage.open(path2) as image:
        entries = list(image.region_table.entries)
    entries.append(RegionEntry(F.PARENT_LOCATOR_TYPE, 100 * MiB, MiB, True))
    for offset in F.REGION_TABLE_OFFSETS:
        patch(path2, offset, build_region_table(entries))
    _corrupt(path2, "unknown required region", UnsupportedError)


def test_missing_parent_names_the_file_it_looked_for(tmp_path: Path) -> None:
    parent = _disk(tmp_path, "Gen 1 base.vhdx")
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent)
    parent.unlink()
    error = _corrupt(child, "Gen 1 base.vhdx", ParentNotFoundError)
    assert isinstance(error, ParentNotFoundError)
    assert error.locator["relative_path"] == ".\\Gen 1 base.vhdx"


def test_parent_loops_are_detected(tmp_path: Path) -> None:
    base = _disk(tmp_path)
    a = tmp_path / "a.avhdx"
    b = tmp_path / "b.avhdx"
    create_differencing(a, base)
    create_differencing(b, a)
    with VhdxImage.open(b) as image:
        b_guid = image.data_write_guid
    with VhdxImage.open(a) as image:
        a_guid = image.data_write_guid
    # a's parent becomes b: b -> a -> b.
    rewrite_locator(a, {"parent_linkage": "{" + str(b_guid) + "}", "relative_path": ".\\b.avhdx"})
    _corrupt(b, "loops back to .*b.avhdx", subject=a)
    # A file that is its own parent.
    rewrite_locator(a, {"parent_linkage": "{" + str(a_guid) + "}", "relative_path": ".\\a.avhdx"})
    _corrupt(a, "loops")


def test_bad_linkage_text_and_locator_without_linkage(tmp_path: Path) -> None:
    base = _disk(tmp_path)
    child = tmp_path / "c.avhdx"
    create_differencing(child, base)
    rewrite_locator(child, {"parent_linkage": "not a guid", "relative_path": ".\\d.vhdx"})
    _corrupt(child, "not a GUID")
    rewrite_locator(child, {"relative_path": ".\\d.vhdx"})
    _corrupt(child, "parent_linkage")


def test_random_damage_never_escapes_as_another_exception(tmp_path: Path) -> None:
    """Flip bytes in the structures (first 4 MiB) and in BAT/bitmap entries of a chain."""
    parent = _disk(tmp_path, "p.vhdx")
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    with open_disk(child, writable=True) as disk:
        disk.write(MiB + 512, b"child" * 200)
    pristine = child.read_bytes()
    rng = random.Random(4)
    hot = [64 * 1024, 128 * 1024, 192 * 1024, 2 * MiB, 2 * MiB + 64 * 1024, 3 * MiB]
    for trial in range(150):
        data = bytearray(pristine)
        for _ in range(rng.randrange(1, 4)):
            base = rng.choice(hot)
            pos = base + rng.randrange(0, 256)
            data[pos] = rng.randrange(256)
        child.write_bytes(bytes(data))
        try:
            with open_disk(child) as disk:
                disk.read(0, disk.size)
                disk.block_sources()
        except VhdxError as exc:
            assert str(child) in str(exc) or str(parent) in str(exc), (trial, exc)


def test_chain_depth_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hvgui.vhdx.chain as chain_module

    monkeypatch.setattr(chain_module, "MAX_CHAIN_DEPTH", 4)
    paths = [tmp_path / "base.vhdx"]
    create_dynamic(paths[0], 4 * MiB, block_size=1 * MiB)
    for level in range(4):
        paths.append(tmp_path / f"l{level}.avhdx")
        create_differencing(paths[-1], paths[-2])
    with open_disk(paths[-2]) as disk:  # 4 files: allowed
        assert len(disk.chain) == 4
    _corrupt(paths[-1], "deeper than 4")
