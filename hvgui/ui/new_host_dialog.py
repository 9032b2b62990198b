"""File > New Host...: the folder of a new lab host and the Windows folder it stands for (its
configurations and parent locators name their files below that root, as a real host's do)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hvgui.connect import default_windows_root, windows_root_problem
from hvgui.ui import ask


class NewHostDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("newHostDialog")
        self.setWindowTitle("New Host")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Make a new lab host in a new or empty folder."))
        form = QFormLayout()
        self.folder = QLineEdit()
        self.folder.setObjectName("hostFolder")
        self.folder.setPlaceholderText("a new or empty folder")
        browse = QPushButton("&Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        label = QLabel("&Folder:")
        label.setBuddy(self.folder)
        form.addRow(label, row)
        self.windows_root = QLineEdit(default_windows_root())
        self.windows_root.setObjectName("windowsRoot")
        self.windows_root.setMinimumWidth(420)
        form.addRow("&Windows root:", self.windows_root)
        layout.addLayout(form)
        about = QLabel("The folder of the Windows host this lab host stands for: its "
                       "configurations and parent locators name their files below it, as "
                       "Hyper-V's do. It cannot be changed later.")
        about.setWordWrap(True)
        layout.addWidget(about)
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        # Room for the longest message, kept empty when there is none: the dialog never jumps.
        self.problem.setMinimumHeight(3 * self.problem.fontMetrics().lineSpacing())
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.folder.textChanged.connect(self._check)
        self.windows_root.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        chosen = ask.ask_directory(self, "New Host (a new or empty folder)")
        if chosen is not None:
            self.folder.setText(str(chosen))

    def _check(self) -> None:
        """OK only for a folder and a Windows root new_lab_host accepts; one line says why not."""
        problem = windows_root_problem(self.windows_root.text())
        if problem:
            problem = f"Windows root: {problem}."
        elif not self.folder.text().strip():
            problem = "Choose the folder of the new host."
        elif not Path(self.folder.text().strip()).expanduser().is_absolute():
            problem = "Folder: give its full path (or Browse...)."
        self.problem.setText(problem)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not problem)

    def values(self) -> tuple[Path, str]:
        return Path(self.folder.text().strip()).expanduser(), self.windows_root.text().strip()

    @classmethod
    def ask(cls, parent: QWidget | None) -> tuple[Path, str] | None:
        """(the new host's folder, its Windows root), or None when cancelled."""
        dialog = cls(parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.values()
