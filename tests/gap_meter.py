"""Measures how long the GUI thread goes without running its event loop.

A QTimer asks to tick every `interval_ms`; the longest time between two ticks, minus the
interval, is the worst stall a user could have felt (a click or a repaint waiting that long).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class GapMeter(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = interval_ms / 1000
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.worst = 0.0      # seconds, beyond the interval
        self.ticks = 0

    def start(self) -> None:
        self.worst, self.ticks = 0.0, 0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop and return the worst stall in milliseconds."""
        self._timer.stop()
        self._tick()
        return self.worst_ms

    @property
    def worst_ms(self) -> float:
        return self.worst * 1000

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self.interval)
        self._last = now
        self.ticks += 1
