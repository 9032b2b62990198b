"""The checkpoint workflow as a user drives it: right-click, menus, keys, dialogs answered."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from hvgui.host import Host
from hvgui.ui import ask
from hvgui.ui.main_window import MainWindow
from tests.host.hosthelpers import digest
from tests.ui.helpers import (
    Answers,
    StatusRecorder,
    checkpoint_index,
    choose,
    menu_texts,
    right_click_checkpoint,
    right_click_vm,
    selected_snapshot,
    tree_names,
    type_in_place,
    vm_index,
    wait_idle,
)


def _host(window: MainWindow) -> Host:
    assert window.session is not None
    return Host.open(window.session.host.root)


def test_checkpoint_from_context_menu_asks_nothing_and_shows_progress(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    before = {s.id for s in _host(window).list_snapshots("Alpha")}
    recorder = StatusRecorder(window, "Alpha")
    menu = right_click_vm(window, "Alpha")
    assert "Checkpoint" in menu_texts(menu)
    choose(qtbot, menu, "Checkpoint")
    wait_idle(qtbot, window)

    assert answers.asked == []  # no dialog of any kind
    percents = recorder.percents("Creating Checkpoint")
    assert percents, f"the Status column never showed a percentage: {recorder.texts}"
    assert percents == sorted(percents)
    snaps = _host(window).list_snapshots("Alpha")
    new = [s for s in snaps if s.id not in before]
    assert len(new) == 1
    assert new[0].config_path.is_file()
    assert all(d.path.is_file() for d in new[0].hard_drives)
    # The new checkpoint is selected, under "Base", and Now hangs under it.
    chosen = selected_snapshot(window)
    assert chosen is not None and chosen.id == new[0].id
    names = tree_names(window)
    assert names[new[0].name] == "Base"
    assert names["Now"] == new[0].name
    assert window.what_happened.operations()[0].endswith("Alpha")


def test_a_new_checkpoint_shows_from_the_operations_result_without_reading_the_host(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = window.session
    assert session is not None
    wait_idle(qtbot, window)
    reads: list[str] = []
    session.timer.stop()  # no poll; and any re-read is only counted
    monkeypatch.setattr(session, "refresh", lambda: reads.append("refresh"))
    def done() -> bool:
        return not session.is_busy() and not window.runner.busy

    choose(qtbot, right_click_vm(window, "Alpha"), "Checkpoint")
    qtbot.waitUntil(done, timeout=20000)

    new = [s for s in _host(window).list_snapshots("Alpha") if s.name not in tree_names(window)]
    assert new == []  # the tree shows every checkpoint the host has
    chosen = selected_snapshot(window)
    assert chosen is not None and chosen.name != "Base"
    names = tree_names(window)
    assert names[chosen.name] == "Base" and names["Now"] == chosen.name
    assert f'Running from checkpoint "{chosen.name}"' in str(
        vm_index(window, "Alpha").data(Qt.ItemDataRole.ToolTipRole))
    assert reads == []
    # Renamed in place: the tree shows the new name from the result too.
    session.checkpoint_model.setData(checkpoint_index(window, chosen.name), "Renamed")
    qtbot.waitUntil(done, timeout=20000)
    assert "Renamed" in tree_names(window) and selected_snapshot(window) is not None
    assert reads == []


def test_a_read_started_before_the_result_does_not_take_the_checkpoint_back(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = window.session
    assert session is not None
    wait_idle(qtbot, window)
    session.timer.stop()
    read, go_on = threading.Event(), threading.Event()
    real = session.host.list_snapshots

    def read_then_wait(vm: str) -> Any:
        snapshots = real(vm)
        if not read.is_set():  # the first read: it holds the host as it was before
            read.set()
            go_on.wait(10)
        return snapshots

    monkeypatch.setattr(session.host, "list_snapshots", read_then_wait)
    session.refresh()
    qtbot.waitUntil(read.is_set, timeout=10000)
    choose(qtbot, right_click_vm(window, "Alpha"), "Checkpoint")
    qtbot.waitUntil(lambda: not session.is_busy(), timeout=20000)
    chosen = selected_snapshot(window)
    assert chosen is not None and chosen.name != "Base"
    with qtbot.waitSignal(session.refreshed, timeout=10000):
        go_on.set()  # the old read ends now; a new one is made and shown
    assert tree_names(window)[chosen.name] == "Base"
    assert tree_names(window)["Now"] == chosen.name


@pytest.mark.parametrize("choice", list(ask.ApplyChoice))
def test_apply_with_each_answer(
    qtbot: Any, window: MainWindow, answers: Answers, choice: ask.ApplyChoice
) -> None:
    host = _host(window)
    host.checkpoint_vm("Alpha", snapshot_name="Second")
    wait_idle(qtbot, window)
    count = len(host.list_snapshots("Alpha"))
    answers.apply = choice
    choose(qtbot, right_click_checkpoint(window, "Base"), "Apply...")
    wait_idle(qtbot, window)

    assert answers.asked == [("apply", "Base")]
    vm = host.get_vm("Alpha")
    snaps = host.list_snapshots("Alpha")
    names = tree_names(window)
    if choice is ask.ApplyChoice.CANCEL:
        assert vm.parent_snapshot_name == "Second"
        assert len(snaps) == count
        assert names["Now"] == "Second"
    else:
        assert vm.parent_snapshot_name == "Base"
        assert names["Now"] == "Base"
        expected = count + (1 if choice is ask.ApplyChoice.TAKE_CHECKPOINT_AND_APPLY else 0)
        assert len(snaps) == expected


def test_revert_goes_back_to_the_parent_checkpoint(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    from hvgui.guest.guest import Guest

    host = _host(window)
    assert Guest(host, "Alpha").read_file("/hello.txt").startswith(b"hello after")
    recorder = StatusRecorder(window, "Alpha")
    choose(qtbot, right_click_vm(window, "Alpha"), "Revert...")
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Revert Virtual Machine")]
    assert recorder.percents("Applying Checkpoint")
    assert Guest(host, "Alpha").read_file("/hello.txt").startswith(b"hello before")


def test_delete_merges_with_progress(qtbot: Any, window: MainWindow, answers: Answers) -> None:
    host = _host(window)
    base = host.get_snapshot("Alpha", "Base")
    running = [d.path for d in host.get_vm("Alpha").hard_drives]
    assert [p.suffix for p in running] == [".avhdx"]
    recorder = StatusRecorder(window, "Alpha")
    checkpoint = checkpoint_index(window, "Base")
    window.checkpoint_view.setCurrentIndex(checkpoint)
    window.checkpoint_view.setFocus()
    QTest.keyClick(window.checkpoint_view, Qt.Key.Key_Delete)
    wait_idle(qtbot, window)

    assert answers.asked == [("confirm", "Delete Checkpoint")]
    assert host.list_snapshots("Alpha") == []
    assert not base.config_path.exists()
    assert recorder.percents("Deleting Checkpoint"), recorder.texts
    assert recorder.percents("Merge in progress"), recorder.texts
    # The running disk still reads what the guest wrote after the checkpoint.
    from hvgui.guest.guest import Guest

    assert Guest(host, "Alpha").read_file("/hello.txt").startswith(b"hello after")
    # No checkpoints left: Hyper-V Manager shows no tree (no lone Now), and says so.
    assert tree_names(window) == {}
    assert window.no_checkpoints.isVisible()
    # The running AVHDX was merged into the base disk, which the VM now runs from.
    assert not running[0].exists()
    assert [d.path.suffix for d in host.get_vm("Alpha").hard_drives] == [".vhdx"]


def test_delete_subtree_removes_the_branch(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    host = _host(window)
    host.checkpoint_vm("Alpha", snapshot_name="Child")
    host.checkpoint_vm("Alpha", snapshot_name="Grandchild")
    qtbot.waitUntil(lambda: "Grandchild" in tree_names(window), timeout=3000)
    choose(qtbot, right_click_checkpoint(window, "Child"), "Delete Checkpoint Subtree...")
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Delete Checkpoint Subtree")]
    assert [s.name for s in host.list_snapshots("Alpha")] == ["Base"]
    names = tree_names(window)
    assert "Child" not in names and "Grandchild" not in names
    assert names["Now"] == "Base"


def test_delete_not_confirmed_changes_nothing(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    answers.confirm = False
    choose(qtbot, right_click_checkpoint(window, "Base"), "Delete Checkpoint...")
    wait_idle(qtbot, window)
    assert [s.name for s in _host(window).list_snapshots("Alpha")] == ["Base"]


def test_rename_with_f2(qtbot: Any, window: MainWindow, answers: Answers) -> None:
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    window.checkpoint_view.setFocus()
    QTest.keyClick(window.checkpoint_view, Qt.Key.Key_F2)
    type_in_place(qtbot, window.checkpoint_view, "Golden image")
    wait_idle(qtbot, window)
    assert answers.asked == []  # renamed in place, no dialog
    assert [s.name for s in _host(window).list_snapshots("Alpha")] == ["Golden image"]
    assert "Golden image" in tree_names(window)
    chosen = selected_snapshot(window)
    assert chosen is not None and chosen.name == "Golden image"


def test_rename_from_menu(qtbot: Any, window: MainWindow, answers: Answers) -> None:
    choose(qtbot, right_click_checkpoint(window, "Base"), "Rename...")
    type_in_place(qtbot, window.checkpoint_view, "x" * 100)  # the longest name allowed
    wait_idle(qtbot, window)
    assert [s.name for s in _host(window).list_snapshots("Alpha")] == ["x" * 100]


@pytest.mark.parametrize("bad", ["", "   ", "y" * 101])
def test_rename_refuses_blank_and_long_names(
    qtbot: Any, window: MainWindow, answers: Answers, bad: str
) -> None:
    choose(qtbot, right_click_checkpoint(window, "Base"), "Rename...")
    type_in_place(qtbot, window.checkpoint_view, bad)
    wait_idle(qtbot, window)
    assert len(answers.informed) == 1
    assert "cannot be used" in answers.informed[0]
    assert ("blank" in answers.informed[0]) == (not bad.strip())
    assert [s.name for s in _host(window).list_snapshots("Alpha")] == ["Base"]


def test_checkpoint_menu_offers_hyperv_items(qtbot: Any, window: MainWindow) -> None:
    texts = menu_texts(right_click_checkpoint(window, "Base"))
    for item in ("Settings...", "Apply...", "Export...", "Rename...", "Delete Checkpoint...",
                 "Inspect Files..."):
        assert item in texts
    # Base has no checkpoint under it (only Now): no subtree to delete, as in Hyper-V Manager.
    assert "Delete Checkpoint Subtree..." not in texts
    _host(window).checkpoint_vm("Alpha", snapshot_name="Child")
    qtbot.waitUntil(lambda: "Child" in tree_names(window), timeout=3000)
    assert "Delete Checkpoint Subtree..." in menu_texts(right_click_checkpoint(window, "Base"))
    assert "Delete Checkpoint Subtree..." not in menu_texts(
        right_click_checkpoint(window, "Child"))


def test_export_checkpoint_writes_a_standalone_copy(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    answers.directory = tmp_path / "export"
    answers.directory.mkdir()
    recorder = StatusRecorder(window, "Alpha")
    choose(qtbot, right_click_checkpoint(window, "Base"), "Export...")
    wait_idle(qtbot, window)
    (disk,) = [p for p in answers.directory.rglob("*") if p.suffix in (".vhdx", ".avhdx")]
    assert disk.suffix == ".vhdx"  # flattened: no chain to carry along
    host = _host(window)
    checkpoint = digest(host.get_snapshot("Alpha", "Base").hard_drives[0].path)
    assert digest(disk) == checkpoint  # the checkpoint's bytes, every one of them
    assert digest(host.get_vm("Alpha").hard_drives[0].path) != checkpoint  # not Now's
    assert recorder.percents("Exporting")


def test_move_storage_takes_the_whole_chain(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    answers.directory = _host(window).root / "new-storage"  # the lab's own folder
    answers.directory.mkdir()
    recorder = StatusRecorder(window, "Alpha")
    choose(qtbot, right_click_vm(window, "Alpha"), "Move...")
    wait_idle(qtbot, window)
    host = _host(window)
    running = host.get_vm("Alpha").hard_drives[0].path
    frozen = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    assert answers.directory in running.parents and answers.directory in frozen.parents
    assert recorder.percents("Moving Storage")
    assert host.check() == []


def test_state_changes_from_the_context_menu(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    host = _host(window)
    for item, state in (("Start", "Running"), ("Pause", "Paused"), ("Resume", "Running"),
                        ("Save", "Saved"), ("Start", "Running"), ("Shut Down...", "Off")):
        choose(qtbot, right_click_vm(window, "Beta"), item)
        wait_idle(qtbot, window)
        assert host.get_vm("Beta").state == state, item
        assert vm_index(window, "Beta", 1).data() == state
    assert answers.asked == [("confirm", "Shut Down Machine")]


def test_export_vm_writes_flattened_disks(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    answers.directory = tmp_path / "exported"
    answers.directory.mkdir()
    choose(qtbot, right_click_vm(window, "Beta"), "Export...")
    wait_idle(qtbot, window)
    (disk,) = [p for p in answers.directory.rglob("*") if p.suffix in (".vhdx", ".avhdx")]
    assert disk.suffix == ".vhdx"
    assert digest(disk) == digest(_host(window).get_vm("Beta").hard_drives[0].path)


def test_reset_delete_saved_state_and_export_of_a_running_vm_are_offered(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    host = _host(window)
    running = menu_texts(right_click_vm(window, "Alpha"))
    assert {"Reset...", "Export..."} <= set(running) and "Delete Saved State..." not in running
    window.last_menu.close()  # type: ignore[union-attr]
    assert "Reset..." in window.actions_pane.texts()
    choose(qtbot, right_click_vm(window, "Alpha"), "Reset...")
    wait_idle(qtbot, window)
    assert answers.asked[-1] == ("confirm", "Reset Machine")
    assert host.get_vm("Alpha").state == "Running"
    top = window.what_happened.topLevelItem(0)
    assert top is not None and "Reset" in top.text(0)
    lines = [top.child(i).text(0) for i in range(top.childCount())]
    assert "PS> Restart-VM -Name 'Alpha' -Force" in lines
    answers.directory = tmp_path / "exported"
    answers.directory.mkdir()
    choose(qtbot, right_click_vm(window, "Alpha"), "Export...")
    wait_idle(qtbot, window)
    assert list(answers.directory.rglob("*.bin"))  # the running VM's memory, as saved state
    choose(qtbot, right_click_vm(window, "Alpha"), "Save")
    wait_idle(qtbot, window)
    saved = menu_texts(right_click_vm(window, "Alpha"))
    assert "Delete Saved State..." in saved and "Reset..." not in saved
    window.last_menu.close()  # type: ignore[union-attr]
    assert "Delete Saved State..." in window.actions_pane.texts()
    choose(qtbot, right_click_vm(window, "Alpha"), "Delete Saved State...")
    wait_idle(qtbot, window)
    assert answers.asked[-1] == ("confirm", "Delete Saved State")
    assert host.get_vm("Alpha").state == "Off"
    top = window.what_happened.topLevelItem(0)
    assert top is not None
    assert "PS> Remove-VMSavedState -VMName 'Alpha'" in [
        top.child(i).text(0) for i in range(top.childCount())]
