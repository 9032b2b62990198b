"""hvgui says why Qt cannot show a window (exit 1, what is missing, how to get it) instead of
Qt's abort blaming libxcb-cursor0."""

from __future__ import annotations

import os
import subprocess
import sys

from hvgui.ui.display_check import display_problem

# Starts hvgui with one library hidden from the check, the way a machine without it would be.
START_WITHOUT = """
import sys
import hvgui.ui.display_check as check
hidden = sys.argv[1]
check.loadable = lambda soname: soname != hidden
check.x_server_answers = lambda display: True
from hvgui.app import main
sys.exit(main([]))
"""


def start_hvgui(code: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, *code], env=environ, capture_output=True, text=True, timeout=120
    )


def test_without_a_display_hvgui_says_so_and_exits_1() -> None:
    result = start_hvgui(["-m", "hvgui"])
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hvgui: error: Qt cannot show a window: no display (neither DISPLAY nor WAYLAND_DISPLAY"
        " is set)",
        "  run it in a desktop session; for use without a desktop (CI, SSH):"
        " QT_QPA_PLATFORM=offscreen hvgui",
    ]


def test_a_missing_xcb_library_is_named_with_its_packages() -> None:
    result = start_hvgui(["-c", START_WITHOUT, "libxcb-keysyms.so.1"], DISPLAY=":0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hvgui: error: Qt cannot show a window: its X11 (xcb) platform needs libraries that are"
        " missing: libxcb-keysyms.so.1",
        "  Debian/Ubuntu: sudo apt-get install libxcb-keysyms1",
        "  Fedora: sudo dnf install xcb-util-keysyms",
        "  for use without a desktop (CI, SSH): QT_QPA_PLATFORM=offscreen hvgui",
    ]


def test_every_missing_library_is_named_once_per_package() -> None:
    gone = {"libxcb-icccm.so.4", "libxcb-shm.so.0", "libxcb-sync.so.1"}
    problem = display_problem({"DISPLAY": ":0"}, "linux", probe=lambda s: s not in gone)
    assert problem is not None
    lines = problem.splitlines()
    assert lines[0].endswith("missing: libxcb-icccm.so.4, libxcb-shm.so.0, libxcb-sync.so.1")
    assert lines[1] == (
        "  Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-shm0 libxcb-sync1"
    )
    assert lines[2] == "  Fedora: sudo dnf install xcb-util-wm libxcb"


def test_a_display_nobody_answers_on_is_named() -> None:
    """A real connection attempt through libxcb, to a display number no server listens on."""
    problem = display_problem({"DISPLAY": ":97"}, "linux", probe=lambda s: True)
    assert problem is not None
    assert problem.splitlines()[0] == (
        "Qt cannot show a window: the X display :97 does not answer"
        " (is the X server running, may this user use it?)"
    )


def test_offscreen_and_other_platforms_need_nothing_checked() -> None:
    def nothing_loads(soname: str) -> bool:
        return False

    for platform in ("offscreen", "minimal", "vnc:size=800x600", "offscreen;xcb"):
        environ = {"QT_QPA_PLATFORM": platform}
        assert display_problem(environ, "linux", probe=nothing_loads) is None
    assert display_problem({}, "win32", probe=nothing_loads) is None
    assert display_problem({}, "darwin", probe=nothing_loads) is None


def test_wayland_needs_its_display_and_no_x_library() -> None:
    def nothing_loads(soname: str) -> bool:
        return False

    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", nothing_loads) is None
    problem = display_problem({"QT_QPA_PLATFORM": "wayland"}, "linux", nothing_loads)
    assert problem is not None
    assert "QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set" in problem
    problem = display_problem(
        {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", nothing_loads
    )
    assert problem is not None and "QT_QPA_PLATFORM=xcb but DISPLAY is not set" in problem


# Starts hvgui offscreen on a machine with no X library at all, quitting once the loop runs.
START_OFFSCREEN = """
import sys
from PySide6.QtCore import QTimer
import hvgui.app
import hvgui.ui.display_check as check
check.loadable = lambda soname: False
create = hvgui.app._application
def quitting(argv):
    app, owns = create(argv)
    QTimer.singleShot(0, app.quit)
    return app, owns
hvgui.app._application = quitting
sys.exit(hvgui.app.main(["--inspect", sys.argv[1]]))
"""


def test_offscreen_starts_without_any_display_or_x_library() -> None:
    result = start_hvgui(["-c", START_OFFSCREEN, __file__], QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stderr
    assert "cannot show a window" not in result.stderr
