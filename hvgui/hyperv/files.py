"""Files of a real host for the inspector: a local sparse copy filled by ranged reads.

A VHDX/AVHDX is never copied whole: its first megabyte (identifier, headers, region tables),
then the regions the tables name (BAT, metadata) and the log the headers name land at their
own offsets in a sparse file as long as the host's, so Get-VHD, Test-VHD's structure checks and
the block map work on the copy. A legacy VHD: its footer, dynamic header and BAT. A
configuration (XML, VMCX) is copied whole; other files (memory, device state) their first
megabyte. Copies lie in the host's folder tree (`local_name`), so a differencing disk's copy
finds its parent's copy as the host finds the parent. Nothing a host says is trusted: offsets
and lengths are bounded by the file's length, and no name leads out of the copies' folder.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path, PureWindowsPath

from hvgui.backend.errors import HostError
from hvgui.backend.formats import host_path
from hvgui.hyperv.parse import field, integer
from hvgui.hyperv.records import Record, RecordError
from hvgui.progress import CancelToken, Progress, check, report
from hvgui.vhdx import format as F
from hvgui.vhdx import structures

Run = Callable[[str, dict[str, object]], Iterator[Record]]
MiB = 1 << 20
WHOLE_LIMIT = 64 * MiB  # a configuration is small; a bigger file is read in part
MAX_REGIONS = 64 * MiB  # what one VHDX's BAT, metadata and log may ask for, in all
DISKS = (".vhdx", ".avhdx")
LEGACY = (".vhd", ".avhd")
WHOLE = (".xml", ".vmcx")
PRIVATE, READ_ONLY = 0o600, 0o400  # the copy's modes
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')  # what a local file name cannot hold (Windows')


def local_name(path: str) -> str:
    """Where the host's `path` is copied, relative to the copies' folder: below the same
    folders as on the host (its drive or share first), so a differencing disk's parent
    locator, relative to its folder, finds its parent's copy where it finds the parent on the
    host. Nothing the host says leads out of the copies' folder: `.`, `..` and empty names are
    dropped, and what a local name cannot hold is replaced."""
    pure = host_path(path)
    drive = _UNSAFE.sub("_", pure.drive).strip("_") or "root"
    names = [_UNSAFE.sub("_", name) for name in pure.parts[1 if pure.anchor else 0:]]
    names = [name for name in names if name not in ("", ".", "..")]
    return "/".join([drive, *names] if names else [drive, "file"])


class RangedCopy:
    """Fills `target` from the host's `path` through `run("read_file", ...)`."""

    def __init__(self, run: Run, path: str, target: Path) -> None:
        self.run = run
        self.path = path
        self.target = target
        self.length = -1
        self.read_only = False  # as the host has it (a parent disk is read-only)

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of the host's file, written into the copy at the same offset as well."""
        if self.length >= 0:
            offset = min(max(0, offset), self.length)
            length = max(0, min(length, self.length - offset))
        out = bytearray()
        with self.target.open("r+b") as handle:
            for record in self.run("read_file", {"Path": self.path, "Offset": offset,
                                                 "Length": length}):
                obj = record.object
                if record.kind != "result" or not isinstance(obj, dict):
                    continue
                if record.result_kind == "FileInfo":
                    self._sized(integer(obj, "Length"))
                    self.read_only = bool(field(obj, "IsReadOnly"))
                elif record.result_kind == "Chunk":
                    at = integer(obj, "Offset")
                    try:
                        data = base64.b64decode(str(field(obj, "Data") or ""), validate=True)
                    except (binascii.Error, ValueError):
                        raise RecordError(self.path, "a chunk is not base64") from None
                    if at < 0 or at + len(data) > max(self.length, 0):
                        raise RecordError(self.path, f"a chunk at {at} lies outside the file")
                    handle.seek(at)
                    handle.write(data)
                    if offset <= at < offset + length:
                        out += data
        return bytes(out)

    def _sized(self, length: int) -> None:
        if length < 0 or length > F.MAX_VIRTUAL_SIZE + F.MAX_VIRTUAL_SIZE // 8:
            raise RecordError(self.path, f"the host gives an impossible length {length}")
        if self.length < 0:
            self.length = length
            os.truncate(self.target, length)  # sparse: only what is read takes space


def fetch(run: Run, path: str, target: Path, progress: Progress | None = None,
          cancel: CancelToken | None = None) -> Path:
    """Make `target` the local copy of the host's `path` (see the module docstring)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.chmod(PRIVATE)  # an earlier copy of a read-only file: written afresh
    target.write_bytes(b"")
    copy = RangedCopy(run, path, target)
    suffix = Path(PureWindowsPath(path).name).suffix.lower()
    report(progress, 0.0, "Reading")
    if suffix in WHOLE:
        copy.read(0, WHOLE_LIMIT)
    else:
        head = copy.read(0, F.HEADER_AREA)
        check(cancel)
        if suffix in DISKS:
            ranges = vhdx_ranges(head)
        elif suffix in LEGACY:
            ranges = vhd_ranges(copy)
        else:
            ranges = []
        done = 0
        total = sum(length for _, length in ranges) or 1
        for offset, length in ranges:
            check(cancel)
            copy.read(offset, length)
            done += length
            report(progress, done / total, "Reading")
    if copy.length < 0:
        raise HostError(path, "the host did not say how long the file is")
    # Read-only as on the host, so the engine judges the copy as the file (a writable parent
    # would be named as a risk to its chain).
    target.chmod(READ_ONLY if copy.read_only else PRIVATE)
    report(progress, 1.0, "Reading")
    return target


def vhdx_ranges(head: bytes) -> list[tuple[int, int]]:
    """The BAT, metadata and log of a VHDX, from its first megabyte: the regions of the
    first valid region table and the logs of the valid headers (a damaged file's as far as
    they go: the inspector then names what is wrong)."""
    ranges: list[tuple[int, int]] = []
    for slot, at in enumerate(F.REGION_TABLE_OFFSETS, 1):
        table = structures.decode_region_table(slot, head[at:at + F.REGION_TABLE_SIZE])
        if table.valid:
            ranges += [(e.file_offset, e.length) for e in table.table.entries]
            break
    for slot, at in enumerate(F.HEADER_OFFSETS, 1):
        header = structures.decode_header(slot, head[at:at + F.HEADER_SIZE])
        if header.valid and header.header is not None:
            ranges.append((header.header.log_offset, header.header.log_length))
    return _bounded(ranges)


def vhd_ranges(copy: RangedCopy) -> list[tuple[int, int]]:
    """A legacy VHD's footer, dynamic header and BAT."""
    if copy.length < 512:
        return []
    footer = copy.read(copy.length - 512, 512)
    ranges = [(copy.length - 512, 512)]
    if footer[:8] != b"conectix":
        return ranges
    (dynamic,) = struct.unpack_from(">Q", footer, 16)
    if dynamic == 0xFFFFFFFFFFFFFFFF or dynamic + 1024 > copy.length:
        return ranges  # fixed: the footer is all
    header = copy.read(dynamic, 1024)
    if header[:8] != b"cxsparse":
        return ranges
    (bat,) = struct.unpack_from(">Q", header, 16)
    (entries,) = struct.unpack_from(">I", header, 28)
    return _bounded([*ranges, (dynamic, 1024), (bat, entries * 4)])


def _bounded(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges a hostile file cannot blow up: non-negative, and at most MAX_REGIONS in all."""
    out, total = [], 0
    for offset, length in ranges:
        if offset < 0 or length <= 0:
            continue
        length = min(length, MAX_REGIONS - total)
        if length <= 0:
            break
        out.append((offset, length))
        total += length
    return out
