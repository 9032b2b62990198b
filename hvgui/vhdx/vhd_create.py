"""Create legacy VHD files: fixed, dynamic, and differencing children (`.avhd`) of a VHD.

Layout of a dynamic or differencing disk, as Hyper-V lays it out: footer copy at 0, dynamic
header at 512, the parent locators' data (differencing), the BAT, blocks, footer at the end.
The file is built under a temporary name and renamed into place once durable.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hvgui import durable, portable
from hvgui.vhdx import vhd_format as V
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.files import pwrite_all
from hvgui.vhdx.locator import relative_win_path, windows_absolute
from hvgui.vhdx.vhd import VhdImage

DEFAULT_BLOCK = 2 << 20  # Hyper-V's block size for dynamic and differencing VHDs
_LOCATOR_SPACE = 512  # bytes reserved per locator; longer paths get more, whole sectors


def _now() -> int:
    return V.to_vhd_time(datetime.now(UTC))


def _check(path: Path, size: int, block_size: int) -> None:
    if size <= 0 or size % V.SECTOR or size > V.MAX_VHD_SIZE:
        raise VhdxError(path, f"size {size} must be a multiple of 512 bytes up to "
                        f"{V.MAX_VHD_SIZE >> 30} GiB (the VHD maximum)")
    if block_size & (block_size - 1) or not V.MIN_BLOCK <= block_size <= V.MAX_BLOCK:
        raise VhdxError(path, f"block size {block_size} must be a power of 2 from 4 KiB to "
                        "256 MiB")


def create_vhd(path: str | os.PathLike[str], size: int, *, fixed: bool = False,
               block_size: int = DEFAULT_BLOCK) -> Path:
    """A new empty fixed or dynamic VHD of `size` bytes."""
    p = Path(path)
    _check(p, size, block_size)
    unique, now = uuid.uuid4(), _now()
    if fixed:
        footer = V.build_footer(V.FIXED, size, unique, now, V.NO_DATA_OFFSET)
        return _write(p, size + V.FOOTER_SIZE, [(size, footer)])
    entries = -(-size // block_size)
    table = V.FOOTER_SIZE + V.DYNAMIC_HEADER_SIZE
    end = table + -(-entries * 4 // V.SECTOR) * V.SECTOR
    footer = V.build_footer(V.DYNAMIC, size, unique, now, V.FOOTER_SIZE)
    header = V.build_dynamic_header(table, entries, block_size)
    return _write(p, end + V.FOOTER_SIZE, [(0, footer), (V.FOOTER_SIZE, header),
                                            (table, b"\xff" * (entries * 4)), (end, footer)])


def create_vhd_differencing(path: str | os.PathLike[str], parent: str | os.PathLike[str], *,
                            block_size: int = DEFAULT_BLOCK) -> Path:
    """A new differencing VHD over the VHD `parent`, naming it the ways Hyper-V does: unique id
    and time stamp, the file name, W2ku (absolute) and W2ru (relative) locators."""
    p, parent_path = Path(path), Path(parent)
    with VhdImage.open(parent_path) as base:
        size, parent_id = base.virtual_size, base.unique_id
    _check(p, size, block_size)
    parent_ts = V.to_vhd_time(datetime.fromtimestamp(os.stat(parent_path).st_mtime, UTC))
    values = [("W2ku", windows_absolute(parent_path)),  # the lab host's Windows name in one
              ("W2ru", relative_win_path(p, parent_path))]
    pieces: list[tuple[int, bytes]] = []
    locators = []
    offset = V.FOOTER_SIZE + V.DYNAMIC_HEADER_SIZE
    for code, value in values:
        data = value.encode("utf-16-le")
        space = max(_LOCATOR_SPACE, -(-len(data) // V.SECTOR) * V.SECTOR)
        locators.append(V.LocatorEntry(code, space, len(data), offset))
        pieces.append((offset, data))
        offset += space
    entries = -(-size // block_size)
    table = offset
    end = table + -(-entries * 4 // V.SECTOR) * V.SECTOR
    footer = V.build_footer(V.DIFFERENCING, size, uuid.uuid4(), _now(), V.FOOTER_SIZE)
    header = V.build_dynamic_header(table, entries, block_size,
                                    (parent_id, parent_ts, parent_path.name), tuple(locators))
    return _write(p, end + V.FOOTER_SIZE, [(0, footer), (V.FOOTER_SIZE, header), *pieces,
                                            (table, b"\xff" * (entries * 4)), (end, footer)])


def _write(path: Path, size: int, pieces: list[tuple[int, bytes]]) -> Path:
    if path.exists():
        raise VhdxError(path, "already exists")
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        fd = portable.open_fd(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, size)
            for offset, data in pieces:
                pwrite_all(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        durable.rename(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise VhdxError(path, f"cannot create the disk: {exc.strerror or exc}") from None
        raise
    return path
