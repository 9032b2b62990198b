"""What happened on a real host, from File records as vm_files.ps1 prints them (Windows paths,
Get-VHD's ParentPath on disks) before and after an operation."""

from __future__ import annotations

from typing import Any

from hvgui.backend.formats import file_name
from hvgui.hyperv.changes import compare, file_from_record

FOLDER = "D:\\Hyper-V\\web01\\Virtual Hard Disks"
BASE, ONE, NOW = (f"{FOLDER}\\{name}" for name in (
    "web01.vhdx", "web01_6B1A.avhdx", "web01_9C2F.avhdx"))


def _file(path: str, length: int, written: str, parent: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"Path": path, "Length": length, "IsReadOnly": False,
                              "LastWriteTime": f"2026-12-06T08:{written}:00.0000000Z"}
    if parent is not None:
        record["ParentPath"] = parent
    return record


def _events(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(e.action, file_name(str(e.path)), e.detail)
            for e in compare("Remove-VMSnapshot", "vm", [file_from_record(r) for r in before],
                             [file_from_record(r) for r in after])]


def test_a_merge_names_the_avhdx_and_the_parent_it_went_into() -> None:
    before = [_file(BASE, 4 << 20, "00", ""), _file(ONE, 8 << 20, "01", BASE),
              _file(NOW, 6 << 20, "02", ONE)]
    after = [_file(BASE, 4 << 20, "00", ""), _file(ONE.upper(), 12 << 20, "05", BASE)]
    assert _events(before, after) == [
        ("grown", "WEB01_6B1A.AVHDX", f"{4 << 20} bytes more, web01_9C2F.avhdx merged into it"),
        ("merged", "web01_9C2F.avhdx", "merged into WEB01_6B1A.AVHDX, then deleted"),
    ]


def test_a_base_disk_removed_is_deleted_not_merged() -> None:
    before = [_file(BASE, 4 << 20, "00", ""), _file(ONE, 8 << 20, "01", "")]
    after = [_file(ONE, 9 << 20, "05", "")]
    assert [e[0] for e in _events(before, after)] == ["grown", "deleted"]


def test_a_new_differencing_disk_names_its_parent() -> None:
    before = [_file(BASE, 4 << 20, "00", "")]
    after = [_file(BASE, 4 << 20, "00", ""), _file(ONE, 4 << 20, "03", BASE)]
    assert _events(before, after) == [("created", "web01_6B1A.avhdx",
                                       "differencing disk of web01.vhdx")]


def test_without_get_vhd_a_disk_gone_while_another_was_written_is_merged() -> None:
    before = [_file(ONE, 8 << 20, "01"), _file(NOW, 6 << 20, "02")]
    after = [_file(ONE, 12 << 20, "05")]
    assert _events(before, after)[-1] == ("merged", "web01_9C2F.avhdx",
                                          "merged into its parent, then deleted")
