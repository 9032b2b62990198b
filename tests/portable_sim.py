"""Windows and macOS simulated on Linux: hide the POSIX-only features hvgui.portable falls back
from, and give it an msvcrt whose locks behave like Windows' (exclusive, fail at once with
LK_NBLCK, per open file). Used by tests/test_portability.py in its own process and, through
`python -m tests.portable_sim HOST`, in a second process holding the host's lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hvgui import portable

# What Windows lacks (and macOS partly: fdatasync, copy_file_range, posix_fadvise, SEEK_DATA on
# older systems) and hvgui used to call directly.
POSIX_ONLY = ("pread", "pwrite", "preadv", "pwritev", "SEEK_DATA", "SEEK_HOLE", "O_NONBLOCK",
              "fdatasync", "copy_file_range", "posix_fadvise", "O_NOFOLLOW", "O_DIRECTORY",
              "O_DIRECT")


class FakeMsvcrt:
    """msvcrt.locking's contract, kept by flock underneath: locks `nbytes` from the current
    position, LK_NBLCK raises OSError at once when another holder has it."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        self.calls = 0

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        self.calls += 1
        assert nbytes == 1
        # The lock must sit past any content: Windows' locks keep others from reading it.
        assert os.lseek(fd, 0, os.SEEK_CUR) >= 1 << 32
        if mode == self.LK_UNLCK:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            assert mode == self.LK_NBLCK
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError is an OSError


def hide_posix(setattr_: Callable[[Any, str, Any], None],
               delattr_: Callable[[Any, str], None]) -> FakeMsvcrt:
    """Hide the features (through monkeypatch's setattr/delattr, or plain ones)."""
    fake = FakeMsvcrt()
    for name in POSIX_ONLY:
        if hasattr(os, name):
            delattr_(os, name)
    setattr_(portable, "fcntl", None)
    setattr_(portable, "msvcrt", fake)
    setattr_(portable, "WINDOWS", True)
    return fake


def hold_host_lock(root: Path) -> None:
    """Worker: take the host's lock as a mutating operation does, say so, hold it until stdin
    closes."""
    hide_posix(setattr, delattr)
    from hvgui.host import Host

    fd = Host.open(root, create=False).lock.try_exclusive()
    print("locked" if fd >= 0 else "busy", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    hold_host_lock(Path(sys.argv[1]))
