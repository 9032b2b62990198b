"""Closing the window while an operation runs: the window says what runs and offers to wait or
to cancel; it never blocks (the close returns at once, the window keeps repainting), and the
host is sound afterwards whichever the user chose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import Host
from hvgui.ui.closing import ClosingDialog
from hvgui.ui.main_window import MainWindow
from tests.gap_meter import GapMeter
from tests.ui.helpers import vm_index, wait_idle


class Gate:
    """Holds a host operation at its first progress report past 0 until released."""

    def __init__(self) -> None:
        self.held, self.release = threading.Event(), threading.Event()

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def gated_call(*args: Any, **kwargs: Any) -> Any:
            progress = kwargs.pop("progress")

            def gated(fraction: float, phase: str) -> None:
                progress(fraction, phase)
                if fraction > 0 and not self.held.is_set():
                    self.held.set()
                    self.release.wait(30)

            return real(*args, progress=gated, **kwargs)

        return gated_call


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()  # never leave a pool thread waiting


def start_delete_of_base(qtbot: Any, window: MainWindow, gate: Gate, monkeypatch: Any) -> None:
    session = window.session
    assert session is not None
    monkeypatch.setattr(session.host, "remove_snapshot", gate.wrap(session.host.remove_snapshot))
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    base = session.host.get_snapshot("Alpha", "Base")
    qtbot.waitUntil(lambda: window.select_checkpoint(base.id), timeout=5000)
    window.acts.cp_delete.trigger()
    qtbot.waitUntil(gate.held.is_set, timeout=10000)


def close_and_get_dialog(qtbot: Any, window: MainWindow) -> ClosingDialog:
    meter = GapMeter(10)
    meter.start()
    assert not window.close()  # refused for now, and at once: nothing waited for the merge
    dialog = window.closing_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    # The event loop runs on behind the dialog: the meter keeps ticking (however loaded the
    # machine: the bound on the gaps is bench_gui's).
    qtbot.waitUntil(lambda: meter.ticks >= 5, timeout=10000)
    meter.stop()
    assert window.isVisible()
    return dialog


def test_closing_during_a_delete_offers_to_wait_or_cancel_and_cancel_closes_cleanly(
    qtbot: Any, window: MainWindow, host_dir: Path, gate: Gate, monkeypatch: Any,
    tmp_path: Path,
) -> None:
    start_delete_of_base(qtbot, window, gate, monkeypatch)
    dialog = close_and_get_dialog(qtbot, window)
    text = dialog.heading.text()
    assert "An operation is still running" in text
    rows = [label.text() for label, _ in dialog._bars.values()]
    assert len(rows) == 1 and rows[0].startswith("Deleting Checkpoint — Alpha"), rows
    assert {b.text() for b in dialog.buttons.buttons()} == {
        "Close When &Done", "&Cancel Operations", "&Keep Window Open"}
    dialog.grab().save(str(tmp_path / "closing-dialog.png"))

    dialog.cancel_button.click()
    assert "Cancelling" in dialog.heading.text()
    assert window.isVisible()  # until the operation has stopped
    gate.release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    assert not window.runner.busy
    host = Host.open(host_dir)
    assert host.check() == []
    assert [s.name for s in host.list_snapshots("Alpha")] == ["Base"]  # cancelled: kept


def test_close_when_done_closes_the_window_after_the_operation_has_finished(
    qtbot: Any, window: MainWindow, host_dir: Path, gate: Gate, monkeypatch: Any,
) -> None:
    start_delete_of_base(qtbot, window, gate, monkeypatch)
    dialog = close_and_get_dialog(qtbot, window)
    dialog.wait_button.click()
    assert "The window closes when it has finished" in dialog.heading.text()
    qtbot.wait(200)
    assert window.isVisible()
    gate.release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    host = Host.open(host_dir)
    assert host.check() == []
    assert host.list_snapshots("Alpha") == []  # the delete finished: Base merged away


def test_keep_window_open_leaves_the_operation_and_the_window_alone(
    qtbot: Any, window: MainWindow, host_dir: Path, gate: Gate, monkeypatch: Any,
) -> None:
    start_delete_of_base(qtbot, window, gate, monkeypatch)
    dialog = close_and_get_dialog(qtbot, window)
    dialog.keep_button.click()
    qtbot.waitUntil(lambda: window.closing_dialog is None, timeout=5000)
    gate.release.set()
    wait_idle(qtbot, window)
    assert window.isVisible()
    assert Host.open(host_dir).list_snapshots("Alpha") == []
    assert window.close()  # nothing runs now: it closes at once, asking nothing
    assert window.closing_dialog is None
