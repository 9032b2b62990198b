"""The window's lab-host operations run in child processes (hvgui/host/isolated.py): its GUI
thread shares no interpreter lock with the work. What the user sees stays the same: the
phases in the Status, the result as the window's own (not "another program"'s)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from hvgui.backend.model import DiskEvent
from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.progress import MERGE_PHASE
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import Answers, StatusRecorder, choose, right_click_checkpoint, wait_idle


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
