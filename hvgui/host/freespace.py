"""Free space: what an operation will need, checked before it starts.

A merge, an export, a storage move or a running VM's checkpoint that runs out of space half
way costs the user time at best; refusing first, with the numbers, costs nothing. The delete
preview shows the same numbers (`merge_growth`, `free_bytes`): one computation.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterable
from pathlib import Path

from hvgui import durable, portable, vhdx
from hvgui.backend.formats import human_size
from hvgui.host.errors import HostError

# What every operation writes besides its data: journal, configurations, status and event
# lines, a VHDX's headers, log and metadata (a new dynamic VHDX is 4 MiB on disk).
MARGIN = 1 << 20
NEW_VHDX = 4 << 20


def merge_growth(child: Path, parent: Path) -> int:
    """At most how many bytes `parent` grows when `child` is merged into it: one block of the
    parent's size for each of its blocks that the child writes to and the parent lacks. When
    the merge streams (the parent holds less: the child absorbs it and takes its name), what
    the child grows by instead."""
    streamed = vhdx.stream_growth(child, parent)
    if streamed is not None:
        return streamed
    with vhdx.open_disk(child) as c_disk, vhdx.open_disk(parent) as p_disk:
        if p_disk.disk_type == "Fixed":
            return 0
        parent_has = {
            block.index for block in p_disk.block_sources()
            if any(i == 0 and n for i, n in block.sources)
        }
        needed: set[int] = set()
        for block in c_disk.block_sources():
            if any(i == 0 and n for i, n in block.sources):
                first = block.offset // p_disk.block_size
                last = (block.offset + block.length - 1) // p_disk.block_size
                needed.update(range(first, last + 1))
        return len(needed - parent_has) * p_disk.block_size


def flattened_size(path: Path) -> int:
    """At most the bytes a flattened copy of `path`'s chain takes (export): a block for each
    block any file of the chain holds data for, plus a new VHDX's own structures."""
    with vhdx.open_disk(path) as disk:
        data = sum(
            block.length for block in disk.block_sources()
            if any(i >= 0 and n for i, n in block.sources)
        )
    return data + NEW_VHDX


def next_block(path: Path) -> int:
    """What the next guest write to the running disk `path` may allocate: one of its blocks,
    and a sector bitmap block (1 MiB) in a differencing disk."""
    with vhdx.open_disk(path) as disk:
        return disk.block_size + (1 << 20 if len(disk.chain) > 1 else 0)


def disk_full(exc: BaseException | None) -> OSError | None:
    """The ENOSPC/EDQUOT behind `exc` (through its causes), if a full disk is what failed."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def existing_folder(path: Path) -> Path:
    """`path` or its nearest existing ancestor (where a new file's space will come from)."""
    folder = Path(path)
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding `path`."""
    return portable.free_space(existing_folder(path))


def require(subject: str, what: str, needs: Iterable[tuple[Path, int]]) -> None:
    """Refuse `what` (HostError on `subject`) unless each file system has the bytes the
    (folder, bytes) pairs in `needs` add up to there, plus a small margin."""
    per_device: dict[int, tuple[Path, int]] = {}
    for path, size in needs:
        folder = existing_folder(path)
        device = folder.stat().st_dev
        first, total = per_device.get(device, (folder, 0))
        per_device[device] = (first, total + size)
    for folder, needed in per_device.values():
        needed += MARGIN
        free = free_bytes(folder)
        if needed > free:
            raise HostError(
                subject,
                f"not enough space: {what} needs {human_size(needed)}, "
                f"{human_size(free)} free on {folder}",
            )


# Room kept in the host folder for recording Paused-Critical when a guest write fills the file
# system: a configuration (Hyper-V's, ~12 KiB in UTF-16) and its journal, several times over.
RESERVE_SIZE = 64 << 10


def keep_reserve(reserve: Path) -> None:
    """Make the reserve file if it is missing (after it was given up); never an error."""
    if not reserve.exists():
        with contextlib.suppress(OSError):
            durable.replace_file(reserve, bytes(RESERVE_SIZE), durable=False)


def with_reserve(record: Callable[[], None], reserve: Path) -> None:
    """Run `record`; when it finds no space, give up the reserve and run it once more."""
    try:
        record()
    except OSError as exc:
        if exc.errno != errno.ENOSPC or not reserve.exists():
            raise
        reserve.unlink(missing_ok=True)
        record()
