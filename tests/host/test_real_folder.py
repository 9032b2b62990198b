"""A VM folder from a real Hyper-V host (copied off it, or made by Export-VM, 2012 R2 layout)
opens read-only, showing its VMs, checkpoint trees and disks through their Windows paths;
adopting it changes nothing until the first operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.backend import HostKind
from hvgui.cli.main import main
from hvgui.host import Host, HostError
from hvgui.host.errors import ReadOnlyHostError
from hvgui.host.foreign import NOT_ADOPTED
from hvgui.vhdx import open_disk
from tests.host.hosthelpers import listing
from tests.host.realfiles import REAL_ROOT, exported_vm


@pytest.fixture(autouse=True)
def own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HVGUI_CONFIG_DIR", str(tmp_path / "settings"))
    yield


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return exported_vm(tmp_path / "Export")


def test_an_exported_vm_opens_read_only_with_its_checkpoint_tree(export: Path) -> None:
    before = listing(export)
    host = Host.open(export, create=False)
    assert host.read_only == NOT_ADOPTED and host.kind is HostKind.HYPERV_FOLDER
    assert host.windows_root == ""  # a real host's folder stands for no other
    (vm,) = host.list_vms()
    assert (vm.name, vm.state, vm.generation) == ("web01", "Off", 1)
    assert vm.path == export  # no data_root in an export: the folder it is in
    (drive,) = vm.hard_drives
    assert drive.path.parent == export / "Virtual Hard Disks"  # C:\...\WEB01_....AVHDX, here
    with open_disk(drive.path) as disk:  # the whole chain, through the AVHDX's locators
        assert disk.read(0, 4) == b"BASE" and disk.read(512, 3) == b"NOW"
    snaps = host.list_snapshots("web01")
    assert [(s.name, s.parent_snapshot_name) for s in snaps] == [
        ("Before", None), ("After", "Before")]
    assert snaps[0].hard_drives[0].path == export / "Virtual Hard Disks" / "web01.vhdx"
    assert vm.parent_snapshot_name == "After"
    assert listing(export) == before  # not even .hvgui
    assert not (export / ".hvgui").exists()


def test_hvctl_reads_it_and_refuses_changes_in_one_line(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = listing(export)
    for argv in (["get-vm"], ["get-vmsnapshot", "web01"], ["inspect-checkpoint", "web01", "After"],
                 ["--json", "get-vm", "web01"]):
        assert main(["--host", str(export), *argv]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "web01" in out and "Before" in out
    assert main(["--host", str(export), "checkpoint-vm", "web01"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a folder from a Hyper-V host" in err
    assert "adopt" in err
    with pytest.raises(ReadOnlyHostError):
        Host.open(export, create=False).start_vm("web01")
    assert listing(export) == before


def test_adopting_changes_nothing_until_the_first_operation(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = listing(export)
    assert main(["--host", str(export), "adopt-host"]) == 0
    assert listing(export) == before
    host = Host.open(export, create=False)
    assert host.read_only == "" and host.kind is HostKind.LAB
    assert listing(export) == before  # opened writable, still untouched
    host.checkpoint_vm("web01", snapshot_name="Mine")
    assert (export / ".hvgui").is_dir()
    assert [s.name for s in host.list_snapshots("web01")] == ["Before", "After", "Mine"]
    with open_disk(host.get_vm("web01").hard_drives[0].path) as disk:
        assert disk.read(512, 3) == b"NOW"


def test_a_disk_that_is_not_in_the_copy_is_named_with_where_it_was_looked_for(
    export: Path,
) -> None:
    (export / "Virtual Hard Disks" / "web01.vhdx").unlink()
    host = Host.open(export, create=False)
    findings = [f.message for f in host.check()]
    text = "\n".join(findings)
    assert f"looked for {REAL_ROOT}\\web01\\Virtual Hard Disks\\WEB01.VHDX in: " in text, text
    assert str(export / "Virtual Machines") in text or str(export / "Snapshots") in text


def test_a_windows_path_never_leads_out_of_the_copy(tmp_path: Path) -> None:
    from hvgui.host import winpaths

    outside = tmp_path / "secret.vhdx"
    outside.write_bytes(b"x")
    folder = tmp_path / "Export" / "web01" / "Virtual Machines"
    folder.mkdir(parents=True)
    for text in ("C:\\..\\..\\..\\secret.vhdx", "\\\\?\\C:\\..\\..\\secret.vhdx",
                 "\\\\server\\share\\..\\..\\secret.vhdx", f"C:{outside}"):
        found = winpaths.find(text, folder)
        assert found is None or tmp_path / "Export" in found.parents, (text, found)


def test_export_vms_destination_says_which_folders_to_open(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = export.parent  # Export-VM -Path D:\Export made D:\Export\web01
    exported_vm(destination, "db01", checkpoints=False)
    assert main(["--host", str(destination), "get-vm"]) == 1
    err = capsys.readouterr().err
    assert err == (f"hvctl: error: {destination}: holds VM folders exported from Hyper-V: "
                   "open one of them (db01, web01)\n")


def test_looking_for_a_missing_file_by_name_is_bounded(export: Path) -> None:
    """A copy holding a crowd of files: the search by name stops, the disk is named missing."""
    from hvgui.host import layout, winpaths

    crowd = export / "Virtual Hard Disks" / "crowd"
    crowd.mkdir()
    for i in range(layout.MAX_SCAN + 50):
        (crowd / f"f{i:05d}").touch()
    (crowd / "zzz-later.vhdx").touch()  # past the bound: never looked at
    folder = export / "Virtual Machines"
    assert winpaths.find("C:\\elsewhere\\zzz-later.vhdx", folder) is None
    assert winpaths.find("C:\\elsewhere\\WEB01.VHDX", folder) == (
        export / "Virtual Hard Disks" / "web01.vhdx")


def test_a_real_checkpoint_tree_is_read_from_the_disk_chain(tmp_path: Path) -> None:
    """A 2012 R2 checkpoint configuration names no parent (as on a real host): the tree comes
    from the disks each checkpoint froze, branches and Now included; once adopted, what hvgui
    writes names the parents."""
    from hvgui.host.xmlconfig import ConfigDoc
    from hvgui.inspect.decode import inspect_file

    folder = exported_vm(tmp_path / "Export", branch=True)
    snapshots = folder / "Snapshots"
    for path in snapshots.glob("*.xml"):  # nothing of hvgui's in these files
        doc = ConfigDoc.load(path)
        assert doc.root.find("snapshot") is None and not doc.names_parent and doc.is_snapshot
    host = Host.open(folder, create=False)
    snaps = host.list_snapshots("web01")
    assert [(s.name, s.parent_snapshot_name) for s in snaps] == [
        ("Before", None), ("After", "Before"), ("Branch", "Before")]
    assert host.get_vm("web01").parent_snapshot_name == "After"  # Now comes from After
    assert [s.state for s in snaps] == ["Off"] * 3  # no memory in them
    facts = inspect_file(snapshots / f"{snaps[1].id}.xml")
    assert facts["xml"]["kind"] == "checkpoint configuration"
    assert facts["xml"]["checkpoint"]["vm_id"] == host.get_vm("web01").id
    assert facts["xml"]["checkpoint"]["parent_checkpoint_id"] == snaps[0].id  # read alone too
    assert "disk chain" in facts["xml"]["checkpoint"]["parent_from"]
    vm_facts = inspect_file(host.get_vm("web01").config_path)
    assert vm_facts["xml"]["parent_checkpoint_id"] == snaps[1].id
    assert not (folder / ".hvgui").exists()
    host.adopt()
    host.checkpoint_vm("web01", snapshot_name="Mine")
    again = Host.open(folder, create=False)
    assert [(s.name, s.parent_snapshot_name) for s in again.list_snapshots("web01")] == [
        ("Before", None), ("After", "Before"), ("Mine", "After"), ("Branch", "Before")]
    mine = next(s for s in again.list_snapshots("web01") if s.name == "Mine")
    written = ConfigDoc.load(mine.config_path)
    assert written.snapshot_parent_id == snaps[1].id  # as hvgui's own name it
    assert ConfigDoc.load(again.get_vm("web01").config_path).parent_snapshot_id == mine.id
    again.remove_snapshot("web01", "After")  # its child Mine moves up to Before
    assert [(s.name, s.parent_snapshot_name) for s in again.list_snapshots("web01")] == [
        ("Before", None), ("Branch", "Before"), ("Mine", "Before")]


def test_a_real_checkpoint_s_own_saved_state_is_named_not_restored(export: Path) -> None:
    """A checkpoint taken of a running VM on the real host holds Hyper-V's BIN and VSV (an
    undocumented format): it shows as taken with memory; applying it is refused in words
    and changes nothing."""
    from hvgui.host.xmlconfig import ConfigDoc

    doc = next(d for d in map(ConfigDoc.load, (export / "Snapshots").glob("*.xml"))
               if d.name == "After")
    folder = export / "Snapshots" / doc.id
    folder.mkdir()
    (folder / f"{doc.id}.bin").write_bytes(b"\x5a" * 8192)
    (folder / f"{doc.id}.vsv").write_bytes(b"\xa5" * 4096)
    windows = f"{REAL_ROOT}\\web01\\Snapshots\\{doc.id}\\{doc.id}"
    doc.set_saved_state(Path(windows + ".bin"), Path(windows + ".vsv"))
    doc.path.write_bytes(doc.to_bytes())
    host = Host.open(export, create=False)
    after = host.get_snapshot("web01", "After")
    assert after.state == "Saved" and after.bin_path == folder / f"{doc.id}.bin"
    findings = host.check()  # Hyper-V's own files: said so, not called damaged
    # A note, not a problem: the files are sound, hvgui cannot apply them (test-host exits 0).
    assert [(f.severity, f.code, f.is_problem) for f in findings] == [
        ("info", "hyperv-state", False)] * 2
    assert "Hyper-V's own (an undocumented format)" in findings[0].message
    assert main(["--host", str(export), "test-host"]) == 0
    host.adopt()
    before = listing(export)
    with pytest.raises(HostError, match="Hyper-V's own saved state, whose format is "
                       "undocumented: hvgui cannot restore it"):
        host.restore_snapshot("web01", "After")
    vm = host.get_vm("web01")
    assert (vm.state, vm.parent_snapshot_name) == ("Off", "After")
    def vm_files(entries: dict[str, object]) -> dict[str, object]:  # not the host's own log
        return {p: s for p, s in entries.items()
                if not p.startswith(".hvgui") and p != "events.jsonl"}

    assert vm_files(listing(export)) == vm_files(before)


def test_a_checkpoint_s_vm_id_that_is_a_path_leads_nowhere(tmp_path: Path) -> None:
    """The inspector finds a real checkpoint's VM by the id the file gives: a path there (a
    hostile file) is refused in one line, and no configuration outside the folder is read."""
    import shutil

    from hvgui.host.xmlconfig import ConfigDoc
    from hvgui.inspect.decode import inspect_file

    folder = exported_vm(tmp_path / "Export", branch=True)
    host = Host.open(folder, create=False)
    vm_config = Path(host.get_vm("web01").config_path)
    snap = host.list_snapshots("web01")[1]
    outside = tmp_path / "elsewhere.xml"  # a VM configuration the file would lead to
    shutil.copy(vm_config, outside)
    path = Path(snap.config_path)
    doc = ConfigDoc.load(path)
    doc.root.find("settings/global/logical_id").text = "../../elsewhere"  # type: ignore[union-attr]
    path.write_bytes(doc.to_bytes())
    facts = inspect_file(path)
    assert "settings/global/logical_id is not a GUID" in facts["error"]
    assert "\n" not in facts["error"]


def test_a_checkpoint_read_alone_without_its_vm_claims_no_derived_parent(tmp_path: Path) -> None:
    """A checkpoint configuration copied without its VM's: nothing can be derived, and the
    inspector does not say the parent came from the disk chain."""
    import shutil

    from hvgui.inspect.decode import inspect_file

    folder = exported_vm(tmp_path / "Export")
    shutil.rmtree(folder / "Virtual Machines")
    checkpoint = next((folder / "Snapshots").glob("*.xml"))
    facts = inspect_file(checkpoint)
    assert "disk chain" not in str(facts["xml"]["checkpoint"].get("parent_from", ""))


def test_a_configuration_copied_with_an_upper_case_suffix_is_listed(export: Path) -> None:
    config = next((export / "Virtual Machines").glob("*.xml"))
    config.rename(config.with_suffix(".XML"))
    assert [vm.name for vm in Host.open(export, create=False).list_vms()] == ["web01"]


def test_a_checkpoint_configuration_copied_in_mixed_case_is_found(tmp_path: Path) -> None:
    """Windows names ignore case: `<id>.Xml` (and a lower-case Id) is the checkpoint's
    configuration as much as `<ID>.xml` is, so the tree and the check are as before."""
    folder = exported_vm(tmp_path / "Export", branch=True)
    host = Host.open(folder, create=False)
    expected = [(s.name, s.parent_snapshot_name) for s in host.list_snapshots("web01")]
    after = host.get_snapshot("web01", "After")
    renamed = after.config_path.with_name(f"{after.id.lower()}.Xml")
    after.config_path.rename(renamed)
    again = Host.open(folder, create=False)
    assert [(s.name, s.parent_snapshot_name) for s in again.list_snapshots("web01")] == expected
    assert again.get_snapshot("web01", "After").config_path == renamed
    assert again.get_vm("web01").parent_snapshot_name == "After"
    assert [f.message for f in again.check() if f.is_problem] == []


def _age(folder: Path, seconds: int = 3600) -> None:
    """Every file as a copy of an old folder has them: written long before it is read."""
    import os
    import time

    then = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (then, then), follow_symlinks=False)


def test_a_real_checkpoint_tree_is_derived_once_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read of a real host's VM needs the checkpoint Now descends from, derived from the
    disk chains: the chains are read once, not on every read, and a disk replaced on disk (or
    a checkpoint's configuration edited) is seen at the next read."""
    import os

    from hvgui import vhdx
    from hvgui.vhdx import create_differencing

    folder = exported_vm(tmp_path / "Export", branch=True)
    _age(folder)
    opened: list[Path] = []
    real_open = vhdx.open_disk

    def open_disk(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(Path(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vhdx, "open_disk", open_disk)
    host = Host.open(folder, create=False)
    tree = [("Before", None), ("After", "Before"), ("Branch", "Before")]
    assert host.get_vm("web01").parent_snapshot_name == "After"
    assert opened  # derived from the disks, once
    opened.clear()
    for _ in range(3):
        assert host.get_vm("web01").parent_snapshot_name == "After"
        assert [vm.parent_snapshot_name for vm in host.list_vms()] == ["After"]
        assert [(s.name, s.parent_snapshot_name) for s in host.list_snapshots("web01")] == tree
        assert Host.open(folder, create=False).get_vm("web01").parent_snapshot_name == "After"
    assert opened == []  # remembered: no chain read again

    # Now's disk replaced by a child of Branch's (as if Branch had been applied on the host).
    now = host.get_vm("web01").hard_drives[0].path
    branch = host.get_snapshot("web01", "Branch").hard_drives[0].path
    os.unlink(now)
    create_differencing(Path(now), Path(branch))
    assert host.get_vm("web01").parent_snapshot_name == "Branch"
    assert opened  # read again: the file changed
    _age(folder)  # settled again: remembered anew
    assert host.get_vm("web01").parent_snapshot_name == "Branch"
    opened.clear()
    assert host.get_vm("web01").parent_snapshot_name == "Branch"
    assert opened == []

    # A checkpoint's configuration edited by hand (After froze the disk Now runs on, a child
    # of Branch's): seen too.
    config = Path(host.get_snapshot("web01", "After").config_path)
    text = config.read_bytes().decode("utf-16")  # as Hyper-V writes them
    frozen = Path(host.get_snapshot("web01", "After").hard_drives[0].path).name.upper()
    assert frozen in text
    config.write_bytes(text.replace(frozen, Path(now).name.upper()).encode("utf-16"))
    _age(folder)
    assert {s.name: s.parent_snapshot_name for s in host.list_snapshots("web01")} == {
        "Before": None, "Branch": "Before", "After": "Branch"}


def test_a_checkpoint_is_exported_from_it_writing_nothing_inside(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Export only reads the host: allowed on a read-only one, to a folder outside it."""
    before = listing(export)
    out = tmp_path / "out"
    assert main(["--host", str(export), "export-vmsnapshot", "web01", "Before", str(out)]) == 0
    assert "Export-VMSnapshot -VMName 'web01' -Name 'Before'" in capsys.readouterr().out
    exported = Host.open(out / "web01", create=False)
    assert [vm.name for vm in exported.list_vms()] == ["web01"]
    with open_disk(exported.list_vms()[0].hard_drives[0].path) as disk:
        assert disk.read(0, 4) == b"BASE"  # the checkpoint's disk, flattened
    inside = export / "inside"
    assert main(["--host", str(export), "export-vmsnapshot", "web01", "After", str(inside)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{inside}: inside the read-only host" in err
    assert main(["--host", str(export), "rename-vmsnapshot", "web01", "After", "x"]) == 1
    assert "the host is read-only" in capsys.readouterr().err  # changes: still refused
    assert listing(export) == before  # not even .hvgui
