"""Fault injection for the lab host: count the I/O calls an operation makes and fail the Nth.

Writes, fsyncs, renames, unlinks, chmods, links, truncations, folder creations and opens for
writing are counted; the Nth raises OSError(ENOSPC or EIO). `sticky` keeps failing every later
call too (a disk that stays full until space is freed), so clean-up paths are tested as well.
Calls on file descriptors are seen through os.* wrappers; calls on paths (including Python's
own `open()`, which has no os.* function to wrap) through an audit hook, which cannot be
removed and so does nothing while no plan is active.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

# Audit events that change a file or folder, and the path argument they carry (for messages).
_AUDITED = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.link",
            "os.truncate", "os.symlink", "shutil.copyfile"}
_WRAPPED = ("pwrite", "write", "fsync", "fdatasync", "copy_file_range", "sendfile", "ftruncate")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# ENOSPC is what a full disk gives: only calls that may allocate fail with it.
_ALLOCATING = {"pwrite", "write", "fsync", "fdatasync", "copy_file_range", "sendfile",
               "ftruncate", "open", "os.rename", "os.mkdir", "os.link", "os.truncate",
               "os.symlink", "shutil.copyfile"}


@dataclass
class Plan:
    """Fail call number `fail_at` (1-based) of the kind `code` can come from."""

    fail_at: int
    code: int
    sticky: bool = False
    count: int = 0
    failed: list[str] = field(default_factory=list)

    def hit(self, what: str) -> None:
        if self.code == errno.ENOSPC and what not in _ALLOCATING:
            return  # a full disk still unlinks and chmods
        self.count += 1
        if self.count == self.fail_at or (self.sticky and self.count > self.fail_at):
            self.failed.append(what)
            raise OSError(self.code, os.strerror(self.code))


_active: list[Plan] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    if event == "open":
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wxa+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            _active[-1].hit("open")
    elif event in _AUDITED:
        _active[-1].hit(event)


_hooked = False


def _wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _active:
            _active[-1].hit(name)
        return real(*args, **kwargs)

    return wrapper


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch, plan: Plan) -> Iterator[Plan]:
    """Run the body with `plan` failing the host's I/O calls."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    with monkeypatch.context() as patch:
        for name in _WRAPPED:
            if hasattr(os, name):
                patch.setattr(os, name, _wrap(name, getattr(os, name)))
        _active.append(plan)
        try:
            yield plan
        finally:
            _active.remove(plan)
