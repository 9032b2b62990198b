"""Lessons in the window: Help > Lessons... lists every lesson with the article note it shows;
choosing one builds its lab in the background, opens it and walks the steps with Next, pointing
at the VM, the checkpoint, the rows of What happened and the inspector's file and tab; the last
step states the lesson."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hvgui.host.isolated import IsolatedHost
from hvgui.teaching.lessons import LESSONS
from hvgui.ui.lessons_pane import LessonsPane
from hvgui.ui.main_window import MainWindow
from tests.ui.fs_watch import watching
from tests.ui.helpers import Answers, status_text


def test_help_lessons_lists_every_lesson_with_its_note(window: MainWindow) -> None:
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    lessons_item = next(a for a in help_menu.actions() if a.text() == "&Lessons...")
    lessons_item.trigger()
    assert window.lessons_dock.isVisible()
    pane = window.lessons
    texts = [pane.list.item(i).text() for i in range(pane.list.count())]
    assert len(texts) == len(LESSONS)
    notes = sorted({n for lesson in LESSONS.values() for n in lesson.notes})
    assert notes == list(range(1, 13))  # every note of the article has a lesson
    assert "Note 4: remove the base VHDX and every checkpoint breaks" in texts


@contextmanager
def started(qtbot: Any, window: MainWindow, name: str) -> Iterator[LessonsPane]:
    """Lesson `name` started from the pane, its lab open at step 1; removed afterwards."""
    window.show_lessons()
    pane = window.lessons
    pane.choose(name)
    pane.start_button.click()
    qtbot.waitUntil(lambda: pane.step == 0 and pane.next_button.isEnabled(), timeout=60000)
    assert window.session is not None
    lab = window.session.host.root
    try:
        yield pane
        if pane.inspector is not None:
            pane.inspector.close()
    finally:
        window.close()
        assert not window.runner.busy or window.runner.wait(10000)
        shutil.rmtree(lab.parent, ignore_errors=True)


def test_walking_the_not_a_backup_lesson(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    with started(qtbot, window, "not-a-backup") as pane:
        session = window.session
        assert session is not None
        assert session.name == "lab-not-a-backup"  # its own fresh lab, opened, named for it
        assert isinstance(session.host, IsolatedHost)  # the window's operations in children
        assert "step 1 of 3" in pane.title.text()
        vm = window.selected_vm()
        assert vm is not None and vm.name == "Web01"

        pane.next_button.click()  # 1: the chain, listed; the inspector on Now's AVHDX
        qtbot.waitUntil(lambda: pane.step == 1 and pane.next_button.isEnabled(), timeout=20000)
        assert "chain of 4 files" in pane.text.toPlainText()
        assert "(Web01's running disk, Now)" in pane.text.toPlainText()
        qtbot.waitUntil(lambda: pane.inspector is not None, timeout=10000)
        inspector = pane.inspector
        running = session.host.get_vm("Web01").hard_drives[0].path
        qtbot.waitUntil(lambda: (v := inspector.view_of(running)) is not None
                        and hasattr(v, "tabs") and v.tabs.tabText(v.tabs.currentIndex())
                        == "Block map", timeout=20000)
        inspector.grab().save(str(tmp_path / "lesson-step-1-inspector.png"))
        window.grab().save(str(tmp_path / "lesson-step-1.png"))

        pane.next_button.click()  # 2: the base disk deleted
        qtbot.waitUntil(lambda: pane.step == 2 and pane.next_button.isEnabled(), timeout=20000)
        pane.next_button.click()  # 3: the check; the lesson stated
        qtbot.waitUntil(lambda: pane.step == 3 and pane.next_button.isEnabled(), timeout=20000)
        assert "4 findings" in pane.text.toPlainText()
        assert pane.verdict.text() == f"The lesson: {LESSONS['not-a-backup'].lesson}"
        assert pane.title.text().endswith("done")
        # The window shows the break it caused (chain health), without Check Host...
        qtbot.waitUntil(lambda: status_text(window, "Web01").startswith("Chain broken"),
                        timeout=10000)
        window.grab().save(str(tmp_path / "lesson-done.png"))
    assert answers.errors == []


def test_a_step_highlights_what_happened_and_opens_the_xml_diff(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    with started(qtbot, window, "settings-go-to-vm-files") as pane:
        pane.next_button.click()  # Set-VM on Lab-Client: What happened's Settings row
        qtbot.waitUntil(lambda: any("Settings" in t for t in pane.highlighted()), timeout=20000)
        assert "Set-VM -Name 'Lab-Client' -ProcessorCount 4" in pane.text.toPlainText()
        vm = window.selected_vm()
        assert vm is not None and vm.name == "Lab-Client"
        assert window.selected_tree_object() is not None  # Now, in the tree
        # The inspector on the VM's own XML, on its Diff tab (against its checkpoint).
        qtbot.waitUntil(lambda: pane.inspector is not None, timeout=10000)
        inspector = pane.inspector
        qtbot.waitUntil(lambda: (v := inspector.view_of(vm.config_path)) is not None
                        and hasattr(v, "tabs") and v.tabs.tabText(v.tabs.currentIndex())
                        == "Diff", timeout=20000)


def test_a_step_waits_for_the_inspector_s_listing_however_long_it_takes(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any
) -> None:
    """The inspector lists a host's files off the GUI thread (a round trip per file on a real
    host): the step's file and tab are shown when it says it has listed them, however long
    that takes; nothing is polled meanwhile."""
    import threading

    from PySide6.QtCore import QTimer

    from hvgui.ui import lessons_pane
    from hvgui.ui.inspector import window as inspector_window

    release = threading.Event()
    real = inspector_window.checkpoint_files

    def slow_listing(*args: Any) -> Any:
        release.wait(60)  # as long as the test holds it
        return real(*args)

    timers: list[object] = []  # the object each of the pane's timers is bound to

    class CountingTimer(QTimer):
        @staticmethod
        def singleShot(msec: int, *args: Any) -> None:
            timers.append(args[0] if len(args) > 1 else None)
            QTimer.singleShot(msec, *args)

    with started(qtbot, window, "not-a-backup") as pane:
        monkeypatch.setattr(inspector_window, "checkpoint_files", slow_listing)
        monkeypatch.setattr(lessons_pane, "QTimer", CountingTimer)
        pane.next_button.click()  # 1: the inspector on Now's AVHDX, its Block map
        qtbot.waitUntil(lambda: pane.inspector is not None, timeout=10000)
        inspector = pane.inspector
        assert inspector is not None and inspector.listing == 1
        qtbot.wait(500)  # the listing still held: nothing selected, nothing polled
        assert inspector.file_model.rowCount() == 0 and inspector not in timers
        with qtbot.waitSignal(inspector.listed, timeout=20000):
            release.set()
        running = window.session.host.get_vm("Web01").hard_drives[0].path  # type: ignore[union-attr]
        qtbot.waitUntil(lambda: (v := inspector.view_of(running)) is not None
                        and hasattr(v, "tabs") and v.tabs.tabText(v.tabs.currentIndex())
                        == "Block map", timeout=20000)
        assert inspector.file_table.currentIndex().row() == next(
            i for i, f in enumerate(inspector.file_model.files()) if f.path == running)
        assert inspector not in timers  # no poll of the inspector (only the step's highlight)
    release.set()
    assert answers.errors == []


def test_a_lesson_s_lab_goes_when_another_starts_and_when_the_window_closes(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the labs' fresh folders: here
    theirs = tmp_path / "hvgui-lesson-not-a-backup-theirs"  # not made by the window: kept
    theirs.mkdir()
    window.show_lessons()
    pane = window.lessons
    with watching(str(tmp_path.resolve())) as fs:
        pane.choose("not-a-backup")
        pane.start_button.click()
        qtbot.waitUntil(lambda: pane.step == 0 and pane.next_button.isEnabled(), timeout=60000)
        first = window.navigation.current_host()
        pane.choose("settings-go-to-vm-files")
        pane.start_button.click()
        qtbot.waitUntil(lambda: pane.step == 0 and pane.next_button.isEnabled()
                        and not window.runner.busy, timeout=60000)
        second = window.navigation.current_host()
    assert fs.on_gui_thread() == []  # made and deleted on workers
    assert first.startswith(str(tmp_path)) and first != second
    assert not Path(first).parent.exists()  # its lab's folder, deleted
    assert first not in window.navigation.hosts() and first not in window.sessions
    assert second in window.navigation.hosts() and Path(second).is_dir()
    assert len(window.navigation.hosts()) == 2  # the window's own host and the second lab
    window.close()
    assert not Path(second).parent.exists()  # gone with the window
    assert theirs.is_dir()
    assert not [p for p in tmp_path.glob("hvgui-lesson-*") if p != theirs]


def test_the_next_lesson_waits_for_an_operation_on_the_last_one_s_lab(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any
) -> None:
    """Starting a lesson deletes the last one's lab: never while the window runs an operation
    on it (its files would go from under it)."""
    with started(qtbot, window, "not-a-backup") as pane:
        assert window.session is not None
        lab = window.navigation.current_host()
        monkeypatch.setattr(window.session, "is_busy", lambda vm_id=None: True)
        pane.choose("settings-go-to-vm-files")
        pane.start_button.click()
        assert answers.informed == ["An operation is running on the lesson's lab: wait for it "
                                    "to end (or cancel it), then start the next lesson."]
        assert lab in window.navigation.hosts() and Path(lab).is_dir()
        assert pane.lesson is not None and pane.lesson.name == "not-a-backup"
        monkeypatch.undo()


def test_closing_the_lessons_pane_ends_the_lesson_and_removes_its_lab(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with started(qtbot, window, "not-a-backup") as pane:
        lab = window.navigation.current_host()
        assert lab.startswith(str(tmp_path))
        window.lessons_dock.close()  # the pane's close button
        qtbot.waitUntil(lambda: not window.runner.busy, timeout=10000)
        assert lab not in window.navigation.hosts() and not Path(lab).parent.exists()
        assert window.session is not None and window.session.host.root != Path(lab)
        assert pane.step == -1 and not pane.next_button.isEnabled()
        assert pane.title.text().startswith("Choose a lesson")
        window.show_lessons()  # a lesson can be started again
        assert pane.start_button.isEnabled()
