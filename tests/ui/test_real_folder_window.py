"""A VM folder from a real Hyper-V host in the window: File > Open Folder... shows its VM and
checkpoint tree read-only, under a banner with Adopt as Lab Host; adopting changes nothing in
the folder, and then the host's changes are offered."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend import HostKind
from hvgui.host.foreign import NOT_ADOPTED
from hvgui.ui.main_window import MainWindow
from tests.host.hosthelpers import listing
from tests.host.realfiles import exported_vm
from tests.ui.helpers import Answers, checkpoint_index, tree_names, vm_index

SHOTS = Path(os.environ.get("HVGUI_SHOTS", "")) if os.environ.get("HVGUI_SHOTS") else None


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    return exported_vm(tmp_path / "Export", branch=True)


def test_open_folder_shows_a_real_vm_read_only_with_a_banner(
    qtbot: Any, window: MainWindow, host_dir: Path, answers: Answers, tmp_path: Path
) -> None:
    before = listing(host_dir)
    window.vm_view.selectRow(vm_index(window, "web01").row())
    qtbot.waitUntil(lambda: "After" in tree_names(window), timeout=5000)
    assert tree_names(window)["After"] == "Before"
    # No file names a parent (as on a real host): the tree comes from the disk chain.
    assert tree_names(window)["Branch"] == "Before" and tree_names(window)["Now"] == "After"
    assert window.read_only_banner.isVisible()
    assert "a folder from a Hyper-V host" in window.read_only_banner.text()
    assert window.adopt_button.isVisible() and window.acts.adopt_host.isEnabled()
    qtbot.waitUntil(lambda: not window.acts.vm_start.isEnabled(), timeout=3000)
    assert NOT_ADOPTED in window.acts.vm_checkpoint.toolTip()
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Before"))
    qtbot.waitUntil(lambda: window.acts.cp_inspect.isEnabled(), timeout=3000)
    window.grab().save(str((SHOTS or tmp_path) / "real-folder-read-only.png"))
    assert listing(host_dir) == before


def test_adopt_as_lab_host_changes_nothing_and_offers_the_changes(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    before = listing(host_dir)
    item = window.navigation.currentItem()
    assert item is not None and "stands for" not in item.toolTip(0)  # a real host's folder
    window.acts.adopt_host.trigger()
    qtbot.waitUntil(lambda: not window.read_only_banner.isVisible(), timeout=5000)
    assert not window.adopt_button.isVisible()
    # Now a lab host, standing for Hyper-V's default folder (read on the worker that adopted).
    assert window.session is not None and window.session.host.kind is HostKind.LAB
    assert "stands for C:\\ProgramData\\Microsoft\\Windows\\Hyper-V" in item.toolTip(0)
    window.vm_view.selectRow(vm_index(window, "web01").row())
    qtbot.waitUntil(lambda: window.acts.vm_start.isEnabled(), timeout=5000)
    assert window.acts.vm_checkpoint.isEnabled()
    assert listing(host_dir) == before


def test_file_menu_has_open_folder(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path
) -> None:
    other = exported_vm(tmp_path / "Other", "db01", checkpoints=False)
    answers.directory = other
    window.acts.open_folder.trigger()
    assert ("directory", "Open Folder (a lab host, or a VM folder copied from Hyper-V or "
            "exported)") in answers.asked
    qtbot.waitUntil(lambda: window.session is not None
                    and window.session.host.location.endswith("db01"), timeout=5000)
    qtbot.waitUntil(lambda: window.vm_view.model().rowCount() == 1, timeout=5000)
    assert "Open &Folder..." in [a.text() for a in window.menuBar().actions()[0].menu().actions()]
