"""The SVG icons in `resources/icons`, loaded once as scalable QIcons (crisp at any DPI)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

# In a source tree or editable install: the repository's resources/icons; in an installed
# wheel: <prefix>/share/hvgui/icons (if packaging ships them there as data files).
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "resources" / "icons",
    Path(sys.prefix) / "share" / "hvgui" / "icons",
)
ICON_DIR = next((d for d in _CANDIDATES if d.is_dir()), _CANDIDATES[0])


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
