"""HyperVHost end to end over the lab transport: what the window and hvctl get from a real
host, from the records the scripts print."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import Host, InvalidStateError
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.errors import ConnectionLostError, NotFoundError
from hvgui.hyperv.host import HyperVHost
from hvgui.hyperv.records import Record
from hvgui.progress import Cancelled, CancelToken
from tests.host.hosthelpers import make_vm
from tests.hyperv.lab_transport import LabTransport


@pytest.fixture
def hyperv(transport: LabTransport) -> HyperVHost:
    return open_backend(transport)


def test_the_vm_list_is_the_hosts(lab: Host, hyperv: HyperVHost, vm_id: str) -> None:
    make_vm(lab, "db01", running=True)
    mine = [(v.id, v.name, v.state, v.memory_assigned, str(v.config_path))
            for v in hyperv.list_vms()]
    theirs = [(v.id, v.name, v.state, v.memory_assigned, str(v.config_path))
              for v in lab.list_vms()]
    assert mine == theirs and [m[2] for m in mine] == ["Running", "Off"]
    assert hyperv.get_vm("WEB01").id == vm_id == hyperv.get_vm(vm_id.lower()).id
    with pytest.raises(NotFoundError, match="no VM with this name or Id on hv01"):
        hyperv.get_vm("nope")


def test_checkpoint_counts_in_the_status_column(lab: Host, hyperv: HyperVHost,
                                                vm_id: str) -> None:
    seen: list[tuple[float, str]] = []
    result = hyperv.checkpoint_vm("web01", snapshot_name="before",
                                  progress=lambda f, p: seen.append((f, p)))
    assert result.snapshot is not None and result.snapshot.name == "before"
    assert [s.id for s in lab.list_snapshots(vm_id)] == [result.snapshot.id]
    assert {p for _, p in seen if p} == {"Creating Checkpoint"} and seen[-1][0] == 1.0
    assert result.powershell == "Checkpoint-VM -Name 'web01' -SnapshotName 'before'"
    # What happened, from the VM's files listed before and after: a new AVHDX and config.
    created = {e.path.suffix for e in result.events if e.action == "created"}
    assert {".avhdx", ".xml"} <= created
    assert hyperv.events("web01") == result.events


def test_delete_shows_the_merge_until_it_ends(lab: Host, hyperv: HyperVHost,
                                              vm_id: str) -> None:
    first = hyperv.checkpoint_vm(vm_id).snapshot
    hyperv.checkpoint_vm(vm_id)
    assert first is not None
    phases: list[str] = []
    result = hyperv.remove_snapshot(vm_id, first.id, progress=lambda f, p: phases.append(p))
    merge = phases.index("Merge in progress")
    assert "Deleting Checkpoint" in phases[:merge]
    assert set(phases[merge:-1]) == {"Merge in progress"}
    assert [s.id for s in hyperv.list_snapshots(vm_id)] != [first.id]
    assert any(e.action == "merged" and e.path.suffix == ".avhdx" for e in result.events)


def test_what_happened_names_the_avhdx_merged_and_its_parent(
    lab: Host, hyperv: HyperVHost, vm_id: str
) -> None:
    base = hyperv.get_vm(vm_id).hard_drives[0].path
    made = hyperv.checkpoint_vm(vm_id, snapshot_name="one")
    [created] = [e for e in made.events if e.path.suffix == ".avhdx"]
    assert created.action == "created" and created.detail == f"differencing disk of {base.name}"
    two = hyperv.checkpoint_vm(vm_id, snapshot_name="two").snapshot
    assert two is not None
    frozen, now = two.hard_drives[0].path, hyperv.get_vm(vm_id).hard_drives[0].path
    result = hyperv.remove_snapshot(vm_id, "two")  # Now's AVHDX merges into two's
    [merged] = [e for e in result.events if e.action == "merged"]
    assert (merged.path, merged.detail) == (now, f"merged into {frozen.name}, then deleted")
    [parent] = [e for e in result.events if e.path == frozen]
    assert parent.detail.endswith(f"{now.name} merged into it")
    # the lab host's own record of the same merge
    [theirs] = [e for e in lab.events(vm_id) if e.action == "merged"]
    assert theirs.path == now and theirs.detail.startswith(f"merged into {frozen.name}, ")


def test_the_tree_comes_from_parent_snapshot_id(hyperv: HyperVHost, vm_id: str) -> None:
    a = hyperv.checkpoint_vm(vm_id, snapshot_name="a").snapshot
    b = hyperv.checkpoint_vm(vm_id, snapshot_name="b").snapshot
    assert a is not None and b is not None
    hyperv.restore_snapshot(vm_id, a.id)
    c = hyperv.checkpoint_vm(vm_id, snapshot_name="c").snapshot
    assert c is not None
    tree = hyperv.list_snapshots(vm_id)
    assert [s.name for s in tree] == ["a", "b", "c"]
    assert tree[1].parent_snapshot_id == tree[2].parent_snapshot_id == a.id
    vm = hyperv.get_vm(vm_id)
    assert vm.parent_snapshot_id == c.id and vm.parent_snapshot_name == "c"


def test_refusals_are_hvguis_errors_with_the_hosts_message(hyperv: HyperVHost,
                                                           vm_id: str) -> None:
    with pytest.raises(InvalidStateError, match="not running"):
        hyperv.suspend_vm(vm_id)
    with pytest.raises(NotFoundError, match="no checkpoint"):
        hyperv.remove_snapshot(vm_id, "gone")
    hyperv.start_vm(vm_id)
    assert hyperv.get_vm(vm_id).state == "Running"


def test_cancel_terminates_the_hosts_job(lab: Host, hyperv: HyperVHost, vm_id: str) -> None:
    cancel = CancelToken()
    phases: list[str] = []

    def progress(fraction: float, phase: str) -> None:
        phases.append(phase)
        cancel.cancel()  # at the first progress record: the job is running

    with pytest.raises(Cancelled):
        hyperv.checkpoint_vm(vm_id, progress=progress, cancel=cancel)
    assert lab.list_snapshots(vm_id) == []  # the host rolled the checkpoint back
    assert phases[0] == "Creating Checkpoint"


class WordedCancel(LabTransport):
    """A host whose terminated job fails the cmdlet in its own words, not OperationStopped
    (Hyper-V's VirtualizationException: "... was cancelled", category NotSpecified)."""

    def run(self, script: str, parameters: Any) -> Iterator[Record]:
        for record in super().run(script, parameters):
            if record.kind == "error" and record.data["Category"] == "OperationStopped":
                record = Record("error", {
                    **record.data, "Category": "NotSpecified",
                    "FullyQualifiedErrorId": "OperationFailed,Microsoft.HyperV.PowerShell."
                    "Commands.CheckpointVM",
                    "Message": "Checkpoint operation for 'web01' was cancelled."})
            yield record


def test_a_terminated_job_is_a_cancel_however_the_host_words_its_failure(
    lab: Host, vm_id: str
) -> None:
    hyperv = open_backend(WordedCancel(lab, "hv01"))
    cancel = CancelToken()
    try:
        with pytest.raises(Cancelled) as stopped:
            hyperv.checkpoint_vm(vm_id, progress=lambda f, p: cancel.cancel(), cancel=cancel)
        assert str(stopped.value) == ("cancelled: Checkpoint operation for 'web01' was "
                                      "cancelled.")
        assert lab.list_snapshots(vm_id) == []
        with pytest.raises(NotFoundError):  # without a cancel the same kind of error stays
            hyperv.remove_snapshot(vm_id, "gone")
    finally:
        hyperv.close()


def test_a_merge_cannot_be_cancelled_and_says_so(lab: Host, hyperv: HyperVHost,
                                                 vm_id: str) -> None:
    """Cancel during the merge after Remove-VMSnapshot (a job Hyper-V says is not
    cancellable): the host is not asked to stop it, the Status says it cannot be cancelled,
    and the delete ends as it would have."""
    hyperv.checkpoint_vm(vm_id, snapshot_name="one")
    cancel = CancelToken()
    phases: list[str] = []

    def progress(fraction: float, phase: str) -> None:
        phases.append(phase)
        if phase.startswith("Merge in progress"):
            cancel.cancel()

    hyperv.remove_snapshot(vm_id, "one", progress=progress, cancel=cancel)
    assert lab.list_snapshots(vm_id) == []
    merging = [p for p in phases if p.startswith("Merge in progress")]
    assert merging[0] == "Merge in progress"
    assert merging[1] == "Merge in progress, cannot be cancelled", phases
    assert all(p == "Merge in progress, cannot be cancelled" for p in merging[1:])


def test_a_refresh_runs_while_an_operation_streams(lab: Host, hyperv: HyperVHost,
                                                   vm_id: str) -> None:
    statuses: list[str] = []
    started = threading.Event()

    def refresh(fraction: float, phase: str) -> None:
        if not started.is_set():
            started.set()
            statuses.append(hyperv.get_vm(vm_id).status)  # a second pipeline, mid-operation

    hyperv.checkpoint_vm(vm_id, progress=refresh)
    assert statuses and statuses[0].startswith("Creating Checkpoint (")
    assert hyperv.get_vm(vm_id).status == ""


def test_the_inspector_gets_a_sparse_copy_with_the_disks_structures(
    lab: Host, hyperv: HyperVHost, vm_id: str
) -> None:
    from hvgui.vhdx import get_vhd
    from tests.host.hosthelpers import MiB, write_now

    lab.start_vm(vm_id)
    write_now(lab, vm_id, 0, b"\xab" * (4 * MiB))
    snap = hyperv.checkpoint_vm(vm_id).snapshot
    assert snap is not None
    files = hyperv.inspect_files(vm_id, snap.id)
    assert files[0] == snap.config_path and snap.bin_path in files
    base = Path(snap.hard_drives[0].path)  # the host's path: here, the lab's file
    copy = hyperv.local_copy(snap.hard_drives[0].path)
    original = get_vhd(base)
    copied = get_vhd(copy)
    assert (copied.vhd_type, copied.size, copied.block_size, copied.file_size) == (
        original.vhd_type, original.size, original.block_size, original.file_size)
    # The header area is there byte for byte; the data blocks were never read.
    assert copy.read_bytes()[:MiB] == base.read_bytes()[:MiB]
    assert copy.stat().st_blocks < base.stat().st_blocks
    config = hyperv.local_copy(snap.config_path)
    assert config.read_bytes() == Path(snap.config_path).read_bytes()  # a configuration: whole


def test_a_chain_broken_on_the_host_is_named_with_the_missing_file(
    lab: Host, transport: LabTransport, vm_id: str
) -> None:
    hyperv = open_backend(transport)
    hyperv.checkpoint_vm(vm_id)
    drives = hyperv.get_vm(vm_id).hard_drives
    assert hyperv.drive_health(drives).sound
    [child, base] = hyperv.chain_files(drives)
    assert child.suffix == ".avhdx" and base.suffix == ".vhdx"
    Path(base).unlink()  # the host's path: here, the lab's file
    fresh = open_backend(LabTransport(lab, "hv01"))  # no verdict kept from before
    health = fresh.drive_health(drives)
    assert (health.short, health.broken) == ("Chain broken: disk missing", True)
    # Named as the child's parent locator names it (the lab writes a Windows path there too).
    assert str(health.path).replace("\\", "/").endswith(f"/{base.parent.name}/{base.name}")
    assert "cannot find the file" in health.text
    # The chain as far as it goes, ending with the file the host cannot find (the inspector
    # and the window's watch list show the break; they used to fail with NotFound).
    assert [p.name for p in fresh.chain_files(drives)] == [child.name, base.name]
    assert [p.name for p in fresh.inspect_files(vm_id, None)][1:] == [child.name, base.name]
    assert hyperv.drive_health(drives).sound  # kept until the next operation (or 30 s)


class Counting(LabTransport):
    """The lab transport, counting scripts and able to stop answering like a host gone."""

    runs: list[str]
    down = False

    def run(self, script: str, parameters: Any) -> Iterator[Record]:
        self.runs.append(script)
        if self.down:
            raise ConnectionLostError(self.computer_name, "no answer")
        return super().run(script, parameters)


def test_revision_is_cheap_and_follows_the_host(
    lab: Host, vm_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hvgui.hyperv.host.POLL_SECONDS", 0.02)
    transport = Counting(lab, "hv01")
    transport.runs = []
    hyperv = HyperVHost(transport)
    try:
        first = hyperv.revision()
        asked = len(transport.runs)
        for _ in range(50):  # the window polls on its GUI thread: no round trip there
            assert hyperv.revision() in (first, hyperv.revision())
        lab.start_vm(vm_id)  # changed on the host, not through this backend
        running = HyperVHost(LabTransport(lab)).revision()  # how another window sees it now
        assert running != first
        wait_for(lambda: hyperv.revision() == running)
        assert len(transport.runs) > asked  # the watcher asked, in its own thread
        transport.down = True  # the host stops answering: the window re-reads (and says so)
        wait_for(lambda: hyperv.revision() != running)
        transport.down = False  # it answers again: the window re-reads and shows it
        wait_for(lambda: hyperv.revision() == running)
    finally:
        hyperv.close()


def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the condition never came")


def test_local_copies_of_a_killed_process_are_removed_by_the_next(
    lab: Host, transport: LabTransport, vm_id: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "hvgui-hyperv-4194303-abc"  # above Linux's highest process id
    (stale / "x").mkdir(parents=True)
    other = tmp_path / "hvgui-hyperv-notes"  # not a process's: left alone
    other.mkdir()
    hyperv = HyperVHost(transport)
    copy = hyperv.local_copy(lab.get_vm(vm_id).config_path)
    assert copy.is_file() and not stale.exists() and other.exists()
    hyperv.close()
    assert not copy.exists()


def test_a_windows_hosts_paths_are_pure_windows_paths_never_local_ones(
    lab: Host, vm_id: str
) -> None:
    """A real host's paths (`C:\\...`) are the host's: PureWindowsPath, whose name and parent
    are Windows' (a POSIX Path would take the whole text for one name), never opened here;
    what must be read comes through local_copy."""
    from pathlib import PureWindowsPath

    from hvgui.host.winpaths import read_names

    root = PureWindowsPath(read_names(lab.root).root)
    hyperv = open_backend(LabTransport(lab, "hv01", windows_paths=True))
    try:
        lab.start_vm(vm_id)
        result = hyperv.checkpoint_vm(vm_id)
        snap = result.snapshot
        assert snap is not None and snap.bin_path is not None and snap.vsv_path is not None
        vm = hyperv.get_vm(vm_id)
        paths = [vm.path, vm.config_path, vm.configuration_location, vm.snapshot_file_location,
                 snap.path, snap.config_path, snap.bin_path, snap.vsv_path,
                 *(d.path for d in [*vm.hard_drives, *snap.hard_drives]),
                 *hyperv.chain_files(vm.hard_drives), *hyperv.inspect_files(vm_id, snap.id),
                 *(e.path for e in result.events)]
        for path in paths:
            assert type(path) is PureWindowsPath and path.is_relative_to(root), repr(path)
        assert vm.hard_drives[0].path.parent.name == "Virtual Hard Disks"
        assert [p.name for p in hyperv.chain_files(snap.hard_drives)] == ["web01.vhdx"]
        copy = hyperv.local_copy(snap.config_path)
        lab_snap = lab.get_snapshot(vm_id, snap.id)
        assert copy.name == snap.config_path.name
        assert copy.read_bytes() == Path(lab_snap.config_path).read_bytes()
    finally:
        hyperv.close()


def test_a_differencing_disks_copy_finds_its_parents_copy(lab: Host, vm_id: str) -> None:
    """The inspector on a real host's AVHDX: its copy's parent locator (a Windows path, and
    relative to its folder) finds the parent's copy, read-only as on the host, so the chain
    reads as sound, not as "parent missing" or "parent writable"."""
    from hvgui.inspect import checkpoint_files, inspect_file

    hyperv = open_backend(LabTransport(lab, "hv01", windows_paths=True))
    try:
        hyperv.checkpoint_vm(vm_id)
        files = checkpoint_files(hyperv, vm_id, None)
        assert [(f.kind, f.read_only, f.problem) for f in files] == [
            ("xml", False, None), ("avhdx", False, None), ("vhdx", True, None)]
        facts = inspect_file(files[1].path)
        assert facts["findings"] == []
        assert [(Path(c["path"]), c["exists"]) for c in facts["chain"]] == [
            (files[1].path, True), (files[2].path, True)]
        assert files[2].path.parent == files[1].path.parent  # as on the host: one folder
    finally:
        hyperv.close()


@pytest.mark.parametrize(("path", "name"), [
    ("C:\\ProgramData\\VMs\\web01.avhdx", "C/ProgramData/VMs/web01.avhdx"),
    ("C:\\..\\..\\etc\\passwd", "C/etc/passwd"),
    ("..\\..\\x.vhdx", "root/x.vhdx"),
    ("\\\\srv\\share\\VMs\\a.vhdx", "srv_share/VMs/a.vhdx"),
    ("C:\\a:b\\c\x00d.vhdx", "C/a_b/c_d.vhdx"),
    ("/etc/passwd", "root/etc/passwd"),
    ("", "root/file"),
])
def test_a_copys_place_mirrors_the_hosts_folders_and_never_leaves_the_copies(
    path: str, name: str
) -> None:
    from hvgui.hyperv.files import local_name

    assert local_name(path) == name


def test_a_connection_lost_mid_operation_says_it_may_still_run_then_the_host_is_read_again(
    lab: Host, transport: LabTransport, vm_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network breaks while Checkpoint-VM runs: the error says the operation may still be
    running there (it does: the checkpoint is made), the window's revision turns at once to
    the host not answering, and when the host answers again to its state with the checkpoint
    (so the window re-reads without being asked)."""
    monkeypatch.setattr("hvgui.hyperv.host.POLL_SECONDS", 0.02)
    hyperv = open_backend(transport)
    try:
        before = hyperv.revision()

        def progress(_fraction: float, phase: str) -> None:
            if phase.startswith("Creating Checkpoint"):
                transport.drop()

        with pytest.raises(ConnectionLostError) as lost:
            hyperv.checkpoint_vm(vm_id, snapshot_name="during", progress=progress)
        assert str(lost.value) == (
            "hv01: the connection was lost while checkpoint_vm ran (no answer): the operation "
            "may still be running on the host; the window refreshes when the host answers "
            "again")
        wait_for(lambda: "/unanswered: hv01: the connection was lost while get_vms ran"
                 in hyperv.revision())
        with pytest.raises(ConnectionLostError, match="while get_vms ran"):
            hyperv.list_vms()
        wait_for(lambda: not any(t.name == "lab checkpoint_vm" for t in threading.enumerate()))
        assert [s.name for s in lab.list_snapshots(vm_id)] == ["during"]  # it went on there
        transport.answer_again()
        wait_for(lambda: "unanswered" not in hyperv.revision())
        assert hyperv.revision() != before
        assert [s.name for s in hyperv.list_snapshots(vm_id)] == ["during"]
        assert hyperv.get_vm(vm_id).parent_snapshot_name == "during"
    finally:
        hyperv.close()
