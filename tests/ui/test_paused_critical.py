"""A VM whose disk filled up shows Paused-Critical in State, with the actions the host allows
(Resume, Turn Off, Save) and not the others, like Hyper-V Manager."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.host.errors import PausedCriticalError
from hvgui.ui.main_window import MainWindow
from tests.host.loopfs import fill, small_filesystem
from tests.ui.helpers import Answers, open_and_wait, vm_index

MiB = 1 << 20


def test_a_vm_whose_disk_is_full_shows_paused_critical(
    qtbot: Any, tmp_path: Path, answers: Answers
) -> None:
    with small_filesystem(tmp_path, 200) as mount:
        host = Host.open(mount / "host")
        host.new_vm("Alpha", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=64 * MiB)
        host.start_vm("Alpha")
        host.checkpoint_vm("Alpha", snapshot_name="Base")
        full = fill(mount, leave=2 * MiB)
        with pytest.raises(PausedCriticalError):
            Guest(host, "Alpha").write_file("/big.bin", os.urandom(8 * MiB))
        win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                   "hvgui-tests", "hvgui"))
        qtbot.addWidget(win)
        try:
            open_and_wait(qtbot, win, mount / "host")
            win.resize(1100, 600)
            win.show()
            qtbot.waitExposed(win)
            win.vm_view.selectRow(vm_index(win, "Alpha").row())
            assert vm_index(win, "Alpha", 1).data() == "Paused-Critical"
            assert vm_index(win, "Alpha", 3).data()  # its memory is still assigned
            acts = win.acts
            assert acts.vm_resume.isEnabled() and acts.vm_turn_off.isEnabled()
            assert not acts.vm_start.isEnabled() and not acts.vm_pause.isEnabled()
            win.grab().save(str(tmp_path / "paused-critical.png"))
        finally:
            win.close()
            full.unlink()
    assert answers.errors == []
