"""The navigation tree: "Hyper-V Manager" with one child per open host (a lab host's folder
or a server connected to), as Hyper-V Manager lists the servers it manages."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from hvgui.ui.icons import icon

_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class NavigationTree(QTreeWidget):
    """Signals: host_selected(str): the key of the host the user picked (MainWindow.sessions)."""

    host_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setObjectName("navigation")
        self.setAccessibleName("Hosts")
        self.setRootIsDecorated(True)
        self._root = QTreeWidgetItem(self, ["Hyper-V Manager"])
        self._root.setIcon(0, icon("manager"))
        self._root.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self._root.setExpanded(True)
        self.currentItemChanged.connect(self._changed)

    def add_host(self, key: str, label: str, tooltip: str) -> None:
        item = QTreeWidgetItem(self._root, [label])
        item.setIcon(0, icon("host"))
        item.setToolTip(0, tooltip)
        item.setData(0, _PATH_ROLE, key)
        self._root.setExpanded(True)

    def set_tooltip(self, key: str, tooltip: str) -> None:
        for item in self._items():
            if item.data(0, _PATH_ROLE) == key:
                item.setToolTip(0, tooltip)

    def set_host(self, key: str, label: str, tooltip: str) -> None:
        """The host's name and tooltip once it opened (it showed "Loading..." till then)."""
        for item in self._items():
            if item.data(0, _PATH_ROLE) == key:
                item.setText(0, label)
                item.setToolTip(0, tooltip)

    def remove_host(self, key: str) -> None:
        for item in self._items():
            if item.data(0, _PATH_ROLE) == key:
                self._root.removeChild(item)

    def current_host(self) -> str:
        item = self.currentItem()
        return str(item.data(0, _PATH_ROLE) or "") if item is not None else ""

    def select_host(self, key: str) -> None:
        for item in self._items():
            if item.data(0, _PATH_ROLE) == key:
                self.setCurrentItem(item)
                return

    def _items(self) -> list[QTreeWidgetItem]:
        children = (self._root.child(i) for i in range(self._root.childCount()))
        return [item for item in children if item is not None]

    def hosts(self) -> list[str]:
        return [str(item.data(0, _PATH_ROLE)) for item in self._items()]

    def _changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if current is not None and current.data(0, _PATH_ROLE):
            self.host_selected.emit(str(current.data(0, _PATH_ROLE)))
