"""The window around the workflow: following the host on disk, the Actions pane, errors,
closing mid-operation, remembered settings, the entry point, keyboard and accessibility."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from hvgui import app
from hvgui.host import Host
from hvgui.ui import ask
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import (
    Answers,
    checkpoint_index,
    choose,
    open_and_wait,
    right_click_vm,
    status_text,
    tree_names,
    type_in_place,
    vm_index,
    wait_idle,
    wait_opened,
)


def test_a_change_made_elsewhere_shows_within_two_seconds(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    other = Host.open(host_dir)  # another process, like hvctl in a terminal
    other.checkpoint_vm("Alpha", snapshot_name="From the terminal")
    qtbot.waitUntil(lambda: "From the terminal" in tree_names(window), timeout=2000)
    other.start_vm("Beta")
    qtbot.waitUntil(lambda: vm_index(window, "Beta", 1).data() == "Running", timeout=2000)


def test_actions_pane_follows_the_selection(qtbot: Any, window: MainWindow) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    texts = window.actions_pane.texts()
    assert "Start" in texts and "Turn Off..." not in texts and "Checkpoint" in texts
    assert "Revert..." not in texts  # Beta has no checkpoint to revert to
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    texts = window.actions_pane.texts()
    assert "Start" not in texts and "Turn Off..." in texts and "Revert..." in texts
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    texts = window.actions_pane.texts()
    assert "Apply..." in texts and "Delete Checkpoint..." in texts
    assert window.details.header.text().strip() == "Base"
    assert window.details.thumbnail.pixmap() is not None
    assert not window.details.thumbnail.pixmap().isNull()


def test_an_error_is_shown_once_in_words(
    qtbot: Any, window: MainWindow, host_dir: Path, answers: Answers
) -> None:
    assert window.session is not None
    window.session.stop()  # freeze the view: the window still believes Alpha runs
    Host.open(host_dir).stop_vm("Alpha", turn_off=True)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_turn_off.trigger()
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=5000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
    assert len(answers.errors) == 1
    assert "off" in str(answers.errors[0]).lower()
    answers.errors.clear()


def test_what_happened_lists_files_and_powershell(qtbot: Any, window: MainWindow) -> None:
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    wait_idle(qtbot, window)
    top = window.what_happened.topLevelItem(0)
    children = [top.child(i) for i in range(top.childCount())]
    changes = {c.text(1) for c in children}
    assert "created" in changes and "read-only" in changes
    assert any(c.text(0).startswith("PS> Checkpoint-VM") for c in children)
    assert any(c.text(0).endswith(".avhdx") and c.text(1) == "created" for c in children)


def test_closing_mid_operation_and_cancelling_loses_nothing(
    qtbot: Any, host_dir: Path, answers: Answers
) -> None:
    win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               "hvgui-tests", "close"))
    qtbot.addWidget(win)
    open_and_wait(qtbot, win, host_dir)
    win.show()
    win.vm_view.selectRow(vm_index(win, "Alpha").row())
    win.acts.vm_checkpoint.trigger()
    assert status_text(win, "Alpha").startswith("Creating Checkpoint")
    if not win.close():  # asked first (tests/ui/test_closing.py): cancel, then it closes
        assert win.closing_dialog is not None
        win.closing_dialog.cancel_button.click()
        qtbot.waitUntil(lambda: not win.isVisible(), timeout=20000)
    assert not win.runner.busy and win.runner.pool.activeThreadCount() == 0
    host = Host.open(host_dir)
    assert host.check() == []
    assert len(host.list_snapshots("Alpha")) in (1, 2)  # finished, or cancelled and rolled back


def test_settings_remember_geometry_and_hosts(qtbot: Any, host_dir: Path) -> None:
    settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "hvgui-t", "geo")
    win = MainWindow(settings)
    qtbot.addWidget(win)
    open_and_wait(qtbot, win, host_dir)
    win.resize(700, 500)  # inside the offscreen screen (800 x 600): nothing gets clamped
    win.show()
    size = (win.width(), win.height())
    win.close()
    assert str(host_dir.resolve()) in list(settings.value("hosts/open"))
    again = MainWindow(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == size
    again.close()


def test_main_uses_the_existing_application(qtbot: Any, host_dir: Path) -> None:
    assert QApplication.instance() is not None
    assert app.main(["--host", str(host_dir)]) == 0
    win = app.windows.pop()
    qtbot.addWidget(win)
    wait_opened(qtbot, win)
    assert isinstance(win, MainWindow)
    assert win.session is not None and win.session.host.root == host_dir.resolve()
    assert win.isVisible()
    win.close()


def test_keyboard_and_accessibility(qtbot: Any, window: MainWindow) -> None:
    menus = [a.text() for a in window.menuBar().actions()]
    assert all("&" in m for m in menus)
    for widget in (window.vm_view, window.checkpoint_view, window.navigation,
                   window.actions_pane, window.what_happened, window.details):
        assert widget.accessibleName()
    assert window.acts.cp_rename.shortcut().toString() == "F2"
    assert window.acts.cp_delete.shortcutContext() == Qt.ShortcutContext.WidgetShortcut
    window.vm_view.setFocus()
    qtbot.waitUntil(window.vm_view.hasFocus, timeout=2000)
    QTest.keyClick(window.vm_view, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.checkpoint_view


def test_connect_to_a_second_host_and_switch(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    second = Host.open(tmp_path / "second-host")
    second.new_vm("Solo", memory_startup_bytes=256 * 1024 * 1024)
    answers.directory = second.root

    def shown() -> set[str]:
        assert window.session is not None
        return {vm.name for vm in window.session.vm_model.vms()}

    window.acts.connect_host.trigger()
    wait_opened(qtbot, window)
    assert len(window.navigation.hosts()) == 2
    assert shown() == {"Solo"}
    assert tree_names(window) == {}  # Solo has no checkpoints
    assert window.no_checkpoints.isVisible()
    window.navigation.select_host(window.navigation.hosts()[0])
    assert shown() == {"Alpha", "Beta"}
    assert tree_names(window)["Now"] == "Base"  # Alpha, the first VM, runs from Base
    assert not window.no_checkpoints.isVisible()


def test_rename_a_vm_with_f2(qtbot: Any, window: MainWindow, answers: Answers,
                             host_dir: Path) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.vm_view.setFocus()
    qtbot.waitUntil(window.vm_view.hasFocus, timeout=2000)
    QTest.keyClick(window.vm_view, Qt.Key.Key_F2)
    type_in_place(qtbot, window.vm_view, "Beta renamed")
    wait_idle(qtbot, window)
    assert answers.asked == []
    assert {vm.name for vm in Host.open(host_dir).list_vms()} == {"Alpha", "Beta renamed"}
    assert vm_index(window, "Beta renamed").isValid()


def test_error_words_and_details() -> None:
    from hvgui.errors import HvError
    from hvgui.ui import ask

    try:
        raise HvError("/lab/Web01.avhdx", "the parent disk is missing")
    except HvError as exc:
        error = exc
    assert ask.error_summary(error) == "/lab/Web01.avhdx: the parent disk is missing"
    assert "Traceback" in ask.error_details(error)
    assert ask.error_summary(ValueError("x")).startswith("Unexpected error: ValueError")


def test_what_happened_starts_with_the_host_history(qtbot: Any, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: bool(window.what_happened.operations()), timeout=5000)
    operations = window.what_happened.operations()
    assert any(op.endswith("Checkpoint  —  Alpha") for op in operations)
    assert any(op.endswith("New  —  Beta") for op in operations)


def test_cancel_operation_stops_a_running_workload(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    from hvgui.guest.guest import Guest

    assert window.session is not None
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    assert not window.acts.vm_cancel.isEnabled()
    guest_host = window.session.host
    window.session.run(
        window.selected_vm(), "Guest workload",
        lambda p, c: Guest(guest_host, "Alpha").run_workload(
            32 << 20, rate=1 << 20, progress=p, cancel=c),
    )
    assert window.acts.vm_cancel.isEnabled()
    assert "Cancel Operation" in window.actions_pane.texts()
    window.acts.vm_cancel.trigger()
    wait_idle(qtbot, window)
    assert answers.errors == []  # a cancellation the user asked for is not an error
    assert "cancelled" in window.statusBar().currentMessage()
    assert not window.acts.vm_cancel.isEnabled()
    assert Host.open(host_dir).check() == []


def test_what_happened_follows_operations_made_elsewhere(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    qtbot.waitUntil(lambda: bool(window.what_happened.operations()), timeout=5000)
    before = len(window.what_happened.operations())
    Host.open(host_dir).checkpoint_vm("Beta", snapshot_name="From hvctl")
    qtbot.waitUntil(
        lambda: window.what_happened.operations()[0].endswith(
            "Checkpoint  —  Beta  (another program)"),
        timeout=3000,
    )
    assert len(window.what_happened.operations()) == before + 1
    # This window's own operation is listed once, not again when the log is re-read.
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    wait_idle(qtbot, window)
    window.session.refresh()  # type: ignore[union-attr]
    wait_idle(qtbot, window)
    assert len(window.what_happened.operations()) == before + 2


def test_history_rows_fill_in_when_expanded(qtbot: Any, window: MainWindow) -> None:
    panel = window.what_happened
    qtbot.waitUntil(lambda: bool(panel.operations()), timeout=5000)
    row = next(panel.topLevelItem(i) for i in range(panel.topLevelItemCount())
               if panel.topLevelItem(i).text(0).endswith("Checkpoint  —  Alpha"))
    assert row.childCount() == 0  # nothing built until asked for
    row.setExpanded(True)
    changes = {row.child(i).text(1) for i in range(row.childCount())}
    assert {"created", "read-only"} <= changes


def test_thumbnail_lists_the_files_the_checkpoint_froze(qtbot: Any, window: MainWindow) -> None:
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    qtbot.waitUntil(lambda: len(window.details.screen_lines()) > 1, timeout=5000)
    assert window.details.screen_lines()[0] == "C:\\> dir"
    assert any(line.endswith("hello.txt") for line in window.details.screen_lines())


def test_thumbnail_of_an_unreadable_disk_says_so_in_words(
    qtbot: Any, window: MainWindow
) -> None:
    """A checkpoint whose base disk is gone: its little screen says the disk cannot be read,
    never a fragment of a host path ("(/tmp/pytest-of-")."""
    assert window.session is not None
    base = window.session.host.root / "Virtual Hard Disks" / "Alpha.vhdx"
    base.rename(base.with_suffix(".moved"))
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    qtbot.waitUntil(lambda: len(window.details.screen_lines()) > 1, timeout=5000)
    lines = window.details.screen_lines()
    assert lines[0] == "C:\\> dir"
    assert "The disk cannot be read" in " ".join(lines)
    assert not any("/" in line for line in lines), lines


def test_each_menu_has_distinct_accelerators(window: MainWindow) -> None:
    import re

    for top in window.menuBar().actions():
        menu = top.menu()
        keys = [
            m.group(1).lower()
            for a in menu.actions()  # type: ignore[union-attr]
            if not a.isSeparator() and (m := re.search(r"&(\w)", a.text()))
        ]
        assert len(keys) == len(set(keys)), (top.text(), keys)


def test_a_blank_vm_name_is_refused(qtbot: Any, window: MainWindow, answers: Answers,
                                    host_dir: Path) -> None:
    choose(qtbot, right_click_vm(window, "Beta"), "Rename...")
    type_in_place(qtbot, window.vm_view, "  ")
    wait_idle(qtbot, window)
    assert answers.informed == ["This name cannot be used. A VM name cannot be blank."]
    assert {vm.name for vm in Host.open(host_dir).list_vms()} == {"Alpha", "Beta"}


def test_a_pasted_tab_in_a_name_is_refused_in_words(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    """The window checks a name by the host's rule (backend.names): a control character gets
    the same friendly message as a blank name, not an error dialog from the host."""
    choose(qtbot, right_click_vm(window, "Beta"), "Rename...")
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=2000)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.setText("Be\tta")  # as a paste puts it there (typing Tab would move the focus)
    QTest.keyClick(editor, Qt.Key.Key_Return)
    wait_idle(qtbot, window)
    assert answers.informed == [
        "This name cannot be used. A VM name cannot contain control characters."
    ]
    assert answers.errors == []
    assert {vm.name for vm in Host.open(host_dir).list_vms()} == {"Alpha", "Beta"}


def test_a_refresh_started_before_a_click_does_not_undo_it(
    qtbot: Any, window: MainWindow
) -> None:
    session = window.session
    assert session is not None and window.selected_vm().name == "Alpha"  # type: ignore[union-attr]
    session.refresh()  # reads in the background with Alpha selected...
    window.vm_view.selectRow(vm_index(window, "Beta").row())  # ...while the user picks Beta
    for _ in range(2):
        with qtbot.waitSignal(session.refreshed, timeout=5000):
            pass
    assert window.selected_vm().name == "Beta"  # type: ignore[union-attr]
    assert "Base" not in tree_names(window)  # Beta's (empty) tree, not Alpha's


def test_picking_a_vm_reads_its_checkpoints_off_the_gui_thread(
    qtbot: Any, window: MainWindow, monkeypatch: Any
) -> None:
    session = window.session
    assert session is not None
    Host.open(session.host.root).checkpoint_vm("Beta", snapshot_name="Beta's first")
    wait_idle(qtbot, window)
    readers: list[bool] = []
    real = session.host.list_snapshots

    def list_snapshots(vm: str) -> Any:
        readers.append(threading.current_thread() is threading.main_thread())
        return real(vm)

    monkeypatch.setattr(session.host, "list_snapshots", list_snapshots)
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    assert not window.no_checkpoints.isVisible()  # not "has no checkpoints" before the read
    qtbot.waitUntil(lambda: "Beta's first" in tree_names(window), timeout=10000)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    assert "Base" in tree_names(window)  # seen before: shown at once, then read again
    qtbot.waitUntil(lambda: len(readers) >= 2, timeout=10000)
    assert readers and not any(readers)


def test_delete_key_deletes_an_off_vm_after_asking(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.vm_view.setFocus()
    qtbot.waitUntil(window.vm_view.hasFocus, timeout=2000)
    QTest.keyClick(window.vm_view, Qt.Key.Key_Delete)
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Delete Selected Virtual Machines")]
    assert [vm.name for vm in Host.open(host_dir).list_vms()] == ["Alpha"]
    assert [vm.name for vm in window.session.vm_model.vms()] == ["Alpha"]  # type: ignore[union-attr]


def test_deleting_an_off_vm_says_its_checkpoints_are_merged_whatever_the_tree_shows(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Delete... right after selecting a VM (its checkpoint tree not read yet) still says its
    checkpoints go, not "Its configuration is deleted" alone."""
    Host.open(host_dir).checkpoint_vm("Beta", snapshot_name="Beta's first")
    wait_idle(qtbot, window)
    details: list[str] = []
    monkeypatch.setattr(ask, "confirm", lambda _p, _t, _x, detail="": details.append(detail))
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    window.acts.vm_delete.trigger()  # before the tree shows Beta's checkpoint
    assert details and "checkpoints are deleted" in details[0], details
    wait_idle(qtbot, window)


def test_checkpoints_disabled_greys_out_checkpoint(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    assert window.acts.vm_checkpoint.isEnabled()
    Host.open(host_dir).set_vm("Beta", checkpoint_type="Disabled")
    qtbot.waitUntil(lambda: not window.acts.vm_checkpoint.isEnabled(), timeout=3000)
    assert "Checkpoint" not in window.actions_pane.texts()


def test_main_reopens_the_hosts_open_last_time(
    qtbot: Any, host_dir: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from hvgui.ui.main_window import app_settings

    monkeypatch.delenv("HVGUI_HOST", raising=False)
    second = Host.open(tmp_path / "second")
    second.new_vm("Solo", memory_startup_bytes=256 * 1024 * 1024)
    assert app.main(["--host", str(host_dir), "--host", str(second.root)]) == 0
    first = app.windows.pop()
    qtbot.addWidget(first)
    assert len(first.navigation.hosts()) == 2  # type: ignore[attr-defined]
    first.navigation.select_host(str(host_dir.resolve()))  # type: ignore[attr-defined]
    first.close()  # remembers both, and that the first one was shown
    assert app.main([]) == 0
    again = app.windows.pop()
    qtbot.addWidget(again)
    wait_opened(qtbot, again)
    assert isinstance(again, MainWindow) and len(again.sessions) == 2
    assert again.session is not None and again.session.host.root == host_dir.resolve()
    assert app_settings().value("hosts/current") == str(host_dir.resolve())
    again.close()


def test_check_host_reports_a_missing_base_disk(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    window.acts.check_host.trigger()
    qtbot.waitUntil(lambda: len(answers.findings) == 1, timeout=10000)
    assert answers.findings[0] == []
    base = Host.open(host_dir).get_snapshot("Alpha", "Base").hard_drives[0].path
    base.unlink()  # "checkpoints are not backups": the AVHDX files are useless without it
    window.acts.check_host.trigger()
    qtbot.waitUntil(lambda: len(answers.findings) == 2, timeout=10000)
    assert any(f.severity == "error" and base.name in str(f.path) + f.message
               for f in answers.findings[1])
    assert "Check Host..." in window.actions_pane.texts()


def test_a_damaged_vm_configuration_is_named_and_the_rest_keeps_refreshing(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    host = Host.open(host_dir)
    beta = host.get_vm("Beta")
    config = host_dir / "Virtual Machines" / f"{beta.id}.xml"
    config.write_bytes(config.read_bytes()[:200])  # truncated mid-element
    host.checkpoint_vm("Alpha", snapshot_name="After damage")  # bumps the revision
    qtbot.waitUntil(lambda: window.problem_banner.isVisible(), timeout=3000)
    assert config.name in window.problem_banner.text()
    assert str(config) in window.problem_banner.toolTip()
    assert [vm.name for vm in window.session.vm_model.vms()] == ["Alpha"]  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: "After damage" in tree_names(window), timeout=3000)
    # Still following the host: a change made elsewhere after the damage shows too.
    host.rename_snapshot("Alpha", "After damage", "Still following")
    qtbot.waitUntil(lambda: "Still following" in tree_names(window), timeout=3000)
    config.unlink()  # the damaged VM removed: the banner goes
    host.checkpoint_vm("Alpha", snapshot_name="Repaired")
    qtbot.waitUntil(lambda: not window.problem_banner.isVisible(), timeout=3000)


def test_delete_vm_is_greyed_out_while_running_or_paused(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    host = Host.open(host_dir)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())  # Running
    assert window.selected_vm().state == "Running"  # type: ignore[union-attr]
    assert not window.acts.vm_delete.isEnabled()
    assert "Delete..." not in window.actions_pane.texts()
    host.suspend_vm("Alpha")
    qtbot.waitUntil(lambda: window.selected_vm().state == "Paused", timeout=3000)  # type: ignore[union-attr]
    assert not window.acts.vm_delete.isEnabled()
    host.resume_vm("Alpha")
    host.save_vm("Alpha")
    qtbot.waitUntil(lambda: window.selected_vm().state == "Saved", timeout=3000)  # type: ignore[union-attr]
    assert window.acts.vm_delete.isEnabled()  # Hyper-V deletes a saved VM


def test_a_finished_operation_always_clears_its_status(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    # In this window: after Checkpoint no row keeps "Creating Checkpoint (NN%)".
    choose(qtbot, right_click_vm(window, "Alpha"), "Checkpoint")
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: status_text(window, "Alpha") == "", timeout=3000)
    assert status_text(window, "Beta") == ""
    # Another process's operation: shown while its status file says so, cleared when that
    # process is gone even though it died without clearing the file (no revision change).
    beta = Host.open(host_dir).get_vm("Beta")
    other = subprocess.Popen(["sleep", "30"])
    try:
        record = {"pid": other.pid, "operation": "Creating Checkpoint", "percent": 100,
                  "state": None, "visible": True}
        status_file = host_dir / ".hvgui" / "status" / f"{beta.id}.json"
        status_file.parent.mkdir(parents=True, exist_ok=True)
        status_file.write_text(json.dumps(record))
        qtbot.waitUntil(lambda: status_text(window, "Beta") == "Creating Checkpoint (100%)",
                        timeout=3000)
        window.vm_view.selectRow(vm_index(window, "Beta").row())
        assert not window.acts.vm_checkpoint.isEnabled()  # busy elsewhere: greyed out
    finally:
        other.kill()
        other.wait()
    qtbot.waitUntil(lambda: status_text(window, "Beta") == "", timeout=3000)
    assert window.acts.vm_checkpoint.isEnabled()


def test_a_damaged_checkpoint_configuration_is_named_not_shown_as_no_checkpoints(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    host = Host.open(host_dir)
    base = host.get_snapshot("Alpha", "Base")
    base.config_path.write_bytes(base.config_path.read_bytes()[:200])
    host.start_vm("Beta")  # another change: the refresh reads the damage
    qtbot.waitUntil(lambda: window.problem_banner.isVisible(), timeout=3000)
    assert base.config_path.name in window.problem_banner.text()
    assert window.no_checkpoints.isVisible()
    assert "cannot be read" in window.no_checkpoints.text()
    # The rest keeps following the host.
    def beta_state() -> str:
        assert window.session is not None
        return next(v.state for v in window.session.vm_model.vms() if v.name == "Beta")

    qtbot.waitUntil(lambda: beta_state() == "Running", timeout=3000)
