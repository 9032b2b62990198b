"""A broken chain in the window: Status and details say it in words, the affected checkpoint
(and Now) carry a warning icon, and Checkpoint, Start and Apply are greyed with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hvgui import vhdx
from hvgui.backend import InvalidStateError
from hvgui.host import Host
from hvgui.ui.icons import icon
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import checkpoint_index, status_text, vm_index, wait_idle


def test_a_vm_with_a_missing_base_disk_shows_its_broken_chain(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    host = Host.open(host_dir)
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    base.unlink()  # as in the not-a-backup lesson
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    qtbot.waitUntil(lambda: status_text(window, "Alpha").startswith("Chain broken"),
                    timeout=5000)
    assert status_text(window, "Alpha") == "Chain broken: parent missing"
    assert status_text(window, "Beta") == ""
    warning = icon("checkpoint-warning").cacheKey()
    qtbot.waitUntil(lambda: checkpoint_index(window, "Base").data(1).cacheKey() == warning,
                    timeout=5000)
    assert checkpoint_index(window, "Now").data(1).cacheKey() == warning
    assert "its disk Alpha.vhdx is missing" in str(checkpoint_index(window, "Base").data(3))
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Now"))
    qtbot.waitUntil(lambda: "Disk chain" in window.details.values(), timeout=3000)
    assert "which is missing" in window.details.values()["Disk chain"]
    acts = window.acts
    assert not acts.vm_checkpoint.isEnabled()
    assert "its disk chain is broken" in acts.vm_checkpoint.toolTip()
    assert acts.vm_turn_off.isEnabled()  # what Hyper-V allows stays offered
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    qtbot.waitUntil(lambda: not acts.cp_apply.isEnabled(), timeout=3000)
    assert acts.cp_apply.toolTip().startswith("Cannot apply checkpoint 'Base': its disk chain")
    window.grab().save(str(tmp_path / "broken-chain.png"))
    wait_idle(qtbot, window)


def test_revert_is_greyed_when_the_checkpoint_it_applies_is_broken(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    """Revert applies the VM's parent checkpoint: with that checkpoint's chain broken the host
    refuses it, so the window greys it with the host's words instead of offering it."""
    host = Host.open(host_dir)
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    base.unlink()
    with pytest.raises(InvalidStateError) as refused:
        host.revert_vm("Alpha")
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    acts = window.acts
    qtbot.waitUntil(lambda: not acts.vm_revert.isEnabled(), timeout=5000)
    assert acts.vm_revert.toolTip().startswith("Cannot apply checkpoint 'Base': its disk chain")
    assert refused.value.problem.startswith("cannot apply checkpoint 'Base': its disk chain")
    assert "Revert..." not in window.actions_pane.texts()
    wait_idle(qtbot, window)


def test_a_long_disk_chain_sentence_scrolls_rather_than_being_cut(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    """The details pane at its first-start height: every Summary row of a broken checkpoint
    shows whole (the Disk chain sentence wraps to several lines), the pane scrolls to it."""
    from PySide6.QtWidgets import QLabel, QScrollArea

    host = Host.open(host_dir)
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    base.unlink()
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Now"))
    qtbot.waitUntil(lambda: "Disk chain" in window.details.values(), timeout=5000)
    window.details.setFixedSize(700, 190)  # a short pane: a laptop screen, a dock open
    qtbot.wait(50)
    window.grab().save(str(tmp_path / "details-short.png"))
    form = window.details.summary
    values = [w for w in form.findChildren(QLabel) if w.wordWrap() and w.text()]
    assert values
    for label in values:  # none squashed below the height its wrapped text needs
        assert label.height() >= label.heightForWidth(label.width()), label.text()
    area = form.parentWidget().parentWidget()
    assert isinstance(area, QScrollArea)
    # It scrolls up and down only: the pane never gets narrower than its labels and values
    # (a docked Lessons pane would otherwise squeeze the values out of sight).
    assert area.minimumSizeHint().width() >= form.minimumSizeHint().width()
    assert window.details.minimumSizeHint().width() >= (
        window.details.thumbnail.width() + form.minimumSizeHint().width())
    chain = next(w for w in values if "which is missing" in w.text())
    area.ensureWidgetVisible(chain)
    assert chain.visibleRegion().boundingRect().height() == chain.height()
    # A sound VM's nine rows fit the pane at its first-start height: no scroll bar there.
    window.details.setMinimumSize(0, 0)
    window.details.setMaximumSize(16777215, 16777215)
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    qtbot.waitUntil(lambda: window.details.values().get("State") == "Off", timeout=3000)
    qtbot.wait(50)
    assert len(window.details.values()) == 9
    assert not area.verticalScrollBar().isVisible()
    wait_idle(qtbot, window)
