"""The GUI entry point: `hvgui [--host DIR] [--inspect FILE]`.

Without --host the app opens `HVGUI_HOST`, else the hosts open last time, else the default lab
host; on first start (the default host missing or empty) it builds the demo lab there, in the
background, and opens it. A folder the user named is opened only if it is a host (an empty one
becomes a host when the user says so). With a QApplication already running (an embedding
program, tests), main() shows its window and returns 0, leaving the event loop to the caller.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QWidget

from hvgui import __version__
from hvgui.ui.display_check import display_problem

# Windows created by main() when it did not run the event loop itself (kept alive here).
windows: list[QWidget] = []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hvgui", description="Hyper-V Manager's checkpoint workflow on a lab host."
    )
    parser.add_argument("--version", action="version", version=f"hvgui {__version__}")
    parser.add_argument("--host", type=Path, action="append", metavar="DIR",
                        help="open the lab host in DIR (may be given more than once)")
    parser.add_argument("--inspect", type=Path, metavar="FILE",
                        help="open the file inspector on a VHDX, AVHDX, XML, BIN or VSV file")
    return parser


def _application(argv: Sequence[str]) -> tuple[QApplication, bool]:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing, False
    app = QApplication([sys.argv[0] if sys.argv else "hvgui", *argv])
    app.setApplicationName("hvgui")
    app.setOrganizationName("hvgui")
    app.setDesktopFileName("hvgui")
    app.setStyle("Fusion")
    return app, True


def _is_empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def _host_dirs(args: argparse.Namespace, remembered: list[str]) -> tuple[list[Path], bool]:
    """The host folders to open, and whether they are the app's own default folder (the only
    one where a first start builds the demo lab: a folder the user named must be a host)."""
    if args.host:
        return [Path(p) for p in args.host], False
    if os.environ.get("HVGUI_HOST"):
        return [Path(os.environ["HVGUI_HOST"])], False
    kept = [Path(p) for p in remembered if Path(p).is_dir()]
    if kept:
        return kept, False
    from hvgui.host import default_host_dir

    return [default_host_dir()], True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if QApplication.instance() is None:
        problem = display_problem(os.environ)
        if problem is not None:
            print(f"hvgui: error: {problem}", file=sys.stderr)
            return 1
    app, owns_loop = _application([])
    from hvgui.ui.icons import icon

    app.setWindowIcon(icon("hvgui"))
    if args.inspect is not None:
        from hvgui.ui.inspector import open_inspector

        window: QWidget = open_inspector(None, path=args.inspect)
        window.show()
        windows.append(window)
        return app.exec() if owns_loop else 0

    from hvgui.ui.main_window import MainWindow

    window = MainWindow()
    value: Any = window.settings.value("hosts/open", [])  # INI gives a str for one item
    remembered = [value] if isinstance(value, str) else [str(v) for v in value or []]
    folders, ours = _host_dirs(args, remembered)
    for folder in folders:
        if ours and _is_empty(folder):
            _build_demo(window, folder)
        else:
            window.open_folder(folder, "Open Host")
    current = str(window.settings.value("hosts/current", ""))
    if args.host is None and current in window.navigation.hosts():  # opening, or open
        window.navigation.select_host(current)  # the host shown when the app last closed
    window.show()
    windows.append(window)
    if not owns_loop:
        return 0
    _show_unexpected_errors(window)
    return app.exec()


def _show_unexpected_errors(window: QWidget) -> None:
    """A bug in a GUI-thread callback reaches the user as a dialog (details behind a button)
    instead of only a traceback on a terminal nobody reads."""
    from hvgui.ui import ask

    previous = sys.excepthook
    showing = False

    def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        nonlocal showing
        previous(kind, exc, tb)
        if showing or not isinstance(exc, Exception):
            return
        showing = True
        try:
            ask.show_error(window, "hvgui", exc)
        finally:
            showing = False

    sys.excepthook = hook


def _build_demo(window: Any, folder: Path) -> None:
    """First start: build the demo lab in the background, then open it."""
    from hvgui.backend.phases import status_text
    from hvgui.teaching.demo import build_demo_host
    from hvgui.ui import ask
    from hvgui.ui.workers import Op

    window.statusBar().showMessage(f"Building the demo lab in {folder}...")

    def progress(fraction: float, phase: str) -> None:
        window.statusBar().showMessage(
            f"Building the demo lab: {status_text(phase, int(fraction * 100))}"
        )

    Op(window.runner, lambda p, c: build_demo_host(folder, progress=p, cancel=c),
       label="Demo lab").on_progress(progress).success(
        lambda host: window.open_host(folder, host)
    ).failure(lambda exc: ask.show_error(window, "Demo lab", exc)).run_in_background()


if __name__ == "__main__":
    sys.exit(main())
