"""What the GUI thread does to the file system below a folder: each file opened, folder listed,
made, renamed or removed (Python's audit events) and each stat, lstat, readlink, access or
statvfs (they raise no audit event, so the `os` functions are wrapped while watching)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The audit events that name a path first (os.remove is also raised by os.unlink).
_EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.remove",
           "os.rmdir", "os.link", "os.symlink", "os.truncate", "os.chmod", "os.utime",
           "shutil.copyfile", "shutil.rmtree", "shutil.move"}
# Unaudited: wrapped. os.path.exists/isdir/getsize and Path.stat/exists/resolve call these.
_REAL = {name: getattr(os, name) for name in ("stat", "lstat", "readlink", "access", "statvfs")}


class FsWatch:
    """(on the GUI thread?, "event path") of each thing done below `folder`."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.seen: list[tuple[bool, str]] = []

    def note(self, event: str, path: Any) -> None:
        if isinstance(path, bytes | str | os.PathLike):
            name = os.fsdecode(path)
            if name.startswith(self.folder):
                self.seen.append((threading.current_thread() is threading.main_thread(),
                                  f"{event} {name}"))

    def on_gui_thread(self) -> list[str]:
        return [what for on_gui, what in self.seen if on_gui]

    def on_workers(self) -> list[str]:
        return [what for on_gui, what in self.seen if not on_gui]

    def clear(self) -> None:
        self.seen.clear()


_watching: list[FsWatch] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching and event in _EVENTS and args:
        _watching[-1].note(event, args[0])


sys.addaudithook(_audit)  # hooks stay for the process: it does nothing unless watching


def _wrapped(name: str) -> Callable[..., Any]:
    real = _REAL[name]

    def call(path: Any, *args: Any, **kwargs: Any) -> Any:
        if _watching:
            _watching[-1].note(f"os.{name}", path)
        return real(path, *args, **kwargs)

    return call


@contextmanager
def watching(folder: str) -> Iterator[FsWatch]:
    """Record what is done below `folder` (give it resolved) until the block ends."""
    watch = FsWatch(folder)
    for name in _REAL:
        setattr(os, name, _wrapped(name))
    _watching.append(watch)
    try:
        yield watch
    finally:
        _watching.remove(watch)
        for name, real in _REAL.items():
            setattr(os, name, real)
