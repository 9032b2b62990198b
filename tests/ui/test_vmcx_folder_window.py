"""A folder copied off a Windows Server 2016+ host (`Virtual Machines\\<GUID>.vmcx`, the real
corpus file) in the window: with the extra hvgui[vmcx] its VM is listed with its details under
the read-only banner (no Adopt: such a folder is never changed); without it, the problem banner
says what to install to read the file. Nothing in the folder is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import keystore
from hvgui.ui.main_window import MainWindow
from tests.host.hosthelpers import listing
from tests.host.vmcxfiles import VM_ID, VM_NAME, vmcx_folder, vmcx_folder_with_checkpoints
from tests.ui.helpers import checkpoint_index, open_and_wait, tree_names, vm_index

SHOTS = Path(os.environ.get("HVGUI_SHOTS", "")) if os.environ.get("HVGUI_SHOTS") else None


@pytest.fixture
def host_dir(corpus_dir: Path, tmp_path: Path) -> Path:
    return vmcx_folder(corpus_dir, tmp_path / "Server2019")


@pytest.mark.usefixtures("vmcx_extra")
def test_a_2016_folder_shows_its_vm_under_the_read_only_banner(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    before = listing(host_dir)
    qtbot.waitUntil(lambda: window.vm_view.model().rowCount() == 1, timeout=5000)
    window.vm_view.selectRow(vm_index(window, VM_NAME).row())
    assert window.read_only_banner.isVisible()
    assert "Windows Server 2016+" in window.read_only_banner.text()
    assert not window.adopt_button.isVisible() and not window.acts.adopt_host.isEnabled()
    assert not window.problem_banner.isVisible()
    qtbot.waitUntil(lambda: not window.acts.vm_checkpoint.isEnabled(), timeout=3000)
    assert "Windows Server 2016+" in window.acts.vm_checkpoint.toolTip()
    assert window.session is not None
    vm = window.session.vm_model.vm_at(0)
    assert vm is not None
    assert (vm.id, vm.generation, vm.memory_startup) == (VM_ID, 1, 1 << 30)
    window.grab().save(str((SHOTS or tmp_path) / "vmcx-folder-read-only.png"))
    assert listing(host_dir) == before


def test_without_the_extra_the_window_says_what_to_install(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, corpus_dir: Path, tmp_path: Path,
    window: MainWindow,
) -> None:
    monkeypatch.setattr(keystore, "available", lambda: False)
    folder = vmcx_folder(corpus_dir, tmp_path / "NoExtra")
    before = listing(folder)
    open_and_wait(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.problem_banner.isVisible(), timeout=5000)
    text = window.problem_banner.text()
    assert f"{VM_ID}.vmcx" in text and keystore.INSTALL_HINT in text
    assert text.count("\n") == 0  # one line for its one VM
    assert window.vm_view.model().rowCount() == 0
    assert window.read_only_banner.isVisible()
    window.grab().save(str((SHOTS or tmp_path) / "vmcx-folder-without-extra.png"))
    assert listing(folder) == before


@pytest.mark.usefixtures("vmcx_extra")
def test_its_checkpoint_vmcx_files_show_as_the_checkpoint_tree(
    qtbot: Any, window: MainWindow, corpus_dir: Path, tmp_path: Path
) -> None:
    folder = vmcx_folder_with_checkpoints(corpus_dir, tmp_path / "WithCheckpoints")
    before = listing(folder)
    open_and_wait(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.vm_view.model().rowCount() == 1, timeout=5000)
    window.vm_view.selectRow(vm_index(window, VM_NAME).row())
    qtbot.waitUntil(lambda: "After" in tree_names(window), timeout=5000)
    assert tree_names(window)["After"] == "Before"
    assert "Windows Server 2016+" in window.read_only_banner.text()
    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "After"))
    qtbot.waitUntil(lambda: not window.acts.cp_apply.isEnabled(), timeout=3000)
    window.grab().save(str((SHOTS or tmp_path) / "vmcx-folder-checkpoints.png"))
    assert listing(folder) == before
