"""Get-VHD and the inspector's dump, on real Hyper-V files and on files we damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hvgui.vhdx import (
    CorruptFileError,
    create_differencing,
    create_dynamic,
    create_fixed,
    dump_vhdx,
    get_vhd,
    open_disk,
)
from tests.vhdx.damage import damage_header, truncate

MiB = 1 << 20


def test_get_vhd_on_hyperv_fixed(corpus_dir: Path) -> None:
    info = get_vhd(corpus_dir / "fixed.vhdx").to_json()
    assert info["VhdFormat"] == "VHDX"
    assert info["VhdType"] == "Fixed"
    assert info["Size"] == 10 * MiB
    assert info["BlockSize"] == 2 * MiB
    assert info["LogicalSectorSize"] == 512
    assert info["PhysicalSectorSize"] == 4096
    assert info["DiskIdentifier"] == "4A49D245-DB0A-4634-9818-9F93DB5BA6C1"
    assert info["FileSize"] == (corpus_dir / "fixed.vhdx").stat().st_size
    assert info["ParentPath"] is None
    assert info["Attached"] is False
    assert info["FragmentationPercentage"] == 0


def test_get_vhd_on_hyperv_dynamic(corpus_dir: Path) -> None:
    info = get_vhd(corpus_dir / "dynamic.vhdx").to_json()
    assert (info["VhdType"], info["Size"], info["BlockSize"]) == ("Dynamic", 10 * MiB, 32 * MiB)
    # The first sector is an MBR: MinimumSize is where its last partition ends.
    assert info["MinimumSize"] is not None and 0 < info["MinimumSize"] <= 10 * MiB


def test_get_vhd_shows_the_missing_parent_of_a_hyperv_checkpoint(corpus_dir: Path) -> None:
    info = get_vhd(corpus_dir / "differencing.avhdx")
    record = info.to_json()
    assert record["VhdType"] == "Differencing"
    assert record["Size"] == 8 << 30
    assert record["ParentPath"].endswith("Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx")
    assert info.parent_found is False
    assert json.loads(json.dumps(record)) == record


def test_get_vhd_of_our_own_chain(tmp_path: Path) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_dynamic(base, 64 * MiB)
    create_differencing(child, base)
    record = get_vhd(child).to_json()
    assert record["VhdType"] == "Differencing"
    assert record["ParentPath"] == str(base.resolve())
    assert record["DiskIdentifier"] == get_vhd(base).to_json()["DiskIdentifier"]
    assert record["Size"] == 64 * MiB


def test_fragmentation_grows_when_blocks_are_written_out_of_order(tmp_path: Path) -> None:
    disk_path = tmp_path / "d.vhdx"
    create_dynamic(disk_path, 64 * MiB, block_size=1 * MiB)
    with open_disk(disk_path, writable=True) as disk:
        for block in (5, 1, 9, 3):
            disk.write(block * MiB, b"x" * 512)
    assert (get_vhd(disk_path).fragmentation_percentage or 0) > 0
    ordered = tmp_path / "o.vhdx"
    create_dynamic(ordered, 64 * MiB, block_size=1 * MiB)
    with open_disk(ordered, writable=True) as disk:
        for block in (1, 2, 3):
            disk.write(block * MiB, b"x" * 512)
    assert get_vhd(ordered).fragmentation_percentage == 0


def test_get_vhd_refuses_what_is_not_a_vhdx(tmp_path: Path) -> None:
    junk = tmp_path / "junk.vhdx"
    junk.write_bytes(b"MZ" + bytes(5000))
    with pytest.raises(CorruptFileError, match="not a VHDX"):
        get_vhd(junk)


def test_dump_describes_every_structure_of_a_hyperv_file(corpus_dir: Path) -> None:
    dump = dump_vhdx(corpus_dir / "fixed.vhdx")
    assert dump["file_type"]["creator"].startswith("Microsoft Windows 10.0.18363")
    headers = dump["headers"]
    assert sorted(h["sequence"] for h in headers) == [6, 7]
    assert [h["current"] for h in headers].count(True) == 1
    current = next(h for h in headers if h["current"])
    assert current["sequence"] == 7 and current["crc_ok"]
    assert current["data_write_guid"] == "bfc189a1-751c-44ff-b60f-98d07b2950c0"
    names = {e["name"] for e in dump["region_table"][0]["entries"]}
    assert names == {"BAT", "Metadata"}
    items = {m["name"]: m for m in dump["metadata"]}
    assert items["Virtual Disk Size"]["value"] == 10 * MiB
    assert items["File Parameters"]["value"]["LeaveBlockAllocated"] is True
    assert items["Page 83 Data"]["value"] == "4A49D245-DB0A-4634-9818-9F93DB5BA6C1"
    assert dump["bat"]["counts"] == {"FULLY_PRESENT": 5}
    assert dump["log"]["state"].startswith("empty")
    assert dump["problems"] == []
    json.dumps(dump)


def test_dump_of_a_checkpoint_lists_its_locator_and_that_the_parent_is_missing(
    corpus_dir: Path,
) -> None:
    dump = dump_vhdx(corpus_dir / "differencing.avhdx")
    locator = dump["parent_locator"]
    assert locator["entries"]["parent_linkage"] == "{ff34003b-11ed-4cf8-a166-b2be05e20b80}"
    assert set(locator["entries"]) >= {"relative_path", "absolute_win32_path", "volume_path"}
    assert locator["resolved"] is None
    assert locator["linkage_ok"] is None
    assert "NOT_PRESENT" in dump["bat"]["counts"]
    assert dump["bat"]["bitmap_counts"]


def test_dump_reports_linkage_of_a_found_parent(tmp_path: Path) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_fixed(base, 8 * MiB, block_size=1 * MiB)
    create_differencing(child, base)
    locator = dump_vhdx(child)["parent_locator"]
    assert locator["resolved"] == str(base)
    assert locator["linkage_ok"] is True


def test_dump_of_a_damaged_file_shows_what_it_can(tmp_path: Path, corpus_dir: Path) -> None:
    path = tmp_path / "fixed.vhdx"
    shutil.copy(corpus_dir / "fixed.vhdx", path)
    damage_header(path, slot=2)
    dump = dump_vhdx(path)
    assert [h["crc_ok"] for h in dump["headers"]] == [True, False]
    assert dump["headers"][0]["current"]
    assert any(p["code"] == "header-crc" for p in dump["problems"])
    assert dump["bat"]["counts"] == {"FULLY_PRESENT": 5}

    truncate(path, 3 * MiB)
    dump = dump_vhdx(path)
    assert dump["file_type"]["signature_ok"]
    assert any(p["severity"] == "error" for p in dump["problems"])
    json.dumps(dump)


def test_get_vhd_of_an_empty_64_tib_disk_skips_its_sparse_bat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 512 MiB BAT of a new 64 TiB disk is one hole up to the end of the file: the survey
    must not read it (it did, taking over a second)."""
    from hvgui.vhdx import info

    path = tmp_path / "big.vhdx"
    create_dynamic(path, 64 << 40, block_size=MiB)
    read = info._read
    total = [0]

    def counting(fobj: object, offset: int, length: int, *args: object) -> bytes:
        data = read(fobj, offset, length, *args)  # type: ignore[arg-type]
        total[0] += len(data)
        return data

    monkeypatch.setattr(info, "_read", counting)
    record = get_vhd(path).to_json()
    assert record["Size"] == 64 << 40 and record["VhdType"] == "Dynamic"
    assert total[0] < 4 * MiB
