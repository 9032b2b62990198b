"""A virtual disk: a leaf VHDX (or legacy VHD) and its chain of parents, read and written as
one disk. Hyper-V never mixes the two formats in one chain, and neither does this engine."""

from __future__ import annotations

import io
import itertools
import os
import stat
import uuid
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hvgui import durable
from hvgui.vhdx import format as F
from hvgui.vhdx.block_table import (
    ZEROS_SOURCE,
    BlockSource,
    BlockTable,
    runs_of,
    served_arrays,
)
from hvgui.vhdx.errors import (
    CorruptFileError,
    ParentMismatchError,
    ParentNotFoundError,
    ReadOnlyError,
    UnsupportedError,
    VhdxError,
)
from hvgui.vhdx.image import DATA, PARENT, VhdxImage
from hvgui.vhdx.locator import find_parent, looked_for, parent_file_name
from hvgui.vhdx.sniff import is_vhd

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

    from hvgui.vhdx.vhd import VhdImage

    Image = VhdxImage | VhdImage  # one file of a chain

MAX_CHAIN_DEPTH = 256

def open_image(
    path: str | os.PathLike[str], *, writable: bool = False, load_bat: bool = True
) -> Image:
    """One disk file, VHDX or VHD by its content (a VHD ends in a `conectix` footer)."""
    if is_vhd(path):
        from hvgui.vhdx.vhd import VhdImage  # here: a VHDX command never loads the VHD decoders

        return VhdImage.open(path, writable=writable, load_bat=load_bat)
    return VhdxImage.open(path, writable=writable, load_bat=load_bat)


def parse_linkage(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip().strip("{}"))
    except ValueError:
        return None


def resolve_parent(child: Image) -> Path:
    """The parent file of a differencing image, found through its locator, or raise
    ParentNotFoundError naming the file it looked for."""
    locator = child.parent_locator
    found = find_parent(child.path, locator)
    if found is not None:
        return found
    looked = looked_for(child.path, locator) or "nowhere (the locator has no path)"
    raise ParentNotFoundError(
        child.path,
        f"parent disk not found: {parent_file_name(locator)} (looked for {looked})",
        locator,
    )


def check_linkage(child: Image, parent: Image) -> None:
    """Raise ParentMismatchError unless the parent is the disk the child was made on: its
    DataWriteGuid is the child's linkage (VHDX), its unique id the child's parent id (VHD)."""
    if not isinstance(child, VhdxImage) or not isinstance(parent, VhdxImage):
        _check_vhd_linkage(child, parent)
        return
    locator = child.parent_locator
    linkage = parse_linkage(locator.get("parent_linkage", ""))
    if linkage is None:
        raise CorruptFileError(
            child.path, f"parent_linkage {locator.get('parent_linkage')!r} is not a GUID"
        )
    alternate = parse_linkage(locator.get("parent_linkage2", ""))
    if parent.data_write_guid in (linkage, alternate) and parent.data_write_guid != F.NULL_GUID:
        return
    raise ParentMismatchError(
        child.path,
        f"the parent {parent.path} was modified after this differencing disk was created "
        f"(parent_linkage {{{linkage}}} but the parent's DataWriteGuid is "
        f"{{{parent.data_write_guid}}}); the chain is broken",
    )


def _check_vhd_linkage(child: Image, parent: Image) -> None:
    if isinstance(child, VhdxImage) or isinstance(parent, VhdxImage):
        formats = "a VHDX" if isinstance(child, VhdxImage) else "a VHD"
        other = "a VHDX" if isinstance(parent, VhdxImage) else "a VHD"
        raise UnsupportedError(
            child.path, f"{formats} disk whose parent {parent.path} is {other}: Hyper-V does not "
            "mix VHD and VHDX in one chain (convert the whole chain to one format)")
    assert child.header is not None
    expected = child.header.parent_unique_id
    if parent.unique_id != expected:
        raise ParentMismatchError(
            child.path,
            f"the parent {parent.path} is not the disk this differencing disk was made on "
            f"(it expects unique id {{{expected}}}, the parent has {{{parent.unique_id}}}); "
            "the chain is broken",
        )


def open_disk(path: str | os.PathLike[str], *, writable: bool = False) -> Disk:
    """Open a disk and its whole parent chain (parents always read-only)."""
    images: list[Image] = []
    try:
        images.append(open_image(path, writable=writable))
        seen = {_identity(images[0].path)}
        while images[-1].has_parent:
            child = images[-1]
            if len(images) >= MAX_CHAIN_DEPTH:
                raise CorruptFileError(
                    images[0].path, f"the parent chain is deeper than {MAX_CHAIN_DEPTH} disks"
                )
            parent_path = resolve_parent(child)
            key = _identity(parent_path)
            if key in seen:
                raise CorruptFileError(child.path, f"the parent chain loops back to {parent_path}")
            seen.add(key)
            parent = open_image(parent_path)
            images.append(parent)
            check_linkage(child, parent)
    except BaseException:
        for image in images:
            image.close()
        raise
    return Disk(images)


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class Disk:
    """The virtual disk of a chain: `images[0]` is the leaf, the last is the base."""

    def __init__(self, images: list[Image]) -> None:
        self.images = images
        leaf = images[0]
        self.path: Path = leaf.path
        self.size: int = leaf.virtual_size
        self.block_size: int = leaf.block_size
        self.logical_sector_size: int = leaf.logical_sector_size
        self.physical_sector_size: int = leaf.physical_sector_size
        self.disk_type: str = leaf.disk_type
        self.chain: list[Path] = [image.path for image in images]
        self.writable: bool = leaf.writable

    @property
    def leaf(self) -> Image:
        return self.images[0]

    # --- reading ---------------------------------------------------------------------------

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from virtual `offset` (fewer if the range passes the end)."""
        self._check_range(offset, length)
        length = max(0, min(length, self.size - offset))
        buf = bytearray(length)
        self._read_chain(offset, memoryview(buf), zeroed=True)
        return bytes(buf)

    def readinto(self, offset: int, buf: memoryview | bytearray) -> int:
        """Fill `buf` from virtual `offset`; returns the bytes read (short at the end)."""
        mv = memoryview(buf).cast("B")
        self._check_range(offset, len(mv))
        n = max(0, min(len(mv), self.size - offset))
        self._read_chain(offset, mv[:n], zeroed=False)
        return n

    def _read_chain(self, offset: int, out: memoryview, *, zeroed: bool) -> None:
        try:
            self._read_level(0, offset, out, zeroed=zeroed)
        except OSError as exc:
            raise VhdxError(self.path, f"cannot read the disk: {exc.strerror or exc}") from exc

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0:
            raise VhdxError(self.path, f"invalid range {offset}+{length}")
        if self.leaf.closed:
            raise VhdxError(self.path, "the disk is closed")

    def _read_level(self, level: int, offset: int, out: memoryview, *, zeroed: bool) -> None:
        image = self.images[level]
        for run in image.map_range(offset, len(out)):
            a = run.offset - offset
            piece = out[a : a + run.length]
            if run.kind == DATA:
                image.preadinto(piece, run.file_offset)
            elif run.kind == PARENT and level + 1 < len(self.images):
                self._read_level(level + 1, run.offset, piece, zeroed=zeroed)
            elif not zeroed:
                piece[:] = bytes(len(piece))

    # --- writing ---------------------------------------------------------------------------

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write through to the leaf (allocating blocks); parents are never written."""
        if not self.writable:
            raise ReadOnlyError(self.path, "the disk is open read-only")
        if self.leaf.closed:
            raise VhdxError(self.path, "the disk is closed")
        try:
            self._write(offset, memoryview(data).cast("B"))
        except OSError as exc:
            raise VhdxError(self.path, f"cannot write: {exc.strerror or exc}") from exc

    def _write(self, offset: int, mv: memoryview) -> None:
        if offset < 0 or offset + len(mv) > self.size:
            raise VhdxError(
                self.path, f"write at {offset}+{len(mv)} is outside the disk ({self.size} bytes)"
            )
        leaf = self.leaf
        ss = leaf.logical_sector_size
        if leaf.has_parent and (offset % ss or len(mv) % ss):
            # Sector bitmaps have sector granularity: complete the edge sectors from the chain.
            start = offset - offset % ss
            end = F.align_up(offset + len(mv), ss)
            merged = bytearray(end - start)
            self.readinto(start, memoryview(merged)[:ss])
            self.readinto(end - ss, memoryview(merged)[end - ss - start :])
            merged[offset - start : offset - start + len(mv)] = mv
            leaf.write(start, merged)
        else:
            leaf.write(offset, mv)

    def flush(self) -> None:
        try:
            self.leaf.flush()
        except OSError as exc:
            raise VhdxError(self.path, f"cannot flush: {exc.strerror or exc}") from exc

    # --- block map -------------------------------------------------------------------------

    def block_sources(self) -> list[BlockSource]:
        """One entry per leaf-sized block: which chain file serves how many of its bytes."""
        return list(self.block_table())

    def block_table(self) -> BlockTable:
        """block_sources as runs (no object per block or range: see block_table)."""
        import numpy as np

        assigned, undecided = served_arrays(self.images, self.size)
        zeros = np.column_stack([undecided, np.full(len(undecided), ZEROS_SOURCE)])
        return BlockTable.from_ranges(np.concatenate([assigned, zeros]), len(self.images),
                                      self.block_size, self.size)

    # --- file object and lifetime -----------------------------------------------------------

    def as_file(self) -> io.RawIOBase:
        return DiskFile(self)

    def close(self) -> None:
        for image in self.images:
            image.close()

    def __enter__(self) -> Disk:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Disk({str(self.path)!r}, chain of {len(self.images)})"


def served_ranges(
    images: list[Image], size: int, *, joined: bool = False
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Which of `images` (a chain, leaf first) serves each virtual byte of [0, size), from
    their BATs alone (no per-range lookups): sorted (start, end, level) ranges, level -1
    (ZEROS_SOURCE) for zeros, and the ranges none of them decides (left to the parent of the
    last one, when it has one). `joined`: neighbouring ranges of one level may come as one."""
    unresolved: list[tuple[int, int]] = [(0, size)]
    assigned: list[tuple[int, int, int]] = []
    for level, image in enumerate(images):
        if not unresolved:
            break
        runs = runs_of(image, joined=True) if joined else coverage(image)
        unresolved = resolve_coverage(unresolved, runs, level, image.has_parent, assigned)
    assigned.sort()
    return assigned, unresolved


def coverage(image: Image) -> list[tuple[int, int, int]]:
    """Sorted (start, end, kind) virtual runs this image decides (DATA or zeros, 1 = ZERO);
    everything else is PARENT (differencing) or zeros (a base disk)."""
    if not isinstance(image, VhdxImage):
        return image.coverage()
    blocks, states, _ = image.bat.payload_states()
    bs = image.block_size
    size = image.virtual_size
    ss = image.logical_sector_size
    runs: list[tuple[int, int, int]] = []
    for block, state in zip(blocks, states, strict=True):
        start = block * bs
        end = min(size, start + bs)
        if state == F.PAYLOAD_BLOCK_FULLY_PRESENT:
            runs.append((start, end, DATA))
        elif state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            bounds, first_present = image.block_runs(block)
            for i, (a, b) in enumerate(itertools.pairwise(bounds)):
                if first_present == (i % 2 == 0):
                    runs.append((start + a * ss, min(end, start + b * ss), DATA))
        elif state in (
            F.PAYLOAD_BLOCK_ZERO,
            F.PAYLOAD_BLOCK_UNMAPPED,
            F.PAYLOAD_BLOCK_UNDEFINED,
        ):
            runs.append((start, end, 1))
    return [r for r in runs if r[0] < r[1]]


def resolve_coverage(
    unresolved: list[tuple[int, int]],
    runs: list[tuple[int, int, int]],
    level: int,
    has_parent: bool,
    assigned: list[tuple[int, int, int]],
) -> list[tuple[int, int]]:
    """Assign the parts of `unresolved` that `runs` cover; return what is left for the parent."""
    left: list[tuple[int, int]] = []
    i = 0
    for a, b in unresolved:
        pos = a
        while i < len(runs) and runs[i][1] <= pos:
            i += 1
        j = i
        while pos < b:
            if j < len(runs) and runs[j][0] < b:
                rs, re_, kind = runs[j]
                if rs > pos:
                    left.append((pos, rs))
                lo, hi = max(pos, rs), min(b, re_)
                if lo < hi:
                    assigned.append((lo, hi, level if kind == DATA else ZEROS_SOURCE))
                pos = max(pos, hi)
                if re_ <= b:
                    j += 1
                else:
                    break
            else:
                left.append((pos, b))
                pos = b
        i = j
    if has_parent:
        return left
    assigned.extend((a, b, ZEROS_SOURCE) for a, b in left)
    return []


class DiskFile(io.RawIOBase):
    """A seekable raw file over a Disk's virtual bytes (writable if the disk is)."""

    def __init__(self, disk: Disk) -> None:
        super().__init__()
        self._disk = disk
        self._pos = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._disk.writable

    def seekable(self) -> bool:
        return True

    def readinto(self, b: WriteableBuffer) -> int:
        mv = memoryview(b)
        if self._pos >= self._disk.size:
            return 0
        n = self._disk.readinto(self._pos, mv)
        self._pos += n
        return n

    def write(self, b: ReadableBuffer) -> int:
        if not self._disk.writable:
            raise io.UnsupportedOperation("the disk is open read-only")
        data = memoryview(b).cast("B")
        if self._pos + len(data) > self._disk.size:
            raise OSError(f"write past the end of the disk ({self._disk.size} bytes)")
        self._disk.write(self._pos, data)
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._disk.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        if not self.closed and self._disk.writable:
            self._disk.flush()

    @property
    def size(self) -> int:
        return self._disk.size


def set_read_only(path: str | os.PathLike[str], read_only: bool) -> None:
    """Set or clear the write bits, like the read-only attribute Hyper-V puts on parents."""
    p = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if read_only:
            durable.set_mode(p, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        else:
            durable.set_mode(p, mode | stat.S_IWUSR)
    except FileNotFoundError:
        raise VhdxError(p, "no such file") from None
    except OSError as exc:
        raise VhdxError(p, f"cannot change the read-only attribute: {exc.strerror}") from None


__all__ = [
    "BlockSource",
    "Disk",
    "DiskFile",
    "check_linkage",
    "open_disk",
    "open_image",
    "resolve_parent",
    "set_read_only",
]
