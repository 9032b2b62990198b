"""The survey: what can be read from one VHDX file, damaged or not.

`survey(path)` decodes the file with the same decoders that open it (structures, log, bat),
but collects their problems instead of stopping at the first: every structure it can decode,
each CRC checked and remembered rather than enforced, every oddity recorded as a `Problem`.
The engine's `open_disk` refuses a bad file; the survey describes it. Get-VHD (vhdx_info.py),
the inspector's dump (dump.py) and Test-VHD (check.py) are views of the survey.

Reads are bounded by the file's size and by the structures' legal sizes (a hostile length field
cannot make it allocate more than the file holds).
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hvgui import portable
from hvgui.vhdx import format as F
from hvgui.vhdx.bat import BatGeometry, BatScan, decode_bat
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.files import open_disk_file
from hvgui.vhdx.locator import candidate_paths, find_parent
from hvgui.vhdx.log import Overlay, ReplayPlan, decode_log
from hvgui.vhdx.problems import Problem, Problems
from hvgui.vhdx.structures import (
    DecodedMetadata,
    FileIdentifier,
    Header,
    HeaderSlot,
    Regions,
    RegionTableSlot,
    choose_header,
    choose_region_table,
    decode_file_identifier,
    decode_header,
    decode_metadata,
    decode_region_table,
)

__all__ = ["Problem", "Survey", "linkage_matches", "locator_candidates", "resolve_parent",
           "survey"]


@dataclass
class Survey:
    """All that could be read from one VHDX file, plus what was wrong with it."""

    path: Path
    file_size: int = 0
    problems: list[Problem] = field(default_factory=list)
    identifier: FileIdentifier | None = None
    header_slots: list[HeaderSlot] = field(default_factory=list)
    current: HeaderSlot | None = None
    log_plan: ReplayPlan | None = None
    region_slots: list[RegionTableSlot] = field(default_factory=list)
    regions: Regions | None = None
    metadata: DecodedMetadata = field(default_factory=DecodedMetadata)
    bat: BatScan | None = None

    @property
    def header(self) -> Header | None:
        return None if self.current is None else self.current.header

    @property
    def has_parent(self) -> bool:
        return self.metadata.has_parent

    @property
    def locator(self) -> dict[str, str] | None:
        return None if self.metadata.locator is None else self.metadata.locator.entries

    @property
    def virtual_size(self) -> int | None:
        return self.metadata.virtual_size

    @property
    def block_size(self) -> int | None:
        return self.metadata.block_size

    @property
    def logical_sector_size(self) -> int | None:
        return self.metadata.logical_sector_size

    @property
    def disk_type(self) -> str | None:
        if self.block_size is None:
            return None
        if self.has_parent:
            return "Differencing"
        return "Fixed" if self.metadata.leave_block_allocated else "Dynamic"


def _read(fobj: BinaryIO, offset: int, length: int, file_size: int,
          overlay: Overlay | None = None) -> bytes:
    """Read up to `length` bytes at `offset`, never past the end of the file, with the log's
    replayed writes applied when there is a log to replay."""
    length = max(0, min(length, file_size - offset))
    if length == 0:
        return b""
    fobj.seek(offset)
    data = bytearray(fobj.read(length))
    if overlay:
        overlay.apply(data, offset)
    return bytes(data)


def survey(path: str | os.PathLike[str], *, bat: bool = True) -> Survey:
    """Survey one VHDX file. Never raises for a malformed file (an unreadable one included).
    `bat=False` stops before the BAT (a linkage check needs the header alone; a 64 TiB disk's
    BAT is 512 MiB to read)."""
    result = Survey(Path(path))
    problems = Problems(strict=False)
    try:
        fd = open_disk_file(result.path)
    except VhdxError as exc:
        why = f"it {exc.problem}" if exc.problem.startswith("is ") else exc.problem
        problems.error("unreadable", f"the file cannot be read: {why}")
    else:
        try:
            with os.fdopen(fd, "rb") as fobj:
                result.file_size = os.fstat(fobj.fileno()).st_size
                _survey_file(result, fobj, problems, bat)
        except OSError as exc:
            problems.error("unreadable", f"the file cannot be read: {exc.strerror or exc}")
        except (ValueError, struct.error, IndexError, OverflowError) as exc:
            # A structure so malformed that a decoder gave up: what was read so far stays.
            problems.error("undecodable", f"the file could not be fully decoded ({exc})")
    result.problems = problems.found
    return result


def _survey_file(s: Survey, fobj: BinaryIO, problems: Problems, with_bat: bool) -> None:
    size = s.file_size
    overlay = Overlay()

    def raw(offset: int, length: int) -> bytes:
        return _read(fobj, offset, length, size)

    def replayed(offset: int, length: int) -> bytes:
        return _read(fobj, offset, length, size, overlay)

    s.identifier = decode_file_identifier(raw(0, 8 + 512), size, problems)
    if s.identifier is None:
        return
    s.header_slots = [decode_header(n, raw(offset, F.HEADER_SIZE))
                      for n, offset in enumerate(F.HEADER_OFFSETS, start=1)]
    s.current = choose_header(s.header_slots, problems)
    if s.header is not None:
        # Applied to what is read next, as any reader must before trusting BAT and metadata.
        s.log_plan = decode_log(s.header, raw, size, problems)
        if s.log_plan is not None:
            overlay = Overlay(s.log_plan.writes)
    s.region_slots = [decode_region_table(n, raw(offset, F.REGION_TABLE_SIZE))
                      for n, offset in enumerate(F.REGION_TABLE_OFFSETS, start=1)]
    s.regions = choose_region_table(s.region_slots, s.header, size, problems)
    if s.regions is None or s.regions.metadata is None:
        return
    meta = s.regions.metadata
    s.metadata = m = decode_metadata(
        replayed(meta.file_offset, F.METADATA_TABLE_SIZE),
        meta.length,
        lambda offset, length: replayed(meta.file_offset + offset, length),
        problems,
    )
    bat = s.regions.bat
    if bat is None or m.block_size is None or m.virtual_size is None \
            or m.logical_sector_size is None or not with_bat:
        return
    s.bat = decode_bat(
        BatGeometry(m.block_size, m.logical_sector_size, m.virtual_size, m.has_parent),
        (bat.file_offset, bat.length),
        size,
        replayed,
        None if overlay else lambda offset: portable.next_data(fobj.fileno(), offset),
        s.regions.fixed(s.header),
        problems,
        keep=False,
        fully_allocated=m.leave_block_allocated,
    )


# ---- the parent locator -------------------------------------------------------------------


def locator_candidates(child: Path, locator: dict[str, str]) -> list[Path]:
    """Where the parent may be, in the engine's lookup order (locator.candidate_paths)."""
    return candidate_paths(child, locator)


def resolve_parent(child: Path, locator: dict[str, str]) -> Path | None:
    return find_parent(child, locator)


def locator_display_path(locator: dict[str, str]) -> str | None:
    """The parent path a person recognises: the absolute Windows path when there is one."""
    for key in ("absolute_win32_path", "relative_path", "volume_path"):
        value = locator.get(key)
        if value:
            return value[4:] if value.startswith("\\\\?\\") else value
    return None


def linkage_matches(locator: dict[str, str], parent: Survey) -> bool | None:
    """Whether the parent's DataWriteGuid is one the child accepts (parent_linkage or the
    spec's alternate, parent_linkage2); None when it cannot be told."""
    header = parent.header
    if header is None:
        return None
    accepted = []
    for key in ("parent_linkage", "parent_linkage2"):
        try:
            guid = uuid.UUID(locator[key].strip("{}"))
        except (KeyError, ValueError):
            continue
        if guid != F.NULL_GUID:  # Hyper-V writes a zero parent_linkage2 when it has none
            accepted.append(guid)
    if not accepted:
        return None
    return header.data_write_guid in accepted
