"""The checkpoint article's notes (docs: shared/docs/hyperv.md), one test each, plus the
checkpoint, apply and revert operations themselves."""

from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path

import pytest

from hvgui.host import Host, HostError, VMBusyError
from hvgui.host.names import default_checkpoint_name
from hvgui.host.savedstate import read_vsv
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.progress import Cancelled, CancelToken

from .hosthelpers import MEMORY, MiB, contents, digest, make_vm, now_disk, write_disk, write_now

GUID = r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".hvgui" not in p.parts}


def test_running_checkpoint_creates_xml_bin_vsv_and_avhdx_where_hyperv_does(host: Host) -> None:
    vm_id = make_vm(host, running=True)
    before = files_under(host.root)
    result = host.checkpoint_vm("web01", snapshot_name="before update")
    snap = result.snapshot
    assert snap is not None and snap.name == "before update" and snap.state == "Running"
    new = files_under(host.root) - before - {Path("events.jsonl")}
    sid = snap.id
    avhdx = [p for p in new if p.suffix == ".avhdx"]
    assert len(avhdx) == 1
    assert re.fullmatch(
        rf"Virtual Hard Disks/web01_{GUID}\.avhdx", str(avhdx[0])
    )  # beside its parent
    assert new - set(avhdx) == {
        Path(f"Snapshots/{sid}.xml"),
        Path(f"Snapshots/{sid}/{sid}.bin"),
        Path(f"Snapshots/{sid}/{sid}.vsv"),
    }
    assert now_disk(host, "web01") == host.root / avhdx[0]
    assert host.get_vm(vm_id).parent_snapshot_name == "before update"
    assert result.powershell == "Checkpoint-VM -Name 'web01' -SnapshotName 'before update'"
    assert {e.action for e in result.events} >= {"created", "read-only"}
    # The saved device state names the disk as it was when taken: the frozen one, not the new AVHDX.
    vsv_drives = read_vsv(host.root / f"Snapshots/{sid}/{sid}.vsv").devices["drives"]
    assert [Path(d["path"]).name for d in vsv_drives] == [d.path.name for d in snap.hard_drives]


def test_off_checkpoint_has_no_bin_or_vsv(host: Host) -> None:
    make_vm(host)
    before = files_under(host.root)
    snap = host.checkpoint_vm("web01").snapshot
    assert snap is not None and snap.bin_path is None and snap.vsv_path is None
    new = files_under(host.root) - before - {Path("events.jsonl")}
    assert {p.suffix for p in new} == {".xml", ".avhdx"}
    assert not (host.root / "Snapshots" / snap.id).exists()


def test_default_checkpoint_name(host: Host) -> None:
    make_vm(host)
    snap = host.checkpoint_vm("web01").snapshot
    assert snap is not None
    assert re.fullmatch(
        r"web01 - \(\d{1,2}/\d{1,2}/\d{4} - \d{1,2}:\d{2}:\d{2} (AM|PM)\)", snap.name
    )


def test_parent_becomes_read_only_and_writes_go_to_the_avhdx(host: Host) -> None:
    make_vm(host, running=True)
    base = now_disk(host, "web01")
    write_now(host, "web01", 0, b"A" * 4096)
    host.checkpoint_vm("web01", snapshot_name="one")
    child = now_disk(host, "web01")
    base_bytes = base.read_bytes()
    child_size = child.stat().st_size
    assert not base.stat().st_mode & 0o222  # read-only, like Hyper-V's attribute
    write_now(host, "web01", 0, b"B" * (3 * MiB))
    assert base.read_bytes() == base_bytes  # the frozen parent never changes
    assert child.stat().st_size > child_size  # the AVHDX took the change
    snap = host.get_snapshot("web01", "one")
    with pytest.raises(Exception):  # noqa: B017 - the engine refuses to open a frozen disk for writing
        write_disk(snap.hard_drives[0].path, 0, b"x")


def test_settings_changed_later_go_to_the_vm_files_only(host: Host) -> None:
    make_vm(host)
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    frozen_config = snap.config_path.read_bytes()
    host.set_vm("web01", processor_count=4, memory_startup_bytes=128 * MiB, notes="changed")
    assert snap.config_path.read_bytes() == frozen_config
    vm = host.get_vm("web01")
    assert (vm.processor_count, vm.memory_startup, vm.notes) == (4, 128 * MiB, "changed")
    assert ConfigDoc.load(snap.config_path).processor_count == 1
    # Get-VMSnapshot reports the settings as they were, from the checkpoint's configuration.
    again = host.get_snapshot("web01", "one")
    assert (again.processor_count, again.memory_startup, again.notes) == (1, MEMORY, "")
    shown = again.to_json()
    assert (shown["ProcessorCount"], shown["MemoryStartup"], shown["Notes"]) == (1, MEMORY, "")
    host.restore_snapshot("web01", "one")  # applying brings the old settings back
    assert host.get_vm("web01").processor_count == 1


def test_apply_brings_back_disk_and_memory_of_a_running_vm(host: Host) -> None:
    make_vm(host, running=True)
    write_now(host, "web01", 0, b"before" * 100)
    host.write_memory("web01", 8 * MiB, b"typed note")
    host.checkpoint_vm("web01", snapshot_name="one")
    write_now(host, "web01", 0, b"after!" * 100)
    host.write_memory("web01", 8 * MiB, b"other text")
    discarded = now_disk(host, "web01")
    result = host.restore_snapshot("web01", "one")
    vm = host.get_vm("web01")
    assert vm.state == "Running"
    assert host.read_memory("web01", 8 * MiB, 10) == b"typed note"
    with host.open_vm_disk("web01", writable=False) as disk:
        assert disk.read(0, 6) == b"before"
    assert not discarded.exists()  # Now's AVHDX was discarded ...
    assert now_disk(host, "web01") != discarded  # ... and a new one started
    assert [s.name for s in host.list_snapshots("web01")] == ["one"]  # all checkpoints stay
    assert result.powershell.startswith("Restore-VMSnapshot -VMName 'web01' -Name 'one'")
    assert host.check() == []


def test_take_checkpoint_first_and_revert(host: Host) -> None:
    make_vm(host, running=True)
    write_now(host, "web01", 0, b"one")
    host.checkpoint_vm("web01", snapshot_name="one")
    write_now(host, "web01", 0, b"two")
    host.restore_snapshot("web01", "one", take_checkpoint_first=True)
    names = [s.name for s in host.list_snapshots("web01")]
    assert names[0] == "one" and len(names) == 2
    saved = host.get_snapshot("web01", names[1])
    assert saved.parent_snapshot_name == "one"
    with host.open_vm_disk("web01", writable=False) as disk:
        assert disk.read(0, 3) == b"one"
    host.restore_snapshot("web01", saved.id)
    with host.open_vm_disk("web01", writable=False) as disk:
        assert disk.read(0, 3) == b"two"
    write_now(host, "web01", 0, b"xyz")
    result = host.revert_vm("web01")  # back to the parent checkpoint: the saved one
    assert result.operation == "Revert"
    with host.open_vm_disk("web01", writable=False) as disk:
        assert disk.read(0, 3) == b"two"
    assert host.check() == []


@pytest.mark.parametrize("kind", ["Production", "ProductionOnly"])
def test_production_checkpoint_saves_no_memory_and_applies_to_off(host: Host, kind: str) -> None:
    make_vm(host, running=True)
    host.set_vm("web01", checkpoint_type=kind)
    host.write_memory("web01", 0, b"memory only")
    snap = host.checkpoint_vm("web01", snapshot_name="prod").snapshot
    assert snap is not None and snap.snapshot_type == "Production" and snap.bin_path is None
    host.restore_snapshot("web01", "prod")
    assert host.get_vm("web01").state == "Off"
    assert host.read_memory("web01", 0, 11) == bytes(11)
    host.set_vm("web01", checkpoint_type="Disabled")
    with pytest.raises(HostError, match="checkpoints are disabled"):
        host.checkpoint_vm("web01")


def test_pass_through_data_is_not_captured_but_its_attachment_is(
    host: Host, tmp_path: Path
) -> None:
    make_vm(host)
    physical = tmp_path / "physical-disk.raw"
    physical.write_bytes(b"old data" + bytes(1 * MiB))
    host.checkpoint_vm("web01", snapshot_name="without")
    added = host.add_hard_drive("web01", physical, pass_through=True)
    assert any("pass-through" in w for w in added.warnings)
    taken = host.checkpoint_vm("web01", snapshot_name="with")
    assert any("pass-through" in w for w in taken.warnings)
    assert physical.stat().st_mode & 0o200  # never frozen
    with open(physical, "r+b") as f:
        f.write(b"new data")  # the "physical" disk changes after the checkpoint
    drive = next(d for d in host.get_vm("web01").hard_drives if d.pass_through)
    host.remove_hard_drive(
        "web01", drive.controller_type, drive.controller_number, drive.controller_location
    )
    assert not any(d.pass_through for d in host.get_vm("web01").hard_drives)
    result = host.restore_snapshot("web01", "with")
    assert [d.path for d in host.get_vm("web01").hard_drives if d.pass_through] == [physical]
    assert physical.read_bytes()[:8] == b"new data"  # the attachment came back, not the data
    assert sum("not its data" in w for w in result.warnings) == 1
    again = host.restore_snapshot("web01", "with")  # attached now and in the checkpoint
    assert sum("not its data" in w for w in again.warnings) == 1
    host.restore_snapshot("web01", "without")
    assert not any(d.pass_through for d in host.get_vm("web01").hard_drives)
    assert host.check() == []


def test_fibre_channel_adapter_attachment_reverts(host: Host) -> None:
    make_vm(host)
    host.checkpoint_vm("web01", snapshot_name="none")
    host.add_fibre_channel("web01", san_name="Production SAN")
    host.checkpoint_vm("web01", snapshot_name="with adapter")
    assert [a.san_name for a in host.get_vm("web01").fibre_channel] == ["Production SAN"]
    result = host.restore_snapshot("web01", "none")
    assert host.get_vm("web01").fibre_channel == []
    assert any("Fibre Channel" in w for w in result.warnings)
    host.restore_snapshot("web01", "with adapter")
    assert [a.san_name for a in host.get_vm("web01").fibre_channel] == ["Production SAN"]


def test_relocated_checkpoint_location_holds_xml_bin_vsv_only(host: Host, tmp_path: Path) -> None:
    make_vm(host, running=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    host.allow_outside_folders([elsewhere])  # another disk of the machine, named by the user
    host.set_vm("web01", snapshot_file_location=elsewhere)
    base = now_disk(host, "web01")
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    assert {p.relative_to(elsewhere) for p in elsewhere.rglob("*") if p.is_file()} == {
        Path(f"Snapshots/{snap.id}.xml"),
        Path(f"Snapshots/{snap.id}/{snap.id}.bin"),
        Path(f"Snapshots/{snap.id}/{snap.id}.vsv"),
    }
    assert now_disk(host, "web01").parent == base.parent  # the AVHDX stays with its parent
    assert host.get_vm("web01").snapshot_file_location == elsewhere
    with pytest.raises(HostError, match="only be changed while the VM has no checkpoints"):
        host.set_vm("web01", snapshot_file_location=tmp_path / "third")
    assert host.check() == []


def test_storage_move_takes_the_whole_chain(host: Host, tmp_path: Path) -> None:
    make_vm(host, running=True)
    for i in range(3):
        write_now(host, "web01", i * MiB, bytes([65 + i]) * 4096)
        host.checkpoint_vm("web01", snapshot_name=f"c{i}")
    before = contents(host, "web01")
    old_disks = sorted((host.root / "Virtual Hard Disks").iterdir())
    assert len(old_disks) == 4
    target = tmp_path / "fast-storage"
    target.mkdir()
    host.allow_outside_folders([target])
    result = host.move_storage("web01", target)
    assert not list((host.root / "Virtual Hard Disks").iterdir())  # nothing left behind
    moved = sorted((target / "Virtual Hard Disks").iterdir())
    assert [p.name for p in moved] == [p.name for p in old_disks]  # base AND every AVHDX
    vm = host.get_vm("web01")
    assert vm.path == target and vm.config_path.parent == target / "Virtual Machines"
    assert contents(host, "web01") == before
    assert host.read_memory("web01", 0, 1) == bytes(1)
    assert sum(e.action == "moved" for e in result.events) >= 4
    assert host.check() == []


def test_checkpoints_are_not_backups(host: Host) -> None:
    make_vm(host)
    names = ["c1", "c2", "c3"]
    for name in names:
        host.checkpoint_vm("web01", snapshot_name=name)
    assert host.check() == []
    base = host.get_snapshot("web01", "c1").hard_drives[0].path
    base.unlink()  # lose the base disk: every AVHDX is useless without it
    findings = host.check()
    for name in names:
        mine = [f for f in findings if f"Checkpoint '{name}' of VM 'web01'" in f.message]
        assert mine and mine[0].severity == "error", name
        assert base.name in mine[0].message
    assert any(f.message.startswith("VM 'web01'") for f in findings)  # Now breaks too


def test_progress_phases_and_cancel_rolls_back(host: Host) -> None:
    make_vm(host, running=True)
    host.write_memory("web01", 0, b"x" * (4 * MiB))
    seen: list[tuple[float, str]] = []
    host.checkpoint_vm("web01", progress=lambda f, p: seen.append((f, p)))
    assert {p for _, p in seen} <= {"Creating Checkpoint", ""} and seen[-1][0] == 1.0
    before = files_under(host.root)
    token = CancelToken()

    def cancel_midway(fraction: float, phase: str) -> None:
        if fraction > 0.05:
            token.cancel()

    with pytest.raises(Cancelled):
        host.checkpoint_vm("web01", progress=cancel_midway, cancel=token)
    assert files_under(host.root) == before  # nothing of the cancelled checkpoint is left
    assert len(host.list_snapshots("web01")) == 1
    assert host.check() == []


def test_one_operation_per_vm(host: Host) -> None:
    make_vm(host, running=True)
    gate, release = threading.Event(), threading.Event()

    def slow(fraction: float, phase: str) -> None:
        gate.set()
        release.wait(10)

    worker = threading.Thread(target=lambda: host.checkpoint_vm("web01", progress=slow))
    worker.start()
    try:
        assert gate.wait(10)
        with pytest.raises(VMBusyError, match="VM is busy: Creating Checkpoint"):
            host.save_vm("web01")
        vm = host.get_vm("web01")  # readers are never blocked
        assert vm.status.startswith("Creating Checkpoint (")
    finally:
        release.set()
        worker.join()
    assert host.get_vm("web01").status == ""


def test_rename_rules(host: Host) -> None:
    make_vm(host)
    host.checkpoint_vm("web01", snapshot_name="one")
    for bad, words in (("", "blank"), ("   ", "blank"), ("x" * 101, "at most 100")):
        with pytest.raises(HostError, match=words):
            host.rename_snapshot("web01", "one", bad)
    result = host.rename_snapshot("web01", "one", "y" * 100)
    assert result.snapshot is not None and result.snapshot.name == "y" * 100
    assert digest(host.get_snapshot("web01", "y" * 100).hard_drives[0].path)


def test_default_name_is_hyper_v_managers_format() -> None:
    local = datetime(2026, 1, 5, 9, 7, 3).astimezone()
    assert default_checkpoint_name("web01", local) == "web01 - (1/5/2026 - 9:07:03 AM)"
    assert default_checkpoint_name("db", local.replace(hour=0)) == "db - (1/5/2026 - 12:07:03 AM)"
    assert default_checkpoint_name("db", local.replace(hour=13)) == "db - (1/5/2026 - 1:07:03 PM)"


def test_apply_reports_its_status_column_phase(host: Host) -> None:
    """(Delete, merge, export and move phases: test_delete_rules.py.)"""
    make_vm(host, running=True)
    host.write_memory("web01", 0, b"m" * (2 * MiB))
    host.checkpoint_vm("web01", snapshot_name="one")
    seen: list[tuple[float, str]] = []
    host.restore_snapshot("web01", "one", progress=lambda f, p: seen.append((f, p)))
    assert {p for _, p in seen} - {""} == {"Applying Checkpoint"}
    assert all(0.0 <= f <= 1.0 for f, _ in seen) and seen[-1][0] == 1.0


def test_creating_checkpoint_counts_through_its_steps(host: Host) -> None:
    """Status shows `Creating Checkpoint (NN%)` counting: disks, memory, then configuration."""
    make_vm(host, running=True)
    host.write_memory("web01", 0, b"\x5a" * (24 * MiB))  # three 8 MiB copy steps
    seen: list[tuple[float, str]] = []
    host.checkpoint_vm("web01", progress=lambda f, phase: seen.append((f, phase)))
    fractions = [f for f, _ in seen]
    assert {phase for _, phase in seen} == {"Creating Checkpoint"}
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len({f for f in fractions if 0.0 < f < 1.0}) >= 4


@pytest.mark.parametrize("at", [0.0, 0.3, 0.7])
def test_a_cancelled_storage_move_leaves_no_folder_behind(host: Host, at: float) -> None:
    """A cancelled Move-VMStorage removes what it copied and the folders it made for it at
    the destination (a folder that was there already stays)."""
    make_vm(host, running=True)
    host.write_memory("web01", 0, b"x" * (4 * MiB))
    host.checkpoint_vm("web01", snapshot_name="one")
    host.save_vm("web01")
    (host.root / "kept").mkdir()
    before = {p.relative_to(host.root) for p in host.root.rglob("*") if ".hvgui" not in p.parts}
    token = CancelToken()

    def cancel_at(fraction: float, phase: str) -> None:
        if fraction >= at:
            token.cancel()

    for destination in (host.root / "new" / "place", host.root / "kept"):
        with pytest.raises(Cancelled):
            host.move_storage("web01", destination, progress=cancel_at, cancel=token)
        token = CancelToken()
        after = {p.relative_to(host.root) for p in host.root.rglob("*")
                 if ".hvgui" not in p.parts}
        assert after == before, sorted(after ^ before)
    assert host.check() == []
