"""File > New Host... asks for the folder and the Windows root the new lab host stands for
(Hyper-V's default unless changed; a malformed root is one clear line and no OK), and the
window shows that root for the host."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from hvgui.ui.main_window import MainWindow
from hvgui.ui.new_host_dialog import NewHostDialog
from tests.ui.helpers import Answers, open_and_wait, wait_idle

DEFAULT = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"


def _ok(dialog: NewHostDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_the_dialog_offers_hyperv_s_default_and_refuses_a_malformed_root_in_one_line(
    qtbot: Any, tmp_path: Path, answers: Answers
) -> None:
    dialog = NewHostDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windows_root.text() == DEFAULT
    assert not _ok(dialog) and dialog.problem.text() == "Choose the folder of the new host."
    answers.directory = tmp_path / "lab"
    dialog._browse()  # Browse... picks the folder
    assert dialog.folder.text() == str(tmp_path / "lab") and _ok(dialog)
    assert dialog.problem.text() == ""
    for bad in ("Hyper-V", "\\\\server\\share\\VMs", "D:\\VMs\\..\\x", "C:\\a|b", ""):
        dialog.windows_root.setText(bad)
        assert not _ok(dialog), bad
        assert dialog.problem.text().startswith("Windows root: not a Windows folder path like "
                                                "C:\\ProgramData"), dialog.problem.text()
        assert "\n" not in dialog.problem.text()
    if os.environ.get("HVGUI_SHOTS"):
        dialog.grab().save(os.path.join(os.environ["HVGUI_SHOTS"], "new-host-refused.png"))
    dialog.windows_root.setText("D:\\Hyper-V\\Lab")
    assert _ok(dialog)
    dialog.folder.setText("relative/folder")
    assert not _ok(dialog) and "full path" in dialog.problem.text()
    dialog.folder.setText(str(tmp_path / "lab"))
    dialog.windows_root.setText("E:\\VMs")
    dialog.grab().save(str(tmp_path / "new-host-dialog.png"))
    if os.environ.get("HVGUI_SHOTS"):
        dialog.grab().save(os.path.join(os.environ["HVGUI_SHOTS"], "new-host-dialog.png"))
    assert dialog.values() == (tmp_path / "lab", "E:\\VMs")


def test_new_host_makes_a_host_standing_for_the_root_given_and_the_window_shows_it(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "fresh"
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: (
        folder, "D:\\Hyper-V\\Lab")))
    window.acts.new_host.trigger()
    qtbot.waitUntil(lambda: len(window.sessions) == 2, timeout=10000)  # made on a worker
    assert window.session is not None and window.session.host.root == folder.resolve()
    assert window.session.host.windows_root == "D:\\Hyper-V\\Lab"
    item = window.navigation.currentItem()
    assert item is not None
    assert "stands for D:\\Hyper-V\\Lab on a Windows host" in item.toolTip(0)
    shown = window.details.values()
    assert shown["Windows root"] == "D:\\Hyper-V\\Lab"
    assert shown["Host folder"] == str(folder.resolve())
    qtbot.wait(50)  # the new rows laid out
    window.grab().save(str(tmp_path / "new-host-window.png"))
    if os.environ.get("HVGUI_SHOTS"):
        window.grab().save(os.path.join(os.environ["HVGUI_SHOTS"], "new-host-window.png"))
    # Cancelled: nothing is made.
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: None))
    window.acts.new_host.trigger()
    wait_idle(qtbot, window)
    assert len(window.sessions) == 2 and not answers.errors


def _gui_thread_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read of a host's Windows names (`.hvgui/windows.json`) ran on the GUI
    thread: it is read once on a worker, the tooltip and the Summary only show it."""
    from hvgui.host import winpaths

    on_gui: list[bool] = []
    real = winpaths.read_names

    def read_names(host_root: Path) -> winpaths.HostNames:
        on_gui.append(threading.current_thread() is threading.main_thread())
        return real(host_root)

    monkeypatch.setattr(winpaths, "read_names", read_names)
    return on_gui


def test_the_windows_root_is_read_on_a_worker_never_for_the_tooltip_or_summary(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_gui = _gui_thread_reads(monkeypatch)
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: (
        tmp_path / "fresh", "D:\\Hyper-V\\Lab")))
    window.acts.new_host.trigger()
    qtbot.waitUntil(lambda: len(window.sessions) == 2, timeout=10000)
    wait_idle(qtbot, window)
    assert on_gui and True not in on_gui  # New Host read it on a worker
    for key in window.navigation.hosts():  # each host's Summary, again and again
        for _ in range(3):
            window.navigation.select_host(key)
            window.vm_view.clearSelection()
            window._show_details()
    assert window.details.values()["Windows root"] == "D:\\Hyper-V\\Lab"
    item = window.navigation.currentItem()
    assert item is not None and "stands for D:\\Hyper-V\\Lab" in item.toolTip(0)
    window.session.refresh()  # type: ignore[union-attr]
    wait_idle(qtbot, window)
    assert True not in on_gui


def test_a_host_whose_windows_names_are_damaged_opens_without_its_root(
    qtbot: Any, window: MainWindow, tmp_path: Path, answers: Answers
) -> None:
    from hvgui.connect import new_lab_host
    from hvgui.host.winpaths import NAMES_FILE

    folder = tmp_path / "damaged"
    new_lab_host(folder, "D:\\Hyper-V\\Lab")
    (folder / ".hvgui" / NAMES_FILE).write_text("garbage")  # a torn or edited file
    open_and_wait(qtbot, window, folder)
    item = window.navigation.currentItem()
    assert item is not None and "stands for" not in item.toolTip(0)
    assert "Windows root" not in window.details.values()
    assert window.details.values()["Host folder"] == str(folder.resolve())
