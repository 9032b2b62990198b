"""The Space view turns the disk event log into size-over-time lines and a total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytestqt.qtbot import QtBot

from hvgui.backend.model import DiskEvent
from hvgui.inspect import space_history
from hvgui.ui.inspector.space_chart import size_ticks
from hvgui.ui.inspector.space_view import SpaceView

MiB = 1 << 20
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _event(minutes: int, action: str, name: str, size: int | None) -> DiskEvent:
    folder = {".bin": "Snapshots/A", ".vsv": "Snapshots/A"}.get(Path(name).suffix, "disks")
    if name.startswith("VM"):
        folder = "Virtual Machines/VMID"
    return DiskEvent(T0 + timedelta(minutes=minutes), "Checkpoint", "VMID", action,
                     Path("/host") / folder / name, size)


EVENTS = [
    _event(0, "created", "base.vhdx", 4 * MiB),
    _event(1, "read-only", "base.vhdx", None),
    _event(1, "created", "base_A.avhdx", 4 * MiB),
    _event(5, "grown", "base_A.avhdx", 36 * MiB),
    _event(6, "created", "base_B.avhdx", 4 * MiB),
    _event(6, "created", "A.bin", 20 * MiB),
    _event(7, "written", "VMID.bin", 512 * MiB),  # the VM's own memory: not a checkpoint's
    _event(9, "grown", "base_B.avhdx", 12 * MiB),
    _event(12, "merged", "base_B.avhdx", None),
]


def test_space_history_follows_each_checkpoint_file() -> None:
    series, total = space_history(EVENTS)
    by_name = {s.path.name: [size for _, size in s.points] for s in series}
    assert "base.vhdx" not in by_name  # the base disk is the VM's, not its checkpoints'
    assert by_name["base_A.avhdx"] == [4 * MiB, 36 * MiB]
    assert by_name["base_B.avhdx"] == [4 * MiB, 12 * MiB, 0]
    assert [size for _, size in total] == [
        4 * MiB, 36 * MiB, 40 * MiB, 60 * MiB, 68 * MiB, 56 * MiB]


def test_space_view_draws_a_line_per_file_and_the_total(qtbot: QtBot) -> None:
    view = SpaceView(EVENTS, "web01")
    qtbot.addWidget(view)
    view.resize(700, 420)
    view.show()
    qtbot.waitExposed(view)
    names = [s.name for s in view.chart.series()]
    assert names[-1] == "Total used by checkpoints"
    assert set(names[:-1]) == {"base_A.avhdx", "base_B.avhdx", "A.bin"}
    assert "56.0 MiB" in view.summary.text()
    image = view.chart.grab().toImage()
    # the total's line is near-black: some pixels of the chart are drawn in it
    dark = sum(1 for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)
               if image.pixelColor(x, y).lightness() < 60)
    assert dark > 20


def test_no_events_says_so(qtbot: QtBot) -> None:
    view = SpaceView([], "web01")
    qtbot.addWidget(view)
    assert view.chart.series() == []
    assert "0 B" in view.summary.text()


def test_size_axis_labels_are_distinct_and_rise() -> None:
    """A demo VM's checkpoints use about 1.5 GiB (two 513 MiB BINs): half-GiB ticks read
    0.0 ... 2.0 GiB, never "0 GiB, 0 GiB, 1 GiB, 2 GiB, 2 GiB"."""
    GiB = 1 << 30
    ticks = size_ticks(int(1.535 * GiB))
    labels = [label for _, label in ticks]
    assert labels == ["0.0 GiB", "0.5 GiB", "1.0 GiB", "1.5 GiB", "2.0 GiB"]
    assert [value for value, _ in ticks] == [i * GiB / 2 for i in range(5)]
    for top in (3 * MiB, 56 * MiB, 700 * MiB, 5 * GiB, 123 * GiB, 1000):
        labels = [label for _, label in size_ticks(top)]
        assert len(set(labels)) == len(labels), labels
        assert size_ticks(top)[-1][0] > top
