"""The host check: each kind of problem found and said in plain words."""

from __future__ import annotations

import shutil
from pathlib import Path

from hvgui.host import Host
from hvgui.vhdx import open_disk

from .hosthelpers import make_vm, now_disk


def codes(host: Host) -> set[str]:
    return {f.code for f in host.check()}


def test_a_fresh_lab_is_clean(host: Host) -> None:
    make_vm(host, running=True)
    host.checkpoint_vm("web01")
    make_vm(host, "db01")
    host.save_vm("web01")
    assert host.check() == []


def test_orphaned_avhdx(host: Host) -> None:
    make_vm(host)
    host.checkpoint_vm("web01")
    stray = now_disk(host, "web01").with_name("web01_00000000-0000-0000-0000-000000000001.avhdx")
    shutil.copyfile(now_disk(host, "web01"), stray)
    findings = host.check()
    assert [(f.code, f.path) for f in findings] == [("orphaned-avhdx", stray)]
    assert "orphaned checkpoint disk: no VM or checkpoint uses it" in findings[0].message


def test_stray_saved_state_files(host: Host) -> None:
    vm_id = make_vm(host, running=True)
    snap = host.checkpoint_vm("web01").snapshot
    assert snap is not None and snap.bin_path is not None
    host.stop_vm("web01", turn_off=True)
    runtime = host.get_vm("web01").config_path.parent / vm_id
    runtime.mkdir(exist_ok=True)
    (runtime / f"{vm_id}.vsv").write_bytes(b"left over")
    orphan = host.root / "Snapshots" / "11111111-2222-3333-4444-555555555555"
    orphan.mkdir()
    (orphan / "11111111-2222-3333-4444-555555555555.bin").write_bytes(b"x")
    findings = host.check()
    assert {f.code for f in findings} == {"stray-state"}
    assert {f.path.name for f in findings} == {
        f"{vm_id}.vsv",
        "11111111-2222-3333-4444-555555555555.bin",
    }
    assert any("is Off but" in f.message for f in findings)


def test_configuration_pointing_at_missing_files(host: Host) -> None:
    make_vm(host, running=True)
    snap = host.checkpoint_vm("web01").snapshot
    assert snap is not None and snap.bin_path is not None
    snap.bin_path.unlink()
    findings = host.check()
    assert [f.code for f in findings] == ["missing-state"]
    assert findings[0].message.startswith(
        f"Checkpoint '{snap.name}' of VM 'web01': its memory (BIN)"
    )
    snap.config_path.unlink()
    assert "missing-file" in codes(host)


def test_orphaned_checkpoint_configuration_and_missing_relocated_vm(
    host: Host, tmp_path: Path
) -> None:
    make_vm(host)
    host.checkpoint_vm("web01", snapshot_name="one")
    host.new_vm("far", path=host.root / "elsewhere")
    xml = host.get_snapshot("web01", "one").config_path
    shutil.copyfile(xml, xml.with_name("99999999-2222-3333-4444-555555555555.xml"))
    far_config = host.get_vm("far").config_path
    far_config.unlink()
    assert codes(host) == {"orphaned-checkpoint", "missing-file"}


def test_modified_parent_breaks_its_children(host: Host) -> None:
    make_vm(host)
    host.checkpoint_vm("web01", snapshot_name="one")
    base = host.get_snapshot("web01", "one").hard_drives[0].path
    base.chmod(0o644)
    with open_disk(base, writable=True) as disk:  # never change a checkpoint's file
        disk.write(0, b"oops")
    findings = host.check()
    assert any(f.code == "broken-chain" and "VM 'web01'" in f.message for f in findings)
    assert any(f.code == "frozen-disk-writable" for f in findings)


def test_a_merge_marker_left_behind_is_reported(host: Host) -> None:
    """`<disk>.hvmerge` (a streamed merge's second name of the merged disk) outlives its
    journal only by hand: the check names it, since the disk it shares refuses changes."""
    import os

    make_vm(host)
    host.checkpoint_vm("web01")
    now = now_disk(host, "web01")
    with open_disk(now) as disk:
        parent = disk.chain[1]
    marker = parent.with_name(parent.name + ".hvmerge")
    os.link(now, marker)
    findings = [f for f in host.check() if f.code == "merge-marker"]
    assert [f.path for f in findings] == [marker]
    assert f"a merge of {now.name} into {parent.name}" in findings[0].message
    assert f"hvctl merge-vhd --path {now} --destination-path {parent}" in findings[0].message
