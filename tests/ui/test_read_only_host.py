"""A read-only host in the window: a banner says so, everything can be looked at, every change
is greyed out with the host's own reason as tooltip (the rule the host refuses with)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QToolButton

from hvgui.host.errors import ReadOnlyHostError
from hvgui.ui import commands
from hvgui.ui.main_window import MainWindow
from tests.host.loopfs import read_only_view
from tests.ui.conftest import build_small_host
from tests.ui.helpers import (
    Answers,
    checkpoint_index,
    menu_texts,
    right_click_checkpoint,
    right_click_vm,
    vm_index,
)


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    """The small host of the other window tests, on a read-only mount (or chmod -R a-w)."""
    root = tmp_path / "host"
    build_small_host(root)
    with read_only_view(root):
        yield root


def _select_alpha(window: MainWindow) -> None:
    window.vm_view.selectRow(vm_index(window, "Alpha").row())


def test_read_only_host_shows_a_banner_and_greys_every_change_with_the_reason(
    qtbot: Any, window: MainWindow
) -> None:
    assert window.session is not None
    reason = window.session.host.read_only
    assert reason
    assert window.read_only_banner.isVisible() and reason in window.read_only_banner.text()
    _select_alpha(window)
    a = window.acts
    changes = [a.vm_turn_off, a.vm_shut_down, a.vm_save, a.vm_pause,
               a.vm_checkpoint, a.vm_revert, a.vm_move, a.vm_rename, a.new_vm]
    qtbot.waitUntil(lambda: not a.vm_turn_off.isEnabled(), timeout=3000)
    for action in changes:
        assert not action.isEnabled(), action.text()
        assert "read-only" in action.toolTip() and reason in action.toolTip(), action.text()
    # What running Alpha's state refuses anyway keeps the state's reason, not the folder's.
    for action in (a.vm_start, a.vm_resume, a.vm_delete, a.vm_delete_saved_state):
        assert not action.isEnabled(), action.text()
        assert "read-only" not in action.toolTip(), action.text()
    assert a.vm_start.toolTip() == "Cannot start the VM: it is already running."
    # Looking still works.
    assert a.vm_connect.isEnabled() and a.check_host.isEnabled() and a.refresh.isEnabled()
    assert a.cp_inspect.isEnabled()
    # The Actions pane lists the changes greyed (saying why), not as if they did not exist.
    buttons = {b.text().replace("&", ""): b for b in window.actions_pane.findChildren(QToolButton)}
    assert not buttons["Checkpoint"].isEnabled()
    assert reason in buttons["Checkpoint"].toolTip()
    assert buttons["Connect..."].isEnabled()
    # So does the right-click menu.
    menu = right_click_vm(window, "Alpha")
    assert "Checkpoint" in menu_texts(menu)
    assert not next(x for x in menu.actions() if x.text() == a.vm_checkpoint.text()).isEnabled()
    # ...listing what Hyper-V Manager offers a running VM: no Start, Resume or Delete, nor a
    # Cancel Operation with nothing to cancel.
    assert not {"Start", "Resume", "Delete...", "Delete Saved State...",
                "Cancel Operation"} & set(menu_texts(menu))
    menu.close()
    assert not {"Start", "Resume", "Delete..."} & set(window.actions_pane.texts())


def test_checkpoint_actions_are_greyed_and_its_settings_still_open(
    qtbot: Any, window: MainWindow
) -> None:
    _select_alpha(window)
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    a = window.acts
    qtbot.waitUntil(lambda: a.cp_settings.isEnabled(), timeout=3000)
    for action in (a.cp_apply, a.cp_rename, a.cp_delete):
        assert not action.isEnabled() and "read-only" in action.toolTip(), action.text()
    assert a.cp_inspect.isEnabled()
    assert a.cp_export.isEnabled()  # copies out: see test_export_copies_out_of_a_read_only_host
    # Base has no checkpoint under it: no Delete Checkpoint Subtree..., greyed or not.
    menu = right_click_checkpoint(window, "Base")
    assert "Apply..." in menu_texts(menu)
    assert "Delete Checkpoint Subtree..." not in menu_texts(menu)
    menu.close()
    # Now is never applied, exported, renamed or deleted: its menu is Inspect Files... only,
    # as on a writable host.
    menu = right_click_checkpoint(window, "Now")
    assert menu_texts(menu) == ["Inspect Files..."]
    menu.close()


def test_vm_settings_open_read_only_to_be_looked_at(qtbot: Any, window: MainWindow) -> None:
    """Settings... is how a VM's settings are looked at: offered, and read-only."""
    from hvgui.ui.vm_dialogs import SettingsDialog

    assert window.session is not None
    _select_alpha(window)
    a = window.acts
    qtbot.waitUntil(lambda: not a.vm_turn_off.isEnabled(), timeout=3000)
    assert a.vm_settings.isEnabled()
    a.vm_settings.trigger()
    [dialog] = [d for d in window.windows.dialogs if isinstance(d, SettingsDialog)]
    assert dialog.read_only and dialog.windowTitle() == "Settings for Alpha (read-only)"
    assert not dialog.memory.isEnabled() and not dialog.processors.isEnabled()
    assert dialog.notes.isReadOnly()
    assert not hasattr(dialog, "add_vhd_button")  # nothing to add or remove
    dialog.reject()


def test_a_change_that_slips_through_is_refused_by_the_host_with_the_same_reason(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    assert window.session is not None
    _select_alpha(window)
    window.run_command(commands.checkpoint)  # as if the greying had raced the click
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=10000)
    error = answers.errors.pop()
    assert isinstance(error, ReadOnlyHostError)
    assert window.session.host.read_only in str(error)


def test_check_host_works_on_a_read_only_host(
    qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    window.acts.check_host.trigger()
    qtbot.waitUntil(lambda: len(answers.findings) == 1, timeout=10000)
    assert answers.findings[0] == []


def test_export_copies_out_of_a_read_only_host(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path, host_dir: Path
) -> None:
    """Export only reads the host (the host's rule, which the menus follow): offered for the
    VM and its checkpoint, it writes only the destination, outside the read-only folder."""
    from tests.host.hosthelpers import listing

    before = listing(host_dir)
    _select_alpha(window)
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    a = window.acts
    qtbot.waitUntil(lambda: a.cp_export.isEnabled() and a.vm_export.isEnabled(), timeout=3000)
    assert "read-only" not in a.cp_export.toolTip() + a.vm_export.toolTip()
    menu = right_click_checkpoint(window, "Base")
    assert "Export..." in menu_texts(menu)
    menu.grab().save(str(tmp_path / "read-only-checkpoint-menu.png"))
    menu.close()
    window.grab().save(str(tmp_path / "read-only-export-offered.png"))
    for action, out in ((a.cp_export, tmp_path / "cp"), (a.vm_export, tmp_path / "vm")):
        answers.directory = out
        action.trigger()
        qtbot.waitUntil(lambda out=out: (out / "Alpha" / "Virtual Machines").is_dir()
                        and not window.runner.busy, timeout=20000)
    assert answers.errors == []
    assert listing(host_dir) == before
