"""What the inspector's read-only item models share: column titles as headers, selectable but
not editable items, and for tables the row list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

ModelIndex = QModelIndex | QPersistentModelIndex
Row = TypeVar("Row")


def _header(titles: Sequence[str], section: int, orientation: Qt.Orientation, role: int) -> object:
    if (
        role == Qt.ItemDataRole.DisplayRole
        and orientation == Qt.Orientation.Horizontal
        and 0 <= section < len(titles)
    ):
        return titles[section]
    return None


def _flags(index: ModelIndex) -> Qt.ItemFlag:
    if not index.isValid():
        return Qt.ItemFlag.NoItemFlags
    return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class ReadOnlyTable(QAbstractTableModel, Generic[Row]):
    """A table of `rows`, one per item, under `COLUMNS` (or `titles()`)."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, rows: Sequence[Row], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = list(rows)

    def titles(self) -> Sequence[str]:
        return self.COLUMNS

    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, index: ModelIndex) -> Row | None:
        """The item behind `index`, or None for an invalid index."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.titles())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        return _header(self.titles(), section, orientation, role)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        return _flags(index)


class ReadOnlyTree(QAbstractItemModel):
    """Headers and flags of a read-only tree model under `COLUMNS`."""

    COLUMNS: tuple[str, ...] = ()

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        return _header(self.COLUMNS, section, orientation, role)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        return _flags(index)


__all__ = ["ModelIndex", "ReadOnlyTable", "ReadOnlyTree"]
