"""Connect (the guest console), Settings, New VM, Inspect Files and the first start."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from hvgui import app
from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.ui.main_window import MainWindow
from hvgui.ui.vm_dialogs import NewVmDialog, NewVmValues, SettingsDialog
from tests.ui.helpers import (
    Answers,
    checkpoint_index,
    open_console,
    status_text,
    visible_console,
    vm_index,
    wait_idle,
)

MiB = 1 << 20


def test_console_shows_guest_files_and_keeps_a_note_in_memory(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    console = open_console(qtbot, window, "Alpha")
    files = console.files
    names = [files.topLevelItem(i).text(0) for i in range(files.topLevelItemCount())]
    assert "hello.txt" in names
    console.note.setPlainText("only in memory")
    console.note_button.click()
    wait_idle(qtbot, window)  # the note is typed in the background
    assert Guest(Host.open(host_dir), "Alpha").note() == "only in memory"
    console.close()


def test_console_workload_switch_grows_the_running_disk(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    host = Host.open(host_dir)
    disk = host.get_vm("Alpha").hard_drives[0].path
    before = disk.stat().st_size
    console = open_console(qtbot, window, "Alpha")
    console.rate.setValue(8)
    console.workload.setChecked(True)
    qtbot.waitUntil(lambda: status_text(window, "Alpha").startswith("Guest workload"),
                    timeout=5000)
    qtbot.waitUntil(lambda: disk.stat().st_size > before + 2 * MiB, timeout=15000)
    console.workload.setChecked(False)
    wait_idle(qtbot, window)
    assert not console.workload.isChecked()
    assert not status_text(window, "Alpha").startswith("Guest workload")
    console.close()


def test_console_of_an_off_vm_is_read_only(qtbot: Any, window: MainWindow) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.acts.vm_connect.trigger()
    console = visible_console()
    assert "Off" in console.state_label.text()
    assert not console.note_button.isEnabled() and not console.workload.isEnabled()
    wait_idle(qtbot, window)
    console.close()


def _open_dialog(window: MainWindow) -> SettingsDialog:
    dialogs = [d for d in window.windows.dialogs if isinstance(d, SettingsDialog)]
    assert dialogs, "no settings dialog opened"
    return dialogs[-1]


def test_vm_settings_change_processors_and_memory(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.acts.vm_settings.trigger()
    dialog = _open_dialog(window)
    assert dialog.isVisible() and not dialog.read_only
    dialog.processors.setValue(4)
    dialog.memory.setValue(512)
    dialog.checkpoint_type.setCurrentText("Production")
    dialog._accept()
    wait_idle(qtbot, window)
    vm = Host.open(host_dir).get_vm("Beta")
    assert (vm.processor_count, vm.memory_startup, vm.checkpoint_type) == (4, 512 * MiB,
                                                                           "Production")
    assert window.what_happened.operations()[0].endswith("Beta")


def test_settings_of_a_running_vm_grey_out_memory_and_processors(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Alpha").row())  # Running
    window.acts.vm_settings.trigger()
    dialog = _open_dialog(window)
    assert not dialog.read_only
    assert not dialog.memory.isEnabled() and not dialog.processors.isEnabled()
    assert dialog.checkpoint_type.isEnabled() and not dialog.notes.isReadOnly()
    dialog.notes.setPlainText("changed while running")
    dialog._accept()
    wait_idle(qtbot, window)
    assert Host.open(host_dir).get_vm("Alpha").notes == "changed while running"


def test_checkpoint_settings_are_read_only(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    # The VM changes after the checkpoint: its Settings show the VM as it was.
    host = Host.open(host_dir)
    host.stop_vm("Alpha", turn_off=True)
    host.set_vm("Alpha", processor_count=3, memory_startup_bytes=512 * MiB, notes="later")
    qtbot.waitUntil(lambda: window.selected_vm().processor_count == 3, timeout=3000)  # type: ignore[union-attr]
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    window.acts.cp_settings.trigger()
    dialog = _open_dialog(window)
    assert dialog.read_only
    assert not dialog.processors.isEnabled() and not dialog.memory.isEnabled()
    assert (dialog.processors.value(), dialog.memory.value()) == (1, 256)  # as it was
    assert dialog.notes.toPlainText() != "later"
    assert dialog.drives.topLevelItemCount() == 1
    assert dialog.drives.topLevelItem(0).text(2).endswith(".vhdx")  # the frozen base disk
    # A long path shows its file name, cut in the middle; the whole path as tooltip.
    path = dialog.drives.topLevelItem(0).text(2)
    assert dialog.drives.topLevelItem(0).toolTip(2) == path
    assert dialog.drives.textElideMode() == Qt.TextElideMode.ElideMiddle
    dialog.reject()


def test_checkpoint_settings_come_from_the_host_snapshot(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    # The dialog shows what the host reports for the checkpoint, not its own reading of files.
    host = Host.open(host_dir)
    vm, snap = host.get_vm("Alpha"), host.get_snapshot("Alpha", "Base")
    assert window.session is not None
    as_reported = dataclasses.replace(
        snap, processor_count=5, memory_startup=768 * MiB, notes="from the host"
    )
    dialog = SettingsDialog.for_snapshot(window.session, vm, as_reported, window)
    qtbot.addWidget(dialog)
    assert (dialog.processors.value(), dialog.memory.value()) == (5, 768)
    assert dialog.notes.toPlainText() == "from the host"


def test_new_vm_appears_and_is_selected(
    qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NewVmDialog, "ask", classmethod(
        lambda cls, parent: NewVmValues("Gamma", 512 * MiB, 64 * MiB, 2)))
    window.acts.new_vm.trigger()
    wait_idle(qtbot, window)
    assert vm_index(window, "Gamma").isValid()
    vm = window.selected_vm()
    assert vm is not None and vm.name == "Gamma"


def test_inspect_files_opens_the_inspector(qtbot: Any, window: MainWindow) -> None:
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    assert window.acts.cp_inspect.isEnabled()
    before = set(QApplication.topLevelWidgets())
    window.acts.cp_inspect.trigger()
    opened = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert any(type(w).__name__ == "InspectorWindow" for w in opened)
    for w in opened:
        w.close()


def test_inspect_files_of_a_vm_without_checkpoints(qtbot: Any, window: MainWindow) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())  # no checkpoints: an empty tree
    assert window.selected_tree_object() is None
    assert window.acts.cp_inspect.isEnabled()
    before = set(QApplication.topLevelWidgets())
    window.acts.cp_inspect.trigger()
    opened = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert any(type(w).__name__ == "InspectorWindow" for w in opened)
    for w in opened:
        w.close()


def test_first_start_builds_the_demo_lab(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: Answers
) -> None:
    import hvgui.host

    target = tmp_path / "default-host"
    monkeypatch.delenv("HVGUI_HOST", raising=False)
    monkeypatch.setattr(hvgui.host, "default_host_dir", lambda: target)
    assert app.main([]) == 0
    win = app.windows.pop()
    qtbot.addWidget(win)
    assert isinstance(win, MainWindow)
    qtbot.waitUntil(lambda: win.session is not None, timeout=120000)
    names = {vm.name for vm in win.session.vm_model.vms()}  # type: ignore[union-attr]
    assert {"Web01", "Lab-Client", "SAN-Server", "Archive01"} <= names
    win.close()
    assert answers.errors == []


def test_main_inspect_opens_the_inspector_on_a_file(qtbot: Any, host_dir: Path) -> None:
    disk = Host.open(host_dir).get_vm("Alpha").hard_drives[0].path
    assert app.main(["--inspect", str(disk)]) == 0
    win = app.windows.pop()
    assert type(win).__name__ == "InspectorWindow" and win.isVisible()
    win.close()  # it deletes itself on close


def test_settings_attach_a_pass_through_disk_warns_it_is_not_captured(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "PhysicalDrive3.raw"
    with open(raw, "wb") as f:
        f.truncate(8 * MiB)
    answers.file = raw
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.acts.vm_settings.trigger()
    dialog = _open_dialog(window)
    dialog.add_pt_button.click()
    assert dialog.drives.topLevelItemCount() == 2
    dialog._accept()
    wait_idle(qtbot, window)
    drives = Host.open(host_dir).get_vm("Beta").hard_drives
    assert [d.pass_through for d in drives] == [False, True]
    assert drives[1].path == raw
    assert answers.informed and "pass-through" in answers.informed[0]


def test_console_toolbar_acts_on_its_own_vm(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    console = open_console(qtbot, window, "Alpha")
    window.vm_view.selectRow(vm_index(window, "Beta").row())  # the window looks elsewhere
    actions = console.vm_actions
    assert not actions["Start"].isEnabled() and actions["Pause"].isEnabled()
    actions["Checkpoint"].trigger()
    wait_idle(qtbot, window)
    host = Host.open(host_dir)
    assert len(host.list_snapshots("Alpha")) == 2 and host.list_snapshots("Beta") == []
    actions["Pause"].trigger()
    wait_idle(qtbot, window)
    assert host.get_vm("Alpha").state == "Paused"
    qtbot.waitUntil(lambda: actions["Resume"].isEnabled(), timeout=3000)
    assert "Paused" in console.state_label.text()
    console.close()


def test_console_turn_off_asks_first(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    console = open_console(qtbot, window, "Alpha")
    answers.confirm = False
    console.vm_actions["Turn Off"].trigger()
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Turn Off Machine")]
    assert Host.open(host_dir).get_vm("Alpha").state == "Running"
    answers.confirm = True
    console.vm_actions["Turn Off"].trigger()
    wait_idle(qtbot, window)
    assert Host.open(host_dir).get_vm("Alpha").state == "Off"
    console.close()
