"""Table models of the inspector: a checkpoint's files, and a delete preview's planned files."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor

from hvgui.backend.formats import file_name, human_size
from hvgui.inspect import DELETE, KEEP, MERGE, FileFacts, PlannedFile
from hvgui.ui.inspector.model_base import ModelIndex, ReadOnlyTable


class Roles(IntEnum):
    """Custom roles: ObjectRole hands the view the core object behind a row."""

    ObjectRole = int(Qt.ItemDataRole.UserRole) + 1


class FileListModel(ReadOnlyTable[FileFacts]):
    """File | Kind | Drive | Size on disk | Size | Virtual size | Read-only | Modified."""

    COLUMNS = ("File", "Kind", "Drive", "On disk", "Size", "Virtual size", "Read-only",
               "Modified")

    def files(self) -> list[FileFacts]:
        return list(self._rows)

    def set_files(self, files: list[FileFacts]) -> None:
        self.set_rows(files)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        facts = self.row_at(index)
        if facts is None:
            return None
        column = index.column()
        if role == Roles.ObjectRole:
            return facts
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(facts, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(facts.host_path), facts.role]
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
            return f"{indent}{facts.host_path.name}"
        if column == 1:
            return facts.label
        if column == 2:
            return facts.drive or ""
        if not facts.exists:
            return "missing" if column == 3 else ""
        if column == 3:
            return human_size(facts.size_on_disk)
        if column == 4:
            return human_size(facts.size)
        if column == 5:
            return human_size(facts.virtual_size) if facts.virtual_size else ""
        if column == 6:
            return "yes" if facts.read_only else "no"
        if column == 7 and facts.modified is not None:
            return facts.modified.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return ""


_ACTION_TEXT = {DELETE: "Deleted", MERGE: "Merged", KEEP: "Kept"}
_ACTION_COLOURS = {DELETE: "#fde2e1", MERGE: "#fff4ce", KEEP: "#e6f4ea"}


class PlannedFilesModel(ReadOnlyTable[PlannedFile]):
    """Action | Checkpoint | File | Into | On disk | Data moved | Why."""

    COLUMNS = ("Action", "Checkpoint", "File", "Into", "On disk", "Data moved", "Why")

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        planned = self.row_at(index)
        if planned is None:
            return None
        if role == Roles.ObjectRole:
            return planned
        if role == Qt.ItemDataRole.BackgroundRole and index.column() == 0:
            return QBrush(QColor(_ACTION_COLOURS.get(planned.action, "#ffffff")))
        if role == Qt.ItemDataRole.ToolTipRole:
            into = f"\ninto {planned.into}" if planned.into else ""
            return f"{planned.path}{into}\n{planned.reason}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return _ACTION_TEXT.get(planned.action, planned.action)
        if column == 1:
            return planned.checkpoint
        if column == 2:
            return file_name(planned.path)
        if column == 3:
            return file_name(planned.into) if planned.into else ""
        if column == 4:
            return human_size(planned.size)  # allocated, as "On disk" everywhere
        if column == 5:
            return human_size(planned.bytes_moved) if planned.action == MERGE else ""
        return planned.reason
