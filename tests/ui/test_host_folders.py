"""The window and folders that are not lab hosts: a mistyped --host or HVGUI_HOST is an error
and creates nothing; an empty folder becomes a host only when the user says yes; File > New
Host... makes one; the first start still builds the demo lab in the app's own folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from hvgui import app
from hvgui.host import Host
from hvgui.ui.main_window import MainWindow
from hvgui.ui.new_host_dialog import NewHostDialog
from tests.ui.fs_watch import watching
from tests.ui.helpers import Answers, wait_opened


@pytest.fixture
def started(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MainWindow]]:
    """Windows app.main() made, closed at the end."""
    monkeypatch.delenv("HVGUI_HOST", raising=False)
    made: list[MainWindow] = []
    yield made
    for win in made:
        win.close()


def _remember(*folders: str) -> None:
    """The hosts open when the app last closed, in the user's settings."""
    settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "hvgui", "hvgui")
    settings.setValue("hosts/open", list(folders))
    settings.sync()


def _start(qtbot: Any, started: list[MainWindow], *argv: str) -> MainWindow:
    assert app.main(list(argv)) == 0
    win = app.windows.pop()
    assert isinstance(win, MainWindow)
    qtbot.addWidget(win)
    started.append(win)
    wait_opened(qtbot, win)
    return win


def test_a_mistyped_host_is_an_error_and_creates_nothing(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers
) -> None:
    typo = tmp_path / "lab-typo"
    win = _start(qtbot, started, "--host", str(typo))
    assert win.sessions == {}
    assert len(answers.errors) == 1
    assert "no such folder" in str(answers.errors[0]) and "New Host" in str(answers.errors[0])
    assert not typo.exists()
    answers.errors.clear()


def test_hvgui_host_naming_a_missing_folder_builds_no_demo_there(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "typo"
    monkeypatch.setenv("HVGUI_HOST", str(typo))
    win = _start(qtbot, started)
    qtbot.wait(200)  # a demo build would have started by now
    assert win.sessions == {} and not win.runner.busy
    assert "no such folder" in str(answers.errors.pop())
    assert not typo.exists()


@pytest.mark.parametrize("yes", [False, True])
def test_an_empty_folder_becomes_a_host_only_when_the_user_says_yes(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers, yes: bool
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    answers.confirm = yes
    win = _start(qtbot, started, "--host", str(empty))
    assert answers.asked == [("confirm", "New Host")]
    if yes:
        assert win.session is not None and win.session.host.root == empty.resolve()
        assert (empty / "Virtual Machines").is_dir()
    else:
        assert win.sessions == {} and list(empty.iterdir()) == []
    assert answers.errors == []


def test_connect_to_host_asks_before_making_an_empty_folder_a_host(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    answers.directory, answers.confirm = empty, False
    with qtbot.waitSignal(window.host_opened, timeout=20000):  # looked at on a worker
        window.acts.connect_host.trigger()
    assert answers.asked[-1] == ("confirm", "New Host")
    assert list(empty.iterdir()) == [] and len(window.sessions) == 1


def test_file_new_host_makes_and_opens_a_new_host(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    menu = window.menuBar().actions()[0].menu()
    assert "Ne&w Host..." in [a.text() for a in menu.actions()]
    answers.directory = tmp_path / "fresh"
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(
        lambda cls, parent: None if answers.directory is None else (
            answers.directory, "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V")))
    window.acts.new_host.trigger()
    qtbot.waitUntil(lambda: len(window.sessions) == 2, timeout=10000)  # made on a worker
    assert window.session is not None and window.session.host.root == (tmp_path / "fresh").resolve()
    assert window.session.vm_model.rowCount() == 0
    assert len(window.sessions) == 2
    # A folder of someone's files never becomes a host, even through New Host...
    mine = tmp_path / "Documents"
    mine.mkdir()
    (mine / "thesis.odt").write_text("mine")
    answers.directory = mine
    window.acts.new_host.trigger()
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=10000)
    assert "not a lab host" in str(answers.errors.pop())
    assert [p.name for p in mine.iterdir()] == ["thesis.odt"]


def test_remembered_host_emptied_since_is_not_remade_silently(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers
) -> None:
    lab = Host.new(tmp_path / "lab").root
    _remember(str(lab))
    for child in sorted(lab.rglob("*"), reverse=True):  # its folders and .hvgui's files
        child.unlink() if child.is_file() else child.rmdir()
    answers.confirm = False
    win = _start(qtbot, started)
    assert answers.asked == [("confirm", "New Host")] and win.sessions == {}
    assert list(lab.iterdir()) == []


def test_remembered_hosts_are_looked_at_on_workers_and_one_gone_is_not_reopened(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers
) -> None:
    lab = Host.new(tmp_path / "lab").root
    gone = tmp_path / "gone"
    _remember(str(lab), str(gone))
    with watching(str(tmp_path.resolve())) as fs:
        win = _start(qtbot, started)
        on_gui = fs.on_gui_thread()
    assert on_gui == []
    assert list(win.sessions) == [str(lab)] and answers.errors == []
    assert win.statusBar().currentMessage() == (
        f"{gone}: open last time, no longer there: not reopened")
    assert not gone.exists()
    win.resize(1000, 600)
    win.grab().save(str(tmp_path / "gone.png"))


def test_every_remembered_host_gone_starts_as_a_first_start_does(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import hvgui.host

    default = tmp_path / "default"
    monkeypatch.setattr(hvgui.host, "default_host_dir", lambda: default)
    _remember(str(tmp_path / "deleted"), str(tmp_path / "moved"))
    with watching(str(tmp_path.resolve())) as fs:
        win = _start(qtbot, started)
        qtbot.waitUntil(lambda: win.session is not None, timeout=120000)
        on_gui = fs.on_gui_thread()
    assert on_gui == []
    assert list(win.sessions) == [str(default)] and answers.errors == []
    names = {vm.name for vm in win.session.vm_model.vms()}  # the demo lab, built there
    assert {"Web01", "Lab-Client", "SAN-Server", "Archive01"} <= names
    assert not (tmp_path / "deleted").exists() and not (tmp_path / "moved").exists()
    assert win.navigation.hosts() == [str(default)]
    win.resize(1000, 600)
    win.grab().save(str(tmp_path / "all-gone.png"))


def test_remembered_hosts_all_gone_open_the_default_host_as_it_is(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import hvgui.host

    default = Host.new(tmp_path / "default").root
    monkeypatch.setattr(hvgui.host, "default_host_dir", lambda: default)
    _remember(str(tmp_path / "deleted"))
    win = _start(qtbot, started)
    qtbot.waitUntil(lambda: win.session is not None, timeout=20000)
    assert list(win.sessions) == [str(default)] and answers.errors == []
    assert win.session is not None and win.session.vm_model.rowCount() == 0  # no demo built
    assert win.statusBar().currentMessage() == (
        f"{tmp_path / 'deleted'}: open last time, no longer there: not reopened")


def test_the_default_host_is_looked_at_on_a_worker_and_opened_when_it_is_one(
    qtbot: Any, tmp_path: Path, started: list[MainWindow], answers: Answers,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import hvgui.host

    default = Host.new(tmp_path / "default").root
    monkeypatch.setattr(hvgui.host, "default_host_dir", lambda: default)
    with watching(str(tmp_path.resolve())) as fs:
        win = _start(qtbot, started)
        qtbot.waitUntil(lambda: win.session is not None, timeout=20000)
        on_gui = fs.on_gui_thread()
    assert on_gui == []
    assert list(win.sessions) == [str(default)] and answers.errors == []
    assert win.session is not None and win.session.vm_model.rowCount() == 0  # no demo built
