"""hvgui's Qt user interface: the main window (Hyper-V Manager's layout) and its parts.

Layers: widgets -> Qt adapters (models, workers) -> hvgui.host (no Qt). Nothing here does
file I/O on the GUI thread except the cheap `Host.revision()` poll.
"""

import ctypes as _ctypes
import sys as _sys

# PySide6 6.12 returns None from void methods without a reference: harmless on Python 3.12+
# where None is immortal, fatal on 3.11 after a few thousand calls ("none_dealloc: deallocating
# None"). Give None a reference budget no program can exhaust (it is never freed anyway).
if _sys.version_info < (3, 12):
    _ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
