"""The VHDX metadata log: find the active sequence and turn it into writes to replay.

A log is a circular buffer of 4 KiB sectors holding entries ('loge' header, 'desc'/'zero'
descriptors, 'data' sectors). The active sequence is the run of consecutive valid entries,
ending at the entry with the highest sequence number whose Tail points at the run's first entry.
Replaying it means applying every descriptor of every entry in order.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from hvgui.vhdx import format as F
from hvgui.vhdx.problems import Malformed, Problems, Unsupported
from hvgui.vhdx.structures import Header, checksum_with_field_zeroed

if TYPE_CHECKING:
    import numpy as np

_ENTRY_HEADER = struct.Struct("<4sIIIQII16sQQ")
_DESCRIPTOR = struct.Struct("<4sIQQQ")
MAX_LOG_LENGTH = 64 * F.MiB
MAX_ZERO_LENGTH = 1 * F.GiB
MAX_FILE_OFFSET = 1 << 48
MAX_HEADS_TRIED = 256
# A real log holds a few hundred changes (a 1 MiB log has room for 255 data sectors); these
# bound what a hostile one can make a reader do.
MAX_LOG_WRITES = 1 << 14
MAX_ZERO_TOTAL = 16 * F.GiB
MAX_LOG_GROWTH = 1 * F.GiB  # how far past its end a log may grow a file (LastFileOffset)


class LogWrite(NamedTuple):
    """One replayed change: `data` at `offset`, or `length` zero bytes when data is None."""

    offset: int
    length: int
    data: bytes | None


class LogEntry(NamedTuple):
    position: int  # byte offset in the log
    length: int
    tail: int
    sequence_number: int
    flushed_file_offset: int
    last_file_offset: int
    writes: tuple[LogWrite, ...]


class ReplayPlan(NamedTuple):
    """What replaying the active sequence does to the file."""

    entries: tuple[LogEntry, ...]
    writes: tuple[LogWrite, ...]
    flushed_file_offset: int
    last_file_offset: int


def _parse_entry(ring: bytes, log_length: int, pos: int, log_guid: uuid.UUID) -> LogEntry | None:
    """The valid entry starting at byte `pos` of the log, or None. `ring` is the log twice.

    The structure (descriptor and data sector signatures) is checked before the checksum:
    an entry that passes has no other entry header inside it, so the checksums computed over
    a whole log add up to at most its length, however hostile its contents."""
    head = ring[pos : pos + 64]
    if head[:4] != F.SIG_LOG_ENTRY:
        return None
    (_, checksum, length, tail, seq, count, _, raw_guid, flushed, last) = _ENTRY_HEADER.unpack(head)
    if length == 0 or length % F.LOG_SECTOR or length > log_length:
        return None
    if tail % F.LOG_SECTOR or tail >= log_length or seq == 0:
        return None
    if uuid.UUID(bytes_le=raw_guid) != log_guid:
        return None
    desc_sectors = -(-(64 + 32 * count) // F.LOG_SECTOR)
    if desc_sectors * F.LOG_SECTOR > length:
        return None
    entry = memoryview(ring)[pos : pos + length]
    data_sectors: list[int] = []  # sector index in the entry of each data descriptor's data
    data_index = desc_sectors
    for i in range(count):
        sig, _, leading_or_len, file_offset, dseq = _DESCRIPTOR.unpack_from(entry, 64 + 32 * i)
        if dseq != seq or file_offset % F.LOG_SECTOR:
            return None
        if sig == F.SIG_LOG_ZERO_DESC:
            if leading_or_len % F.LOG_SECTOR:
                return None
        elif sig == F.SIG_LOG_DATA_DESC:
            start = data_index * F.LOG_SECTOR
            if start + F.LOG_SECTOR > length or entry[start : start + 4] != F.SIG_LOG_DATA:
                return None
            high = struct.unpack_from("<I", entry, start + 4)[0]
            low = struct.unpack_from("<I", entry, start + F.LOG_SECTOR - 4)[0]
            if (high << 32) | low != seq:
                return None
            data_sectors.append(data_index)
            data_index += 1
        else:
            return None
    if data_index * F.LOG_SECTOR != length:
        return None
    if checksum_with_field_zeroed(entry) != checksum:
        return None
    writes: list[LogWrite] = []
    data_iter = iter(data_sectors)
    for i in range(count):
        sig, trailing, leading_or_len, file_offset, _ = _DESCRIPTOR.unpack_from(entry, 64 + 32 * i)
        if sig == F.SIG_LOG_ZERO_DESC:
            writes.append(LogWrite(file_offset, leading_or_len, None))
            continue
        start = next(data_iter) * F.LOG_SECTOR
        # The sector's first 8 and last 4 bytes were moved into the descriptor.
        data = (
            struct.pack("<Q", leading_or_len)
            + bytes(entry[start + 8 : start + F.LOG_SECTOR - 4])
            + struct.pack("<I", trailing)
        )
        writes.append(LogWrite(file_offset, F.LOG_SECTOR, data))
    return LogEntry(pos, length, tail, seq, flushed, last, tuple(writes))


def find_active_sequence(log: bytes, log_guid: uuid.UUID) -> ReplayPlan | None:
    """The replay plan of the log's active sequence, or None if the log holds none."""
    log_length = len(log)
    if log_length == 0 or log_length % F.LOG_SECTOR:
        return None
    if log_length > MAX_LOG_LENGTH:
        raise Unsupported(f"the log is {log_length} bytes; at most {MAX_LOG_LENGTH} supported")
    ring = log + log
    entries: dict[int, LogEntry] = {}
    for pos in range(0, log_length, F.LOG_SECTOR):
        if log[pos : pos + 4] == F.SIG_LOG_ENTRY:
            entry = _parse_entry(ring, log_length, pos, log_guid)
            if entry is not None:
                entries[pos] = entry
    heads = sorted(entries.values(), key=lambda e: e.sequence_number, reverse=True)
    for head in heads[:MAX_HEADS_TRIED]:
        sequence = _walk(entries, head, log_length)
        if sequence is not None:
            return _plan(sequence)
    return None


def _walk(entries: dict[int, LogEntry], head: LogEntry, log_length: int) -> list[LogEntry] | None:
    """The entries from head's tail to head, if they form an unbroken sequence."""
    current = entries.get(head.tail)
    sequence: list[LogEntry] = []
    steps = 0
    while current is not None and steps <= log_length // F.LOG_SECTOR:
        if sequence and current.sequence_number != sequence[-1].sequence_number + 1:
            return None
        sequence.append(current)
        if current is head:
            return sequence
        current = entries.get((current.position + current.length) % log_length)
        steps += 1
    return None


def _plan(sequence: list[LogEntry]) -> ReplayPlan:
    head = sequence[-1]
    writes = tuple(w for e in sequence for w in e.writes)
    if len(writes) > MAX_LOG_WRITES:
        raise Unsupported(f"the log holds {len(writes)} changes; at most {MAX_LOG_WRITES} "
                          "are supported")
    zeroed = sum(w.length for w in writes if w.data is None)
    if zeroed > MAX_ZERO_TOTAL:
        raise Unsupported(f"the log zeroes {zeroed} bytes; at most {MAX_ZERO_TOTAL} supported")
    for w in writes:
        if w.offset + w.length > MAX_FILE_OFFSET:
            raise Malformed(f"log descriptor writes at an absurd file offset {w.offset}")
        if w.data is None and w.length > MAX_ZERO_LENGTH:
            raise Unsupported(f"log zero descriptor of {w.length} bytes is too large")
        if w.offset < F.HEADER_AREA:
            raise Malformed(f"log descriptor writes into the header area (offset {w.offset})")
    if head.last_file_offset > MAX_FILE_OFFSET or head.flushed_file_offset > MAX_FILE_OFFSET:
        raise Malformed("log entry claims an absurd file size")
    return ReplayPlan(
        entries=tuple(sequence),
        writes=writes,
        flushed_file_offset=head.flushed_file_offset,
        last_file_offset=head.last_file_offset,
    )


def decode_log(
    header: Header, read: Callable[[int, int], bytes], file_size: int, problems: Problems
) -> ReplayPlan | None:
    """What a reader must replay before it trusts the BAT and metadata: the active sequence of
    the log `header` names, checked against the file (None: nothing to replay)."""
    if header.log_guid == F.NULL_GUID:
        return None
    if header.log_offset < F.HEADER_AREA or header.log_offset + header.log_length > file_size:
        problems.error("log-bounds", "the log region lies outside the file")
        return None
    try:
        plan = find_active_sequence(read(header.log_offset, header.log_length), header.log_guid)
    except (Malformed, Unsupported) as exc:
        problems.error("log-invalid", f"the log cannot be replayed: {exc}",
                       unsupported=isinstance(exc, Unsupported))
        return None
    if plan is None:
        problems.info("log-empty",
                      "the header names a log but the log holds no valid entry: nothing to "
                      "replay")
        return None
    if file_size < plan.flushed_file_offset:
        problems.error("log-truncated",
                       f"the log says the file was flushed at {plan.flushed_file_offset} bytes "
                       f"but it is only {file_size} (truncated?)")
        return None
    # A log changes the file as it was when the log was written: up to LastFileOffset.
    end = max(file_size, plan.last_file_offset)
    for w in plan.writes:
        if w.offset + w.length > end:
            problems.error("log-past-eof",
                           f"the log writes {w.length} bytes at offset {w.offset}, past the "
                           f"file's end ({end} bytes, its LastFileOffset included)")
            return None
    growth = max(0, plan.last_file_offset - file_size)
    if growth > MAX_LOG_GROWTH:  # a crash leaves a few blocks unwritten, not gigabytes
        problems.error("log-growth",
                       f"the log grows the file by {growth} bytes; at most {MAX_LOG_GROWTH} "
                       "supported", unsupported=True)
        return None
    problems.warning(
        "log-unreplayed",
        f"the file has an unreplayed log ({len(plan.entries)} entries): it was not closed "
        "cleanly. hvgui replays it in memory when reading and into the file when opening it "
        "for writing; this survey shows the file as replayed",
    )
    return plan


class Overlay:
    """Replayed log writes kept in memory, applied over reads of a file opened read-only."""

    def __init__(self, writes: tuple[LogWrite, ...] = ()) -> None:
        self.writes = list(writes)
        self._starts: np.ndarray | None = None  # made on first use: most files have no log
        self._ends: np.ndarray | None = None

    def __bool__(self) -> bool:
        return bool(self.writes)

    def apply(self, buf: bytearray | memoryview, offset: int) -> None:
        """Patch `buf`, which holds the file's bytes from `offset`, with the replayed writes
        (in log order, so that a later write wins)."""
        import numpy as np

        if self._starts is None or self._ends is None:
            self._starts = np.array([w.offset for w in self.writes], dtype=np.int64)
            self._ends = self._starts + np.array([w.length for w in self.writes], dtype=np.int64)
        end = offset + len(buf)
        hits = np.flatnonzero((self._starts < end) & (self._ends > offset))
        for k in hits.tolist():
            w = self.writes[k]
            lo, hi = max(offset, w.offset), min(end, w.offset + w.length)
            if w.data is None:
                buf[lo - offset : hi - offset] = bytes(hi - lo)
            else:
                buf[lo - offset : hi - offset] = w.data[lo - w.offset : hi - w.offset]


def build_entry(
    *,
    log_guid: uuid.UUID,
    sequence_number: int,
    tail: int,
    writes: list[LogWrite],
    flushed_file_offset: int,
    last_file_offset: int,
) -> bytes:
    """A complete log entry (used by tests and by writers that go through the log)."""
    descs = bytearray()
    data_sectors = bytearray()
    for w in writes:
        if w.data is None:
            descs += _DESCRIPTOR.pack(F.SIG_LOG_ZERO_DESC, 0, w.length, w.offset, sequence_number)
            continue
        if len(w.data) != F.LOG_SECTOR:
            raise ValueError("log data writes are whole 4 KiB sectors")
        leading = struct.unpack_from("<Q", w.data, 0)[0]
        trailing = struct.unpack_from("<I", w.data, F.LOG_SECTOR - 4)[0]
        descs += _DESCRIPTOR.pack(F.SIG_LOG_DATA_DESC, trailing, leading, w.offset, sequence_number)
        data_sectors += (
            F.SIG_LOG_DATA
            + struct.pack("<I", sequence_number >> 32)
            + w.data[8 : F.LOG_SECTOR - 4]
            + struct.pack("<I", sequence_number & 0xFFFFFFFF)
        )
    desc_sectors = -(-(64 + len(descs)) // F.LOG_SECTOR)
    header_and_descs = bytearray(desc_sectors * F.LOG_SECTOR)
    length = len(header_and_descs) + len(data_sectors)
    _ENTRY_HEADER.pack_into(
        header_and_descs,
        0,
        F.SIG_LOG_ENTRY,
        0,
        length,
        tail,
        sequence_number,
        len(writes),
        0,
        log_guid.bytes_le,
        flushed_file_offset,
        last_file_offset,
    )
    header_and_descs[64 : 64 + len(descs)] = descs
    entry = bytearray(header_and_descs + data_sectors)
    struct.pack_into("<I", entry, 4, checksum_with_field_zeroed(entry))
    return bytes(entry)
