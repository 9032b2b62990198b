"""A checkpoint's files, and what a delete will do to them, on a real lab host."""

from __future__ import annotations

from pathlib import Path

from hvgui.host import Host
from hvgui.inspect import (
    AVHDX,
    BIN,
    DELETE,
    KEEP,
    MERGE,
    PASSTHROUGH,
    VHDX,
    VSV,
    XML,
    checkpoint_files,
    delete_preview,
)
from hvgui.vhdx import open_disk

MiB = 1 << 20


def test_a_checkpoint_lists_its_xml_bin_vsv_and_disk_chain(lab: Host) -> None:
    two = lab.get_snapshot("Lab", "Two")
    files = checkpoint_files(lab, "Lab", "Two")
    kinds = [f.kind for f in files]
    assert kinds == [XML, BIN, VSV, AVHDX, VHDX]
    assert files[0].path == two.config_path
    assert files[1].path == two.bin_path and files[2].path == two.vsv_path
    disk = files[3]
    assert disk.path == two.hard_drives[0].path and disk.depth == 0
    assert disk.read_only and files[4].read_only  # frozen files
    assert disk.virtual_size == 64 * MiB and disk.drive and disk.drive.startswith("SCSI")
    assert "frozen" in disk.role and "base disk" in files[4].role
    with open_disk(disk.path) as opened:
        assert [f.path for f in files[3:]] == opened.chain
    # the BIN is sparse: 64 MiB of guest memory, far less on disk
    assert files[1].size_on_disk < files[1].size
    assert all(f.exists and f.problem is None and f.modified is not None for f in files)


def test_now_lists_the_vm_configuration_and_the_running_disk_first(lab: Host) -> None:
    vm = lab.get_vm("Lab")
    files = checkpoint_files(lab, "Lab", None)
    assert files[0].path == vm.config_path and files[0].kind == XML
    disks = [f for f in files if f.kind in (AVHDX, VHDX)]
    assert disks[0].path == vm.hard_drives[0].path and not disks[0].read_only
    assert "running disk" in disks[0].role
    assert len(disks) == 3  # Now's AVHDX, the one frozen by Two, the base frozen by One


def test_a_missing_parent_is_named_as_the_problem(lab: Host) -> None:
    base = lab.get_snapshot("Lab", "One").hard_drives[0].path
    base.chmod(0o644)
    base.rename(base.with_name("moved-away.vhdx"))
    files = checkpoint_files(lab, "Lab", "Two")
    disk, missing = files[3], files[4]
    assert disk.exists and disk.problem is None  # Two's own AVHDX is fine: the break is below
    assert not missing.exists and missing.path == base  # where the locator says it should be
    assert missing.problem is not None and "parent disk not found" in missing.problem
    assert missing.role.startswith("Missing")


def test_now_lists_every_file_of_a_broken_chain_that_still_exists(lab: Host) -> None:
    base = lab.get_snapshot("Lab", "One").hard_drives[0].path
    base.chmod(0o644)
    base.unlink()
    disks = [f for f in checkpoint_files(lab, "Lab", None) if f.depth is not None]
    assert [f.exists for f in disks] == [True, True, False]  # Now's AVHDX, Two's, the base
    assert "running disk" in disks[0].role  # not "the virtual disk itself"
    assert "frozen disk" in disks[1].role and disks[1].problem is None
    assert disks[2].path == base and disks[2].role.startswith("Missing")


def test_a_changed_parent_is_marked_where_the_chain_breaks(lab: Host) -> None:
    from hvgui.vhdx import open_disk, set_read_only

    two = lab.get_snapshot("Lab", "Two").hard_drives[0].path
    set_read_only(two, False)
    with open_disk(two, writable=True) as disk:
        disk.write(0, b"edited by hand")
    disks = [f for f in checkpoint_files(lab, "Lab", None) if f.depth is not None]
    assert len(disks) == 3 and all(f.exists for f in disks)
    assert disks[0].problem is None
    assert disks[1].problem is not None and "not the disk" in disks[1].problem
    assert "breaks here" in disks[1].role


def test_delete_preview_matches_what_the_delete_does(lab: Host) -> None:
    two = lab.get_snapshot("Lab", "Two")
    now_disk = lab.get_vm("Lab").hard_drives[0].path
    preview = delete_preview(lab, "Lab", "Two")
    actions = {f.path: f for f in preview.files}
    assert {p for p, f in actions.items() if f.action == DELETE} == {
        two.config_path, two.bin_path, two.vsv_path}
    merged = [f for f in preview.files if f.action == MERGE]
    assert [(f.path, f.into) for f in merged] == [(now_disk, two.hard_drives[0].path)]
    assert actions[two.hard_drives[0].path].action == KEEP
    # Now wrote 1 MiB since Two: that is what moves
    assert preview.bytes_moved == merged[0].bytes_moved == MiB
    assert preview.enough_space and preview.free_space_available > 0
    result = lab.remove_snapshot("Lab", "Two")
    for path, planned in actions.items():
        assert path.exists() == (planned.action == KEEP), path
    merged_events = [e for e in result.events if e.action == "merged"]
    assert [Path(e.path) for e in merged_events] == [now_disk]
    assert lab.get_vm("Lab").hard_drives[0].path == two.hard_drives[0].path


def test_a_disk_with_two_children_is_kept_merge_pending(branched: Host) -> None:
    one = branched.get_snapshot("Lab", "One")
    frozen = one.hard_drives[0].path
    preview = delete_preview(branched, "Lab", "One")
    kept = [f for f in preview.files if f.path == frozen]
    assert [f.action for f in kept] == [KEEP]
    assert "2 disks depend on it" in kept[0].reason
    assert not any(f.action == MERGE for f in preview.files)
    assert preview.warnings
    branched.remove_snapshot("Lab", "One")
    assert frozen.exists()
    assert not one.config_path.exists()


def test_subtree_preview_lists_every_checkpoint_configuration(lab: Host) -> None:
    one, two = lab.get_snapshot("Lab", "One"), lab.get_snapshot("Lab", "Two")
    preview = delete_preview(lab, "Lab", "One", include_children=True)
    deleted = {f.path for f in preview.files if f.action == DELETE}
    assert {one.config_path, two.config_path} <= deleted
    assert preview.bytes_moved > 0
    assert "subtree" in preview.snapshot


def test_a_pass_through_disk_is_listed_as_not_captured(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("San", memory_startup_bytes=32 * MiB, new_vhd_size_bytes=16 * MiB)
    raw = tmp_path / "PhysicalDrive2.raw"
    with open(raw, "wb") as handle:
        handle.truncate(8 * MiB)
    host.add_hard_drive("San", raw, pass_through=True)
    host.checkpoint_vm("San", snapshot_name="Off one")
    files = checkpoint_files(host, "San", "Off one")
    assert [f.kind for f in files] == [XML, VHDX, PASSTHROUGH]  # an Off VM: no BIN/VSV
    assert files[1].read_only and "frozen" in files[1].role
    assert "not captured" in files[2].role and files[2].path == raw
