"""Render one lesson as the window walks through it: docs/lesson-step-1.png (after its first
step), docs/lesson-inspector.png (the inspector that step opens), docs/lesson-done.png.

    python tools/render_lesson_screenshots.py [--lesson not-a-backup] [--out docs]

Runs offscreen: opens the main window, Help > Lessons..., starts the lesson (its demo lab is
built in a fresh temporary folder) and presses Next through every step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings
from PySide6.QtWidgets import QApplication


def _wait(app: QApplication, done: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the lesson did not finish in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    for _ in range(20):
        app.processEvents()


def render(lesson: str, out: Path, size: tuple[int, int] = (1500, 900)) -> list[Path]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    from hvgui.ui.main_window import MainWindow

    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="hvgui-lesson-shot-") as tmp:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(*size)
        window.show()
        window.show_lessons()
        pane = window.lessons
        pane.choose(lesson)
        pane.start_button.click()
        _wait(app, lambda: pane.step == 0 and pane.next_button.isEnabled())
        lab = window.session.host.root if window.session else None

        def save(name: str, widget: object = window) -> None:
            path = out / f"lesson-{name}.png"
            widget.grab().save(str(path))  # type: ignore[attr-defined]
            written.append(path)

        steps = len(pane.lesson.steps) if pane.lesson else 0
        for number in range(1, steps + 1):
            pane.next_button.click()
            _wait(app, lambda n=number: pane.step == n and pane.next_button.isEnabled())
            time.sleep(1.7)  # What happened's rows arrive with the next read, then highlight
            _wait(app, lambda: True)
            if number == 1 and pane.inspector is not None:
                _wait(app, lambda: pane.inspector.view_of(
                    window.session.host.get_vm("Web01").hard_drives[0].path) is not None)
                time.sleep(1.0)
                _wait(app, lambda: True)
                save("inspector", pane.inspector)
                pane.inspector.close()
            if number == 1:
                save("step-1")
        save("done")
        window.close()
        if lab is not None:
            shutil.rmtree(lab.parent, ignore_errors=True)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lesson", default="not-a-backup")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args()
    for path in render(args.lesson, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
