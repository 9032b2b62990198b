"""The file inspector: every file a checkpoint is made of, decoded (issue 6).

`open_inspector(parent, host=, vm=, snapshot=)` opens it on a checkpoint (snapshot None = Now);
`open_inspector(parent, path=)` on one file. `inspect_main(path)` is `hvgui --inspect FILE`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from hvgui.ui.inspector.delete_preview import confirm_delete
from hvgui.ui.inspector.window import InspectorWindow

if TYPE_CHECKING:
    from hvgui.backend import HostBackend

__all__ = ["InspectorWindow", "confirm_delete", "inspect_main", "open_inspector"]


def open_inspector(
    parent: QWidget | None,
    host: HostBackend | None = None,
    vm: str | None = None,
    snapshot: str | None = None,
    path: str | Path | None = None,
) -> InspectorWindow:
    """Open and show an inspector window (a top-level window owned by `parent`)."""
    window = InspectorWindow(
        host=host, vm=vm, snapshot=snapshot, path=Path(path) if path is not None else None,
        parent=parent,
    )
    window.setWindowFlag(Qt.WindowType.Window, True)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    window.show()
    return window


def inspect_main(path: str | Path) -> int:
    """`hvgui --inspect FILE`: the inspector on one file, until its window closes."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("hvgui")
    window = InspectorWindow(path=Path(path))
    window.show()
    return int(app.exec())
