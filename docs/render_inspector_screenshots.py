"""Render the inspector's screenshots for the README (offscreen):

    docs/inspector-checkpoint.png  the inspector on the demo lab's Web01 "Site update" checkpoint
    docs/inspector-avhdx.png       `hvgui --inspect` on the real Hyper-V differencing.avhdx,
                                   whose parent is absent

Run: QT_QPA_PLATFORM=offscreen python docs/render_inspector_screenshots.py
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from hvgui.teaching.demo import build_demo_host
from hvgui.ui.inspector.block_map import BlockMapData
from hvgui.ui.inspector.vhdx_view import VhdxView
from hvgui.ui.inspector.window import InspectorWindow

DOCS = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("HVGUI_CORPUS") or DOCS.parent.parent / "shared" / "corpus" / "hyperv")
SIZE = (1280, 800)


def settle(app: QApplication, until: object, timeout_ms: int = 20000) -> None:
    """Process events until `until()` is true (background decoding done)."""
    waited = 0
    while not until() and waited < timeout_ms:  # type: ignore[operator]
        loop = QEventLoop()
        QTimer.singleShot(50, loop.quit)
        loop.exec()
        waited += 50
    app.processEvents()


def view_ready(window: InspectorWindow, path: Path) -> bool:
    view = window.view_of(path)
    if isinstance(view, VhdxView):
        return view.block_panel.map.data() is not None
    return view is not None and view.objectName() != "waitingPanel"


def select(window: InspectorWindow, name: str) -> Path:
    model = window.file_model
    for row, facts in enumerate(model.files()):
        if facts.path.name == name:
            window.file_table.selectRow(row)
            return facts.path
    raise SystemExit(f"{name} is not in the file list")


def most_sources(data: BlockMapData) -> int:
    """The block read from the most files: its read path tells the most."""
    return max(range(data.count), key=lambda i: (len(data.sources[i]), -i))


def render_checkpoint(app: QApplication, work: Path) -> None:
    host = build_demo_host(work / "Hyper-V")
    snap = host.get_snapshot("Web01", "Logs rotated")
    window = InspectorWindow(host=host, vm="Web01", snapshot=snap.id)
    window.resize(*SIZE)
    window.show()
    frozen = select(window, snap.hard_drives[0].path.name)
    settle(app, lambda: view_ready(window, frozen))
    view = window.view_of(frozen)
    assert isinstance(view, VhdxView)
    panel = view.block_panel
    data = panel.map.data()
    assert data is not None
    richest = most_sources(data)
    panel.map.select_block(richest)
    panel.show_read_path(richest)
    app.processEvents()
    window.grab().save(str(DOCS / "inspector-checkpoint.png"))
    window.close()


def render_avhdx(app: QApplication, work: Path) -> None:
    path = work / "differencing.avhdx"
    with gzip.open(CORPUS / "differencing.avhdx.gz", "rb") as fin, open(path, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    os.chdir(work)  # shown as `differencing.avhdx`, as typed after `hvgui --inspect`
    path = Path(path.name)
    window = InspectorWindow(path=path)
    window.resize(*SIZE)
    window.show()
    settle(app, lambda: view_ready(window, path))
    view = window.view_of(path)
    assert isinstance(view, VhdxView)
    panel = view.block_panel
    data = panel.map.data()
    assert data is not None
    richest = most_sources(data)
    panel.map.select_block(richest)
    panel.show_read_path(richest)
    app.processEvents()
    window.grab().save(str(DOCS / "inspector-avhdx.png"))
    window.close()


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    QCoreApplication.setApplicationName("hvgui")
    # A fixed, plain folder: the pictures show paths, and a random temporary name would be noise.
    work = Path(tempfile.gettempdir()) / "lab"
    if work.exists():
        raise SystemExit(f"{work} exists: move it away first (the pictures are rendered there)")
    work.mkdir()
    try:
        render_checkpoint(app, work)
        render_avhdx(app, work)
    finally:
        os.chdir(DOCS)
        shutil.rmtree(work)
    print(f"wrote {DOCS / 'inspector-checkpoint.png'} and {DOCS / 'inspector-avhdx.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
