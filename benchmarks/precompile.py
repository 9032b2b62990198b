"""hvgui's modules compiled before anything is timed, as `pip install` does.

With PYTHONDONTWRITEBYTECODE set (as on the development machine) every process would
otherwise compile hvgui's source again at each import: 40-70 ms of an hvctl start, and in the
GUI a compile() on a pool thread that holds the interpreter lock for its whole length (5-75
ms for hvgui/vhdx/convert.py) while the GUI thread waits for it. A user's install has the
bytecode; the benchmarks measure that.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_hvgui(repo: Path) -> None:
    compileall.compile_dir(repo / "hvgui", quiet=1)
