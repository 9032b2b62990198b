"""Table models of the inspector: a checkpoint's files, and a delete preview's planned files."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from hvgui.host.inspect import DELETE, KEEP, MERGE, FileFacts, PlannedFile
from hvgui.ui.formatting import size_text

ModelIndex = QModelIndex | QPersistentModelIndex


class Roles(IntEnum):
    """Custom roles: ObjectRole hands the view the core object behind a row."""

    ObjectRole = int(Qt.ItemDataRole.UserRole) + 1


class FileListModel(QAbstractTableModel):
    """File | Kind | Drive | Size on disk | Size | Virtual size | Read-only | Modified."""

    COLUMNS = ("File", "Kind", "Drive", "On disk", "Size", "Virtual size", "Read-only",
               "Modified")

    def __init__(self, files: list[FileFacts], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._files = list(files)

    def files(self) -> list[FileFacts]:
        return list(self._files)

    def set_files(self, files: list[FileFacts]) -> None:
        self.beginResetModel()
        self._files = list(files)
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._files)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._files):
            return None
        facts = self._files[index.row()]
        column = index.column()
        if role == Roles.ObjectRole:
            return facts
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(facts, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(facts.path), facts.role]
            if facts.problem:
                lines.append(f"Problem: {facts.problem}")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ForegroundRole and (facts.problem or not facts.exists):
            return QBrush(QColor("#b3261e"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (3, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(facts: FileFacts, column: int) -> str:
        if column == 0:
            indent = "    " * (facts.depth or 0)
            return f"{indent}{facts.path.name}"
        if column == 1:
            return facts.label
        if column == 2:
            return facts.drive or ""
        if not facts.exists:
            return "missing" if column == 3 else ""
        if column == 3:
            return size_text(facts.size_on_disk)
        if column == 4:
            return size_text(facts.size)
        if column == 5:
            return size_text(facts.virtual_size) if facts.virtual_size else ""
        if column == 6:
            return "yes" if facts.read_only else "no"
        if column == 7 and facts.modified is not None:
            return facts.modified.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return ""

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


_ACTION_TEXT = {DELETE: "Deleted", MERGE: "Merged", KEEP: "Kept"}
_ACTION_COLOURS = {DELETE: "#fde2e1", MERGE: "#fff4ce", KEEP: "#e6f4ea"}


class PlannedFilesModel(QAbstractTableModel):
    """Action | File | Into | Size | Bytes moved | Why."""

    COLUMNS = ("Action", "File", "Into", "Size", "Data moved", "Why")

    def __init__(self, files: list[PlannedFile], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._files = list(files)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._files)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._files):
            return None
        planned = self._files[index.row()]
        if role == Roles.ObjectRole:
            return planned
        if role == Qt.ItemDataRole.BackgroundRole and index.column() == 0:
            return QBrush(QColor(_ACTION_COLOURS.get(planned.action, "#ffffff")))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{planned.path}\n{planned.reason}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return _ACTION_TEXT.get(planned.action, planned.action)
        if column == 1:
            return planned.path.name
        if column == 2:
            return planned.into.name if planned.into else ""
        if column == 3:
            return size_text(planned.size)
        if column == 4:
            return size_text(planned.bytes_moved) if planned.action == MERGE else ""
        return planned.reason

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
