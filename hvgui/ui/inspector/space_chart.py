"""A step chart of file sizes over time, drawn with QPainter (PySide6-Essentials has no QtCharts).

Each series is a file's size after each event that touched it; sizes hold until the next event,
so the lines are steps. The total is drawn thicker on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from hvgui.ui.inspector.block_map import format_bytes


@dataclass
class Series:
    name: str
    points: list[tuple[datetime, int]]  # (time, size in bytes), oldest first
    colour: QColor
    bold: bool = False
    hidden_in_legend: bool = field(default=False)


def _nice_step(span: float, target: int) -> float:
    """A round step (1, 2, 5 x 10^n) giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10 ** int(f"{raw:e}".split("e")[1])
    for multiple in (1, 2, 5, 10):
        if multiple * power >= raw:
            return float(multiple * power)
    return float(10 * power)


def _unit_for(maximum: int) -> tuple[str, int]:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if maximum >= size:
            return unit, size
    return "B", 1


def size_ticks(top_value: int) -> list[tuple[float, str]]:
    """The size axis's ticks up to just above `top_value` bytes: (bytes, label). Labels have
    the decimals the step needs, so a 0.5 GiB step reads 0.5, 1.0, 1.5 (not 0, 1, 2, 2)."""
    unit, unit_size = _unit_for(top_value)
    step = _nice_step(top_value / unit_size, 4)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    count = int(top_value / unit_size / step) + 1
    return [(i * step * unit_size, f"{i * step:,.{decimals}f} {unit}") for i in range(count + 1)]


class SpaceChart(QWidget):
    """Size-over-time lines with axes, grid and a legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("spaceChart")
        self.setAccessibleName("Space used over time")
        self.setMinimumSize(320, 200)
        self._series: list[Series] = []
        self._empty_text = "No disk events recorded yet."

    def set_series(self, series: list[Series], empty_text: str | None = None) -> None:
        self._series = [s for s in series if s.points]
        if empty_text is not None:
            self._empty_text = empty_text
        self.update()

    def series(self) -> list[Series]:
        return list(self._series)

    def sizeHint(self) -> QSize:
        return QSize(640, 320)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        text_colour = self.palette().text().color()
        if not self._series:
            painter.setPen(text_colour)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._empty_text)
            return
        metrics = painter.fontMetrics()
        times = [p[0].timestamp() for s in self._series for p in s.points]
        t0, t1 = min(times), max(times)
        if t1 - t0 < 1:
            t1 = t0 + 1
        top_value = max(p[1] for s in self._series for p in s.points) or 1
        ticks = size_ticks(top_value)
        y_max = ticks[-1][0]

        legend_rows = len([s for s in self._series if not s.hidden_in_legend])
        legend_height = legend_rows * (metrics.height() + 2) + 8
        left = max(metrics.horizontalAdvance(label) for _, label in ticks) + 14
        plot = QRectF(left, 10, self.width() - left - 16, self.height() - 40 - legend_height)
        if plot.width() < 40 or plot.height() < 40:
            return

        def to_point(when: float, value: float) -> QPointF:
            x = plot.left() + (when - t0) / (t1 - t0) * plot.width()
            y = plot.bottom() - value / y_max * plot.height()
            return QPointF(x, y)

        # grid and axes
        grid_pen = QPen(QColor("#d8dde3"))
        painter.setPen(grid_pen)
        for value, label in ticks:
            y = to_point(t0, value).y()
            painter.setPen(grid_pen)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text_colour)
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, left - 6, metrics.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        painter.setPen(QPen(text_colour))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        span = t1 - t0
        fmt = "%H:%M:%S" if span < 86400 else "%m/%d %H:%M"
        for fraction in (0.0, 0.5, 1.0):
            when = t0 + span * fraction
            label = datetime.fromtimestamp(when).strftime(fmt)
            if span < 120 and fraction > 0:  # a quick demo: seconds after the first event
                label = f"+{span * fraction:.1f} s"
            width = metrics.horizontalAdvance(label)
            x = plot.left() + plot.width() * fraction - width * fraction
            painter.drawText(QPointF(x, plot.bottom() + metrics.ascent() + 4), label)

        # the step lines
        for series in self._series:
            polygon = QPolygonF()
            previous: QPointF | None = None
            for moment, size in series.points:
                point = to_point(moment.timestamp(), size)
                if previous is not None:
                    polygon.append(QPointF(point.x(), previous.y()))
                polygon.append(point)
                previous = point
            if previous is not None:
                polygon.append(QPointF(plot.right(), previous.y()))
            pen = QPen(series.colour, 3 if series.bold else 2)
            painter.setPen(pen)
            painter.drawPolyline(polygon)
            painter.setBrush(series.colour)
            corners = [polygon.at(i) for i in range(polygon.size())]
            for point in corners[1::2] if len(corners) > 2 else corners[:1]:
                painter.drawEllipse(point, 2.5, 2.5)
            painter.setBrush(Qt.BrushStyle.NoBrush)

        # legend: colour, name, latest size
        y = plot.bottom() + metrics.height() + 12
        bold = QFont(painter.font())
        bold.setBold(True)
        for series in self._series:
            if series.hidden_in_legend:
                continue
            painter.fillRect(QRectF(plot.left(), y + 3, 14, metrics.height() - 6), series.colour)
            painter.setPen(text_colour)
            painter.setFont(bold if series.bold else self.font())
            latest = format_bytes(series.points[-1][1])
            painter.drawText(QPointF(plot.left() + 20, y + metrics.ascent()),
                             f"{series.name}  ({latest} now)")
            y += metrics.height() + 2
        painter.setFont(self.font())
