"""The GUI thread during a merge: the worst stall stays under a bound a user would call a hang
(generous, for a loaded CI machine); the benchmark, benchmarks/bench_gui.py, measures it with
1 GiB against the 100 ms target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.ui.main_window import MainWindow
from tests.gap_meter import GapMeter
from tests.ui.helpers import Answers, StatusRecorder, open_and_wait, wait_idle

MiB = 1 << 20
WORST_GAP_MS = 500  # a frozen window, not a slow one: the tight target lives in the benchmark


def test_the_gui_never_freezes_during_a_merge(
    qtbot: Any, tmp_path: Path, answers: Answers, record_property: Any
) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Merge", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=128 * MiB)
    host.start_vm("Merge")
    host.checkpoint_vm("Merge", snapshot_name="Before")
    Guest(host, "Merge").run_workload(48 * MiB, path="/data.bin")  # a merge of many ticks
    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    open_and_wait(qtbot, win, host.root)
    win.show()
    assert win.select_checkpoint(host.get_snapshot("Merge", "Before").id)
    recorder = StatusRecorder(win, "Merge")
    meter = GapMeter(10)
    meter.start()
    win.acts.cp_delete.trigger()
    wait_idle(qtbot, win)
    worst = meter.stop()
    record_property("worst_gui_gap_ms", round(worst, 1))
    print(f"worst GUI gap during a 48 MiB merge: {worst:.1f} ms over {meter.ticks} ticks")
    assert meter.ticks > 1
    assert worst < WORST_GAP_MS, f"the window froze for {worst:.0f} ms during the merge"
    assert host.list_snapshots("Merge") == []
    assert recorder.texts  # the Status column counted while the GUI kept ticking
    win.close()
