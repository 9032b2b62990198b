"""The checkpoint thumbnail: a small picture of the VM's screen at the moment it was taken.

The lab host keeps no framebuffer, so the screen is drawn from what the checkpoint records:
a guest desktop with the VM's name and the clock at the checkpoint's time when it ran, a dark
screen when it was off ("Turned off"), a dimmed desktop when it was saved or paused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen, QPixmap


def render_screen(
    vm_name: str,
    state: str,
    when: datetime | None,
    size: QSize,
    device_pixel_ratio: float = 1.0,
    lines: Sequence[str] = (),
) -> QPixmap:
    """A `size` (logical pixels) pixmap of the guest's screen in `state` at `when`; `lines`
    (e.g. a listing of its disk) fill the guest's console window."""
    pixmap = QPixmap(size * device_pixel_ratio)
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    w, h = float(size.width()), float(size.height())
    bezel = QRectF(0.5, 0.5, w - 1, h - 1)
    painter.setPen(QPen(QColor("#1b2631"), 1))
    painter.setBrush(QColor("#2c3e50"))
    painter.drawRoundedRect(bezel, 4, 4)
    screen = bezel.adjusted(5, 5, -5, -5)
    base = state.split("-")[0]
    if base in {"Off", "Stopping", ""}:
        _draw_off(painter, screen)
    else:
        _draw_desktop(painter, screen, vm_name, when, lines)
        if base in {"Saved", "Saving", "Paused", "Pausing"}:
            painter.fillRect(screen, QColor(0, 0, 0, 120))
            _draw_caption(painter, screen, base)
    painter.end()
    return pixmap


def _draw_off(painter: QPainter, screen: QRectF) -> None:
    painter.fillRect(screen, QColor("#0b0c0e"))
    font = QFont(painter.font())
    font.setPixelSize(max(8, int(screen.height() / 9)))
    painter.setFont(font)
    painter.setPen(QColor("#7f8c8d"))
    # Short, wrapped, and true of a VM now and of a checkpoint then (a long line was cut).
    flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
    painter.drawText(screen.adjusted(6, 6, -6, -6), flags, "Turned off")


def _draw_caption(painter: QPainter, screen: QRectF, text: str) -> None:
    font = QFont(painter.font())
    font.setPixelSize(max(9, int(screen.height() / 7)))
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor("#ecf0f1"))
    painter.drawText(screen, Qt.AlignmentFlag.AlignCenter, text)


def _draw_desktop(
    painter: QPainter, screen: QRectF, vm_name: str, when: datetime | None, lines: Sequence[str]
) -> None:
    gradient = QLinearGradient(screen.topLeft(), screen.bottomRight())
    gradient.setColorAt(0.0, QColor("#1565c0"))
    gradient.setColorAt(1.0, QColor("#0d2f5e"))
    painter.fillRect(screen, gradient)
    bar_h = max(6.0, screen.height() / 10)
    bar = QRectF(screen.left(), screen.bottom() - bar_h, screen.width(), bar_h)
    painter.fillRect(bar, QColor(10, 20, 40, 220))
    painter.fillRect(QRectF(bar.left() + 3, bar.top() + 2, bar_h - 4, bar_h - 4), QColor("#3498db"))
    small = QFont(painter.font())
    small.setPixelSize(max(6, int(bar_h * 0.6)))
    painter.setFont(small)
    painter.setPen(QColor("#ecf0f1"))
    if when is not None:
        local = when.astimezone() if when.tzinfo is not None else when
        clock = f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
        painter.drawText(
            bar.adjusted(0, 0, -4, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            clock,
        )
    # A console window with the VM's name, like the guest's own terminal.
    win = QRectF(
        screen.left() + screen.width() * 0.12, screen.top() + screen.height() * 0.14,
        screen.width() * 0.62, screen.height() * 0.55,
    )
    painter.fillRect(win, QColor("#101418"))
    title_h = max(5.0, win.height() / 7)
    painter.fillRect(QRectF(win.left(), win.top(), win.width(), title_h), QColor("#d5d8dc"))
    painter.setPen(QColor("#17202a"))
    small.setPixelSize(max(5, int(title_h * 0.8)))
    painter.setFont(small)
    painter.drawText(
        QRectF(win.left() + 3, win.top(), win.width() - 6, title_h),
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, vm_name,
    )
    if lines:
        mono = QFont("DejaVu Sans Mono")
        mono.setPixelSize(max(5, int(title_h * 0.85)))
        painter.setFont(mono)
        painter.setPen(QColor("#d5f5e3"))
        y = win.top() + title_h * 1.3
        for line in lines:
            if y + title_h > win.bottom():
                break
            painter.drawText(
                QRectF(win.left() + 3, y, win.width() - 6, title_h),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line,
            )
            y += title_h
        return
    painter.setPen(QPen(QColor("#58d68d"), max(1.0, title_h / 5)))
    y = win.top() + title_h * 2
    for width in (0.7, 0.45, 0.6, 0.3):
        if y > win.bottom() - 3:
            break
        left = win.left() + 4
        painter.drawLine(QPointF(left, y), QPointF(left + win.width() * width, y))
        y += title_h * 1.1
