"""A disk outside the lab folder in the window: shown, read, and said in the Status column and
the details (the host refuses to change it: docs/security.md)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hvgui.host import Host
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import status_text, vm_index


def test_a_disk_outside_the_lab_is_shown_with_a_warning(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    host = Host.open(host_dir)
    disk = host.get_vm("Beta").hard_drives[0].path
    outside = tmp_path / "outside" / disk.name
    outside.parent.mkdir()
    shutil.move(disk, outside)
    doc = ConfigDoc.load(host.get_vm("Beta").config_path)
    drive = next(d for d in doc.drives() if d.path)
    doc.set_drive(drive.controller_type, drive.controller_number, drive.controller_location,
                  drive.kind, str(outside))
    doc.path.write_bytes(doc.to_bytes())  # as a crafted (or hand-edited) lab says it
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    qtbot.waitUntil(lambda: status_text(window, "Beta") == "Warning: disk outside the host",
                    timeout=5000)
    assert status_text(window, "Alpha") == ""
    qtbot.waitUntil(lambda: "Disk chain" in window.details.values(), timeout=3000)
    assert "outside the host folder" in window.details.values()["Disk chain"]
    window.grab().save(str(tmp_path / "outside-disk.png"))
