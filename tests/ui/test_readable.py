"""Readable at a glance: What happened cuts long file names in the middle (the extension stays
visible) with the whole path as tooltip, shows what other programs did (marked so) with every
file an operation touched, and no label shows a literal "&"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from hvgui.host import Host
from hvgui.ui.main_window import MainWindow
from hvgui.ui.vm_dialogs import SettingsDialog
from tests.ui.helpers import vm_index, wait_idle


def test_what_happened_keeps_the_extension_of_long_file_names(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    wait_idle(qtbot, window)
    panel = window.what_happened
    top = panel.topLevelItem(0)
    assert top is not None and "Checkpoint" in top.text(0)
    rows = [top.child(i) for i in range(top.childCount())]
    files = [r for r in rows if r is not None and r.toolTip(0).startswith(str(host_dir))]
    suffixes = {Path(r.toolTip(0)).suffix for r in files}
    assert {".xml", ".bin", ".vsv", ".avhdx"} <= suffixes
    panel.setColumnWidth(0, 260)  # narrower than Snapshots/<GUID>/<GUID>.bin
    assert panel.textElideMode() == Qt.TextElideMode.ElideMiddle
    metrics = panel.fontMetrics()
    for row in files:
        shown = metrics.elidedText(row.text(0), panel.textElideMode(), 230)
        assert shown.endswith(Path(row.toolTip(0)).suffix), shown  # what the file is shows
    panel.resize(700, 260)
    panel.grab().save(str(tmp_path / "what-happened.png"))


def _rows(item: Any) -> list[str]:
    return [item.child(i).text(0) for i in range(item.childCount())]


def test_what_happened_shows_other_programs_operations_marked_with_every_file(
    qtbot: Any, window: MainWindow, host_dir: Path, tmp_path: Path
) -> None:
    panel = window.what_happened
    # The window has read the log once (on a pool thread): what follows is another program's.
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: session.history_read, timeout=10000)
    elsewhere = Host.open(host_dir)  # hvctl in a terminal: another Host on the same folder
    # A pass-through disk on Beta, a checkpoint, the disk detached, then the apply and its
    # warning: all done outside the window.
    raw = tmp_path / "PhysicalDrive9.raw"
    raw.write_bytes(b"\0" * (1 << 20))
    elsewhere.add_hard_drive("Beta", raw, pass_through=True)
    elsewhere.checkpoint_vm("Beta", snapshot_name="With LUN")
    drive = next(d for d in elsewhere.get_vm("Beta").hard_drives if d.pass_through)
    elsewhere.remove_hard_drive("Beta", drive.controller_type, drive.controller_number,
                                drive.controller_location)
    elsewhere.restore_snapshot("Beta", "With LUN")
    qtbot.waitUntil(lambda: any("Apply" in t and "another program" in t
                                for t in panel.operations()), timeout=10000)
    ops = panel.operations()
    assert all("another program" in t for t in ops[:4]), ops
    apply = next(panel.topLevelItem(i) for i in range(4) if "Apply" in ops[i])
    assert any(r.startswith("Warning: ") and "pass-through" in r for r in _rows(apply))
    detach = next(panel.topLevelItem(i) for i in range(4) if "Remove drive" in ops[i])
    vm_xml = elsewhere.get_vm("Beta").config_path
    assert any(detach.child(i).toolTip(0) == str(vm_xml) for i in range(detach.childCount()))
    # The checkpoint's entry names the VM's own XML too, rewritten at the same moment.
    cp = next(panel.topLevelItem(i) for i in range(4) if "Checkpoint" in ops[i])
    touched = {cp.child(i).toolTip(0): cp.child(i).text(1) for i in range(cp.childCount())}
    assert touched.get(str(vm_xml)) == "modified"
    panel.resize(900, 420)
    panel.grab().save(str(tmp_path / "what-happened-elsewhere.png"))


def test_own_checkpoint_lists_the_vms_xml_and_no_label_shows_a_literal_ampersand(
    qtbot: Any, window: MainWindow, host_dir: Path
) -> None:
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    window.acts.vm_checkpoint.trigger()
    wait_idle(qtbot, window)
    top = window.what_happened.topLevelItem(0)
    assert top is not None and "another program" not in top.text(0)
    vm_xml = Host.open(host_dir).get_vm("Alpha").config_path
    assert any(top.child(i).toolTip(0) == str(vm_xml) and top.child(i).text(1) == "modified"
               for i in range(top.childCount()))
    window.acts.vm_settings.trigger()
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, SettingsDialog) and w.isVisible())
    for label in dialog.findChildren(QLabel):
        if "&" in label.text() and label.textFormat() != Qt.TextFormat.RichText:
            assert label.buddy() is not None, label.text()  # else "&" would show as is
    dialog.reject()
