"""The delete preview: what "Delete Checkpoint" will do to each file, shown before it is done.

`DeletePreviewWidget` shows a computed `DeletePreview`; `DeletePreviewDialog` wraps it with
Delete / Cancel for the main window (`confirm_delete`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hvgui.errors import HvError
from hvgui.host.inspect import DeletePreview, delete_preview
from hvgui.ui.formatting import size_text
from hvgui.ui.inspector.file_models import PlannedFilesModel
from hvgui.ui.inspector.panels import Banner, heading

if TYPE_CHECKING:
    from hvgui.host import Host


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
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(table, 1)
        moved = (f"{size_text(preview.bytes_moved)} of disk data will be merged"
                 if preview.bytes_moved else "No disk data needs merging")
        self.summary = Banner(f"{preview.summary()}. {moved}.", "info", self)
        layout.addWidget(self.summary)
        if preview.free_space_needed == 0:
            room = "The merge needs no extra space."
        else:
            room = (f"The merge may need up to {size_text(preview.free_space_needed)} of free "
                    f"space; {size_text(preview.free_space_available)} is free.")
        self.space = Banner(room if preview.enough_space else
                            f"Not enough free space: {room} Free some space first, or the "
                            "merge will stop part-way (the files stay consistent).",
                            "ok" if preview.enough_space else "error", self)
        layout.addWidget(self.space)
        for warning in preview.warnings:
            layout.addWidget(Banner(warning, "warning", self))


class DeletePreviewDialog(QDialog):
    """The preview with Delete / Cancel."""

    def __init__(self, preview: DeletePreview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Delete Checkpoint")
        self.setObjectName("deletePreviewDialog")
        self.resize(760, 380)
        layout = QVBoxLayout(self)
        self.view = DeletePreviewWidget(preview, self)
        layout.addWidget(self.view, 1)
        buttons = QDialogButtonBox(self)
        self.delete_button = buttons.addButton("&Delete", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def confirm_delete(parent: QWidget | None, host: Host, vm: str, snapshot: str) -> bool:
    """Show what deleting `snapshot` will do and ask; True when the user chose Delete.

    If the preview cannot be computed (a broken chain), the dialog says why and still lets the
    user delete: the host's own checks decide."""
    try:
        preview = delete_preview(host, vm, snapshot)
    except HvError as exc:
        preview = DeletePreview(vm, snapshot, [], 0, 0, 0,
                                [f"The preview could not be computed: {exc}"])
    dialog = DeletePreviewDialog(preview, parent)
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()
