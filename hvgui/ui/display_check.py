"""Can Qt show a window here? Asked before the QApplication exists, because Qt's own answer
is an abort (exit 134) whose message blames libxcb-cursor0 whatever is really missing.

Linux only: elsewhere (and on the offscreen, minimal, vnc... platforms) Qt needs nothing the
check could name.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Mapping

# What Qt 6's xcb platform plugin links (ldd of libqxcb.so and libQt6XcbQpa.so):
# soname -> (Debian/Ubuntu package, Fedora package).
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
}

HEADLESS = "for use without a desktop (CI, SSH): QT_QPA_PLATFORM=offscreen hvgui"


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds the library, exactly as Qt's plugin will look for it."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def x_server_answers(display: str) -> bool:
    """Whether the X server named by DISPLAY accepts a connection (libxcb, as Qt connects)."""
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return connection is not None and xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)  # also frees a connection in error


def _platform(environ: Mapping[str, str]) -> str:
    """The platform Qt will try first: QT_QPA_PLATFORM's first entry (`wayland;xcb`,
    `xcb:option`), else wayland in a Wayland session, else xcb."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    return "wayland" if environ.get("WAYLAND_DISPLAY") else "xcb"


def display_problem(
    environ: Mapping[str, str],
    system: str = sys.platform,
    probe: Callable[[str], bool] | None = None,
    connect: Callable[[str], bool] | None = None,
) -> str | None:
    """What keeps Qt from showing a window, in words (several lines), or None.
    `probe` (is this soname loadable) and `connect` (does this X display answer) default to
    asking the system."""
    probe = probe or loadable
    connect = connect or x_server_answers
    if not system.startswith("linux"):
        return None
    platform = _platform(environ)
    if platform.startswith("wayland"):
        if environ.get("WAYLAND_DISPLAY"):
            return None
        return (
            f"Qt cannot show a window: QT_QPA_PLATFORM={platform} but WAYLAND_DISPLAY is not set"
            f"\n  {HEADLESS}"
        )
    if platform != "xcb":
        return None  # offscreen, minimal, vnc, eglfs...: nothing to check
    if not environ.get("DISPLAY"):
        why = (
            "QT_QPA_PLATFORM=xcb but DISPLAY is not set" if environ.get("WAYLAND_DISPLAY")
            else "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
        )
        return f"Qt cannot show a window: {why}\n  run it in a desktop session; {HEADLESS}"
    missing = [soname for soname in XCB_LIBRARIES if not probe(soname)]
    if not missing:
        if connect(environ["DISPLAY"]):
            return None
        return (
            f"Qt cannot show a window: the X display {environ['DISPLAY']} does not answer"
            f" (is the X server running, may this user use it?)\n  {HEADLESS}"
        )
    debian = dict.fromkeys(XCB_LIBRARIES[s][0] for s in missing)
    fedora = dict.fromkeys(XCB_LIBRARIES[s][1] for s in missing)
    return (
        "Qt cannot show a window: its X11 (xcb) platform needs libraries that are missing: "
        + ", ".join(missing)
        + f"\n  Debian/Ubuntu: sudo apt-get install {' '.join(debian)}"
        + f"\n  Fedora: sudo dnf install {' '.join(fedora)}"
        + f"\n  {HEADLESS}"
    )
