"""Test-VHD: every kind of damage becomes a finding a person can read; nothing ever raises."""

from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path

import pytest

from hvgui.vhdx import (
    MiB,
    create_differencing,
    create_dynamic,
    open_disk,
    set_read_only,
    test_vhd,
)
from hvgui.vhdx import format as F
from hvgui.vhdx.log import LogWrite, build_entry
from tests.vhdx.damage import (
    bat_entry,
    damage_header,
    damage_region_table,
    set_bat_entry,
    truncate,
    write_at,
)
from tests.vhdx.helpers import rewrite_headers, rewrite_locator


def codes(path: Path) -> dict[str, str]:
    """{code: severity} of the findings."""
    return {f.code: f.severity for f in test_vhd(path)}


def messages(path: Path) -> str:
    return "\n".join(f.message for f in test_vhd(path))


def written_disk(tmp_path: Path, name: str = "d.vhdx") -> Path:
    path = tmp_path / name
    create_dynamic(path, 16 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        for block in (0, 2, 5):
            disk.write(block * MiB, bytes([block + 1]) * MiB)
    return path


def chain(tmp_path: Path) -> tuple[Path, Path]:
    base = written_disk(tmp_path, "base.vhdx")
    child = tmp_path / "child.avhdx"
    create_differencing(child, base)
    set_read_only(base, True)
    with open_disk(child, writable=True) as disk:
        disk.write(3 * MiB, b"c" * 4096)
    return base, child


def test_a_sound_chain_has_no_findings(tmp_path: Path) -> None:
    _, child = chain(tmp_path)
    assert test_vhd(child) == []


def test_one_bad_header_is_a_warning_both_an_error(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    damage_header(path, 1)
    assert codes(path) == {"header-crc": "warning"}
    assert "header 1 is damaged" in messages(path)
    damage_header(path, 2)
    assert codes(path)["headers-invalid"] == "error"


def test_one_bad_region_table_is_a_warning(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    damage_region_table(path, 2)
    assert codes(path) == {"region-table-crc": "warning"}


def test_a_missing_parent_names_the_file_looked_for(tmp_path: Path) -> None:
    base, child = chain(tmp_path)
    set_read_only(base, False)
    base.rename(tmp_path / "moved.vhdx")
    findings = test_vhd(child)
    assert [(f.severity, f.code, f.path) for f in findings] == [
        ("error", "parent-missing", child)
    ]
    assert str(base) in findings[0].message


def test_a_missing_parent_is_named_by_the_windows_path_its_locator_records(
    tmp_path: Path,
) -> None:
    """The locator's absolute_win32_path is named as recorded (`C:\\ProgramData\\...`), in
    Test-VHD's finding and in the error of opening the chain: not as the drive-less POSIX
    path looked at (`/ProgramData/...`), which reads as a mistake."""
    from hvgui.vhdx import ParentNotFoundError
    from hvgui.vhdx.locator import WindowsNames, windows_names

    windows = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Virtual Hard Disks\\base.vhdx"
    base = tmp_path / "base.vhdx"
    create_dynamic(base, 64 * MiB)
    with windows_names(WindowsNames(lambda _path: windows, "4a49d245-db0a-4634-9818-9f93db5ba6c1")):
        create_differencing(tmp_path / "child.avhdx", base)
    child = tmp_path / "child.avhdx"
    set_read_only(base, False)
    base.rename(tmp_path / "moved.vhdx")
    [finding] = test_vhd(child)
    assert finding.message == f"its parent disk is missing: looked for {base}, {windows}"
    with pytest.raises(ParentNotFoundError) as info:
        open_disk(child).close()
    assert str(info.value).endswith(f"(looked for {base}, {windows})")
    assert "/ProgramData" not in str(info.value)


def test_a_parent_modified_behind_its_childs_back_breaks_the_chain(tmp_path: Path) -> None:
    base, child = chain(tmp_path)
    set_read_only(base, False)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"changed")
    found = {f.code: f for f in test_vhd(child)}
    assert found["linkage-mismatch"].severity == "error"
    assert "the parent was modified after this disk was created; the chain is broken" in (
        found["linkage-mismatch"].message
    )
    assert found["parent-writable"].severity == "warning"


def test_a_writable_parent_is_a_warning(tmp_path: Path) -> None:
    base, child = chain(tmp_path)
    set_read_only(base, False)
    found = test_vhd(child)
    assert [(f.code, f.severity, f.path) for f in found] == [("parent-writable", "warning", base)]


def test_a_loop_in_the_chain(tmp_path: Path) -> None:
    _base, child = chain(tmp_path)
    grandchild = tmp_path / "g.avhdx"
    create_differencing(grandchild, child)
    # Make the child's parent be its own child: the chain goes round forever.
    with open_disk(grandchild) as disk:
        guid = disk.images[0].data_write_guid
    rewrite_locator(child, {"parent_linkage": "{" + str(guid) + "}",
                            "relative_path": ".\\g.avhdx"})
    assert codes(grandchild)["chain-loop"] == "error"


def test_overlapping_blocks(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    set_bat_entry(path, 2, bat_entry(path, 0))
    assert codes(path)["blocks-overlap"] == "error"
    assert "share the same space" in messages(path)


def test_blocks_past_the_end_of_the_file(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    truncate(path, (bat_entry(path, 5) & F.BAT_OFFSET_MASK) + 4096)
    assert codes(path)["block-past-eof"] == "error"


def test_reserved_block_states(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    set_bat_entry(path, 1, 64 * MiB | 4)
    assert codes(path)["bat-reserved-state"] == "error"
    assert "undefined BAT state" in messages(path)


def test_a_partially_present_block_in_a_disk_without_parent(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    set_bat_entry(path, 0, (bat_entry(path, 0) & F.BAT_OFFSET_MASK) | 7)
    assert codes(path)["partial-without-parent"] == "error"


def test_an_unreplayed_log_is_reported(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    with open_disk(path) as disk:
        block0 = disk.images[0].bat.payload_entry(0) & F.BAT_OFFSET_MASK
        file_size = disk.images[0].file_size
        log_offset = disk.images[0].header.log_offset
    guid = uuid.uuid4()
    entry = build_entry(log_guid=guid, sequence_number=1, tail=0,
                        writes=[LogWrite(block0, 4096, b"L" * 4096)],
                        flushed_file_offset=file_size, last_file_offset=file_size)
    write_at(path, log_offset, entry)
    rewrite_headers(path, log_guid=guid)
    found = {f.code: f for f in test_vhd(path)}
    assert found["log-unreplayed"].severity == "warning"
    assert "not closed cleanly" in found["log-unreplayed"].message


def test_a_truncated_file_and_a_file_that_is_not_a_vhdx(tmp_path: Path) -> None:
    path = written_disk(tmp_path)
    truncate(path, 300 * 1024)
    assert any(f.severity == "error" for f in test_vhd(path))
    junk = tmp_path / "junk.vhdx"
    junk.write_bytes(b"hello")
    assert codes(junk) == {"not-vhdx": "error"}
    assert codes(tmp_path / "absent.vhdx") == {"unreadable": "error"}


def test_the_hyperv_checkpoint_misses_its_parent(corpus_dir: Path) -> None:
    findings = test_vhd(corpus_dir / "differencing.avhdx")
    assert [f.code for f in findings] == ["parent-missing"]
    assert "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx" in findings[0].message


@pytest.mark.parametrize("name", ["fixed.vhdx", "dynamic.vhdx"])
def test_the_hyperv_base_disks_are_sound(corpus_dir: Path, name: str) -> None:
    assert test_vhd(corpus_dir / name) == []


def test_random_damage_never_raises(tmp_path: Path, corpus_dir: Path) -> None:
    """Flip bytes anywhere in the structures: every outcome is findings, never an exception."""
    rng = random.Random(11)
    source = corpus_dir / "differencing.avhdx"
    for trial in range(40):
        path = tmp_path / f"t{trial}.avhdx"
        shutil.copy(source, path)
        for _ in range(rng.randrange(1, 6)):
            offset = rng.choice([0, 64 << 10, 128 << 10, 192 << 10, 2 * MiB, 3 * MiB])
            offset += rng.randrange(0, 4096)
            write_at(path, offset, bytes([rng.randrange(256)]))
        findings = test_vhd(path)
        assert all(f.message and f.severity in ("error", "warning", "info") for f in findings)
        path.unlink()


def test_testing_a_parent_looks_at_the_children_beside_it(tmp_path: Path) -> None:
    base, _child = chain(tmp_path)
    assert test_vhd(base) == []  # read-only, and its child still matches it
    set_read_only(base, False)
    assert [(f.code, f.severity) for f in test_vhd(base)] == [("parent-writable", "warning")]
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"changed behind the child's back")
    found = {f.code: f for f in test_vhd(base)}
    assert found["child-broken"].severity == "warning"
    assert "child.avhdx was made from this disk" in found["child-broken"].message
