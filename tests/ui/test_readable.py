"""Readable at a glance: What happened cuts long file names in the middle (the extension stays
visible) with the whole path as tooltip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from hvgui.ui.main_window import MainWindow
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
