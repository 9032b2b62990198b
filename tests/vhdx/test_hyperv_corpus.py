"""Files written by Hyper-V itself (see /work/shared/corpus/hyperv/README.md)."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, ParentNotFoundError, VhdxImage, open_disk

GENERATION1_PARENT = "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx"


def _sha256(path: Path) -> str:
    with open_disk(path) as disk:
        return hashlib.sha256(disk.read(0, disk.size)).hexdigest()


def test_hyperv_fixed_disk(corpus_dir: Path) -> None:
    path = corpus_dir / "fixed.vhdx"
    with open_disk(path) as disk:
        assert (disk.disk_type, disk.size, disk.block_size) == ("Fixed", 10 * MiB, 2 * MiB)
        assert (disk.logical_sector_size, disk.physical_sector_size) == (512, 4096)
    with VhdxImage.open(path) as image:
        assert image.disk_identifier == uuid.UUID("4a49d245-db0a-4634-9818-9f93db5ba6c1")
        assert image.data_write_guid == uuid.UUID("bfc189a1-751c-44ff-b60f-98d07b2950c0")
        assert sorted(h.sequence_number for h in image.headers if h) == [6, 7]
        assert image.identifier.creator.startswith("Microsoft Windows 10.0.18363")
    assert _sha256(path) == "bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62"


def test_hyperv_dynamic_disk(corpus_dir: Path) -> None:
    path = corpus_dir / "dynamic.vhdx"
    with open_disk(path) as disk:
        assert (disk.disk_type, disk.size, disk.block_size) == ("Dynamic", 10 * MiB, 32 * MiB)
        assert disk.logical_sector_size == 512
        assert disk.read(510, 2) == b"\x55\xaa"  # an MBR
        assert disk.read(2 * MiB, 16) == b"\xff" * 16
    assert _sha256(path) == "8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac"


def test_hyperv_checkpoint_opens_alone_and_names_its_missing_parent(corpus_dir: Path) -> None:
    path = corpus_dir / "differencing.avhdx"
    with VhdxImage.open(path) as image:
        assert image.disk_type == "Differencing"
        assert image.virtual_size == 8 << 30
        loc = image.parent_locator
        assert loc["parent_linkage"] == "{ff34003b-11ed-4cf8-a166-b2be05e20b80}"
        assert set(loc) >= {"relative_path", "absolute_win32_path", "volume_path"}
        assert loc["relative_path"].endswith(GENERATION1_PARENT)
        counts = image.bat.state_counts()
        assert counts["PARTIALLY_PRESENT"] + counts["FULLY_PRESENT"] > 0
    with pytest.raises(ParentNotFoundError) as info:
        open_disk(path)
    assert GENERATION1_PARENT in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.locator["parent_linkage"] == "{ff34003b-11ed-4cf8-a166-b2be05e20b80}"


def test_hyperv_checkpoint_with_a_stand_in_parent_reports_the_broken_linkage(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """A file with the parent's name but another DataWriteGuid is not its parent."""
    from hvgui.vhdx import ParentMismatchError, create_dynamic

    child = tmp_path / "differencing.avhdx"
    shutil.copy(corpus_dir / "differencing.avhdx", child)
    create_dynamic(tmp_path / GENERATION1_PARENT, 8 << 30)
    with pytest.raises(ParentMismatchError, match="modified after"):
        open_disk(child)


def test_hyperv_checkpoint_over_a_stand_in_parent_reads_like_libvhdi(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Give the real checkpoint a parent carrying the DataWriteGuid it expects: Hyper-V's own
    sector bitmaps and partial blocks must then read as libvhdi reads them."""
    import pyvhdi

    from hvgui.vhdx import create_dynamic
    from tests.vhdx.helpers import rewrite_headers

    child = tmp_path / "differencing.avhdx"
    shutil.copy(corpus_dir / "differencing.avhdx", child)
    parent = tmp_path / GENERATION1_PARENT
    create_dynamic(parent, 8 << 30, block_size=2 * MiB)
    with open_disk(parent, writable=True) as disk:
        for offset in range(0, 8 << 30, 512 * MiB):  # parent data under every region
            disk.write(offset, bytes([offset >> 29 | 1]) * (3 * MiB))
    rewrite_headers(parent, data_write_guid=uuid.UUID("ff34003b-11ed-4cf8-a166-b2be05e20b80"))

    with open_disk(child) as disk:
        assert disk.chain == [child, parent]
        mixed = [s for s in disk.block_sources() if any(i == 0 for i, _ in s.sources)]
        assert any(s.partial for s in mixed)
        reference = pyvhdi.file()
        reference.open(str(child))
        base = pyvhdi.file()
        base.open(str(parent))
        reference.set_parent(base)
        try:
            for s in mixed:
                ours = disk.read(s.offset, s.length)
                assert ours == reference.read_buffer_at_offset(s.length, s.offset), s
        finally:
            reference.close()
            base.close()


@pytest.mark.parametrize("name", ["fixed.vhdx", "dynamic.vhdx"])
def test_writing_into_hyperv_files_keeps_them_valid_for_qemu(
    corpus_dir: Path, tmp_path: Path, name: str
) -> None:
    from tests.vhdx.helpers import qemu_check, qemu_raw

    path = tmp_path / name
    shutil.copy(corpus_dir / name, path)
    with open_disk(path, writable=True) as disk:
        disk.write(3 * MiB + 5, b"written by hvgui" * 1000)
        disk.write(10 * MiB - 4096, b"\x77" * 4096)
        expected = disk.read(0, disk.size)
    with VhdxImage.open(path) as image:
        assert all(h is not None for h in image.headers)
        assert image.data_write_guid != uuid.UUID("bfc189a1-751c-44ff-b60f-98d07b2950c0")
    qemu_check(path)
    assert qemu_raw(path) == expected
