"""The SVG icons in `resources/icons`, loaded once as scalable QIcons (crisp at any DPI)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from PySide6.QtGui import QIcon


def _icon_dir() -> Path:
    """The repository's resources/icons (a source tree, an editable install), else where an
    installed wheel put its data files: <venv>/share/hvgui/icons, ~/.local/share/hvgui/icons
    (pip --user), /usr/local/share/hvgui/icons..., as its RECORD says."""
    source = Path(__file__).resolve().parents[2] / "resources" / "icons"
    if source.is_dir():
        return source
    try:
        files = distribution("hvgui").files or []
    except PackageNotFoundError:
        files = []
    for file in files:
        if file.parts[-3:-1] == ("hvgui", "icons"):
            return Path(str(file.locate())).resolve().parent
    return source


ICON_DIR = _icon_dir()


_TRANSIENT = {"Starting", "Stopping", "Resuming", "Reset"}


@cache
def icon(name: str) -> QIcon:
    """The icon `resources/icons/<name>.svg`; an empty icon if the file is missing."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def vm_state_icon(state: str, busy: bool = False) -> QIcon:
    """The VM list's icon for a Hyper-V state name ("Running", "Paused-Critical", ...)."""
    if busy:
        return icon("vm-busy")
    if state.endswith("-Critical"):
        return icon("vm-critical")
    base = state.split("-")[0]
    return icon(
        {
            "Running": "vm-running",
            "Paused": "vm-paused",
            "Pausing": "vm-paused",
            "Saved": "vm-saved",
            "Saving": "vm-saved",
        }.get(base, "vm-busy" if base in _TRANSIENT else "vm-off")
    )
