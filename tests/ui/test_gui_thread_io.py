"""The GUI thread never touches the host's files: opening a host folder, making an empty folder
a host, File > New Host..., each checkpoint operation and Inspect Files... do their file work
on workers (a stalled disk or network share never freezes the window)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFormLayout, QLabel

from hvgui.ui import ask
from hvgui.ui.inspector import InspectorWindow
from hvgui.ui.inspector.hex_view import HexView
from hvgui.ui.inspector.panels import WaitingPanel
from hvgui.ui.inspector.vhdx_view import VhdxView
from hvgui.ui.main_window import MainWindow
from hvgui.ui.new_host_dialog import NewHostDialog
from tests.ui.fs_watch import FsWatch, watching
from tests.ui.helpers import (
    Answers,
    checkpoint_index,
    choose,
    empty_window,
    right_click_checkpoint,
    right_click_vm,
    type_in_place,
    vm_index,
    wait_idle,
)


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[FsWatch]:
    with watching(str(tmp_path.resolve())) as watch:
        yield watch


def _opened(qtbot: Any, win: MainWindow, count: int = 1) -> None:
    qtbot.waitUntil(lambda: len(win.sessions) == count and not win.opening, timeout=20000)
    wait_idle(qtbot, win)


def test_open_folder_touches_no_file_on_the_gui_thread(
    qtbot: Any, host_dir: Path, answers: Answers, fs: FsWatch
) -> None:
    win = empty_window(qtbot)
    answers.directory = host_dir
    fs.clear()
    win.acts.open_folder.trigger()  # File > Open Folder...
    _opened(qtbot, win)
    on_gui, on_workers = fs.on_gui_thread(), fs.on_workers()
    assert on_gui == []
    assert on_workers  # the watch sees the open
    assert {vm.name for vm in win.session.vm_model.vms()} == {"Alpha", "Beta"}  # type: ignore[union-attr]
    win.close()
    assert answers.errors == []


def test_an_empty_folder_is_looked_at_on_a_worker_and_made_a_host_on_one(
    qtbot: Any, tmp_path: Path, answers: Answers, fs: FsWatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    win = empty_window(qtbot)
    answers.directory = empty
    fs.clear()
    win.acts.open_folder.trigger()
    _opened(qtbot, win)
    on_gui = fs.on_gui_thread()
    assert on_gui == []
    assert answers.asked == [("directory", "Open Folder (a lab host, or a VM folder copied "
                                           "from Hyper-V or exported)"), ("confirm", "New Host")]
    assert (empty / "Virtual Machines").is_dir()
    win.close()
    assert answers.errors == []


def test_new_host_touches_no_file_on_the_gui_thread(
    qtbot: Any, tmp_path: Path, answers: Answers, fs: FsWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: (
        tmp_path / "fresh", "D:\\Hyper-V\\Lab")))
    win = empty_window(qtbot)
    fs.clear()
    win.acts.new_host.trigger()
    _opened(qtbot, win)
    on_gui = fs.on_gui_thread()
    assert on_gui == []
    assert (tmp_path / "fresh" / "Virtual Machines").is_dir()
    win.close()
    assert answers.errors == []


def test_each_checkpoint_operation_touches_no_file_on_the_gui_thread(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path, fs: FsWatch
) -> None:
    done: dict[str, list[str]] = {}

    def step(name: str) -> None:
        wait_idle(qtbot, window)
        done[name] = fs.on_gui_thread()
        window.activateWindow()  # the last menu took it (offscreen): an in-place edit needs it
        qtbot.waitActive(window)
        fs.clear()

    def thumbnail_shown() -> None:
        """Its console read (the in-place editor would lose focus to it, offscreen)."""
        qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)

    fs.clear()
    choose(qtbot, right_click_vm(window, "Alpha"), "Checkpoint")
    step("checkpoint")
    answers.apply = ask.ApplyChoice.APPLY
    choose(qtbot, right_click_checkpoint(window, "Base"), "Apply...")
    step("apply")
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    thumbnail_shown()
    choose(qtbot, right_click_checkpoint(window, "Base"), "Rename...")
    type_in_place(qtbot, window.checkpoint_view, "Golden")
    step("rename checkpoint")
    window.vm_view.setCurrentIndex(vm_index(window, "Beta"))
    thumbnail_shown()
    choose(qtbot, right_click_vm(window, "Beta"), "Rename...")
    type_in_place(qtbot, window.vm_view, "Gamma")
    step("rename VM")
    answers.directory = tmp_path / "exported"
    answers.directory.mkdir()
    fs.clear()
    choose(qtbot, right_click_vm(window, "Alpha"), "Export...")
    step("export VM")
    answers.directory = tmp_path / "checkpoint-export"
    answers.directory.mkdir()
    fs.clear()
    choose(qtbot, right_click_checkpoint(window, "Golden"), "Export...")
    step("export checkpoint")
    answers.directory = tmp_path / "host" / "moved"
    answers.directory.mkdir()
    fs.clear()
    choose(qtbot, right_click_vm(window, "Alpha"), "Move...")
    step("move storage")
    choose(qtbot, right_click_checkpoint(window, "Golden"), "Delete Checkpoint...")
    step("delete checkpoint")
    assert done == {name: [] for name in done}
    assert list(done) == ["checkpoint", "apply", "rename checkpoint", "rename VM", "export VM",
                          "export checkpoint", "move storage", "delete checkpoint"]
    assert answers.errors == []


def test_inspect_files_touches_no_file_on_the_gui_thread(
    qtbot: Any, window: MainWindow, answers: Answers, fs: FsWatch, tmp_path: Path
) -> None:
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    fs.clear()
    before = set(QApplication.topLevelWidgets())
    window.acts.cp_inspect.trigger()
    [inspector] = [w for w in QApplication.topLevelWidgets()
                   if w not in before and isinstance(w, InspectorWindow)]
    with qtbot.waitSignal(inspector.view_ready, timeout=20000):
        pass
    qtbot.waitUntil(lambda: not inspector.runner.busy, timeout=20000)
    opening = fs.on_gui_thread()
    assert fs.on_workers()
    # Each file's view in turn: the BIN and VSV show their bytes (a hex dump read by workers).
    paths = [facts.path for facts in inspector.file_model.files()]
    assert {path.suffix for path in paths} >= {".vhdx", ".bin", ".vsv"}
    dumps = []

    def decoded(path: Path) -> bool:
        view = inspector.view_of(path)
        return view is not None and not isinstance(view, WaitingPanel)

    for row, path in enumerate(paths):
        inspector.file_table.selectRow(row)
        qtbot.waitUntil(lambda p=path: decoded(p), timeout=20000)
        view = inspector.view_of(path)
        assert view is not None
        for hex_view in view.findChildren(HexView):
            qtbot.waitUntil(lambda h=hex_view: h.model.row_bytes(0) is not None, timeout=20000)
            dumps.append(path.name)
            if path.suffix == ".bin":
                qtbot.wait(50)  # painted with its page
                inspector.grab().save(str(tmp_path / "inspector-bin.png"))
    assert {Path(name).suffix for name in dumps} >= {".bin", ".vsv"}
    assert (opening, fs.on_gui_thread()) == ([], [])
    inspector.close()
    assert answers.errors == []


def test_the_memory_file_size_shows_once_a_worker_looked_it_up(
    qtbot: Any, window: MainWindow, tmp_path: Path, fs: FsWatch
) -> None:
    def memory_size() -> str:
        form = window.details.memory_form
        for row in range(form.rowCount()):
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
            if isinstance(label, QLabel) and label.text() == "Memory file size:":
                field = form.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
                return field.text() if isinstance(field, QLabel) else ""
        return ""

    fs.clear()
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    qtbot.waitUntil(lambda: memory_size() not in ("Reading...", ""), timeout=20000)
    assert fs.on_gui_thread() == []
    assert re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB|GiB)", memory_size()), memory_size()
    window.details.tabs.setCurrentIndex(1)  # Memory
    qtbot.wait(50)
    window.details.grab().save(str(tmp_path / "memory-size.png"))


def test_inspecting_one_file_lists_its_chain_on_a_worker(
    qtbot: Any, host_dir: Path, fs: FsWatch
) -> None:
    """`hvgui --inspect FILE` (and a lesson's "look at this file"): the chain is read off the
    GUI thread, the window up at once."""
    from hvgui.ui.inspector import open_inspector

    [running] = (host_dir / "Virtual Hard Disks").glob("*.avhdx")
    fs.clear()
    inspector = open_inspector(None, path=running)
    qtbot.addWidget(inspector)
    assert inspector.isVisible() and inspector.file_model.rowCount() == 0  # not read here
    with qtbot.waitSignal(inspector.view_ready, timeout=20000):
        pass
    qtbot.waitUntil(lambda: not inspector.runner.busy, timeout=20000)
    assert fs.on_gui_thread() == []
    assert [f.path.suffix for f in inspector.file_model.files()] == [".avhdx", ".vhdx"]
    # A click on the block map: the block's read path down the chain is read by a worker.
    view = inspector.view_of(running)
    assert isinstance(view, VhdxView)
    panel = view.block_panel
    qtbot.waitUntil(lambda: panel.map.data() is not None, timeout=20000)
    qtbot.mouseClick(panel.map.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.map.cell_rect(0).center())
    qtbot.waitUntil(lambda: "1. " in panel.path_text.toPlainText(), timeout=20000)
    assert "BAT: " in panel.path_text.toPlainText()
    assert fs.on_gui_thread() == [] and fs.on_workers()
    inspector.close()
