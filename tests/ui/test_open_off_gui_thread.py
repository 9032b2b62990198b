"""A local host opens on a worker: the GUI thread opens no file of it, the tree shows it
"Loading..." meanwhile, and a late open never lands in the wrong place."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend import HostBackend, HostError
from hvgui.ui import openers
from tests.ui.conftest import build_small_host
from tests.ui.fs_watch import FsWatch, watching
from tests.ui.helpers import Answers, empty_window, open_and_wait


@pytest.fixture
def fs_work(host_dir: Path) -> Iterator[FsWatch]:
    """What the open does in the host folder, and on which thread."""
    with watching(str(host_dir.resolve())) as watch:
        yield watch


def _held_open(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold each open on its worker until the event is set (the Loading state stays)."""
    go = threading.Event()
    real: Callable[..., HostBackend] = openers.lab_host_in

    def lab_host_in(folder: Any, **kwargs: Any) -> HostBackend:
        assert go.wait(30), "the test never let the open go"
        return real(folder, **kwargs)

    monkeypatch.setattr(openers, "lab_host_in", lab_host_in)
    return go


def test_opening_a_host_opens_no_file_on_the_gui_thread(
    qtbot: Any, host_dir: Path, answers: Answers, fs_work: FsWatch
) -> None:
    win = empty_window(qtbot)
    session = open_and_wait(qtbot, win, host_dir)
    assert fs_work.on_gui_thread() == []
    assert fs_work.on_workers()  # the watch sees the open
    assert {vm.name for vm in session.vm_model.vms()} == {"Alpha", "Beta"}
    win.close()
    assert answers.errors == []


def test_the_tree_shows_a_host_loading_until_its_vms_are_read(
    qtbot: Any, host_dir: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    go = _held_open(monkeypatch)
    win = empty_window(qtbot)
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
    win = empty_window(qtbot)
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
    win = empty_window(qtbot)
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
    win = empty_window(qtbot)
    win.open_host(host_dir)
    assert win.runner.operations() == []  # nothing to ask about on close
    go.set()
    assert win.runner.wait(20000)  # opened on the worker; its result not delivered yet
    assert win.close()
    assert win.sessions == {} and answers.errors == []


def _held(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> threading.Event:
    """Hold each call of module.name on its worker until the event is set."""
    go = threading.Event()
    real: Callable[..., Any] = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        assert threading.current_thread() is not threading.main_thread()
        assert go.wait(30), "the test never let it go"
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return go


def test_an_empty_folder_shows_loading_while_looked_at_and_while_made_a_host(
    qtbot: Any, answers: Answers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    looked, made = (_held(monkeypatch, openers, "folder_kind"),
                    _held(monkeypatch, openers, "new_lab_host"))
    asked: list[tuple[list[str], bool]] = []
    confirm = openers.ask.confirm

    def asking(*args: Any, **kwargs: Any) -> bool:  # what the window showed while it asked
        asked.append(([win.navigation.currentItem().text(0)] if win.navigation.hosts() else [],
                      win.loading.isVisible()))
        return confirm(*args, **kwargs)

    monkeypatch.setattr(openers.ask, "confirm", asking)
    win = empty_window(qtbot)
    answers.directory = empty
    win.acts.open_folder.trigger()
    item = win.navigation.currentItem()
    assert item is not None and item.text(0) == "empty (Loading...)"
    assert win.loading.isVisible() and win.loading.text() == "Loading empty..."
    win.grab().save(str(tmp_path / "looking.png"))
    looked.set()
    qtbot.waitUntil(lambda: asked != [], timeout=20000)
    assert asked == [([], False)]  # asked with nothing loading
    item = win.navigation.currentItem()
    assert item is not None and item.text(0) == "empty (Loading...)"  # being made
    assert win.loading.isVisible() and not (empty / "Virtual Machines").exists()
    with qtbot.waitSignal(win.host_opened, timeout=20000):
        made.set()
    assert win.session is not None and win.session.host.root == empty.resolve()
    assert item.text(0) == "empty" and not win.loading.isVisible()
    win.close()
    assert answers.errors == []


def test_new_host_shows_loading_while_it_is_made(
    qtbot: Any, answers: Answers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hvgui.ui.new_host_dialog import NewHostDialog

    made = _held(monkeypatch, openers, "new_lab_host")
    monkeypatch.setattr(NewHostDialog, "ask", classmethod(lambda cls, parent: (
        tmp_path / "fresh", "D:\\Hyper-V\\Lab")))
    win = empty_window(qtbot)
    win.acts.new_host.trigger()
    item = win.navigation.currentItem()
    assert item is not None and item.text(0) == "fresh (Loading...)"
    assert win.loading.isVisible() and win.loading.text() == "Loading fresh..."
    win.grab().save(str(tmp_path / "making.png"))
    with qtbot.waitSignal(win.host_opened, timeout=20000):
        made.set()
    assert item.text(0) == "fresh" and win.session is not None
    assert "stands for D:\\Hyper-V\\Lab" in item.toolTip(0)
    win.close()
    assert answers.errors == []


def test_two_spellings_of_one_folder_are_one_host_in_the_tree(
    qtbot: Any, host_dir: Path, answers: Answers, tmp_path: Path
) -> None:
    """A link to an open host's folder, or the folder spelled with `..`, is the entry open
    already (the link followed on the open's worker), never a second host in the tree."""
    link = tmp_path / "link-to-host"
    link.symlink_to(host_dir, target_is_directory=True)
    win = empty_window(qtbot)
    with watching(str(tmp_path.resolve())) as fs:
        first = open_and_wait(qtbot, win, host_dir)
        for spelling in (link, host_dir / ".." / host_dir.name, f"{link}/"):
            with qtbot.waitSignal(win.host_opened, timeout=20000):
                win.open_host(spelling)
            assert win.navigation.hosts() == [str(host_dir)] and list(win.sessions) == [
                str(host_dir)]
            assert win.session is first and win.navigation.current_host() == str(host_dir)
            assert not win.loading.isVisible() and not win.opening
        on_gui = fs.on_gui_thread()
    assert on_gui == []
    win.grab().save(str(tmp_path / "one-entry.png"))
    win.close()
    assert answers.errors == []


def test_a_link_opened_first_then_its_target_is_one_host(
    qtbot: Any, host_dir: Path, answers: Answers, tmp_path: Path
) -> None:
    link = tmp_path / "link-to-host"
    link.symlink_to(host_dir, target_is_directory=True)
    win = empty_window(qtbot)
    first = open_and_wait(qtbot, win, link)
    other = build_small_host(tmp_path / "other")
    open_and_wait(qtbot, win, other.root)  # the user went on to another host
    with qtbot.waitSignal(win.host_opened, timeout=20000):
        win.open_host(host_dir)
    assert win.navigation.hosts() == [str(link), str(other.root)]
    assert win.session is first  # the target's entry is the link's, shown
    assert {vm.name for vm in win.session.vm_model.vms()} == {"Alpha", "Beta"}
    win.close()
    assert answers.errors == []
