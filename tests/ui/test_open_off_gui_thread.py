"""A local host opens on a worker: the GUI thread opens no file of it, the tree shows it
"Loading..." meanwhile, and a late open never lands in the wrong place."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from hvgui.backend import HostBackend, HostError
from hvgui.ui import main_window
from hvgui.ui.main_window import MainWindow
from tests.ui.conftest import build_small_host
from tests.ui.helpers import Answers, open_and_wait

# File-system events Python reports (sys.audit): each file opened, each folder listed.
_FS_EVENTS = {"open", "os.scandir", "os.listdir", "os.mkdir", "os.rename", "os.remove"}
_watching: list[tuple[str, list[tuple[bool, str]]]] = []  # (folder, what was done in it)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watching or event not in _FS_EVENTS or not args:
        return
    path = args[0]
    if isinstance(path, bytes | str | os.PathLike):
        folder, seen = _watching[-1]
        if os.fsdecode(path).startswith(folder):
            seen.append((threading.current_thread() is threading.main_thread(),
                         f"{event} {os.fsdecode(path)}"))


sys.addaudithook(_audit)  # hooks stay for the process: it does nothing unless watching


@pytest.fixture
def fs_work(host_dir: Path) -> Iterator[list[tuple[bool, str]]]:
    """(on the GUI thread?, what) of each file opened or folder listed in the host folder."""
    seen: list[tuple[bool, str]] = []
    _watching.append((str(host_dir.resolve()), seen))
    yield seen
    _watching.clear()


def _new_window(qtbot: Any) -> MainWindow:
    win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               "hvgui-tests", "open"))
    qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    return win


def _held_open(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold each open on its worker until the event is set (the Loading state stays)."""
    go = threading.Event()
    real: Callable[..., HostBackend] = main_window.open_backend

    def open_backend(location: Any, **kwargs: Any) -> HostBackend:
        assert go.wait(30), "the test never let the open go"
        return real(location, **kwargs)

    monkeypatch.setattr(main_window, "open_backend", open_backend)
    return go


def test_opening_a_host_opens_no_file_on_the_gui_thread(
    qtbot: Any, host_dir: Path, answers: Answers, fs_work: list[tuple[bool, str]]
) -> None:
    win = _new_window(qtbot)
    session = open_and_wait(qtbot, win, host_dir)
    assert {vm.name for vm in session.vm_model.vms()} == {"Alpha", "Beta"}
    assert [what for on_gui, what in fs_work if on_gui] == []
    assert [what for on_gui, what in fs_work if not on_gui]  # the watch sees the open
    win.close()
    assert answers.errors == []


def test_the_tree_shows_a_host_loading_until_its_vms_are_read(
    qtbot: Any, host_dir: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    go = _held_open(monkeypatch)
    win = _new_window(qtbot)
    key = win.open_host(host_dir)
    item = win.navigation.currentItem()
    assert item is not None and item.text(0) == "host (Loading...)"
    assert win.loading.isVisible() and win.loading.text() == "Loading host..."
    assert win.session is None and win.vm_view.model() is None
    assert not win.acts.new_vm.isEnabled() and not win.acts.check_host.isEnabled()
    win.grab().save(str(tmp_path / "loading.png"))
    with qtbot.waitSignal(win.host_opened, timeout=20000):
        go.set()
    assert win.sessions[key] is win.session and item.text(0) == "host"
    assert not win.loading.isVisible()
    assert win.vm_view.model().rowCount() == 2
    win.close()
    assert answers.errors == []


def test_a_folder_that_is_not_a_host_says_so_in_one_line(
    qtbot: Any, answers: Answers, tmp_path: Path
) -> None:
    mine = tmp_path / "Documents"
    mine.mkdir()
    (mine / "thesis.odt").write_text("mine")
    win = _new_window(qtbot)
    with qtbot.waitSignal(win.host_opened, timeout=20000):
        win.open_host(mine)
    [error] = answers.errors
    assert isinstance(error, HostError) and "thesis" not in str(error)
    assert str(mine.resolve()) in str(error) and "\n" not in str(error)
    assert win.navigation.hosts() == [] and win.sessions == {}
    assert not win.loading.isVisible() and win.session is None
    answers.errors.clear()
    win.close()
    assert [p.name for p in mine.iterdir()] == ["thesis.odt"]


def test_a_host_opening_meanwhile_does_not_take_the_one_looked_at(
    qtbot: Any, host_dir: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    other = build_small_host(tmp_path / "other")  # opened already: not held
    other.rename_vm("Beta", "Gamma")
    go = _held_open(monkeypatch)
    win = _new_window(qtbot)
    slow = win.open_host(host_dir)
    fast = open_and_wait(qtbot, win, other.root, other)  # the user went on to another host
    assert win.session is fast and slow in win.opening
    with qtbot.waitSignal(win.host_opened, timeout=20000) as opened:
        go.set()
    assert opened.args == [slow] and slow in win.sessions
    assert win.session is fast and win.navigation.current_host() != slow
    assert {vm.name for vm in win.session.vm_model.vms()} == {"Alpha", "Gamma"}
    win.navigation.select_host(slow)
    assert win.session is win.sessions[slow]
    assert {vm.name for vm in win.session.vm_model.vms()} == {"Alpha", "Beta"}
    win.close()
    assert answers.errors == []


def test_closing_the_window_while_a_host_opens_drops_the_late_result(
    qtbot: Any, host_dir: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = _held_open(monkeypatch)
    win = _new_window(qtbot)
    win.open_host(host_dir)
    assert win.runner.operations() == []  # nothing to ask about on close
    go.set()
    assert win.runner.wait(20000)  # opened on the worker; its result not delivered yet
    assert win.close()
    assert win.sessions == {} and answers.errors == []
