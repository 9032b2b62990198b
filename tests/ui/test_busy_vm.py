"""A second operation on a VM already busy in this window: the host refuses it once, and the
first operation keeps its Status, its Cancel and its end."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hvgui.host import Host, VMBusyError
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import PERCENT, Answers, status_text, vm_index, wait_idle


def test_rename_during_a_checkpoint_is_refused_and_the_checkpoint_keeps_counting(
    qtbot: Any, window: MainWindow, host_dir: Path, answers: Answers,
    monkeypatch: Any,
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
            if fraction > 0 and not held.is_set():
                held.set()  # the host holds the VM ("Creating Checkpoint") until released
                release.wait(20)

        return real_checkpoint(vm, progress=gated, **kwargs)

    monkeypatch.setattr(host, "checkpoint_vm", checkpoint_held_midway)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    try:
        qtbot.waitUntil(held.is_set, timeout=10000)
        qtbot.waitUntil(lambda: PERCENT.match(status_text(window, "Alpha")) is not None
                        and status_text(window, "Alpha") != "Creating Checkpoint (0%)",
                        timeout=5000)
        counting = status_text(window, "Alpha")
        alpha = session.vm_model.vms()[vm_index(window, "Alpha").row()]
        shown: list[str] = []  # the Status this window sets from its own operation
        session.vm_model.dataChanged.connect(
            lambda *_: shown.append(session.vm_model.live_status(alpha.id) or ""))

        session.vm_model.setData(vm_index(window, "Alpha"), "Renamed")  # what F2 + Enter does
        qtbot.waitUntil(lambda: len(answers.errors) == 1, timeout=5000)
        assert isinstance(answers.errors[0], VMBusyError)
        assert "VM is busy" in str(answers.errors[0])
        qtbot.wait(200)  # the refused rename has finished: nothing of the checkpoint's is undone
        assert status_text(window, "Alpha") == counting
        assert session.is_busy(alpha.id)
    finally:
        release.set()
    wait_idle(qtbot, window)
    assert len(answers.errors) == 1  # shown once
    # From the refusal on, the Status showed the checkpoint only, counting on to its end.
    # until it ended (then Status goes back to what the host says).
    shown = [t for i, t in enumerate(shown) if t and (i == 0 or t != shown[i - 1])]
    matches = [PERCENT.match(t) for t in shown]
    assert all(m is not None and m["phase"] == "Creating Checkpoint" for m in matches), shown
    percents = [int(m["pct"]) for m in matches if m is not None]
    start = PERCENT.match(counting)
    assert start is not None
    assert percents == sorted(percents) and percents[-1] > int(start["pct"]), shown
    assert session.vm_model.live_status(alpha.id) is None and not session.is_busy(alpha.id)
    answers.errors.clear()  # the one expected message (the fixture fails on any left)
    after = Host.open(host_dir)
    assert after.get_vm("Alpha").name == "Alpha"
    assert len(after.list_snapshots("Alpha")) == 2  # the build's "Base" and the new one
