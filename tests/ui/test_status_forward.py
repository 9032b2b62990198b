"""The Status column never goes backwards: an operation's percentage only counts up within a
phase, a new phase starts a new name, and the text clears once the result is shown (a read made
mid-operation must not bring back an older percentage)."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QEvent, QObject

from hvgui.guest.guest import Guest
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import (
    PERCENT,
    Answers,
    StatusRecorder,
    choose,
    right_click_checkpoint,
    status_text,
    vm_index,
    wait_idle,
)


def _phases(texts: list[str]) -> list[tuple[str, list[int]]]:
    """Consecutive runs of one phase name with their percentages, in the order shown."""
    runs: list[tuple[str, list[int]]] = []
    for text in texts:
        match = PERCENT.match(text)
        assert match is not None, f"not an operation's Status: {text!r} in {texts}"
        if not runs or runs[-1][0] != match["phase"]:
            runs.append((match["phase"], []))
        runs[-1][1].append(int(match["pct"]))
    return runs


def test_a_read_during_a_checkpoint_does_not_bring_back_an_older_percentage(
    qtbot: Any, window: MainWindow, monkeypatch: Any
) -> None:
    session = window.session
    assert session is not None
    host: Any = session.host
    real_checkpoint = host.checkpoint_vm
    held, release = threading.Event(), threading.Event()

    def checkpoint_held_midway(vm: str, **kwargs: Any) -> Any:
        progress = kwargs.pop("progress")

        def gated(fraction: float, phase: str) -> None:
            progress(fraction, phase)
            if fraction > 0.3 and not held.is_set():
                held.set()
                release.wait(20)
            if fraction > 0.5:  # a sub-step that restarts its own count
                progress(fraction / 2, phase)

        return real_checkpoint(vm, progress=gated, **kwargs)

    monkeypatch.setattr(host, "checkpoint_vm", checkpoint_held_midway)
    recorder = StatusRecorder(window, "Alpha")
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    try:
        qtbot.waitUntil(held.is_set, timeout=10000)
        # A refresh while the host holds the VM reads its status file ("Creating Checkpoint
        # (NN%)" as another process would see it): that is the text that used to come back.
        with qtbot.waitSignal(session.refreshed, timeout=5000):
            session.refresh()
        alpha = session.vm_model.vms()[vm_index(window, "Alpha").row()]
        assert PERCENT.match(alpha.status), alpha.status
    finally:
        release.set()
    wait_idle(qtbot, window)
    runs = _phases(recorder.texts)
    assert [name for name, _ in runs] == ["Creating Checkpoint"], recorder.texts
    percents = runs[0][1]
    assert percents == sorted(percents) and percents[-1] >= 95, recorder.texts
    assert vm_index(window, "Alpha", 5).data() == ""


def test_deleting_a_checkpoint_counts_up_per_phase_then_clears(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    session = window.session
    assert session is not None
    Guest(session.host, "Alpha").run_workload(8 << 20, path="/grow.bin")  # something to merge
    wait_idle(qtbot, window)
    recorder = StatusRecorder(window, "Alpha")
    choose(qtbot, right_click_checkpoint(window, "Base"), "Delete Checkpoint...")
    wait_idle(qtbot, window)
    runs = _phases(recorder.texts)
    assert "Merge in progress" in [name for name, _ in runs], recorder.texts
    for name, percents in runs:
        assert percents == sorted(percents), (name, recorder.texts)
    assert vm_index(window, "Alpha", 5).data() == ""
    assert answers.deleted == [("Base", False)]


class _PaintedStatus(QObject):
    """The Status of one VM at every paint of the VM list: what a person could have seen."""

    def __init__(self, window: MainWindow, name: str) -> None:
        super().__init__()
        self.window, self.name, self.texts = window, name, list[str]()
        window.vm_view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            text = status_text(self.window, self.name)
            if PERCENT.match(text) and (not self.texts or self.texts[-1] != text):
                self.texts.append(text)
        return False


def test_each_phase_of_a_delete_is_painted_even_when_reported_all_at_once(
    qtbot: Any, window: MainWindow, monkeypatch: Any
) -> None:
    session = window.session
    assert session is not None
    host: Any = session.host
    Guest(host, "Alpha").run_workload(8 << 20, path="/grow.bin")  # something to merge
    wait_idle(qtbot, window)
    real_remove = host.remove_snapshot
    reported: list[str] = []

    def remove_recorded(*args: Any, **kwargs: Any) -> Any:
        progress = kwargs.pop("progress")

        def recorded(fraction: float, phase: str) -> None:
            if not reported or reported[-1] != phase:
                reported.append(phase)
            progress(fraction, phase)

        return real_remove(*args, progress=recorded, **kwargs)

    monkeypatch.setattr(host, "remove_snapshot", remove_recorded)
    painted = _PaintedStatus(window, "Alpha")
    choose(qtbot, right_click_checkpoint(window, "Base"), "Delete Checkpoint...")
    # The GUI thread takes none of the reports before the delete is over: every phase, then
    # the result, wait for it in one go (as on a machine too busy to run it in between).
    assert window.runner.wait(20000)
    wait_idle(qtbot, window)
    assert "Merge in progress" in reported and len(reported) >= 2, reported
    assert [name for name, _ in _phases(painted.texts)] == reported, painted.texts
