"""Closing the window while an operation runs: the window says what runs and offers to wait or
to cancel; it never blocks (the close returns at once, the window keeps repainting), and the
host is sound afterwards whichever the user chose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend import HostBackend
from hvgui.backend.phases import Phase
from hvgui.host import Host
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.host import HyperVHost
from hvgui.ui import ask
from hvgui.ui.closing import ClosingDialog
from hvgui.ui.main_window import MainWindow
from tests.gap_meter import GapMeter
from tests.hyperv.lab_transport import LabTransport
from tests.ui.helpers import Answers, vm_index, wait_idle


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


def release_and_wait_closed(qtbot: Any, window: MainWindow, gate: Gate) -> None:
    """The window stays until the held operation ends; then it closes, nothing running."""
    assert window.isVisible()
    gate.release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert not window.runner.busy


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
    release_and_wait_closed(qtbot, window, gate)
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
    release_and_wait_closed(qtbot, window, gate)
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


# Each long operation the window starts: its action, the backend method behind it and the
# checkpoint to select first (None: the VM only).
OPERATIONS = {
    "checkpoint": ("vm_checkpoint", "checkpoint_vm", None),
    "apply": ("cp_apply", "restore_snapshot", "Base"),
    "delete": ("cp_delete", "remove_snapshot", "Base"),
    "export": ("vm_export", "export_vm", None),
    "move": ("vm_move", "move_storage", None),
}


@pytest.fixture
def backend(request: pytest.FixtureRequest, host_dir: Path) -> HostBackend | None:
    """The lab host (the window opens the folder), or with "hyperv" a Hyper-V host: its
    scripts answered by the lab transport."""
    if getattr(request, "param", "lab") == "lab":
        return None
    return open_backend(LabTransport(Host.open(host_dir, create=False), "hv01"))


def snapshot_names(host_dir: Path) -> list[str]:
    return sorted(s.name for s in Host.open(host_dir).list_snapshots("Alpha"))


OPERATION_PHASES = {"checkpoint": Phase.CREATE, "apply": Phase.APPLY, "delete": Phase.DELETE,
                    "export": Phase.EXPORT, "move": Phase.MOVE}


@pytest.mark.parametrize("backend", ["lab", "hyperv"], indirect=True)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_closing_during_each_long_operation_offers_what_the_host_can_do(
    qtbot: Any, window: MainWindow, host_dir: Path, gate: Gate, monkeypatch: Any,
    answers: Answers, tmp_path: Path, operation: str,
) -> None:
    """Checkpoint, apply, delete, export and storage move, on the lab host and on a Hyper-V
    host: the dialog names the operation with its progress; Cancel is offered only where the
    host can cancel it (else greyed, with the host's reason) and then closes the window with
    the host as before; where it cannot, the window closes when the operation is done."""
    session = window.session
    assert session is not None
    action, method, checkpoint = OPERATIONS[operation]
    answers.apply = ask.ApplyChoice.APPLY
    # An export may go anywhere; a lab host moves storage only within its own folder.
    out = host_dir / "moved" if operation == "move" else tmp_path / "out"
    answers.directory, answers.text = out, str(out)
    monkeypatch.setattr(session.host, method, gate.wrap(getattr(session.host, method)))
    before = snapshot_names(host_dir)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    if checkpoint is not None:
        base = session.host.get_snapshot("Alpha", checkpoint)
        qtbot.waitUntil(lambda: window.select_checkpoint(base.id), timeout=5000)
    getattr(window.acts, action).trigger()
    qtbot.waitUntil(gate.held.is_set, timeout=10000)
    dialog = close_and_get_dialog(qtbot, window)
    [(label, bar)] = dialog._bars.values()
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=5000)  # the operation's own progress
    refusal = session.host.capabilities.cancel_refusal(OPERATION_PHASES[operation])
    kind = "hyperv" if isinstance(session.host, HyperVHost) else "lab"
    dialog.grab().save(str(tmp_path / f"closing-{operation}-{kind}.png"))
    if refusal:
        assert not dialog.cancel_button.isEnabled()
        assert refusal in dialog.cancel_button.toolTip()
        assert "cannot be cancelled" in label.text()
        assert "cancelling" not in dialog.heading.text()  # not offered
        dialog.wait_button.click()
    else:
        assert dialog.cancel_button.isEnabled()
        dialog.cancel_button.click()
        assert "Cancelling" in dialog.heading.text()
    release_and_wait_closed(qtbot, window, gate)
    lab = Host.open(host_dir)
    assert lab.check() == []
    if not refusal:  # cancelled: the host is as it was (a storage move may leave the
        # empty folders it made at the destination)
        assert snapshot_names(host_dir) == before
        assert not out.exists() or not [f for f in out.rglob("*") if not f.is_dir()]
    answers.errors.clear()  # a cancelled operation's message is not what this test is about


@pytest.mark.parametrize("backend", ["hyperv"], indirect=True)
def test_cancel_stops_what_the_host_can_cancel_and_waits_for_the_rest(
    qtbot: Any, window: MainWindow, host_dir: Path, gate: Gate, monkeypatch: Any,
    answers: Answers, tmp_path: Path,
) -> None:
    """A Hyper-V host cannot cancel a checkpoint's delete but can cancel an export: Cancel
    stops the export, says the delete runs on, and the window closes when it has finished."""
    session = window.session
    assert session is not None
    export_gate = Gate()
    try:
        answers.directory, answers.text = tmp_path / "out", str(tmp_path / "out")
        monkeypatch.setattr(session.host, "export_vm",
                            export_gate.wrap(session.host.export_vm))
        window.vm_view.selectRow(vm_index(window, "Beta").row())
        qtbot.waitUntil(lambda: session.selected_vm_id is not None, timeout=5000)
        window.acts.vm_export.trigger()
        qtbot.waitUntil(export_gate.held.is_set, timeout=10000)
        start_delete_of_base(qtbot, window, gate, monkeypatch)
        dialog = close_and_get_dialog(qtbot, window)
        rows = sorted(label.text() for label, _ in dialog._bars.values())
        assert rows[0].startswith("Deleting Checkpoint — Alpha") and rows[0].endswith(
            "(cannot be cancelled)"), rows
        assert rows[1].startswith("Exporting — Beta") and "cannot" not in rows[1], rows
        assert dialog.cancel_button.isEnabled()
        assert "cannot cancel deleting a checkpoint" in dialog.cancel_button.toolTip()
        assert "after cancelling those this host can cancel" in dialog.heading.text()
        dialog.grab().save(str(tmp_path / "closing-mixed.png"))
        dialog.cancel_button.click()
        assert "the others have finished" in dialog.heading.text()
        export_gate.release.set()
        qtbot.waitUntil(lambda: len(window.runner.operations()) == 1, timeout=20000)
        assert window.isVisible()  # the delete still runs
        gate.release.set()
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    finally:
        export_gate.release.set()
    lab = Host.open(host_dir)
    assert lab.check() == [] and lab.list_snapshots("Alpha") == []  # the delete finished
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.vhdx"))
    answers.errors.clear()
