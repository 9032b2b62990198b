"""Render the main window on the demo lab to docs/main-window.png, and the console of one of
its VMs to docs/console-window.png.

    python tools/render_screenshots.py [--out docs] [--scale 2]

Runs offscreen; builds the demo lab in a temporary folder through the host's real operations,
selects Web01 and its newest checkpoint, and saves what the window paints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, Qt
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parents[1]


def _settle(app: QApplication, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()


def _wait(app: QApplication, done: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the window did not finish in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    _settle(app)


def render(out: Path, scale: float, size: tuple[int, int] = (1360, 900)) -> list[Path]:
    os.environ.setdefault("QT_SCALE_FACTOR", str(scale))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    from hvgui.teaching.demo import build_demo_host
    from hvgui.ui.main_window import MainWindow

    written = []
    with tempfile.TemporaryDirectory(prefix="hvgui-shot-") as tmp:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        root = Path(tmp) / "LAB-HOST01"
        build_demo_host(root)
        window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(size[0], size[1])
        key = window.open_host(root)
        window.show()
        _wait(app, lambda: key in window.sessions)  # opened on a worker
        session = window.sessions[key]
        _settle(app)
        vms = session.vm_model
        row = next(r for r in range(vms.rowCount()) if vms.index(r, 0).data() == "Web01")
        window.vm_view.selectRow(row)
        _settle(app)
        snaps = session.checkpoint_model.snapshots()
        newest = max(snaps, key=lambda s: s.creation_time)
        window.select_checkpoint(newest.id)
        window.vm_view.setFocus()
        # A real checkpoint of Web01 through the window: it appears selected, Now under it,
        # and What happened lists its files and PowerShell line.
        window.acts.vm_checkpoint.trigger()
        _wait(app, lambda: not window.runner.busy and window.selected_checkpoint() is not None
              and window.selected_checkpoint().id not in {s.id for s in snaps})
        # Then one of Archive01, grabbed while its Status column counts.
        out.mkdir(parents=True, exist_ok=True)
        target = out / "main-window.png"
        other = next(v for v in vms.vms() if v.name == "Archive01")
        host = session.host

        def grab_when_counting(*_args: object) -> None:
            # Before 100%: a finished-looking "(100%)" in a picture reads as a stuck status.
            # (A demo checkpoint reports 0% and then 100%: its touched memory is tiny.)
            text = vms.live_status(other.id) or ""
            digits = text.rpartition("(")[2].rstrip("%)")
            if not written and digits.isdigit() and int(digits) < 100:
                window.grab().save(str(target))
                written.append(target)

        def slowed(progress: Callable[[float, str], None]) -> Callable[[float, str], None]:
            # A demo checkpoint takes milliseconds: slow its reports so the count is seen.
            def report(fraction: float, phase: str) -> None:
                time.sleep(0.02)
                progress(fraction, phase)

            return report

        vms.dataChanged.connect(grab_when_counting)
        session.run(other, "Creating Checkpoint",
                    lambda p, c: host.checkpoint_vm(other.id, progress=slowed(p), cancel=c))
        _wait(app, lambda: not window.runner.busy)
        if not written:  # too quick to catch counting: the window as it stands
            window.grab().save(str(target))
            written.append(target)
        vms.dataChanged.disconnect(grab_when_counting)
        # The console of Web01: its files, the note it keeps only in memory, the workload switch.
        from hvgui.ui.console import ConsoleWindow

        window.acts.vm_connect.trigger()
        console = next(w for w in app.topLevelWidgets() if isinstance(w, ConsoleWindow))
        _wait(app, lambda: console.files.topLevelItemCount() > 0 and not window.runner.busy)
        index_page = console.files.findItems("index.html", Qt.MatchFlag.MatchRecursive)
        if index_page:
            console.files.setCurrentItem(index_page[0])
            _wait(app, lambda: bool(console.editor.toPlainText()) and not window.runner.busy)
        console_png = out / "console-window.png"
        console.grab().save(str(console_png))
        written.append(console_png)
        console.close()
        session.stop()
        window.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--size", type=int, nargs=2, default=(1360, 900), metavar=("W", "H"))
    args = parser.parse_args()
    for path in render(args.out, args.scale, tuple(args.size)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
