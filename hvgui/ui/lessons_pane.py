"""The Lessons pane: every note of the checkpoint article taught in the window.

It lists the lessons (`hvgui.teaching.lessons`, the same data `hvctl demo run` uses). Choosing one
builds its demo lab in a fresh folder in the background, opens it, and walks through the steps:
each says what to do or what is about to happen; Next runs the step's operation on a pool
thread, then shows what to look at (the VM and checkpoint selected in the tree, the rows of
What happened highlighted, the inspector opened on the file and tab). The last step states the
lesson in the article's words.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, SignalInstance
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from hvgui.backend import HostBackend
from hvgui.host import Host
from hvgui.progress import CancelToken, Progress
from hvgui.teaching.lessons import LESSONS, NOW, Lesson, Look, Story, look_file, prepare_lab
from hvgui.ui import ask
from hvgui.ui.session import HostSession
from hvgui.ui.what_happened import WhatHappenedPanel
from hvgui.ui.workers import Op, Runner

if TYPE_CHECKING:
    from hvgui.ui.inspector import InspectorWindow


class LessonWindow(Protocol):
    """What the pane drives: the main window (which owns the pane, so never imported here)."""

    runner: Runner
    session: HostSession | None
    sessions: dict[str, HostSession]
    what_happened: WhatHappenedPanel
    vm_view: QTableView

    host_opened: SignalInstance

    def open_host(self, root: Path | str, host: HostBackend | None = None) -> str: ...
    def select_checkpoint(self, ident: str) -> bool: ...
    def inspect(self) -> InspectorWindow | None: ...
    def close_host(self, key: str) -> None: ...

_NAME_ROLE = Qt.ItemDataRole.UserRole + 1
_CHOOSE = ("Choose a lesson: each builds a fresh demo lab and walks through one note of the "
           "checkpoint article.")
HIGHLIGHT = QColor("#fff2a8")  # What happened rows a step points at


def lesson_label(lesson: Lesson) -> str:
    return f"Note {lesson.note}: {lesson.title}"


class LessonsPane(QWidget):
    """The lessons and, once one is chosen, its steps one Next at a time."""

    def __init__(self, window: LessonWindow) -> None:
        super().__init__()  # the dock that shows it becomes its parent
        self.main = window
        # A tree item to select once a read shows it (a step's new checkpoint), and where.
        self._wanted: tuple[HostSession, str] | None = None
        self.setObjectName("lessonsPane")
        self.setMinimumWidth(360)
        self.lesson: Lesson | None = None
        self.step = -1  # the step shown (its text); -1: none yet
        self.host: Host | None = None
        self.story: Story | None = None
        self._lab_key = ""  # the key of the lesson's lab in the main window
        self._lab_folder: Path | None = None  # the folder start made for it (deleted after)
        self.inspector: InspectorWindow | None = None  # the inspector window a step opened
        self._wanted_file: tuple[Look, Path] | None = None  # to select once it is listed
        self._wanted_tab: tuple[Path, str] | None = None  # to show once its view is in place
        self._busy = False
        layout = QVBoxLayout(self)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Lessons")
        self.list.setWordWrap(True)
        for lesson in LESSONS.values():
            item = QListWidgetItem(lesson_label(lesson), self.list)
            item.setData(_NAME_ROLE, lesson.name)
            item.setToolTip(f"{lesson.name}: {lesson.lesson}")
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.start())
        layout.addWidget(self.list, 2)
        self.title = QLabel(self)
        self.title.setObjectName("paneHeader")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.verdict = QLabel(self)  # the lesson, stated once its last step is done
        self.verdict.setObjectName("lessonVerdict")
        self.verdict.setWordWrap(True)
        self.verdict.setStyleSheet("background:#e6f4ea; padding:6px; font-weight:bold")
        self.verdict.hide()
        layout.addWidget(self.verdict)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Lesson step")
        layout.addWidget(self.text, 3)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("&Start Lesson", self)
        self.start_button.clicked.connect(self.start)
        self.next_button = QPushButton("&Next", self)
        self.next_button.setEnabled(False)
        self.next_button.clicked.connect(self.next)
        buttons.addWidget(self.start_button)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)
        self.title.setText(_CHOOSE)

    # ------------------------------------------------------------------ starting
    def choose(self, name: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item is not None and item.data(_NAME_ROLE) == name:
                self.list.setCurrentRow(row)

    def start(self) -> None:
        """Build the chosen lesson's lab in a fresh folder (in the background), then open it."""
        item = self.list.currentItem()
        if item is None or self._busy:
            return
        lab = self.main.sessions.get(self._lab_key)
        if lab is not None and lab.is_busy():  # its folder goes: not under an operation
            ask.inform(self, "Start Lesson", "An operation is running on the lesson's lab: "
                       "wait for it to end (or cancel it), then start the next lesson.")
            return
        self.lesson = LESSONS[str(item.data(_NAME_ROLE))]
        self.step, self.story = -1, None
        self.verdict.hide()
        self.next_button.setText("&Next")
        self.discard_lab()  # the last lesson's lab goes: one lesson's lab at a time
        name = self.lesson.name
        self.title.setText(lesson_label(self.lesson))
        self.text.setPlainText("Building the demo lab in a fresh folder...")
        self._set_busy(True)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)

        def build(progress: Progress, cancel: CancelToken) -> tuple[Path, Host]:
            # Named after the lesson: the hosts tree tells one lesson's lab from another's.
            folder = Path(tempfile.mkdtemp(prefix=f"hvgui-lesson-{name}-"))
            try:
                return folder, prepare_lab(folder / f"lab-{name}", out=lambda _line: None,
                                           progress=progress, cancel=cancel)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise

        Op(self.main.runner, build, label="Building the lesson's lab").bound_to(
            self).on_progress(
            lambda fraction, _phase: self.progress.setValue(int(fraction * 100))).success(
            self._lab_ready).failure(self._failed).run_in_background()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The dock that shows the pane closed: the lesson is over (once nothing runs on its
        lab; else the next lesson or the window's closing removes it)."""
        if event.type() == QEvent.Type.Close and not self._busy:
            lab = self.main.sessions.get(self._lab_key)
            if lab is None or not lab.is_busy():
                self.discard_lab()
                self.lesson, self.step = None, -1
                self.verdict.hide()
                self.text.clear()
                self.title.setText(_CHOOSE)
                self._set_busy(False)
        return super().eventFilter(watched, event)

    def discard_lab(self) -> None:
        """The lesson is over (another starts, or the window closes): its lab leaves the hosts
        tree and the folder `start` made for it is deleted on a worker (never any other)."""
        key, folder = self._lab_key, self._lab_folder
        self._lab_key, self._lab_folder = "", None
        self.host = self.story = None
        self._wanted = self._wanted_file = self._wanted_tab = None
        if self.inspector is not None and isValid(self.inspector):
            self.inspector.close()
        self.inspector = None
        if key:
            self.main.close_host(key)
        if folder is not None:
            Op(self.main.runner, lambda _p, _c: shutil.rmtree(folder, ignore_errors=True),
               label="Removing the lesson's lab", quiet=True).run_in_background()

    def _lab_ready(self, built: tuple[Path, Host]) -> None:
        self._lab_folder, host = built
        self.host = host
        self.main.what_happened.elsewhere = "lesson step"  # what the steps do comes from the log
        self.story = Story(host, self._line)
        # The lab opens on a worker, as the window opens every lab folder (its operations in
        # child processes; the steps' own run here): the first step shows once its VMs are in.
        self.main.host_opened.connect(self._lab_opened)
        self._lab_key = self.main.open_host(host.location)

    def _lab_opened(self, key: str) -> None:
        if key != self._lab_key:
            return
        self.main.host_opened.disconnect(self._lab_opened)
        self._set_busy(False)
        self._show_step(0)

    # ------------------------------------------------------------------- walking
    def _show_step(self, number: int) -> None:
        lesson = self.lesson
        assert lesson is not None
        self.step = number
        step = lesson.steps[number]
        self.title.setText(f"{lesson_label(lesson)} — step {number + 1} of {len(lesson.steps)}")
        self.text.setPlainText(f"{step.say}\n\nPress Next to do it.")
        self.next_button.setEnabled(True)
        self._select(step.look)

    def next(self) -> None:
        """Run the shown step's operation (off the GUI thread), then show what to look at."""
        lesson, story = self.lesson, self.story
        if lesson is None or story is None or self._busy or self.step < 0:
            return
        if self.step >= len(lesson.steps):  # the lesson was stated: start again
            self.start()
            return
        step = lesson.steps[self.step]
        self._set_busy(True)
        self.progress.setRange(0, 0)  # a step is a few operations: no percentage
        self._lines: list[str] = []
        session = self.main.session
        before = self.main.what_happened.topLevelItemCount()
        act = step.act
        Op(self.main.runner, lambda _p, _c: act(story) if act else None,
           label=f"Lesson step {self.step + 1}").bound_to(self).success(
            lambda _result: self._step_done(before)).failure(self._failed).finally_(
            lambda: self._set_busy(False)).run_in_background()
        if session is not None:
            session.refresh()

    def _line(self, text: str) -> None:
        # ---- runs on the pool thread: only collects; the GUI thread shows them ----
        self._lines.append(text)

    def _step_done(self, before: int) -> None:
        lesson = self.lesson
        assert lesson is not None
        step = lesson.steps[self.step]
        shown = "\n".join(self._lines)
        self.text.setPlainText(f"{step.say}\n\n{shown}".rstrip())
        session = self.main.session
        if session is not None:
            # What the step did arrives from the event log with the next read: point at it.
            session.refresh()
            QTimer.singleShot(1500, self, lambda: self._highlight(step.look, before))
        self._select(step.look, inspect=True)
        if self.step + 1 < len(lesson.steps):
            self.step += 1
            upcoming = lesson.steps[self.step]
            self.title.setText(
                f"{lesson_label(lesson)} — step {self.step + 1} of {len(lesson.steps)}")
            self.text.appendPlainText(f"\nNext: {upcoming.say}")
        else:
            self.step = len(lesson.steps)
            self.title.setText(f"{lesson_label(lesson)} — done")
            self.text.appendPlainText(f"\nThe lesson: {lesson.lesson}")
            self.verdict.setText(f"The lesson: {lesson.lesson}")
            self.verdict.show()
            self.next_button.setText("&Again")

    # ------------------------------------------------------------ looking at things
    def _select(self, look: Look, *, inspect: bool = False) -> None:
        window, session = self.main, self.main.session
        if session is None or not look.vm:
            return
        vm = next((v for v in session.vm_model.vms() if v.name == look.vm), None)
        if vm is None:
            return
        row = session.vm_model.row_of(vm.id)
        if row is not None:
            window.vm_view.selectRow(row)
        session.select_vm(vm.id)
        if look.checkpoint:
            ident = f"now:{vm.id}" if look.checkpoint == NOW else next(
                (s.id for s in session.checkpoint_model.snapshots() if s.name == look.checkpoint),
                "")
            if not window.select_checkpoint(ident):
                # the step's operation ran outside this window: its checkpoint shows with
                # the session's next read
                if self._wanted is None:
                    session.refreshed.connect(self._select_wanted)
                elif self._wanted[0] is not session:
                    self._wanted[0].refreshed.disconnect(self._select_wanted)
                    session.refreshed.connect(self._select_wanted)
                self._wanted = (session, ident)
        if inspect and look.file:
            self._inspect(look)

    def _select_wanted(self) -> None:
        if self._wanted is None:
            return
        session, ident = self._wanted
        if session is not self.main.session or self.main.select_checkpoint(ident):
            self._wanted = None
            session.refreshed.disconnect(self._select_wanted)

    def _inspect(self, look: Look) -> None:
        """The inspector on the step's file and tab (the path is found off the GUI thread)."""
        host = self.host
        if host is None:
            return
        Op(self.main.runner, lambda _p, _c: look_file(host, look),
           label="Lesson file").bound_to(self).success(
            lambda path: self._open_inspector(look, path)).failure(
            lambda _exc: None).run_in_background()

    def _open_inspector(self, look: Look, path: Path | None) -> None:
        if path is None or self.main.session is None:
            return
        if self.inspector is not None and isValid(self.inspector):  # the user may have closed it
            self.inspector.close()
        self.inspector = self.main.inspect()
        inspector = self.inspector
        if inspector is None:
            return
        # The inspector lists the host's files off the GUI thread: select the step's file
        # when it says they are listed, then show its tab when its view is in place.
        self._wanted_file = (look, path)
        inspector.listed.connect(self._select_file)
        inspector.view_ready.connect(self._open_tab)
        if not inspector.listing:
            self._select_file()

    def _select_file(self) -> None:
        inspector, wanted = self.inspector, self._wanted_file
        if inspector is None or wanted is None or not isValid(inspector):
            return
        self._wanted_file = None
        look, path = wanted
        files = inspector.file_model.files()
        row = next((i for i, f in enumerate(files) if Path(f.path) == path), None)
        if row is None:
            return
        self._wanted_tab = (path, look.tab) if look.tab else None
        inspector.file_table.selectRow(row)
        self._open_tab(path)  # decoded already (selected before)

    def _open_tab(self, path: Path) -> None:
        """Once the file's view is in place, show the step's tab (the block map, the diff)."""
        inspector, wanted = self.inspector, self._wanted_tab
        if inspector is None or wanted is None or wanted[0] != path or not isValid(inspector):
            return
        tabs = getattr(inspector.view_of(path), "tabs", None)
        if tabs is None:
            return  # still being read: view_ready comes when it is in place
        self._wanted_tab = None
        for i in range(tabs.count()):
            if tabs.tabText(i).replace("&", "").startswith(wanted[1]):
                tabs.setCurrentIndex(i)
                return

    def _highlight(self, look: Look, before: int) -> None:
        """Mark What happened's rows of this step's operations (the newest ones)."""
        panel = self.main.what_happened
        fresh = panel.topLevelItemCount() - before
        for i in range(max(fresh, 0)):
            item = panel.topLevelItem(i)
            if item is None:
                continue
            hit = any(f"  {op}  " in item.text(0) for op in look.operations)
            for column in range(panel.columnCount()):
                item.setBackground(column, QBrush(HIGHLIGHT) if hit else QBrush())
            if hit:
                item.setExpanded(True)
                panel.scrollToItem(item)

    def highlighted(self) -> list[str]:
        """What happened's rows this pane points at (for tests and screen readers)."""
        panel = self.main.what_happened
        items = (panel.topLevelItem(i) for i in range(panel.topLevelItemCount()))
        return [item.text(0) for item in items
                if item is not None and item.background(0).color() == HIGHLIGHT]

    # ------------------------------------------------------------------- state
    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        self.start_button.setEnabled(not busy)
        self.next_button.setEnabled(not busy and self.step >= 0)
        self.list.setEnabled(not busy)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        ask.show_error(self, "Lesson", exc)
