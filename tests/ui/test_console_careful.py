"""The console is as careful as the main window: Revert asks the same question first, its
toolbar follows the same allowed-actions rule (greyed while the VM is busy, the reason as its
tooltip), and a refusal says why."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hvgui.guest.guest import Guest
from hvgui.host import Host, InvalidStateError
from hvgui.ui.main_window import MainWindow
from hvgui.vhdx import VhdxError
from tests.ui.helpers import Answers, open_console, vm_index, wait_idle


def test_console_revert_asks_the_main_windows_question_first(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path
) -> None:
    console = open_console(qtbot, window, "Alpha")
    answers.confirm = False
    console.vm_actions["Revert"].trigger()
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Revert Virtual Machine")]
    hello = Guest(Host.open(host_dir), "Alpha").read_file("/hello.txt")
    assert hello == b"hello after the checkpoint\r\n"  # nothing discarded

    # The main window's Revert... asks exactly the same.
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_revert.trigger()
    assert answers.asked[-1] == ("confirm", "Revert Virtual Machine")

    answers.confirm = True
    console.vm_actions["Revert"].trigger()
    wait_idle(qtbot, window)
    hello = Guest(Host.open(host_dir), "Alpha").read_file("/hello.txt")
    assert hello == b"hello before the checkpoint\r\n"
    # What the console did is in the main window's What happened, like any operation.
    assert window.what_happened.operations()[0].endswith("Alpha")
    console.close()


def test_console_toolbar_greys_out_with_the_reason_while_the_vm_is_busy(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any, tmp_path: Path
) -> None:
    session = window.session
    assert session is not None
    console = open_console(qtbot, window, "Alpha")
    host: Any = session.host
    real_checkpoint = host.checkpoint_vm
    held, release = threading.Event(), threading.Event()

    def checkpoint_held(vm: str, **kwargs: Any) -> Any:
        held.set()
        release.wait(20)
        return real_checkpoint(vm, **kwargs)

    monkeypatch.setattr(host, "checkpoint_vm", checkpoint_held)
    assert console.vm_actions["Pause"].isEnabled()
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()  # from the main window
    try:
        qtbot.waitUntil(held.is_set, timeout=5000)
        actions = console.vm_actions
        qtbot.waitUntil(lambda: not any(a.isEnabled() for a in actions.values()), timeout=3000)
        for text, action in actions.items():
            assert "An operation is running on Alpha" in action.toolTip(), text
        # The main window greys the same actions with the same reason.
        assert not window.acts.vm_pause.isEnabled()
        assert window.acts.vm_pause.toolTip() == actions["Pause"].toolTip()
        console.grab().save(str(tmp_path / "console-busy.png"))
    finally:
        release.set()
    wait_idle(qtbot, window)
    assert console.vm_actions["Pause"].isEnabled()
    assert console.vm_actions["Pause"].toolTip() == "Pause"
    # A state it cannot reach says why, in the host's words.
    assert console.vm_actions["Start"].toolTip() == "Cannot start the VM: it is already running."
    console.close()


def test_a_refusal_in_the_console_says_why(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any
) -> None:
    session = window.session
    assert session is not None
    console = open_console(qtbot, window, "Alpha")

    def refused(vm: str, **_kwargs: Any) -> Any:
        raise InvalidStateError(vm, "cannot pause the VM: the lab said no")

    monkeypatch.setattr(session.host, "suspend_vm", refused)
    console.vm_actions["Pause"].trigger()
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=5000)
    assert "the lab said no" in str(answers.errors[0])
    answers.errors.clear()
    wait_idle(qtbot, window)
    console.close()


def test_a_disk_replaced_under_the_consoles_refresh_is_said_in_its_file_list(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any
) -> None:
    """An apply or revert replaces the running AVHDX; a refresh of the guest's files reading
    the old one meanwhile must not pop up an error: the list says so, the next one reads."""
    console = open_console(qtbot, window, "Alpha")
    real = Guest.note
    gone = VhdxError(Path("Alpha_old.avhdx"), "no such file")

    def replaced(self: Guest) -> str | None:
        raise gone

    monkeypatch.setattr(Guest, "note", replaced)
    console.reload()
    qtbot.waitUntil(lambda: "cannot be read now" in console.files.topLevelItem(0).text(0),
                    timeout=10000)
    assert answers.errors == []
    monkeypatch.setattr(Guest, "note", real)
    console.reload()
    qtbot.waitUntil(lambda: console.files.topLevelItem(0).text(0) == "hello.txt", timeout=10000)
    console.close()


def test_a_refresh_during_a_read_reads_again_after_it_and_its_result_stays(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: Any
) -> None:
    """One read of the guest's files at a time: a refresh asked for while one runs (here held
    back) reads again once it ends, and that newer result is what stays on screen."""
    console = open_console(qtbot, window, "Alpha")
    real = Guest.note
    release = threading.Event()
    calls: list[int] = []
    old_read_done: list[int] = []

    def note(self: Guest) -> str | None:
        calls.append(1)
        if len(calls) == 1:  # the older read: still reading when the newer one ends
            release.wait(10)
            old_read_done.append(1)
            return real(self)
        raise VhdxError(Path("Alpha_old.avhdx"), "no such file")

    monkeypatch.setattr(Guest, "note", note)
    console.reload()
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    console.reload()
    qtbot.wait(200)
    assert len(calls) == 1  # no second walk of the guest's files beside the first
    release.set()
    qtbot.waitUntil(lambda: bool(old_read_done) and len(calls) >= 2
                    and not console.session.runner.busy, timeout=10000)
    qtbot.waitUntil(lambda: "cannot be read now" in console.files.topLevelItem(0).text(0),
                    timeout=10000)
    assert "cannot be read now" in console.files.topLevelItem(0).text(0)
    assert answers.errors == []
    console.close()
