"""A power cut simulated in the process, between any two calls that make something durable.

While an operation runs on the files of one folder, every write, copy and truncate is
recorded per file (inode), and so are the folder's names after each link, rename and
unlink. An fsync of a file makes its content durable; an fsync of the folder, its names.
At the chosen call (the cut point) the operation stops, and the folder is rebuilt as a disk
could hold it after losing power there: each file as of its last fsync plus any subset of
the writes since (cut into 4 KiB pages, kept in their order or not at all), the names as of
the folder's last fsync plus any prefix of the name changes since (a journaling file system
commits them in order). `lost` keeps none of what was not flushed; other seeds keep a random
part of it: writes that reached the disk out of order.

A kill (tests/vhdx/test_merge_stream.py) keeps every write: this is the other extreme.
"""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PAGE = 4096
DURABLE_CALLS = ("fsync", "fdatasync", "link", "replace", "rename", "unlink")


class PowerCut(BaseException):
    """The power went: nothing after this runs (a BaseException, as a kill is: no clean-up
    handler of the operation gets to write anything either)."""


Op = tuple[str, int, bytes]  # ("write", offset, data) or ("truncate", size, b"")


@dataclass
class Recording:
    folder: Path
    limit: int
    calls: int = 0
    cut: bool = False
    durable: dict[int, bytes] = field(default_factory=dict)  # inode -> content at last fsync
    pending: dict[int, list[Op]] = field(default_factory=dict)  # inode -> ops since
    modes: dict[int, int] = field(default_factory=dict)
    names: dict[str, int] = field(default_factory=dict)  # as of the folder's last fsync
    name_changes: list[dict[str, int]] = field(default_factory=list)  # listings since

    def listing(self) -> dict[str, int]:
        return {e.name: e.inode() for e in os.scandir(self.folder)
                if e.is_file(follow_symlinks=False)}

    def inode_of(self, fd: int) -> int | None:
        st = os.fstat(fd)
        return st.st_ino if stat.S_ISREG(st.st_mode) and st.st_ino in self.durable else None

    def rebuild(self, seed: int | None) -> None:
        """Replace the folder's files with what the disk holds after the cut (`seed` None:
        nothing that was not flushed)."""
        rng = random.Random(seed)
        names = self.names
        if seed is not None and self.name_changes:
            names = rng.choice([self.names, *self.name_changes])
        for entry in list(self.folder.iterdir()):
            entry.unlink()
        made: dict[int, Path] = {}
        for name, ino in sorted(names.items()):
            path = self.folder / name
            if ino in made:
                os.link(made[ino], path)
                continue
            data = bytearray(self.durable[ino])
            for kind, at, chunk in self.pending.get(ino, []) if seed is not None else []:
                if kind == "truncate":
                    if rng.random() < 0.5:
                        del data[at:]
                        data.extend(bytes(max(0, at - len(data))))
                    continue
                for start in range(0, len(chunk), PAGE):
                    if rng.random() < 0.5:
                        piece = chunk[start : start + PAGE]
                        end = at + start + len(piece)
                        data.extend(bytes(max(0, end - len(data))))
                        data[at + start : end] = piece
            path.write_bytes(bytes(data))
            os.chmod(path, self.modes[ino])
            made[ino] = path


@contextmanager
def recorded(folder: Path, limit: int, patch: pytest.MonkeyPatch) -> Iterator[Recording]:
    """Record what is done to `folder`'s files; raise PowerCut at durable call `limit` + 1
    (and at every call that would change anything after it)."""
    rec = Recording(folder, limit)
    rec.names = rec.listing()
    for name, ino in rec.names.items():
        rec.durable.setdefault(ino, (folder / name).read_bytes())
        rec.modes[ino] = stat.S_IMODE(os.stat(folder / name).st_mode)
    real = {name: getattr(os, name) for name in (
        *DURABLE_CALLS, "pwrite", "write", "copy_file_range", "ftruncate", "chmod")}

    def step(name: str) -> None:
        if rec.cut:
            raise PowerCut
        if name in DURABLE_CALLS:
            rec.calls += 1
            if rec.calls > rec.limit:
                rec.cut = True
                raise PowerCut

    def ours(fd: int) -> bool:
        """Whether a write goes to one of the folder's files (after the cut: fails)."""
        if rec.inode_of(fd) is None:
            return False
        step("write")
        return True

    def note(fd: int, op: Op) -> None:
        ino = rec.inode_of(fd)
        if ino is not None:
            rec.pending.setdefault(ino, []).append(op)

    def pwrite(fd: int, data: Any, offset: int) -> int:
        ours(fd)
        n: int = real["pwrite"](fd, data, offset)
        note(fd, ("write", offset, bytes(memoryview(data).cast("B")[:n])))
        return n

    def write(fd: int, data: Any) -> int:
        if not ours(fd):
            return int(real["write"](fd, data))
        at = os.lseek(fd, 0, os.SEEK_CUR)
        n: int = real["write"](fd, data)
        note(fd, ("write", at, bytes(memoryview(data).cast("B")[:n])))
        return n

    def copy_file_range(src: int, dst: int, count: int, offset_src: int | None = None,
                        offset_dst: int | None = None) -> int:
        ours(dst)
        n: int = real["copy_file_range"](src, dst, count, offset_src, offset_dst)
        if n > 0 and offset_dst is not None:
            note(dst, ("write", offset_dst, os.pread(dst, n, offset_dst)))
        return n

    def ftruncate(fd: int, size: int) -> None:
        ours(fd)
        real["ftruncate"](fd, size)
        note(fd, ("truncate", size, b""))

    def sync(name: str) -> Callable[[int], None]:
        def call(fd: int) -> None:
            step(name)
            real[name](fd)
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                if os.path.samestat(st, os.stat(rec.folder)):
                    rec.names, rec.name_changes = rec.listing(), []
            elif st.st_ino in rec.durable:
                size = st.st_size
                rec.durable[st.st_ino] = os.pread(fd, size, 0) if size else b""
                rec.pending.pop(st.st_ino, None)
        return call

    def renamed(name: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            step(name)
            real[name](*args, **kwargs)
            rec.name_changes.append(rec.listing())
        return call

    def chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        step("chmod")
        real["chmod"](path, mode, *args, **kwargs)
        with_ino = os.stat(path).st_ino
        if with_ino in rec.modes:
            rec.modes[with_ino] = mode

    patch.setattr(os, "pwrite", pwrite)
    patch.setattr(os, "write", write)
    patch.setattr(os, "copy_file_range", copy_file_range)
    patch.setattr(os, "ftruncate", ftruncate)
    patch.setattr(os, "fsync", sync("fsync"))
    patch.setattr(os, "fdatasync", sync("fdatasync"))
    for name in ("link", "replace", "rename", "unlink"):
        patch.setattr(os, name, renamed(name))
    patch.setattr(os, "chmod", chmod)
    yield rec
