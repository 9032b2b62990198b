"""The Actions pane on the right: the applicable actions of the host, the selected VM and the
selected checkpoint, under grey section headers, as in Hyper-V Manager."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class ActionsPane(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("actionsPane")
        self.setAccessibleName("Actions")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._sections: list[tuple[str, Sequence[QAction | None]]] = []
        self._last_shown: tuple[object, ...] | None = None
        self._greyed_for = ""
        self._header = QLabel("Actions")
        self._header.setObjectName("paneHeader")
        self._labels: list[QLabel] = []  # section titles, reused in order
        self._buttons: dict[QAction, QToolButton] = {}  # one per action, reused
        self._body = QWidget()
        self._body.setObjectName("actionsBody")
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self.setWidget(self._body)

    def set_sections(
        self, sections: Sequence[tuple[str, Sequence[QAction | None]]], *,
        greyed_for: str = "",
    ) -> None:
        """Sections of (title, actions); None is a gap; hidden or disabled actions are left
        out, except disabled ones whose tooltip is `greyed_for` (shown greyed, saying why)."""
        self._sections = list(sections)
        self._greyed_for = greyed_for
        shown = self._shown()
        if shown != self._last_shown:  # refreshes that change nothing rebuild nothing
            self._last_shown = shown
            self.rebuild()

    def _shown(self) -> tuple[object, ...]:
        return tuple(
            (title, *((id(a), a.isEnabled()) for a in actions if a and self._offered(a)))
            for title, actions in self._sections
        )

    def _offered(self, action: QAction | None) -> bool:
        return action is not None and action.isVisible() and (
            action.isEnabled() or (bool(self._greyed_for) and action.toolTip() == self._greyed_for)
        )

    def rebuild(self) -> None:
        # The pane's widgets are made once and reused, and only those that come or go are
        # shown or hidden: an operation's start and end change what is offered, and making
        # (and styling) a dozen buttons then stalled the GUI thread.
        wanted: list[QWidget] = [self._header]
        labels = iter(self._labels)
        for title, actions in self._sections:
            label = next(labels, None) or self._new_label()
            label.setText(title)
            label.setToolTip(title)
            wanted.append(label)
            wanted += [self._buttons.get(action) or self._new_button(action)
                       for action in actions if action is not None and self._offered(action)]
        shown = [item.widget() for item in map(self._layout.itemAt, range(self._layout.count()))
                 if item is not None and item.widget() is not None]
        if shown == wanted:
            return
        while self._layout.count():
            self._layout.takeAt(0)
        for widget in {*self._labels, *self._buttons.values()} - set(wanted):
            widget.hide()  # gone now, not at the next event-loop pass
        for widget in wanted:
            self._layout.addWidget(widget)
            widget.show()
        self._layout.addStretch(1)

    def _new_label(self) -> QLabel:
        label = QLabel()
        label.setObjectName("actionsSection")
        label.setWordWrap(True)  # a long checkpoint name wraps instead of being cut off
        self._labels.append(label)
        return label

    def _new_button(self, action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setAutoRaise(True)
        button.setIconSize(QSize(16, 16))
        button.setObjectName("actionsItem")
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._buttons[action] = button
        return button

    def texts(self) -> list[str]:
        """The visible entries' texts, without accelerator ampersands (for tests and a11y)."""
        out = []
        for i in range(self._layout.count()):
            item = self._layout.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QToolButton) and widget.defaultAction() is not None:
                out.append(widget.defaultAction().text().replace("&", ""))
        return out
