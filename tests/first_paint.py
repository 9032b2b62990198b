"""Run by tests/test_packaging.py with an installed wheel's Python, not the repository's:
starts hvgui as its `hvgui` command does (hvgui.app.main), stops once the main window has
painted, and prints what a user would have seen as JSON.

    python first_paint.py HOST_DIR SCREENSHOT.png
"""

from __future__ import annotations

import json
import sys
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QWidget

import hvgui
import hvgui.app
from hvgui.ui.icons import ICON_DIR, icon
from hvgui.ui.main_window import MainWindow

messages: list[str] = []
qInstallMessageHandler(lambda kind, context, text: messages.append(f"{kind.name}: {text}"))
report: dict[str, Any] = {}


def finish(window: MainWindow) -> None:
    if window.opening:  # the host opens on a worker: report the window once it is in
        QTimer.singleShot(10, lambda: finish(window))
        return
    window.grab().save(sys.argv[2])
    names = sorted(p.stem for p in ICON_DIR.glob("*.svg"))
    report.update(
        package=hvgui.__file__,
        icon_dir=str(ICON_DIR),
        icons=names,
        null_icons=[name for name in names if icon(name).isNull()],
        window_icon_null=window.windowIcon().isNull(),
        title=window.windowTitle(),
        vms=sorted(
            str(model.index(row, 0).data())
            for model in [window.vm_view.model()]
            for row in range(model.rowCount())
        ),
    )
    app = QApplication.instance()
    assert app is not None
    app.quit()


class FirstPaint(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not report.get("painted"):
            window = watched.window() if isinstance(watched, QWidget) else None
            if isinstance(window, MainWindow):
                report["painted"] = type(watched).__name__
                QTimer.singleShot(0, lambda: finish(window))
        return False


create = hvgui.app._application
watcher = FirstPaint()


def application(argv: Any) -> Any:
    app, owns = create(argv)
    app.installEventFilter(watcher)
    return app, owns


hvgui.app._application = application
code = hvgui.app.main(["--host", sys.argv[1]])
report["exit"] = code
report["messages"] = messages
print(json.dumps(report))
