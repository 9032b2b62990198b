"""A chain walked file by file, never stopping at the first problem: every file that exists is
listed, and the link where the chain breaks says how (missing parent, a parent changed after its
child was made or found through a locator pointing at another disk, a parent left writable).

`open_disk` refuses a broken chain as a whole; the inspector and the host's chain health need
to show the files that are still there and where the break is.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hvgui.vhdx.chain import Image

MISSING = "missing"  # the parent the locator names does not exist
MISMATCH = "mismatch"  # the parent found is not the data the child was made on
WRITABLE = "writable"  # a parent without the read-only attribute
UNREADABLE = "unreadable"  # the file cannot be opened as a VHDX
LOOP = "loop"  # the chain comes back to a file already in it
MAX_DEPTH = 256


@dataclass(frozen=True)
class ChainLink:
    """One file of a chain, leaf first. For a missing parent `path` is where it was expected."""

    path: Path
    exists: bool
    problem: str = ""  # "" when the link is sound, else in words
    code: str = ""  # MISSING | MISMATCH | WRITABLE | UNREADABLE | LOOP
    virtual_size: int | None = None

    @property
    def broken(self) -> bool:
        """A break that stops reads (a writable parent is a risk, not yet a break)."""
        return bool(self.code) and self.code != WRITABLE


def is_read_only(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def walk_chain(path: str | os.PathLike[str]) -> list[ChainLink]:
    """Every file from `path` down to its base as far as the files exist; never raises."""
    # The engine loads here, not on import: the codes above serve `hvctl get-vm` too.
    from hvgui.vhdx.chain import check_linkage, open_image, resolve_parent
    from hvgui.vhdx.errors import ParentMismatchError, ParentNotFoundError, VhdxError
    from hvgui.vhdx.locator import candidate_paths

    links: list[ChainLink] = []
    current = Path(path)
    child: Image | None = None
    seen: set[Path] = set()
    try:
        while len(links) < MAX_DEPTH:
            try:
                image = open_image(current, load_bat=False)
            except (VhdxError, OSError) as exc:
                problem = exc.problem if isinstance(exc, VhdxError) else str(exc)
                links.append(ChainLink(current, current.exists(), problem, UNREADABLE))
                return links
            problem, code = "", ""
            if child is not None:
                try:
                    check_linkage(child, image)
                except ParentMismatchError:
                    problem, code = (
                        f"not the disk {child.path.name} was made on: it was changed after "
                        "that, or the locator points at another disk", MISMATCH)
                except VhdxError as exc:
                    problem, code = exc.problem, MISMATCH
                if not code and not is_read_only(current):
                    problem, code = (
                        "a parent that is not read-only: writing to it breaks every disk "
                        "below it", WRITABLE)
                child.close()
            links.append(ChainLink(current, True, problem, code, image.virtual_size))
            seen.add(current.resolve())
            child = image
            if not image.has_parent:
                return links
            try:
                parent = resolve_parent(image)
            except ParentNotFoundError as exc:
                expected = candidate_paths(image.path, exc.locator) or [current]
                links.append(ChainLink(expected[0], False, exc.problem, MISSING))
                return links
            if parent.resolve() in seen:
                links.append(ChainLink(parent, True, "the chain loops back to this file", LOOP))
                return links
            current = parent
        return links
    finally:
        if child is not None:
            child.close()
