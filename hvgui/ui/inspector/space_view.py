"""The Space view: each checkpoint file's size over time from the host's disk event log, and
the total checkpoints use, as a chart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from hvgui.backend.formats import human_size
from hvgui.inspect import space_history
from hvgui.ui.inspector.block_map import FILE_COLOURS
from hvgui.ui.inspector.panels import heading
from hvgui.ui.inspector.space_chart import Series, SpaceChart

# Past this many files the chart shows the largest ones; the total still counts them all.
MAX_LINES = 8


def chart_series(events: Iterable[Any]) -> list[Series]:
    """The chart's lines: the largest checkpoint files, then the total."""
    files, total = space_history(events)
    files.sort(key=lambda s: -max(size for _, size in s.points))
    series = [
        Series(s.path.name, s.points, QColor(FILE_COLOURS[(i + 1) % len(FILE_COLOURS)]))
        for i, s in enumerate(files[:MAX_LINES])
    ]
    if total:
        series.append(Series("Total used by checkpoints", total, QColor("#202124"), bold=True))
    return series


class SpaceView(QWidget):
    """Heading, chart and a one-line summary of what checkpoints use now."""

    def __init__(self, events: list[Any], vm_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("spaceView")
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"Space used by {vm_name}'s checkpoint files over time", self))
        self.chart = SpaceChart(self)
        series = chart_series(events)
        self.chart.set_series(series, "No checkpoint file has been created or grown yet.")
        layout.addWidget(self.chart, 1)
        total = next((s for s in series if s.bold), None)
        now = human_size(total.points[-1][1]) if total else "0 B"
        self.summary = QLabel(
            f"Checkpoint files (AVHDX, BIN, VSV) are {now} long now. Sizes are file lengths "
            "from the host's event log, where every create, grow, merge and delete is recorded; "
            "sparse files may take less on disk (the Files tab shows both).", self)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
