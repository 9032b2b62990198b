"""Merge-VHD: fold a differencing disk (and every disk up to an ancestor) into that ancestor.

Crash safety, by the spec's own mechanism (MS-VHDX 2.6.2.6.3: a child accepts a parent whose
DataWriteGuid matches `parent_linkage` *or* `parent_linkage2`), with no journal and no recovery
step: at every instant the files on disk form a valid chain that reads the same bytes.

Let C1 (the leaf being merged) ... Ck be the merged disks and P the destination (Ck's parent).

1. Ck's parent locator gains `parent_linkage2 = D'`, a fresh GUID (atomic locator rewrite, below).
   Nothing visible changed: P still has DataWriteGuid D = parent_linkage.
2. P's header gets DataWriteGuid D' (two-slot header update, crash safe by design). Ck still
   opens, through parent_linkage2; any *other* child of P now reports a broken chain, which is
   true from here on (P's content is about to change), instead of silently reading mixed data.
3. Every sector that any of C1..Ck decides is copied into P: in place where P has the block,
   into new zero-filled space at the end of P otherwise, sector bitmaps set when P is itself
   differencing. While C1..Ck exist they override exactly those sectors, so the chain through C1
   reads the same whatever part of this step reached the disk. Then fsync, BAT entries, fsync.
   Cancelling here is safe at any block boundary. A kill before the BAT entries leaves the
   new space unused at P's end: a rerun first cuts P's file where its last used block ends.
4. Each grandchild (a disk whose parent is C1) is re-pointed at P: locator rewritten with
   parent_linkage = D' and paths to P (atomic rewrite). Before: G -> C1 -> ... -> P reads X;
   after: G -> P reads X, since P now holds C1's view.
5. C1 ... Ck are deleted, leaf first, and the directory is synced.

Running merge_vhd again after a crash completes the merge: step 1 reuses the D' that P already
carries, the copy is idempotent, re-pointed grandchildren are found pointing at P already.

The stream: moving the smaller side
-----------------------------------
When exactly one disk C is merged into its parent P and P holds fewer stored bytes than C,
copying P into C moves less than copying C into P (and deleting P then frees less than
deleting C would). This is qemu's block-stream followed by a rename; the end state is the
forward merge's: P's path holds the merged view, C's path is gone, grandchildren point at P's
path, P's virtual size, sector sizes and Page 83 id (VirtualDiskId) are kept. The
DataWriteGuid is C's (the data is C's view), so grandchildren stay linked throughout, and so
is the block size: a base VHDX (32 MiB blocks) that absorbed its checkpoint (2 MiB) has 2 MiB
blocks, which no reader minds (requiring equal block sizes would rule out the commonest
merge, a checkpoint into its base). Only where nothing else of P can be lost or changed by
it: P dynamic or differencing (a fixed P would silently become dynamic), C and P in the same
folder (a rename within one file system; a rerun finds the marker beside C), hard links
(else: forward), no other name for C (a hard link, as `cp -al` makes, would see C change),
no user metadata in P, a metadata table of at most 15 entries (one sector, below).

1. os.link(C, "<P>.hvmerge"), folder synced: the marker records the decision, so a rerun
   streams too, and proves hard links work (EXDEV, EPERM...: the forward merge instead).
2. Absorb: every sector P decides and C does not is copied into C: blocks C lacks into new
   zero-filled space at C's end, the bitmap-absent sectors of C's partial blocks in place, a
   ZERO block of a differencing P as a ZERO block; for a base P, C's partial blocks become
   fully present. C's view does not change (those sectors read P until C's entries say
   otherwise, and then read the same bytes), so its DataWriteGuid stays. Order: data, fsync,
   sector bitmaps, fsync, BAT entries, fsync. Cancel (block boundaries) or a failure: the space
   taken is given back and the marker removed: as if the merge never began. A kill or power
   cut leaves it unused at C's end (new sector bitmap blocks are taken before new blocks, so
   nothing in use lies after it): the rerun cuts C's file where its last used block ends
   before it allocates, so a merge cut any number of times ends as big as an uncut one.
3. C takes P's place, its view unchanged: a differencing P's locator (with P's linkage) or,
   for a base P, the sector-bitmap BAT entries cleared (none is in use after step 2; fsync),
   HasParent cleared and the locator removed; P's Page 83 id, physical sector size and file
   flags, and C's own user metadata removed (a forward merge deletes it with C's file): the
   items are P's, byte for byte, but the block size. All in ONE atomic metadata switch
   (metadata_switch.py): the new items in unused space, fsync, then the table (header and
   entries, one sector) in one write, fsync.
4. A third name, "<P>.hvmerge-new", is renamed over P (atomic), folder synced: P's path now
   reads the merged view and P's data is freed (a few MiB instead of C's). The marker stays.
5. Grandchildren re-pointed at P's path, linkage C's DataWriteGuid (atomic locator rewrite).
6. The marker, then C's path are unlinked (only names now: no data freed), folder synced.

A rerun after a crash finds where it was and goes on: the marker is C's inode -> from step 2
(idempotent; nothing to absorb if it was done) or, if C's chain no longer goes through P,
from step 4, or, if P is C's inode too, from step 5; C and P are one inode without the marker
(a cut between the two unlinks) -> from step 5 (P must be named then: another name of C's
inode could also be a copy made with hard links); C is gone -> done.
Without a rerun, every disk reads what it read (up to step 4) or P's path already holds the
merged view.

Atomic metadata switch (metadata_switch.py): the new items are written into unused space of
the metadata region (never over a live one), flushed, and then the table's header and entries,
which lie in its first sector, are rewritten in one write, flushed again. A SIGKILL cannot
split a write of one page; a power cut cannot tear a single sector on the disks VHDX targets.
A locator rewrite is such a switch of the one item.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hvgui import durable, portable
from hvgui.progress import MERGE_PHASE, CancelToken, Progress, check, report
from hvgui.vhdx import format as F
from hvgui.vhdx.absorb import absorb, absorb_growth, stored_bytes, take_parents_place
from hvgui.vhdx.chain import Disk, open_disk, parse_linkage, served_ranges
from hvgui.vhdx.direct_copy import DirectCopier
from hvgui.vhdx.errors import UnsupportedError, VhdxError
from hvgui.vhdx.files import pwrite_all
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.locator import candidate_paths, parent_locator
from hvgui.vhdx.metadata_switch import fits_one_sector, switch_items
from hvgui.vhdx.pieces import Piece, copy_piece, split_by_block
from hvgui.vhdx.sniff import is_vhd
from hvgui.vhdx.structures import build_parent_locator

PHASE = MERGE_PHASE
DISK_SUFFIXES = (".vhdx", ".avhdx")
MAX_SCANNED_FILES = 10_000
_WRITEBACK_STEP = 32 * F.MiB  # copied bytes the disk is given to write while the copy goes on


@dataclass
class MergeResult:
    destination: Path
    merged: list[Path]
    bytes_moved: int
    repointed: list[Path] = field(default_factory=list)
    # True when the destination's data was folded into the merged child, which took the
    # destination's name (the smaller side moved); bytes_moved is then the destination's.
    streamed: bool = False


def merge_vhd(
    path: str | os.PathLike[str],
    destination_path: str | os.PathLike[str] | None = None,
    *,
    children: list[Path] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    direction: str = "smaller",
) -> MergeResult:
    """Fold `path` and every disk between it and `destination_path` (default: its parent) into
    the destination; re-point grandchildren (found in `children` and in the disks' folders);
    delete the merged files. See the module docstring for the order of writes.

    `direction`: "smaller" moves the side holding fewer bytes (a stream when the parent holds
    less, where a stream is possible), "forward" always copies the child into the parent,
    "stream" streams wherever possible. An interrupted stream is always finished as one."""
    if is_vhd(path):  # a legacy .avhd: folded into its VHD parent (vhd_merge.py)
        from hvgui.vhdx.vhd_merge import merge_avhd

        try:
            target, moved, repointed = merge_avhd(Path(path), destination_path, children,
                                                  progress, cancel)
        except OSError as exc:
            raise VhdxError(path, f"the merge stopped: {exc.strerror or exc}; the chain still "
                            "reads the same: fix the cause and merge again") from None
        return MergeResult(target, [Path(path)], moved, repointed)
    try:
        return _merge(Path(path), destination_path, children, progress, cancel, direction)
    except OSError as exc:  # no space left, an I/O error: the chain still reads the same
        raise VhdxError(
            path, f"the merge stopped: {exc.strerror or exc}"
            f"{f' ({exc.filename})' if exc.filename else ''}; the chain still reads the same "
            "(a merge is crash-safe): fix the cause and merge again"
        ) from None


def _merge(
    path: Path,
    destination_path: str | os.PathLike[str] | None,
    children: list[Path] | None,
    progress: Progress | None,
    cancel: CancelToken | None,
    direction: str,
) -> MergeResult:
    report(progress, 0.0, PHASE)
    interrupted = _interrupted_stream(path, destination_path)
    if interrupted is not None:  # a streamed merge was cut: finish it
        return _stream(path, interrupted, children, progress, cancel)
    with open_disk(path) as view:
        chain = list(view.chain)
        if len(chain) < 2:
            raise VhdxError(path, "is not a differencing disk: there is no parent to merge into")
        depth = _destination_depth(Path(path), chain, destination_path)
        merged, destination = chain[:depth], chain[depth]
        sizes = {image.virtual_size for image in view.images[: depth + 1]}
        if len(sizes) > 1:
            raise UnsupportedError(path, "the disks of the chain differ in size; cannot merge")
        sectors = {image.logical_sector_size for image in view.images[: depth + 1]}
        if len(sectors) > 1:
            raise UnsupportedError(
                path, "the disks of the chain differ in logical sector size; cannot merge")
        grandchildren = _grandchildren(merged, destination, children or [])
        check(cancel)
        streams = _may_stream(view, depth, direction) and _mark(path, destination)
        if not streams:
            moved = _forward(view, depth, grandchildren, progress, cancel)
    if streams:
        return _stream(path, destination, children, progress, cancel)
    for file in merged:
        file.unlink(missing_ok=True)
    for folder in {f.parent for f in merged}:
        durable.sync_folder(folder)
    # The destination is now the chain's leaf unless grandchildren still depend on it.
    _set_writable(destination, not grandchildren)
    report(progress, 1.0, PHASE)
    return MergeResult(destination, merged, moved, grandchildren)


def _forward(
    view: Disk, depth: int, grandchildren: list[Path], progress: Progress | None,
    cancel: CancelToken | None,
) -> int:
    """Steps 1-4 of the forward merge: the bytes copied into the destination."""
    merged, destination = view.chain[:depth], view.chain[depth]
    restore = _make_writable([destination, merged[-1], *grandchildren])
    try:
        new_guid = _bind_last_child(merged[-1], destination)
        with VhdxImage.open(destination, writable=True) as target:
            target.update_header(data_write_guid=new_guid, file_write_guid=uuid.uuid4())
            target.give_back_unused_end()  # what a killed run of this merge copied
            moved = _copy_into(view, depth, target, progress, cancel)
        for child in grandchildren:
            _rewrite_locator(child, _locator_for(child, destination, new_guid))
    finally:
        _restore_modes(restore)
    return moved


# --- planning -------------------------------------------------------------------------------


def _destination_depth(
    leaf: Path, chain: list[Path], destination: str | os.PathLike[str] | None
) -> int:
    if destination is None:
        return 1
    target = Path(destination)
    for depth, file in enumerate(chain[1:], start=1):
        if _same_file(file, target):
            return depth
    raise VhdxError(target, f"is not an ancestor of {leaf}; its chain is "
                    + " -> ".join(p.name for p in chain))


def _grandchildren(merged: list[Path], destination: Path, known: list[Path]) -> list[Path]:
    """Disks whose parent is the merged leaf (to re-point); refuse if another disk depends on
    a merged file that is not the leaf (it would lose its parent)."""
    candidates: list[Path] = [Path(p) for p in known]
    scanned = 0
    for folder in {destination.parent, *(m.parent for m in merged)}:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.suffix.lower() in DISK_SUFFIXES and entry not in candidates:
                candidates.append(entry)
                scanned += 1
                if scanned >= MAX_SCANNED_FILES:
                    break
    chain_files = [*merged, destination]
    found: list[Path] = []
    for candidate in candidates:
        if any(_same_file(candidate, f) for f in chain_files) or not candidate.is_file():
            continue
        parent_index = _parent_in(candidate, chain_files)
        if parent_index is None or parent_index == len(merged):
            continue
        if parent_index > 0:
            raise VhdxError(
                merged[parent_index],
                f"{candidate} also depends on this disk, which the merge would delete; merge or "
                "remove that disk first",
            )
        if not any(_same_file(candidate, f) for f in found):
            found.append(candidate)
    return found


def _parent_in(candidate: Path, files: list[Path]) -> int | None:
    """Index in `files` of the candidate's parent, when it is one of them and still linked."""
    try:
        with VhdxImage.open(candidate, load_bat=False) as image:
            if not image.has_parent:
                return None
            locator = image.parent_locator
            for path in candidate_paths(candidate, locator):
                if path.is_file():
                    for index, file in enumerate(files):
                        if _same_file(path, file):
                            return index if _linked(locator, file) else None
                    return None
    except VhdxError:
        return None
    return None


def _linked(locator: dict[str, str], parent: Path) -> bool:
    with VhdxImage.open(parent, load_bat=False) as image:
        keys = ("parent_linkage", "parent_linkage2")
        accepted = {parse_linkage(locator.get(k, "")) for k in keys}
        return image.data_write_guid in accepted - {None, F.NULL_GUID}


def _is_name_of(name: Path, file: Path) -> bool:
    """Whether `name` itself (a hard link, never a symbolic link to it) is `file`."""
    try:
        return os.path.samestat(os.lstat(name), os.stat(file))
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- step 1: bind the last merged disk to the destination's future DataWriteGuid -------------


def _bind_last_child(child: Path, destination: Path) -> uuid.UUID:
    with VhdxImage.open(destination, load_bat=False) as target:
        current = target.data_write_guid
    with VhdxImage.open(child, load_bat=False) as image:
        locator = image.parent_locator
    pending = parse_linkage(locator.get("parent_linkage2", ""))
    if pending is not None and pending == current and pending != F.NULL_GUID:
        return pending  # an interrupted merge already switched the destination
    new_guid = uuid.uuid4()
    locator["parent_linkage2"] = "{" + str(new_guid) + "}"
    _rewrite_locator(child, locator)
    return new_guid


def _locator_for(child: Path, parent: Path, linkage: uuid.UUID) -> dict[str, str]:
    return parent_locator(child, parent, "{" + str(linkage) + "}")


def _rewrite_locator(path: Path, locator: dict[str, str]) -> None:
    """Replace a differencing disk's parent locator atomically (metadata_switch.py)."""
    with VhdxImage.open(path, writable=True, load_bat=False) as image:
        if not any(e.item_id == F.META_PARENT_LOCATOR and not e.is_user
                   for e in image.metadata.entries):
            raise VhdxError(path, "has no parent locator to rewrite")
        switch_items(image, {F.META_PARENT_LOCATOR: build_parent_locator(locator)})


# --- step 3: copy what the merged disks decide into the destination --------------------------


def _decided(view: Disk, depth: int) -> list[Piece]:
    """The virtual ranges the merged disks decide, each with the level that decides it."""
    assigned, _ = served_ranges(view.images[:depth], view.size)
    pieces: list[Piece] = []
    for a, b, src in assigned:
        if a >= b:
            continue
        if pieces and pieces[-1].end == a and pieces[-1].level == src:
            pieces[-1].end = b  # one piece per run of neighbouring blocks: one copy per run
        else:
            pieces.append(Piece(a, b, src))
    return pieces


def _copy_into(
    view: Disk, depth: int, target: VhdxImage, progress: Progress | None,
    cancel: CancelToken | None,
) -> int:
    pieces = _decided(view, depth)
    fd = target.fileno
    payload_updates: list[tuple[int, int]] = []
    bitmap_updates: list[tuple[int, int]] = []
    with DirectCopier(fd) as direct:
        done = _copy_blocks(view, pieces, target, direct, payload_updates, bitmap_updates,
                            progress, cancel)
        direct.finish()
    os.fsync(fd)
    for index, value in bitmap_updates:
        target.set_bat_entry(index, value)
    for index, value in payload_updates:
        target.set_bat_entry(index, value)
    os.fsync(fd)
    return done


def _copy_blocks(
    view: Disk, pieces: list[Piece], target: VhdxImage, direct: DirectCopier,
    payload_updates: list[tuple[int, int]], bitmap_updates: list[tuple[int, int]],
    progress: Progress | None, cancel: CancelToken | None,
) -> int:
    """The data of step 3 (the BAT entries that make it visible listed, not written)."""
    total = sum(p.end - p.start for p in pieces) or 1
    g = target.geometry
    bs = g.block_size
    ss = target.logical_sector_size
    fd = target.fileno
    bat = target.bat
    done = 0
    written = (0, 0)  # the file range copied since the last start_writeback
    by_block = split_by_block(pieces, bs)
    for block in sorted(by_block):
        check(cancel)
        parts = by_block[block]
        entry = bat.payload_entry(block)
        state = entry & F.BAT_STATE_MASK
        block_start = block * bs
        covered = sum(p.end - p.start for p in parts)
        whole = covered == g.block_length(block)
        if state in (F.PAYLOAD_BLOCK_FULLY_PRESENT, F.PAYLOAD_BLOCK_PARTIALLY_PRESENT):
            base = entry & F.BAT_OFFSET_MASK
            new_state = state
        else:
            base = target.allocate(bs)
            keeps_parent = target.has_parent and state == F.PAYLOAD_BLOCK_NOT_PRESENT
            new_state = (F.PAYLOAD_BLOCK_PARTIALLY_PRESENT if keeps_parent and not whole
                         else F.PAYLOAD_BLOCK_FULLY_PRESENT)
            payload_updates.append((g.payload_index(block), base | new_state))
        for part in parts:
            copy_piece(view, part, fd, base + part.start - block_start, direct=direct)
        if written[1] != base or written[1] - written[0] >= _WRITEBACK_STEP:
            portable.start_writeback(fd, written[0], written[1] - written[0])
            written = (base, base)
        written = (written[0], base + bs)
        if new_state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                bits = target.block_bitmap(block).copy()
            else:  # a new block: whatever bits lie there are stale
                bits = np.zeros(g.sectors_per_block, dtype=bool)
                chunk, _ = g.bitmap_location(block)
                if bat.bitmap_entry(chunk) & F.BAT_STATE_MASK != F.SB_BLOCK_PRESENT:
                    bitmap = target.allocate(F.BITMAP_BLOCK_SIZE) | F.SB_BLOCK_PRESENT
                    bat.set(g.bitmap_index(chunk), bitmap)
                    bitmap_updates.append((g.bitmap_index(chunk), bitmap))
            for part in parts:
                bits[(part.start - block_start) // ss : -(-(part.end - block_start) // ss)] = True
            chunk, byte_offset = g.bitmap_location(block)
            bitmap_base = bat.bitmap_entry(chunk) & F.BAT_OFFSET_MASK
            pwrite_all(fd, np.packbits(bits, bitorder="little").tobytes(),
                        bitmap_base + byte_offset)
        done += covered
        report(progress, 0.95 * done / total, PHASE)
    portable.start_writeback(fd, written[0], written[1] - written[0])
    return done


# --- the stream: the child absorbs its parent and takes its name ----------------------------

MARKER_SUFFIX = ".hvmerge"
# Why os.link may fail where a forward merge still works: no hard links on this file system.
_NO_LINKS = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP,
             errno.EMLINK, errno.ENOSYS}


def stream_marker(destination: str | os.PathLike[str]) -> Path:
    """The marker of a streamed merge into `destination`: a second name of the merged disk,
    beside the destination, from step 1 until the merged disk's own name is gone."""
    dest = Path(destination)
    return dest.with_name(dest.name + MARKER_SUFFIX)


_STREAM_SUFFIXES = (MARKER_SUFFIX, MARKER_SUFFIX + "-new")  # the marker, the third name


def stream_names(destination: str | os.PathLike[str]) -> list[Path]:
    """Every name a streamed merge into `destination` may leave beside it while cut: the
    marker (steps 1-6) and the third name (step 4)."""
    dest = Path(destination)
    return [dest.with_name(dest.name + suffix) for suffix in _STREAM_SUFFIXES]


def marked_destination(path: str | os.PathLike[str]) -> Path | None:
    """The destination whose stream marker (or its third name, step 4) `path` is, or None."""
    p = Path(path)
    for suffix in _STREAM_SUFFIXES:
        if p.name.endswith(suffix) and len(p.name) > len(suffix):
            return p.with_name(p.name[: -len(suffix)])
    return None


def _may_stream(view: Disk, depth: int, direction: str) -> bool:
    """Whether this merge may be a stream (and, for "smaller", should: the parent holds less)."""
    if direction == "forward" or depth != 1:
        return False
    child, parent = view.images[0], view.images[1]
    if not isinstance(child, VhdxImage) or not isinstance(parent, VhdxImage):
        return False
    if not _streamable(child, parent, names=1):
        return False
    return direction == "stream" or stored_bytes(parent) < stored_bytes(child)


def _streamable(child: VhdxImage, parent: VhdxImage, *, names: int) -> bool:
    """Whether nothing of `parent` is lost or changed by a stream (the docstring's list);
    `names`: how many names the child may have (its own, and the marker once it is made)."""
    return not (parent.disk_type == "Fixed"
                or os.stat(child.path).st_nlink > names  # another name would see it change
                or any(e.is_user for e in parent.metadata.entries)  # a stream would drop them
                or not fits_one_sector(child)
                or not _same_file(child.path.parent, parent.path.parent))


def stream_growth(
    path: str | os.PathLike[str], destination: str | os.PathLike[str]
) -> int | None:
    """How many bytes the child grows when merge_vhd(path, destination) streams (the parent's
    file is freed at the end), or None when that merge goes forward."""
    with open_disk(path) as view:
        if len(view.chain) < 2 or not _same_file(view.chain[1], Path(destination)):
            return None
        if not _may_stream(view, 1, "smaller"):
            return None
        child = view.images[0]
        assert isinstance(child, VhdxImage)  # _may_stream said so
        return absorb_growth(view, child)


def _mark(child: Path, destination: Path) -> bool:
    """Step 1: the second name that records the decision to stream; False where the file
    system has no hard links (then the merge goes forward)."""
    marker = stream_marker(destination)
    try:
        os.link(child, marker)
    except FileExistsError:
        raise VhdxError(marker, "is in the way of the merge (left by another interrupted "
                        "merge?): merge that disk again or remove this file") from None
    except OSError as exc:
        if exc.errno in _NO_LINKS:
            return False
        raise
    durable.sync_folder(marker.parent)  # before the child's metadata says it is not a child
    return True


def _interrupted_stream(
    child: Path, destination_path: str | os.PathLike[str] | None
) -> Path | None:
    """The destination of a streamed merge of `child` that was cut, if there is one: the
    marker is the child's inode (steps 1-4), or the destination is (steps 5-6). Without a
    destination named, the marker is found in the child's folder; another disk there that is
    the child's inode may be a destination after step 4, or a copy made with hard links:
    which one cannot be told, so the user is asked to name the destination."""
    try:
        st = os.stat(child)
    except OSError:
        return None
    if st.st_nlink < 2:
        return None
    if destination_path is not None:
        dest = Path(destination_path)
        if os.path.abspath(dest) == os.path.abspath(child):
            return None
        found = _is_name_of(stream_marker(dest), child) or _same_file(dest, child)
        return dest if found else None
    other = ""
    try:
        with os.scandir(child.parent) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_SCANNED_FILES:
                    break
                if entry.name == child.name or entry.inode() != st.st_ino:
                    continue
                if entry.name.endswith(MARKER_SUFFIX):
                    return child.with_name(entry.name[: -len(MARKER_SUFFIX)])
                if Path(entry.name).suffix.lower() in DISK_SUFFIXES:
                    other = entry.name
    except OSError:
        return None
    if other:
        raise VhdxError(child, f"is the same file as {other} (a hard link): if a merge into "
                        f"{other} was cut, name it as the destination to finish the merge")
    return None


def _stream(
    child: Path, destination: Path, children: list[Path] | None, progress: Progress | None,
    cancel: CancelToken | None,
) -> MergeResult:
    """Steps 2-6 of the stream, from wherever an earlier run stopped."""
    marker = stream_marker(destination)
    grandchildren = _grandchildren([child], destination, children or [])
    restore = _make_writable([child, *grandchildren])
    moved = 0
    try:
        if not _same_file(child, destination):  # steps 2-4 not finished
            moved = _absorb_and_take_place(child, destination, marker, progress, cancel)
            with contextlib.suppress(OSError):  # the destination's permissions, not the child's
                os.chmod(marker, stat.S_IMODE(os.stat(destination).st_mode) | stat.S_IWUSR)
            _take_name(child, destination)  # step 4
        with VhdxImage.open(destination, load_bat=False) as image:
            linkage = image.data_write_guid  # the child's, which its children are linked to
        for grandchild in grandchildren:  # step 5
            _rewrite_locator(grandchild, _locator_for(grandchild, destination, linkage))
    finally:
        _restore_modes(restore)
    if _is_name_of(marker, destination):  # step 6: names only now, no data freed
        marker.unlink()
    child.unlink(missing_ok=True)
    durable.sync_folder(child.parent)
    _set_writable(destination, not grandchildren)
    report(progress, 1.0, PHASE)
    return MergeResult(destination, [child], moved, grandchildren, streamed=True)


def _take_name(child: Path, destination: Path) -> None:
    """Step 4: a third name of the child renamed over the destination (the marker stays, so
    that a rerun naming no destination still finds it)."""
    name = stream_names(destination)[1]
    try:
        os.link(child, name)
    except FileExistsError:
        if not _is_name_of(name, child):  # not left by an earlier run of this merge
            raise VhdxError(name, "is in the way of the merge: remove it and merge "
                            "again") from None
    durable.rename(name, destination)


def _absorb_and_take_place(
    child: Path, destination: Path, marker: Path, progress: Progress | None,
    cancel: CancelToken | None,
) -> int:
    """Steps 2 and 3 (nothing to do when an earlier run finished step 3)."""
    with VhdxImage.open(child, writable=True) as image, open_disk(child) as view:
        if len(view.chain) < 2 or not _same_file(view.chain[1], destination):
            if not _stands_for(image, destination):  # a marker this merge did not leave
                raise VhdxError(marker, f"does not belong to a merge of {child.name} into "
                                f"{destination.name} (neither its parent nor the disk it "
                                "became): remove this file")
            return 0  # the child already stands where the destination stood
        parent = view.images[1]
        if not isinstance(parent, VhdxImage) or not _streamable(image, parent, names=2):
            raise VhdxError(marker, f"does not belong to a merge of {child.name} into "
                            f"{destination.name}, which would not stream: remove this file")
        try:
            moved = absorb(view, image, lambda f: report(progress, 0.9 * f, PHASE), cancel)
        except BaseException:
            # Still the destination's child, reading the same: as if the merge never began.
            with contextlib.suppress(OSError):
                marker.unlink()
                durable.sync_folder(marker.parent)
            raise
        take_parents_place(image, parent)
    return moved


def _stands_for(child: VhdxImage, destination: Path) -> bool:
    """Whether `child` took `destination`'s place (step 3 done), so that renaming it over the
    destination changes no disk's view: the destination is a VHDX of the same size, Page 83
    id and parent (linkage), as take_parents_place makes the child."""
    try:
        with VhdxImage.open(destination, load_bat=False) as dest:
            if (dest.virtual_size, dest.disk_identifier, dest.has_parent) != (
                    child.virtual_size, child.disk_identifier, child.has_parent):
                return False
            if not dest.has_parent:
                return True
            keys = ("parent_linkage", "parent_linkage2")
            return all(parse_linkage(dest.parent_locator.get(k, ""))
                       == parse_linkage(child.parent_locator.get(k, "")) for k in keys)
    except (VhdxError, OSError):
        return False


# --- file modes ------------------------------------------------------------------------------


def _make_writable(paths: list[Path]) -> dict[Path, int]:
    """Give the owner write permission for the merge; remember modes to restore."""
    saved: dict[Path, int] = {}
    for p in paths:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if not mode & stat.S_IWUSR:
            saved[p] = mode
            os.chmod(p, mode | stat.S_IWUSR)  # not durable: a rerun after a cut sets it again
    return saved


def _restore_modes(saved: dict[Path, int]) -> None:
    for p, mode in saved.items():
        with contextlib.suppress(OSError):  # the file may be gone (a merged file)
            durable.set_mode(p, mode)


def _set_writable(path: Path, writable: bool) -> None:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    durable.set_mode(path, mode | stat.S_IWUSR if writable else mode & ~write_bits)
