"""The window's lab-host operations run in child processes (hvgui/host/isolated.py): its GUI
thread shares no interpreter lock with the work. What the user sees stays the same: the
phases in the Status, the result as the window's own (not "another program"'s)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend import HostBackend
from hvgui.backend.model import DiskEvent
from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.host.isolated import IsolatedHost
from hvgui.progress import MERGE_PHASE
from hvgui.ui.main_window import MainWindow
from tests.ui.conftest import build_small_host
from tests.ui.helpers import (
    Answers,
    StatusRecorder,
    choose,
    empty_window,
    right_click_checkpoint,
    vm_index,
    wait_idle,
)


class _StatusOwners:
    """The processes the host's status board names while an operation runs (as hvctl and a
    second window see them), sampled on a thread of the test's own."""

    def __init__(self, root: Path) -> None:
        self.board = Host.open(root, create=False).status_board
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.pids.update(r["pid"] for r in self.board.read_all().values())

    def stop(self) -> set[int]:
        self._stop.set()
        self._thread.join()
        return self.pids


def test_a_delete_with_a_merge_runs_in_a_child_and_is_still_the_windows_own(
    qtbot: Any, window: MainWindow, host_dir: Path, answers: Answers
) -> None:
    session = window.session
    assert session is not None
    Guest(session.host, "Alpha").run_workload(12 << 20, path="/grow.bin")  # to merge
    wait_idle(qtbot, window)
    others: list[DiskEvent] = []
    session.new_events.connect(lambda events: others.extend(events))
    recorder = StatusRecorder(window, "Alpha")
    owners = _StatusOwners(host_dir)
    choose(qtbot, right_click_checkpoint(window, "Base"), "Delete Checkpoint...")
    wait_idle(qtbot, window)
    pids = owners.stop()
    assert answers.deleted == [("Base", False)]
    assert "Base" not in [s.name for s in session.host.list_snapshots("Alpha")]
    assert pids and os.getpid() not in pids  # a child ran it
    assert any(text.startswith(MERGE_PHASE) for text in recorder.texts), recorder.texts
    wait_idle(qtbot, window)  # the event log read again: the delete's events are known
    assert [e for e in others if e.operation == "Delete"] == []  # ours, not "another program"
    assert [f for f in Host.open(host_dir, create=False).check() if f.is_problem] == []


def test_every_way_the_window_opens_a_lab_folder_runs_its_operations_in_children(
    qtbot: Any, host_dir: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    """Open Folder..., an empty folder made a host, New Host... and a folder opened as is (the
    demo lab, built on first start): each host through the one rule, openers.lab_host_in."""
    from hvgui.ui import openers
    from hvgui.ui.new_host_dialog import NewHostDialog

    through: list[Path] = []
    rule = openers.lab_host_in

    def lab_host_in(folder: Path | str, **kwargs: Any) -> HostBackend:
        through.append(Path(folder))
        return rule(folder, **kwargs)

    monkeypatch.setattr(openers, "lab_host_in", lab_host_in)
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: (
        tmp_path / "fresh", "D:\\Hyper-V\\Lab")))
    (tmp_path / "empty").mkdir()
    demo = build_small_host(tmp_path / "demo").root
    win = empty_window(qtbot)
    opened: list[str] = []
    win.host_opened.connect(opened.append)
    answers.directory = host_dir
    win.acts.open_folder.trigger()
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=20000)
    answers.directory = tmp_path / "empty"
    win.acts.open_folder.trigger()  # confirmed: made a host
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=20000)
    win.acts.new_host.trigger()
    qtbot.waitUntil(lambda: len(opened) == 3, timeout=20000)
    win.open_host(demo)
    qtbot.waitUntil(lambda: len(opened) == 4, timeout=20000)
    folders = [host_dir, tmp_path / "empty", tmp_path / "fresh", demo]
    assert through == folders
    assert [type(win.sessions[key].host) for key in opened] == [IsolatedHost] * 4
    win.close()
    assert answers.errors == []


def test_a_child_killed_mid_merge_leaves_the_host_clean_for_what_the_window_does_next(
    qtbot: Any, window: MainWindow, host_dir: Path, answers: Answers,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The delete's child is killed in its merge: the window says so once, and what the child
    left is finished on the delete's worker at once, so the host check (the window's and
    another program's) finds nothing half-done and another VM's checkpoint just runs."""
    if sys.platform == "win32":
        pytest.skip("SIGKILL is POSIX's")
    session = window.session
    assert session is not None
    Guest(session.host, "Alpha").run_workload(12 << 20, path="/grow.bin")  # to merge
    wait_idle(qtbot, window)
    killed: list[int] = []
    real = IsolatedHost.remove_snapshot

    def killing(self: IsolatedHost, *args: Any, progress: Any = None, **kwargs: Any) -> Any:
        def watch(fraction: float, phase: str) -> None:
            if phase == MERGE_PHASE and not killed:  # the child waits for this to return
                killed.extend(r["pid"] for r in self.status_board.read_all().values()
                              if r["pid"] != os.getpid())
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)
            if progress is not None:
                progress(fraction, phase)
        return real(self, *args, progress=watch, **kwargs)

    monkeypatch.setattr(IsolatedHost, "remove_snapshot", killing)
    choose(qtbot, right_click_checkpoint(window, "Base"), "Delete Checkpoint...")
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=20000)
    wait_idle(qtbot, window)
    [error] = answers.errors
    assert len(killed) == 1 and f"(pid {killed[0]}) was killed by SIGKILL" in str(error)
    assert "what it left half-done: Delete" in str(error)
    answers.errors.clear()
    assert "Base" not in [s.name for s in session.host.list_snapshots("Alpha")]
    with session.host.lock.held(None, "", ""):  # another VM's operation of the window's
        other = Host.open(host_dir, create=False)  # hvctl test-host meanwhile
        assert [f for f in other.check() if f.is_problem] == []
    window.acts.check_host.trigger()
    qtbot.waitUntil(lambda: bool(answers.findings), timeout=20000)
    assert [f for f in answers.findings[0] if f.is_problem] == []
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.acts.vm_checkpoint.trigger()
    wait_idle(qtbot, window)
    assert len(session.host.list_snapshots("Beta")) == 1 and answers.errors == []
    window.grab().save(str(tmp_path / "after-kill.png"))
