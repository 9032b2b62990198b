"""A lab host whose operations run in child processes (hvgui/host/isolated.py): the same
results and errors as in-process, progress in phases, cancel, a child killed or orphaned
mid-operation, and every error type crossing the pipe intact."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import signal
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import hvgui.backend.errors
import hvgui.hyperv.errors
import hvgui.vhdx.errors
from hvgui.backend.protocol import HostBackend
from hvgui.connect import new_lab_host, open_backend
from hvgui.errors import HvError
from hvgui.guest.guest import Guest
from hvgui.host import Host, NotFoundError, isolated
from hvgui.host.errors import VMBusyError
from hvgui.host.isolated import CHILD_OPERATIONS, IsolatedHost, run_in_child
from hvgui.progress import MERGE_PHASE, WORKER_NICE_STEPS, Cancelled, CancelToken

MiB = 1 << 20


def _merge_host(root: Path, data: int = 24 * MiB) -> Host:
    """VM "Merge" whose checkpoint "Before"'s delete merges `data` bytes of the running disk."""
    host = Host.open(root)
    host.new_vm("Merge", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=4 * data)
    host.start_vm("Merge")
    Guest(host, "Merge").run_workload(data + data // 4, path="/base.bin")
    host.checkpoint_vm("Merge", snapshot_name="Before")
    Guest(host, "Merge").run_workload(data, path="/big.bin")
    return host


def _clean(root: Path) -> None:
    """test-host: no finding, no operation left half-done."""
    host = Host.open(root, create=False)
    assert [f for f in host.check() if f.is_problem] == []
    assert list(host.layout.journal_dir.iterdir()) == []


def test_the_operations_in_children_are_the_facades_long_ones() -> None:
    """Every operation of Host taking progress and cancel runs in a child; local_copy (the
    lab's files are local: nothing runs) and the plumbing `operation` do not."""
    facade = {name for name in dir(Host) if not name.startswith("_")
              and callable(getattr(Host, name))
              and {"progress", "cancel"} <= set(inspect.signature(getattr(Host, name)).parameters)}
    assert set(CHILD_OPERATIONS) == facade - {"local_copy", "operation"}
    backend_ops = {name for name, _ in inspect.getmembers(HostBackend, inspect.isfunction)
                   if {"progress", "cancel"} <= set(inspect.signature(
                       getattr(HostBackend, name)).parameters)}
    assert backend_ops - {"local_copy"} <= set(CHILD_OPERATIONS)
    assert {"remove_snapshot", "checkpoint_vm", "export_vm", "move_storage", "new_vm"} <= set(
        CHILD_OPERATIONS)


def test_a_delete_with_a_merge_runs_in_another_process_and_reports_its_phases(
    tmp_path: Path,
) -> None:
    _merge_host(tmp_path / "host")
    host = open_backend(tmp_path / "host", isolated=True)
    assert isinstance(host, IsolatedHost)
    vm_id = host.get_vm("Merge").id
    phases: list[str] = []
    owners: set[int] = set()
    nice: set[int] = set()

    def progress(fraction: float, phase: str) -> None:
        if not phases or phases[-1] != phase:
            phases.append(phase)
        record = host.status_board.read(vm_id)  # as the window's poll reads it
        if record is not None:
            owners.add(record["pid"])
            if sys.platform.startswith("linux"):  # the child's main thread runs the work
                nice.add(os.getpriority(os.PRIO_PROCESS, record["pid"]))

    result = host.remove_snapshot("Merge", "Before", progress=progress)
    assert result.operation == "Delete"
    assert any(e.action == "merged" for e in result.events), result.events
    assert host.list_snapshots("Merge") == []
    assert phases[0] == "Deleting Checkpoint" and MERGE_PHASE in phases, phases
    assert owners and os.getpid() not in owners  # the child's record, alive while it ran
    if sys.platform.startswith("linux"):  # below this process, as the window's workers are
        assert nice == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE_STEPS)}
    assert host.status_board.read(vm_id) is None  # and cleared when it ended
    _clean(tmp_path / "host")


def test_results_and_errors_are_the_in_process_ones(tmp_path: Path) -> None:
    host = new_lab_host(tmp_path / "host", isolated=True)
    assert isinstance(host, IsolatedHost)
    made = host.new_vm("A", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    assert made.operation == "New" and made.vm_id == host.get_vm("A").id
    snap = host.checkpoint_vm("A", snapshot_name="one").snapshot
    assert snap is not None and snap.name == "one"
    assert [s.name for s in host.list_snapshots("A")] == ["one"]
    with pytest.raises(NotFoundError, match=r"^B: no VM with this name or Id on this host$"):
        host.checkpoint_vm("B")
    # Positional and keyword arguments as the facade takes them.
    host.rename_snapshot("A", "one", "two")
    assert [s.name for s in host.list_snapshots("A")] == ["two"]


def test_each_child_runs_with_the_parents_settings_of_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each operation's child sees the settings as the parent has them then: the outside
    folders the user allowed meanwhile."""
    host = new_lab_host(tmp_path / "host", isolated=True)
    assert isinstance(host, IsolatedHost)
    pids: list[int] = []
    run_in_child(host, "new_vm", kwargs={"name": "A", "new_vhd_size_bytes": 16 * MiB},
                 started=pids.append)
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(hvgui.backend.errors.HostError, match="outside"):
        run_in_child(host, "move_storage", ("A", str(outside / "A")), started=pids.append)
    monkeypatch.setenv("HVGUI_CONFIG_DIR", str(tmp_path / "other-settings"))
    host.allow_outside_folders([outside])  # in the settings the parent now has
    run_in_child(host, "move_storage", ("A", str(outside / "A")), started=pids.append)
    assert host.get_vm("A").path == outside / "A"
    assert len(pids) == 3 and os.getpid() not in pids


def test_cancel_reaches_the_child_and_arrives_as_cancelled(tmp_path: Path) -> None:
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        host.export_vm("Merge", tmp_path / "out",
                       progress=lambda _f, _p: cancel.cancel(), cancel=cancel)
    assert not (tmp_path / "out" / "Merge").exists()  # a cancelled export leaves nothing
    _clean(tmp_path / "host")


def _killed_in_merge(host: Host, phases: list[str] | None = None) -> str:
    """Delete "Before" of VM "Merge" in a child, killed (SIGKILL) once its merge runs: the
    error's words. `phases`: each phase reported, the recovery's too."""
    child: list[int] = []

    def kill_in_merge(_fraction: float, phase: str) -> None:
        if phases is not None and (not phases or phases[-1] != phase):
            phases.append(phase)
        if phase == MERGE_PHASE and child:
            os.kill(child.pop(), signal.SIGKILL)

    if sys.platform == "win32":
        pytest.skip("SIGKILL is POSIX's")
    with pytest.raises(hvgui.backend.errors.HostError) as failed:
        run_in_child(host, "remove_snapshot", ("Merge", "Before"), progress=kill_in_merge,
                     started=child.append)
    assert not child, "the child was never killed"
    return str(failed.value)


def test_a_killed_child_is_one_clear_error_and_its_work_is_finished_at_once(
    tmp_path: Path,
) -> None:
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    phases: list[str] = []
    error = _killed_in_merge(host, phases)
    assert error.startswith(f"{host.root}: the process running remove_snapshot")
    assert "was killed by SIGKILL; what it left half-done: Delete" in error
    assert error.endswith("completed after an interruption"), error
    assert phases[-1] == MERGE_PHASE  # the rest of the merge, reported as the merge
    # Nothing waits for the next open or operation: the checkpoint is gone, its data merged.
    assert list(host.layout.journal_dir.iterdir()) == []
    assert list(host.layout.status_dir.iterdir()) == []
    assert "Before" not in [s.name for s in host.list_snapshots("Merge")]
    _clean(tmp_path / "host")
    host.checkpoint_vm("Merge", snapshot_name="After")
    assert "After" in [s.name for s in host.list_snapshots("Merge")]


def test_after_a_killed_child_another_vms_operation_and_the_check_find_the_host_clean(
    tmp_path: Path,
) -> None:
    """The window goes on with another VM at once (it holds the host lock: no open finishes
    anything meanwhile); the host check, in the window or another program, finds nothing
    half-done."""
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    host.new_vm("Other", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=8 * MiB)
    _killed_in_merge(host)
    with host.lock.held(None, "", ""):  # another VM's operation of the window's, running
        other = Host.open(tmp_path / "host", create=False)  # hvctl test-host meanwhile
        assert [f for f in other.check() if f.is_problem] == []
        assert [f for f in host.check() if f.is_problem] == []
    host.checkpoint_vm("Other", snapshot_name="Next")
    assert [f for f in host.check() if f.is_problem] == []
    assert "Before" not in [s.name for s in host.list_snapshots("Merge")]


class _ParentGone(Exception):
    pass


def test_a_child_whose_parent_closes_the_pipe_cancels_and_exits(tmp_path: Path) -> None:
    """The parent stops listening mid-export (as when the window's process ends): the child
    cancels at its next safe point and exits; nothing is left half-done."""
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)

    def parent_gives_up(_fraction: float, _phase: str) -> None:
        raise _ParentGone

    with pytest.raises(_ParentGone):  # returns only once the child has exited
        host.export_vm("Merge", tmp_path / "out", progress=parent_gives_up)
    assert not (tmp_path / "out" / "Merge").exists()
    assert host.status_board.read_all() == {}
    _clean(tmp_path / "host")


def _all_error_types() -> list[type[BaseException]]:
    import hvgui.host.host  # noqa: F401 (loads every module the host raises from)

    found: list[type[BaseException]] = [Cancelled]
    stack: list[type[BaseException]] = [HvError]
    while stack:
        kind = stack.pop()
        found.append(kind)
        stack.extend(kind.__subclasses__())
    return found


def _example(kind: type[BaseException]) -> BaseException:
    parameters = list(inspect.signature(kind.__init__).parameters)[1:]
    values: dict[str, Any] = {"locator": {"relative_path": "..\\a.vhdx"}, "folder": Path("/x")}
    return kind(*(values.get(name, f"{name} text") for name in parameters))


def test_every_error_the_host_can_raise_crosses_the_pipe_intact() -> None:
    kinds = _all_error_types()
    modules = {k.__module__ for k in kinds}
    assert {hvgui.backend.errors.__name__, hvgui.vhdx.errors.__name__} <= modules
    assert hvgui.hyperv.errors.ConnectError in kinds
    for kind in kinds:
        error = _example(kind)
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is kind
        assert str(back) == str(error)
        assert vars(back) == vars(error)


def test_finishing_a_killed_childs_work_leaves_another_childs_running_operation_be(
    tmp_path: Path,
) -> None:
    """Two VMs' deletes in two children at once: one is killed mid-merge and its work
    finished at once, while the other's merge, held mid-way, keeps its journal and ends
    well after."""
    plain = _merge_host(tmp_path / "host")
    plain.new_vm("Other", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=32 * MiB)
    plain.start_vm("Other")
    Guest(plain, "Other").run_workload(6 * MiB, path="/base.bin")
    plain.checkpoint_vm("Other", snapshot_name="OtherBase")
    Guest(plain, "Other").run_workload(6 * MiB, path="/big.bin")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    held, go = threading.Event(), threading.Event()
    outcome: list[object] = []

    def hold_in_merge(_fraction: float, phase: str) -> None:
        if phase == MERGE_PHASE and not held.is_set():
            held.set()
            assert go.wait(60)

    def other_delete() -> None:
        try:
            outcome.append(host.remove_snapshot("Other", "OtherBase", progress=hold_in_merge))
        except BaseException as exc:  # checked below, on the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=other_delete)
    worker.start()
    try:
        assert held.wait(60)
        live = list(host.layout.journal_dir.glob("*.json"))
        assert len(live) == 1  # the other child's, committed, its merge under way
        _killed_in_merge(host)
        assert list(host.layout.journal_dir.glob("*.json")) == live  # left be
    finally:
        go.set()
        worker.join(60)
    assert not isinstance(outcome[0], BaseException), outcome
    assert "OtherBase" not in [s.name for s in host.list_snapshots("Other")]
    assert "Before" not in [s.name for s in host.list_snapshots("Merge")]
    _clean(tmp_path / "host")


def test_finishing_a_dead_processs_work_removes_only_its_half_written_records(
    tmp_path: Path,
) -> None:
    host = Host.open(tmp_path / "host")
    dead, alive = 2**22 + 17, os.getpid()  # above any pid_max: no process has it
    journal, status = host.layout.journal_dir, host.layout.status_dir
    for folder in (journal, status):
        for pid in (dead, alive):
            (folder / f".{'A' * 8}.json.{pid}.140737.tmp").write_bytes(b"{")
    for vm, pid in (("A" * 8, dead), ("B" * 8, alive)):
        (status / f"{vm}.json").write_text(json.dumps({"pid": pid, "operation": "Delete"}))
    assert host.finish_left_by(dead) == []  # no journal of its: nothing to finish
    assert sorted(p.name for p in journal.iterdir()) == [f".{'A' * 8}.json.{alive}.140737.tmp"]
    assert sorted(p.name for p in status.iterdir()) == [
        f".{'A' * 8}.json.{alive}.140737.tmp", f"{'B' * 8}.json"]


def _process_state(pid: int) -> str | None:
    """The state letter /proc gives process `pid` ("Z": ended, not reaped), None if no
    process has that pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(")")[2].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux's /proc")
def test_a_killed_childs_pid_is_no_other_process_s_until_its_work_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window finishes what a killed child left by its pid: until then the child stays
    unreaped, so no process started meanwhile (another VM's child) can have that pid and see
    its own running operation's journals rolled back as the dead one's."""
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    states: dict[int, str | None] = {}
    finish = Host.finish_left_by

    def finish_seeing_the_pid(self: Host, pid: int, *args: Any, **kwargs: Any) -> list[str]:
        states[pid] = _process_state(pid)
        return finish(self, pid, *args, **kwargs)

    monkeypatch.setattr(Host, "finish_left_by", finish_seeing_the_pid)
    assert "completed after an interruption" in _killed_in_merge(host)
    assert list(states.values()) == ["Z"]  # ended, its pid still its own
    assert _process_state(*states) != "Z"  # reaped after: no zombie left
    _clean(tmp_path / "host")


def test_finishing_a_dead_processs_work_removes_its_half_written_host_records_too(
    tmp_path: Path,
) -> None:
    """A child killed while it wrote the host's revision stamp, its free-space reserve or its
    own copy of a shared event log leaves no temp file behind in the host either."""
    host = Host.open(tmp_path / "host")
    dead, alive = 2**22 + 17, os.getpid()  # above any pid_max: no process has it
    left = [host.layout.meta / f".revision.{dead}.140737.tmp",
            host.layout.meta / f".reserve.{dead}.140737.tmp",
            host.root / f".events.jsonl.{dead}.140737.tmp"]
    others = [host.layout.meta / f".revision.{alive}.140737.tmp",
              host.root / f".events.jsonl.{alive}.140737.tmp"]
    for path in left + others:
        path.write_bytes(b"half")
    mine = host.root / f".my notes.{dead}.1.tmp"  # a folder of the user's with such a name
    (mine / "keep").mkdir(parents=True)
    host.finish_left_by(dead)
    assert [p for p in left if p.exists()] == []
    assert [p for p in others if p.exists()] == others
    assert (mine / "keep").is_dir()


def test_on_windows_the_killed_childs_vm_stays_busy_in_the_window_while_its_work_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows passes no lock to a child (each takes the host lock itself): the window must
    still keep the VM busy for its own guest I/O while the dead child's merge is finished,
    as on POSIX, or the guest would write the disks the roll-forward is merging."""
    _merge_host(tmp_path / "host")
    host = IsolatedHost.open(tmp_path / "host", create=False)
    as_on_windows = types.ModuleType("sys")
    as_on_windows.__dict__.update(vars(sys), platform="win32")
    monkeypatch.setattr(isolated, "sys", as_on_windows)
    vm_id = host.get_vm("Merge").id
    guest_io: list[str] = []
    finish = Host.finish_left_by

    def finish_while_the_guest_writes(self: Host, pid: int, *args: Any, **kwargs: Any,
                                      ) -> list[str]:
        try:
            with self.lock.operation(vm_id, "Merge", "Guest I/O"):
                guest_io.append("ran")
        except VMBusyError:
            guest_io.append("busy")
        return finish(self, pid, *args, **kwargs)

    monkeypatch.setattr(Host, "finish_left_by", finish_while_the_guest_writes)
    assert "completed after an interruption" in _killed_in_merge(host)
    assert guest_io == ["busy"]
    _clean(tmp_path / "host")
