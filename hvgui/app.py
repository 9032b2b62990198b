"""The GUI entry point: `hvgui [--host DIR] [--inspect FILE]`.

Without --host the app opens `HVGUI_HOST`, else the hosts open last time (one gone since is not
reopened), else the default lab host; on first start (the default host missing or empty) it
builds the demo lab there, in the background, and opens it. If every host open last time is
gone, it starts as on first start. A folder the user named is opened
only if it is a host (an empty one becomes a host when the user says so). Every folder is
looked at on a worker: the window shows at once, whatever the disks do. With a QApplication
already running (an embedding program, tests), main() shows its window and returns 0, leaving
the event loop to the caller.
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


NAMED, REMEMBERED, DEFAULT = "named", "remembered", "default"


def _host_dirs(args: argparse.Namespace, remembered: list[str]) -> tuple[list[Path], str]:
    """The host folders to open (no I/O: they are looked at on workers) and where they come
    from: NAMED (--host, HVGUI_HOST: each must be a host), REMEMBERED (one gone since is not
    reopened) or DEFAULT (the app's own folder, the only one where a first start builds the
    demo lab)."""
    if args.host:
        return [Path(p) for p in args.host], NAMED
    if os.environ.get("HVGUI_HOST"):
        return [Path(os.environ["HVGUI_HOST"])], NAMED
    if remembered:
        return [Path(p) for p in remembered], REMEMBERED
    from hvgui.host import default_host_dir

    return [default_host_dir()], DEFAULT


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
    folders, source = _host_dirs(args, remembered)
    if source == DEFAULT:
        _open_default(window, folders[0])
    elif source == REMEMBERED:
        _open_remembered(window, folders)
    else:
        for folder in folders:
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


def _open_remembered(window: Any, folders: list[Path]) -> None:
    """The hosts open last time, each looked at on its worker (one gone since is not
    reopened). If every one is gone and the window has no other host by then, the app starts
    as on first start, in its own folder (_open_default), not with no host at all."""
    from hvgui.host import default_host_dir

    gone: set[str] = set()
    waiting: set[str] = set()

    def went(key: str) -> None:
        gone.add(key)

    def ended(key: str) -> None:
        if key not in waiting:
            return
        waiting.discard(key)
        if waiting:
            return
        window.host_gone.disconnect(went)
        window.host_opened.disconnect(ended)
        if gone == keys and not window.sessions and not window.opening:
            _open_default(window, default_host_dir())

    window.host_gone.connect(went)
    window.host_opened.connect(ended)
    keys = {window.open_folder(folder, "Open Host", remembered=True) for folder in folders}
    waiting.update(keys)


def _open_default(window: Any, folder: Path) -> None:
    """The app's own folder, looked at on a worker: on first start (missing or empty) the
    demo lab is built there in the background, then opened; else it is opened."""
    from hvgui.backend.phases import status_text
    from hvgui.progress import CancelToken, Progress
    from hvgui.teaching.demo import build_demo_host
    from hvgui.ui import ask
    from hvgui.ui.workers import Op

    def demo(progress: Progress, cancel: CancelToken) -> Any:
        if not _is_empty(folder):
            return None
        progress(0.0, "Starting")
        return build_demo_host(folder, progress=progress, cancel=cancel)

    def progress(fraction: float, phase: str) -> None:
        window.statusBar().showMessage(
            f"Building the demo lab in {folder}: {status_text(phase, int(fraction * 100))}"
        )

    def built(host: Any) -> None:
        if host is None:
            window.open_folder(folder, "Open Host")
        else:  # opened as the window opens a folder: its operations in child processes
            window.statusBar().clearMessage()
            window.open_host(folder)

    Op(window.runner, demo, label="Demo lab").on_progress(progress).success(built).failure(
        lambda exc: ask.show_error(window, "Demo lab", exc)).run_in_background()


if __name__ == "__main__":
    sys.exit(main())
