"""A closed window gives its memory back: opening and closing the main window on a host, the
inspector or a VM's Settings again and again in one process leaves none of the closed ones (nor
their hosts, reads and models) alive."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QApplication, QWidget

from hvgui.ui.main_window import MainWindow
from hvgui.ui.vm_dialogs import SettingsDialog
from tests.ui.helpers import Answers, checkpoint_index, open_and_wait, vm_index, wait_idle

ROUNDS = 5


def _collect() -> None:
    """What a running app does between two user actions: deferred deletes, then a collection."""
    QCoreApplication.sendPostedEvents(None, int(QEvent.Type.DeferredDelete))
    gc.collect()


def _new_window() -> MainWindow:
    return MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                "hvgui-tests", "hvgui"))


def test_a_closed_main_window_leaves_no_window_session_or_host_alive(
    qtbot: Any, host_dir: Path, answers: Answers
) -> None:
    alive: weakref.WeakSet[object] = weakref.WeakSet()
    for _ in range(ROUNDS):
        win = _new_window()
        session = open_and_wait(qtbot, win, host_dir)
        alive.update((win, session, session.host, session.vm_model, session.checkpoint_model))
        win.show()
        qtbot.waitExposed(win)
        wait_idle(qtbot, win)
        win.close()
        assert not win.isVisible()
        win.deleteLater()
        del win, session
        _collect()
        assert len(alive) == 0, sorted(type(o).__name__ for o in alive)
    assert answers.errors == []


def _wait_and_close(qtbot: Any, inspector: Any) -> None:
    qtbot.waitUntil(lambda: not inspector.runner.busy, timeout=20000)
    inspector.close()


def test_a_closed_inspector_is_freed(qtbot: Any, window: MainWindow) -> None:
    alive: weakref.WeakSet[QWidget] = weakref.WeakSet()
    for _ in range(ROUNDS):
        window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
        before = set(QApplication.topLevelWidgets())
        window.acts.cp_inspect.trigger()
        opened = [w for w in QApplication.topLevelWidgets() if w not in before]
        inspectors = [w for w in opened if type(w).__name__ == "InspectorWindow"]
        assert len(inspectors) == 1
        _wait_and_close(qtbot, inspectors.pop())
        alive.update(opened)
        del opened
        _collect()
        assert len(alive) == 0


def test_a_cancelled_or_applied_settings_dialog_is_freed(qtbot: Any, window: MainWindow) -> None:
    alive: weakref.WeakSet[QWidget] = weakref.WeakSet()
    for round_ in range(ROUNDS):
        window.vm_view.selectRow(vm_index(window, "Beta").row())
        window.acts.vm_settings.trigger()
        dialogs = [d for d in window.windows.dialogs if isinstance(d, SettingsDialog)]
        assert len(dialogs) == 1 and dialogs[0].isVisible()
        alive.update(dialogs)
        if round_ % 2:
            dialogs.pop().reject()
        else:
            dialogs.pop()._accept()  # OK with nothing changed
        _collect()
        assert len(alive) == 0
