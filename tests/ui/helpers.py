"""Driving the main window the way a user does: right-click, pick a menu item, press a key."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QSettings, Qt
from PySide6.QtGui import QContextMenuEvent, QKeySequence, QShortcut
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLineEdit, QMenu, QWidget

from hvgui.backend import HostBackend, Snapshot
from hvgui.ui import ask
from hvgui.ui.main_window import MainWindow
from hvgui.ui.models import ObjectRole
from hvgui.ui.session import HostSession
from tests.hyperv.lab_transport import LabTransport


@dataclass
class Answers:
    """Scripted answers to the window's questions, and a record of what it asked."""

    apply: ask.ApplyChoice = ask.ApplyChoice.CANCEL
    confirm: bool = True
    text: str | None = None
    directory: Path | None = None
    file: Path | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    informed: list[str] = field(default_factory=list)
    deleted: list[tuple[str, bool]] = field(default_factory=list)
    findings: list[list[Any]] = field(default_factory=list)



def empty_window(qtbot: Any) -> MainWindow:
    """A main window with no host open (its own settings: none remembered), shown."""
    win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               "hvgui-tests", "open"))
    qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    return win


def open_and_wait(qtbot: Any, window: MainWindow, root: Path | str,
                  host: HostBackend | None = None) -> HostSession:
    """File > Open Folder... (or a host made elsewhere) and wait until it is open: a local
    host opens on a worker, its VMs read."""
    with qtbot.waitSignal(window.host_opened, timeout=20000) as opened:
        key = window.open_host(root, host)
    assert opened.args == [key] and key in window.sessions, "the host did not open"
    return window.sessions[key]


def wait_opened(qtbot: Any, window: MainWindow) -> None:
    """Wait until every host the window is opening (app.main's) is open or has failed."""
    qtbot.waitUntil(lambda: not window.opening, timeout=20000)


def press_refresh(window: QWidget) -> None:
    """F5, as Qt delivers it to a window's Refresh shortcut. (A key event reaches a window
    shortcut only while its window is the active one, which other tests' windows in this
    offscreen session may take at any moment.)"""
    [f5] = [s for s in window.findChildren(QShortcut)
            if s.key() == QKeySequence(QKeySequence.StandardKey.Refresh)]
    assert f5.key().toString() == "F5" and f5.isEnabled()
    f5.activated.emit()


class GuiThreadWatch(LabTransport):
    """A lab transport noting each script run on the GUI thread: a real host answers over the
    network (hundreds of milliseconds a call), so the window must never ask it from there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_gui_thread: list[str] = []
        self.calls = 0

    def run(self, script: str, parameters: Any) -> Any:
        self.calls += 1
        if threading.current_thread() is threading.main_thread():
            self.on_gui_thread.append(script)
        return super().run(script, parameters)


PERCENT = re.compile(r"^(?P<phase>.+) \((?P<pct>\d{1,3})%\)$")


def vm_index(window: MainWindow, name: str, column: int = 0) -> QModelIndex:
    model = window.vm_view.model()
    for row in range(model.rowCount()):
        index = model.index(row, column)
        if model.index(row, 0).data() == name:
            return index
    raise AssertionError(f"no VM named {name!r} in the list")


def status_text(window: MainWindow, name: str) -> str:
    return str(vm_index(window, name, 5).data() or "")


def checkpoint_index(window: MainWindow, name: str) -> QModelIndex:
    model = window.checkpoint_view.model()
    pending = [QModelIndex()]
    while pending:
        parent = pending.pop()
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            if index.data() == name:
                return index
            pending.append(index)
    raise AssertionError(f"no checkpoint named {name!r} in the tree")


def tree_names(window: MainWindow) -> dict[str, str | None]:
    """Every tree item's text -> its parent's text (None at the top)."""
    model = window.checkpoint_view.model()
    out: dict[str, str | None] = {}
    pending = [QModelIndex()]
    while pending:
        parent = pending.pop()
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            out[str(index.data())] = str(parent.data()) if parent.isValid() else None
            pending.append(index)
    return out


def _context_menu(view: QAbstractItemView, index: QModelIndex) -> None:
    view.scrollTo(index)
    pos = view.visualRect(index).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)


def right_click_vm(window: MainWindow, name: str) -> QMenu:
    _context_menu(window.vm_view, vm_index(window, name))
    assert window.last_menu is not None and window.last_menu.objectName() == "vmContextMenu"
    return window.last_menu


def right_click_checkpoint(window: MainWindow, name: str) -> QMenu:
    _context_menu(window.checkpoint_view, checkpoint_index(window, name))
    assert window.last_menu is not None
    assert window.last_menu.objectName() == "checkpointContextMenu"
    return window.last_menu


def menu_texts(menu: QMenu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def choose(qtbot: Any, menu: QMenu, text: str) -> None:
    """Click the menu item whose text (without accelerators) is `text`."""
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            qtbot.waitExposed(menu)
            center: QPoint = menu.actionGeometry(action).center()
            QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=center)
            return
    raise AssertionError(f"{text!r} is not in the menu: {menu_texts(menu)}")


def type_in_place(qtbot: Any, view: QAbstractItemView, text: str) -> None:
    """Replace the text of the in-place editor the view opened, and press Enter."""
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=2000)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and view.isAncestorOf(editor)
    editor.selectAll()
    if text:
        QTest.keyClicks(editor, text)
    else:
        QTest.keyClick(editor, Qt.Key.Key_Backspace)
    QTest.keyClick(editor, Qt.Key.Key_Return)


def selected_snapshot(window: MainWindow) -> Snapshot | None:
    obj = window.checkpoint_view.currentIndex().data(ObjectRole)
    return obj if isinstance(obj, Snapshot) else None


def wait_idle(qtbot: Any, window: MainWindow, timeout: int = 20000) -> None:
    """Wait until no operation runs and the models show the host as it is on disk."""
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: not session.is_busy() and not window.runner.busy, timeout=timeout)
    with qtbot.waitSignal(session.refreshed, timeout=timeout):
        session.refresh()
    QApplication.processEvents()  # the details and actions follow a read one pass later


class StatusRecorder:
    """Every Status text the VM list showed for one VM, captured as the model announced it."""

    def __init__(self, window: MainWindow, name: str) -> None:
        self.window, self.name, self.texts = window, name, []
        model = window.vm_view.model()
        model.dataChanged.connect(self._changed)

    def _changed(self, *_args: object) -> None:
        try:
            text = status_text(self.window, self.name)
        except AssertionError:
            return
        if text and (not self.texts or self.texts[-1] != text):
            self.texts.append(text)

    def percents(self, phase: str) -> list[int]:
        out = []
        for text in self.texts:
            match = PERCENT.match(text)
            if match and match["phase"] == phase:
                out.append(int(match["pct"]))
        return out


def visible_console() -> Any:
    """The one console window shown."""
    from hvgui.ui.console import ConsoleWindow

    consoles = [w for w in QApplication.topLevelWidgets()
                if isinstance(w, ConsoleWindow) and w.isVisible()]
    assert len(consoles) == 1
    return consoles[0]


def open_console(qtbot: Any, window: MainWindow, name: str) -> Any:
    """Connect... on VM `name`, once its guest files show."""
    choose(qtbot, right_click_vm(window, name), "Connect...")
    console = visible_console()
    qtbot.waitUntil(lambda: console.files.topLevelItemCount() > 0, timeout=5000)
    return console
