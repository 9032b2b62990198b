"""hvgui's Qt user interface: the main window (Hyper-V Manager's layout) and its parts.

Layers: widgets -> Qt adapters (models, workers) -> hvgui.host (no Qt). Nothing here does
file I/O on the GUI thread except the cheap `Host.revision()` poll.
"""

import ctypes as _ctypes
import sys as _sys

# PySide6 6.12 returns None from void methods, and True from Signal.emit(), without a
# reference: harmless on Python 3.12+ where these are immortal, fatal on 3.11 after a few
# thousand calls ("none_dealloc: deallocating None", "bool_dealloc", or heap corruption once
# True is freed). Give them a reference budget no program can exhaust (they are never freed).
if _sys.version_info < (3, 12):
    for _singleton in (None, True, False):
        _ctypes.c_ssize_t.from_address(id(_singleton)).value += 1 << 40
