"""Chain health: whether the disks a VM runs on (or a checkpoint froze) still form a sound
chain, in words, and the one rule for what a broken chain forbids.

Hyper-V refuses to checkpoint or start a VM whose disk chain is broken, and to apply a
checkpoint whose own chain is: the host refuses those here, and the window greys them out with
the same sentence. The check is incremental: a chain is walked once and walked again only when
a stat of one of its files changed, so a refresh of a big host costs a stat per file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hvgui.backend.actions import APPLY, CHECKPOINT, START, broken_chain_refusal
from hvgui.backend.model import SOUND, Health  # the verdict every backend gives (re-exported)
from hvgui.host.errors import InvalidStateError
from hvgui.vhdx.walk import LOOP, MISMATCH, MISSING, UNREADABLE, WRITABLE, ChainLink, walk_chain

__all__ = [
    "APPLY", "CHECKPOINT", "OUTSIDE", "SOUND", "START", "ChainHealth", "Health", "require",
    "stamp", "verdict",
]



_SHORT = {
    MISSING: "Chain broken: parent missing",
    MISMATCH: "Chain broken: parent changed",
    UNREADABLE: "Chain broken: disk unreadable",
    LOOP: "Chain broken: it loops",
    WRITABLE: "Warning: parent not read-only",
}
OUTSIDE = "Warning: disk outside the host"


def verdict(links: list[ChainLink], drive: str = "") -> Health:
    """The first problem along a walked chain, in words (SOUND when there is none)."""
    for depth, link in enumerate(links):
        if not link.code:
            continue
        above = links[depth - 1].path.name if depth else ""
        name = link.path.name
        short = _SHORT[link.code]
        if link.code == MISSING:
            text = f"{above} needs its parent {name}, which is missing."
        elif not link.exists:  # the disk itself (a checkpoint's frozen base) is gone
            short, text = "Chain broken: disk missing", f"its disk {name} is missing."
        elif link.code == MISMATCH:
            text = (f"{name} was changed after {above} was made on it (or the locator points "
                    "at another disk): every read that falls through to it is wrong.")
        elif link.code == WRITABLE:
            text = f"{name}, a parent disk, is not read-only: writing to it breaks the chain."
        else:
            text = f"{name}: {link.problem}"
        where = f"{drive}: " if drive else ""
        return Health(short, where + text, link.broken, link.path)
    return SOUND


def require(action: str, vm_name: str, subject: str, health: Health) -> None:
    """Raise the refusal, if any (the host's side of backend.actions' rule)."""
    why = broken_chain_refusal(action, subject, health)
    if why:
        raise InvalidStateError(vm_name, why[0].lower() + why[1:])


def stamp(paths: Iterable[Path]) -> tuple[Any, ...]:
    """What changes when one of `paths` is written, replaced, deleted or re-permissioned."""
    out: list[Any] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode))
    return tuple(out)


class ChainHealth:
    """Chains walked once per change of their files (shared by a host's threads)."""

    def __init__(self, outside: Callable[[Path], str | None] | None = None) -> None:
        self._cache: dict[
            Path, tuple[list[Path], tuple[Any, ...], list[ChainLink], list[str | None]]
        ] = {}
        self._lock = threading.Lock()
        self._outside = outside  # why a file is out of the host's reach (boundary.py)

    def links(self, leaf: Path) -> list[ChainLink]:
        return self._entry(leaf)[2]

    def _entry(
        self, leaf: Path
    ) -> tuple[list[Path], tuple[Any, ...], list[ChainLink], list[str | None]]:
        """The walked chain, its files' stamp and why each file is out of reach, walked (and
        checked against the boundary) again only when a stat of one of its files changed."""
        with self._lock:
            cached = self._cache.get(leaf)
        if cached is not None and stamp(cached[0]) == cached[1]:
            return cached
        links = walk_chain(leaf)
        files = [link.path for link in links]
        files_stamp = stamp(files)
        if any(link.code for link in links):
            # A break seen while another process merges (a child re-pointed, then its old
            # parent deleted) may be half of that merge, and the stamp taken after it would
            # keep it forever: walk again and remember only a verdict seen twice.
            again = walk_chain(leaf)
            if [(k.path, k.code) for k in again] != [(k.path, k.code) for k in links]:
                return self._judge(again)
        entry = self._judge(links, files_stamp)
        with self._lock:
            if len(self._cache) > 100_000:  # a host that changed that much: start again
                self._cache.clear()
            self._cache[leaf] = entry
        return entry

    def _judge(
        self, links: list[ChainLink], files_stamp: tuple[Any, ...] | None = None
    ) -> tuple[list[Path], tuple[Any, ...], list[ChainLink], list[str | None]]:
        files = [link.path for link in links]
        outside = [self._outside(p) if self._outside is not None else None for p in files]
        return files, stamp(files) if files_stamp is None else files_stamp, links, outside

    def files(self, drives: Iterable[Any]) -> list[Path]:
        """Every file of the drives' chains (as last walked): what to watch for a change."""
        out: list[Path] = []
        for drive in drives:
            if not getattr(drive, "pass_through", False) and drive.path:
                out += [link.path for link in self.links(Path(drive.path))]
        return out

    def of_drives(self, drives: Iterable[Any], *, fresh: bool = False) -> Health:
        """The first problem among a VM's or checkpoint's virtual disks (pass-through: none).

        `fresh`: walk the chains now (the host's refusals, made under its lock, never trust
        what a stat-stamped cache saw while another process was changing the chain)."""
        for drive in drives:
            if getattr(drive, "pass_through", False) or not drive.path:
                continue
            name = (f"{drive.controller_type} {drive.controller_number}:"
                    f"{drive.controller_location}")
            leaf = Path(drive.path)
            _files, _stamp, links, outside = (
                self._judge(walk_chain(leaf)) if fresh else self._entry(leaf)
            )
            health = verdict(links, name)
            if not health.sound:
                return health
            for link, why in zip(links, outside, strict=True):
                if why:  # read, never written: said before an operation refuses
                    return Health(OUTSIDE, f"{name}: {link.path.name} is {why}: it is read, "
                                  "but operations that would change it are refused.", False,
                                  link.path)
        return SOUND
