"""Small panels the inspector's views share: a message banner, an error panel, a waiting note."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QTabWidget, QVBoxLayout, QWidget

_BANNER_STYLES = {
    "error": "background:#fde2e1; border:1px solid #e8a19b; color:#5f1410;",
    "warning": "background:#fff4ce; border:1px solid #e5c86a; color:#4d3800;",
    "info": "background:#e8f0fe; border:1px solid #a9c1f0; color:#0b2d6b;",
    "ok": "background:#e6f4ea; border:1px solid #9fd3ae; color:#0d3b1e;",
}


class Banner(QLabel):
    """A coloured one-paragraph message (error, warning, info or ok)."""

    def __init__(self, text: str, level: str = "info", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.level = level
        self.setObjectName(f"banner_{level}")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet(f"QLabel {{ {_BANNER_STYLES[level]} border-radius:4px; padding:8px; }}")


class ErrorPanel(QFrame):
    """What went wrong with a file, in words: shown instead of a view, never a crash."""

    def __init__(self, title: str, problem: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPanel")
        self.problem = problem
        layout = QVBoxLayout(self)
        layout.addWidget(heading(title, self))
        layout.addWidget(Banner(problem, "error", self))
        layout.addStretch(1)


class WaitingPanel(QLabel):
    """Shown while a file is read off the GUI thread."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("waitingPanel")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("QLabel { color: #5f6368; }")


def heading(text: str, parent: QWidget | None = None) -> QLabel:
    """A bold section title."""
    label = QLabel(text, parent)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.1)
    label.setFont(font)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def replace_tab(tabs: QTabWidget, old: QWidget, new: QWidget, title: str) -> None:
    """Put `new` where `old` was (a placeholder whose content has arrived), and delete `old`."""
    index = tabs.indexOf(old)
    current = tabs.currentIndex() == index
    tabs.removeTab(index)
    old.deleteLater()
    tabs.insertTab(index, new, title)
    if current:
        tabs.setCurrentIndex(index)
