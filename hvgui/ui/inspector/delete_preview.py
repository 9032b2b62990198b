"""The delete preview: what "Delete Checkpoint" will do to each file, shown before it is done.

`DeletePreviewWidget` shows a computed `DeletePreview`; `DeletePreviewDialog` wraps it with
Delete / Cancel for the main window (`confirm_delete`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend.formats import human_size
from hvgui.errors import HvError
from hvgui.inspect import MERGE, DeletePreview, delete_preview
from hvgui.ui.inspector.file_models import PlannedFilesModel
from hvgui.ui.inspector.panels import Banner, WaitingPanel, heading
from hvgui.ui.workers import Op, Runner

if TYPE_CHECKING:
    from hvgui.backend import HostBackend


WHY_WIDTH = 380  # pixels for the wrapped "Why" column


class DeletePreviewWidget(QWidget):
    """A preview's summary, its planned files and whether the disk has room for the merge."""

    def __init__(self, preview: DeletePreview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deletePreview")
        self.preview = preview
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"Deleting “{preview.snapshot}” will:", self))
        self.model = PlannedFilesModel(preview.files, self)
        table = QTableView(self)
        table.setObjectName("plannedFiles")
        table.setAccessibleName("Files the delete touches")
        table.setModel(self.model)
        table.verticalHeader().hide()
        table.setWordWrap(True)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a GUID name keeps its extension
        self.table = table
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(PlannedFilesModel.COLUMNS) - 1,
                                    QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(table, 1)
        merges = any(f.action == MERGE for f in preview.files)
        moved = (f"{'' if preview.measured else 'Up to '}{human_size(preview.bytes_moved)} "
                 "of disk data will be merged"
                 if preview.bytes_moved else "Disks will be merged" if merges
                 else "No disk data needs merging")
        self.summary = Banner(f"{preview.summary()}. {moved}.", "info", self)
        layout.addWidget(self.summary)
        free = human_size(preview.free_space_available)
        if not preview.measured:
            room = ("The host's free space is not visible from here: Hyper-V checks it before "
                    "it merges.")
        elif not preview.bytes_moved:
            room = f"Nothing is merged, so no extra space is needed ({free} free)."
        elif preview.free_space_needed == 0:
            room = ("The merge writes into blocks the disk already has: no extra space "
                    f"({free} free).")
        else:
            room = (f"The merge may need up to {human_size(preview.free_space_needed)} of free "
                    f"space; {human_size(preview.free_space_available)} is free.")
        self.space = Banner(room if preview.enough_space else
                            f"Not enough free space: {room} Free some space first, or the "
                            "merge will stop part-way (the files stay consistent).",
                            "ok" if preview.enough_space else "error", self)
        layout.addWidget(self.space)
        for warning in preview.warnings:
            layout.addWidget(Banner(warning, "warning", self))


class DeletePreviewDialog(QDialog):
    """The preview with Delete / Cancel. Given a `compute` function instead of a preview, the
    dialog computes it off the GUI thread (merges are sized by reading block tables) and shows
    it when ready; Delete stays available, since the host's own checks decide in the end."""

    def __init__(
        self,
        preview: DeletePreview | None,
        parent: QWidget | None = None,
        compute: Callable[[], DeletePreview] | None = None,
        *,
        subtree: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Delete Checkpoint Subtree" if subtree else "Delete Checkpoint")
        self.setObjectName("deletePreviewDialog")
        self.resize(860, 420)
        self.available: QRect | None = None  # where the dialog must fit (default: its screen)
        layout = QVBoxLayout(self)
        self.pages = QStackedWidget(self)
        self.view: QWidget = WaitingPanel("Working out which files the delete merges…", self)
        self.pages.addWidget(self.view)
        layout.addWidget(self.pages, 1)
        buttons = QDialogButtonBox(self)
        self.delete_button = buttons.addButton("&Delete", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.runner = Runner(self, max_threads=1)
        self._closing = False
        if preview is not None:
            self.show_preview(preview)
        elif compute is not None:
            Op(self.runner, lambda progress, cancel: compute(), label="delete preview").success(
                self.show_preview).failure(self._failed).run_in_background()

    def _replace(self, widget: QWidget) -> None:
        self.pages.addWidget(widget)
        self.pages.setCurrentWidget(widget)
        self.view = widget

    def show_preview(self, preview: DeletePreview) -> None:
        if self._closing:
            return
        widget = DeletePreviewWidget(preview, self)
        self._replace(widget)
        self.fit(widget)

    def fit(self, widget: DeletePreviewWidget) -> None:
        """Size the dialog to its table: every column readable without scrolling sideways,
        the reasons wrapped in what is left, within the screen it opens on."""
        screen = self.available or self.screen().availableGeometry()
        table = widget.table
        columns = len(PlannedFilesModel.COLUMNS)
        sized = sum(
            max(table.sizeHintForColumn(i), table.horizontalHeader().sectionSizeHint(i))
            for i in range(columns - 1)
        )
        chrome = 2 * table.frameWidth() + table.verticalScrollBar().sizeHint().width() + 48
        width = min(sized + WHY_WIDTH + chrome, int(screen.width() * 0.95))
        rows = sum(table.sizeHintForRow(r) for r in range(table.model().rowCount()))
        banners = widget.sizeHint().height() - table.sizeHint().height()
        height = table.horizontalHeader().sizeHint().height() + rows * 2 + banners + 120
        self.resize(max(width, 640), max(420, min(height, int(screen.height() * 0.9))))

    def _failed(self, exc: BaseException) -> None:
        if self._closing:
            return
        problem = str(exc) if isinstance(exc, HvError) else f"{type(exc).__name__}: {exc}"
        self._replace(Banner(f"The preview could not be computed: {problem}. Deleting is still "
                             "possible; the host checks the chain before it merges.", "warning",
                             self))

    def done(self, result: int) -> None:
        self._closing = True
        self.runner.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        self.runner.shutdown()
        super().closeEvent(event)


def confirm_delete(
    parent: QWidget | None,
    host: HostBackend,
    vm: str,
    snapshot: str,
    *,
    include_children: bool = False,
) -> bool:
    """Show what deleting `snapshot` (with `include_children`, its subtree) will do and ask;
    True when the user chose Delete. The preview is computed in the background."""
    dialog = DeletePreviewDialog(
        None, parent,
        compute=lambda: delete_preview(host, vm, snapshot, include_children=include_children),
        subtree=include_children)
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()
