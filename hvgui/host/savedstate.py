"""BIN (memory) and VSV (processor and device state): documented binary formats of our own.

Hyper-V's real BIN/VSV formats are undocumented, so the lab host writes its own (layouts in
docs/formats.md). Both start with a magic, a version and a CRC-32C-protected header.

BIN holds guest memory in 1 MiB chunks at fixed offsets, with a bitmap of the chunks ever
written: untouched chunks are holes in a sparse file, so a 4 GiB guest that touched 256 MiB
costs about 256 MiB of disk. A running VM keeps its memory in a BIN file too (its runtime
memory), so Save and a checkpoint only copy the touched chunks.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgui import portable
from hvgui.host import freespace
from hvgui.host.errors import HostError
from hvgui.host.fileio import file_size, open_regular, parse_json, read_bounded
from hvgui.progress import CancelToken, Progress, check, report
from hvgui.vhdx.files import allocated_bytes, copy_range, data_extents, pwrite_all

MiB = 1 << 20
BIN_MAGIC = b"HVGUIBIN"
VSV_MAGIC = b"HVGUIVSV"
# A BIN/VSV copied off a real host is Hyper-V's own, whose format is undocumented: say so.
NOT_OURS = (" (damaged, or Hyper-V's own saved state, whose format is undocumented: hvgui "
            "cannot restore it)")
FORMAT_VERSION = 1
BIN_HEADER_SIZE = 4096
CHUNK_SIZE = MiB
MAX_MEMORY = 1 << 40  # 1 TiB, Hyper-V 2012 R2's per-VM maximum
MAX_VSV_BYTES = 16 * MiB

# BIN header: magic, version, header size, memory size, chunk size, chunk count,
# bitmap offset, bitmap length, bitmap CRC, data offset, header CRC (computed with it zeroed).
_BIN_HEADER = struct.Struct("<8sIIQIIQIIQI")
_BIN_CRC_AT = _BIN_HEADER.size - 4
# Pending-write record (between bitmap and data): magic, guest offset, length, CRC-32C of the
# record with this field zero followed by the data; then the data. The gap is always at least
# 892 KiB (the bitmap of a 1 TiB guest is 128 KiB), so a 512 KiB write fits in one record.
_PENDING_MAGIC = b"HVGUIWRT"
_PENDING_HEADER = struct.Struct("<8sQII")
MAX_ATOMIC_WRITE = 512 * 1024

# VSV header: magic, version, header size, section count, flags, file length,
# section-table CRC, header CRC (computed with it zeroed).
_VSV_HEADER = struct.Struct("<8sIIIIQII")
_VSV_HEADER_SIZE = 64
_VSV_SECTION = struct.Struct("<IIQQII")  # type, reserved, offset, length, payload CRC, reserved

SECTION_PROCESSORS = 1
SECTION_DEVICES = 2
SECTION_GUEST = 3
SECTION_NAMES = {
    SECTION_PROCESSORS: "processors",
    SECTION_DEVICES: "devices",
    SECTION_GUEST: "guest",
}
_REGISTERS = ("rip", "rsp", "rflags", "cr0", "cr3", "cr4", "efer", "tsc")
_VCPU = struct.Struct("<" + "Q" * len(_REGISTERS))


def _crc(data: bytes, value: int = 0) -> int:
    """CRC-32C through the engine's loader (no package metadata lookup); imported here, not
    at the top: listing VMs reads no checksum (hvctl's start-up)."""
    from hvgui.vhdx.structures import crc32c

    return crc32c(data, value)


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


# ===================================================================================== BIN
@dataclass(frozen=True)
class BinInfo:
    memory_size: int
    chunk_size: int
    chunk_count: int
    touched_chunks: int
    data_offset: int

    @property
    def touched_bytes(self) -> int:
        return self.touched_chunks * self.chunk_size


@dataclass(frozen=True)
class FileSection:
    """One region of a BIN or VSV file (for the inspector): where it lies and what it is."""

    name: str
    offset: int
    length: int
    kind: int | None = None  # a VSV section's type number
    crc32c: int | None = None  # a VSV section's payload checksum (verified when listed)


@dataclass(frozen=True)
class PendingWrite:
    """A whole pending-write record: a write logged by a writer killed before it finished.
    Readers read these bytes over the data; the next writer or copy applies them."""

    guest_offset: int
    length: int


class BinFile:
    """An open BIN file: memory reads and writes at guest-physical offsets.

    Concurrency and crash safety (docs/formats.md, "Writing memory"): readers hold a shared
    lock on the BIN for one read (exclusive where the system has no shared ones), writers
    an exclusive one for one write, so a reader sees
    memory as before or after a write and two writers (GUI thread, hvctl) never lose each
    other's chunk bits. A write is first logged in the pending-write record, then applied in
    place, then the record is cleared: a writer killed at any instant leaves a file that opens
    and reads the old bytes (record torn: ignored) or the new ones (record whole: readers overlay
    it and the next writer or copy replays it).
    """

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        self._pending: tuple[int, bytes] | None = None
        try:
            self._fd = open_regular(path, os.O_RDWR if writable else os.O_RDONLY)
        except FileNotFoundError:
            raise HostError(path, "the memory (BIN) file is missing") from None
        try:
            with self.locked(exclusive=False):
                self._load()
        except BaseException:
            os.close(self._fd)
            raise

    @contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the BIN's own lock (not the host's): shared to read, exclusive to write."""
        portable.lock(self._fd, exclusive=exclusive)
        try:
            yield
        finally:
            portable.unlock(self._fd)

    def _load(self) -> None:
        """(Re)read header, bitmap and pending-write record; call with the lock held."""
        raw = portable.pread(self._fd, BIN_HEADER_SIZE, 0)
        if len(raw) < BIN_HEADER_SIZE or raw[:8] != BIN_MAGIC:
            raise HostError(self.path, f"not an hvgui memory (BIN) file: bad magic{NOT_OURS}")
        fields = _BIN_HEADER.unpack_from(raw)
        (
            _,
            version,
            header_size,
            memory_size,
            chunk_size,
            chunk_count,
            bitmap_offset,
            bitmap_length,
            bitmap_crc,
            data_offset,
            header_crc,
        ) = fields
        zeroed = bytearray(raw)
        zeroed[_BIN_CRC_AT : _BIN_CRC_AT + 4] = b"\0\0\0\0"
        if _crc(bytes(zeroed)) != header_crc:
            raise HostError(self.path, "memory (BIN) header checksum mismatch: the file is damaged")
        if version != FORMAT_VERSION:
            raise HostError(self.path, f"memory (BIN) format version {version} is not supported")
        if (
            header_size != BIN_HEADER_SIZE
            or chunk_size != CHUNK_SIZE
            or not 0 < memory_size <= MAX_MEMORY
            or chunk_count != _align(memory_size, chunk_size) // chunk_size
            or bitmap_offset != BIN_HEADER_SIZE
            or bitmap_length != _align(chunk_count, 8) // 8
            or data_offset != _align(BIN_HEADER_SIZE + bitmap_length, CHUNK_SIZE)
        ):
            raise HostError(self.path, "memory (BIN) header describes an impossible layout")
        self.memory_size = memory_size
        self.chunk_count = chunk_count
        self.data_offset = data_offset
        self._pending_at = _pending_offset(bitmap_length)
        bitmap = portable.pread(self._fd, bitmap_length, bitmap_offset)
        self._pending = self._read_pending()
        if len(bitmap) != bitmap_length:
            raise HostError(self.path, "memory (BIN) chunk bitmap is truncated or damaged")
        self._bitmap = bytearray(bitmap)
        if self._pending is not None:
            # A writer died after logging its write: the bitmap may be half updated, and is
            # complete once the logged chunks are set (bits are only ever set).
            self._mark(*self._pending)
        elif _crc(bitmap) != bitmap_crc:
            raise HostError(self.path, "memory (BIN) chunk bitmap is truncated or damaged")

    def _read_pending(self) -> tuple[int, bytes] | None:
        """The logged write (guest offset, bytes) if a whole, valid record is there."""
        head = portable.pread(self._fd, _PENDING_HEADER.size, self._pending_at)
        if len(head) < _PENDING_HEADER.size or head[:8] != _PENDING_MAGIC:
            return None
        _, offset, length, crc = _PENDING_HEADER.unpack(head)
        if not 0 < length <= MAX_ATOMIC_WRITE or offset + length > self.memory_size:
            return None  # torn or foreign: the write it describes never happened
        data = portable.pread(self._fd, length, self._pending_at + _PENDING_HEADER.size)
        if len(data) != length or _pending_crc(offset, data) != crc:
            return None
        return offset, data

    def _mark(self, offset: int, data: bytes) -> bool:
        """Set the bits of the chunks `data` at `offset` touches; True when any was clear."""
        changed = False
        first, last = offset // CHUNK_SIZE, (offset + len(data) - 1) // CHUNK_SIZE
        for chunk in range(first, last + 1):
            if not self.is_touched(chunk):
                self._bitmap[chunk >> 3] |= 1 << (chunk & 7)
                changed = True
        return changed

    @staticmethod
    def create(path: Path, memory_size: int) -> None:
        """An empty BIN (nothing touched) for `memory_size` bytes of guest memory."""
        if not 0 < memory_size <= MAX_MEMORY:
            raise HostError(path, f"memory size {memory_size} is out of range")
        chunk_count = _align(memory_size, CHUNK_SIZE) // CHUNK_SIZE
        bitmap = bytes(_align(chunk_count, 8) // 8)
        _write_bin(path, memory_size, bitmap)

    def info(self) -> BinInfo:
        touched = sum(bin(b).count("1") for b in self._bitmap)
        return BinInfo(self.memory_size, CHUNK_SIZE, self.chunk_count, touched, self.data_offset)

    def pending_write(self) -> PendingWrite | None:
        """The logged write readers apply (None: the record is empty or torn)."""
        if self._pending is None:
            return None
        offset, data = self._pending
        return PendingWrite(offset, len(data))

    def sections(self) -> list[FileSection]:
        """Header, chunk bitmap, pending-write record and memory data, in file order."""
        bitmap_length = len(self._bitmap)
        pending = self.pending_write()
        record = _PENDING_HEADER.size + (pending.length if pending is not None else 0)
        return [
            FileSection("header", 0, BIN_HEADER_SIZE),
            FileSection("chunk bitmap", BIN_HEADER_SIZE, bitmap_length),
            FileSection("pending-write record", self._pending_at, record),
            FileSection("memory data", self.data_offset, self.chunk_count * CHUNK_SIZE),
        ]

    def is_touched(self, chunk: int) -> bool:
        return bool(self._bitmap[chunk >> 3] & (1 << (chunk & 7)))

    def touched_runs(self) -> Iterator[tuple[int, int]]:
        """(first chunk, chunk count) of each run of touched chunks."""
        start = None
        for chunk in range(self.chunk_count):
            if self.is_touched(chunk):
                if start is None:
                    start = chunk
            elif start is not None:
                yield start, chunk - start
                start = None
        if start is not None:
            yield start, self.chunk_count - start

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.memory_size:
            raise HostError(
                self.path,
                f"memory range {offset}+{length} is outside the guest's {self.memory_size} bytes",
            )

    def read(self, offset: int, length: int) -> bytes:
        """Memory as it is between writes (never half of one)."""
        self._check_range(offset, length)
        with self.locked(exclusive=False):
            self._load()
            return self._read_loaded(offset, length)

    def _read_loaded(self, offset: int, length: int) -> bytes:
        start = offset
        out = bytearray()
        while length > 0:
            chunk, within = divmod(offset, CHUNK_SIZE)
            step = min(length, CHUNK_SIZE - within)
            if self.is_touched(chunk):
                data = portable.pread(self._fd, step, self.data_offset + offset)
                out += data + bytes(step - len(data))
            else:
                out += bytes(step)
            offset += step
            length -= step
        if self._pending is not None:  # a logged write not yet applied reads as written
            where, data = self._pending
            lo, hi = max(start, where), min(start + len(out), where + len(data))
            if lo < hi:
                out[lo - start : hi - start] = data[lo - where : hi - where]
        return bytes(out)

    def write(self, offset: int, data: bytes, *, guard: Callable[[], None] | None = None) -> None:
        """Write guest memory; each piece of up to MAX_ATOMIC_WRITE bytes is atomic for
        readers and survives a kill of this process as all old or all new bytes.

        `guard` runs once the BIN's lock is held and may raise to refuse the write (the
        caller's state check, repeated where no Save or checkpoint copy can slip in).
        """
        if not self.writable:
            raise HostError(self.path, "memory file opened read-only")
        self._check_range(offset, len(data))
        if not data:
            return
        with self.locked(exclusive=True):
            if guard is not None:
                guard()
            self._load()  # another writer may have changed the bitmap since we opened
            if self._pending is not None:
                self._apply(*self._pending)  # finish a dead writer's write first
            for start in range(0, len(data), MAX_ATOMIC_WRITE):
                piece = data[start : start + MAX_ATOMIC_WRITE]
                self._log(offset + start, piece)
                self._apply(offset + start, piece)

    def _log(self, offset: int, data: bytes) -> None:
        head = _PENDING_HEADER.pack(_PENDING_MAGIC, offset, len(data), _pending_crc(offset, data))
        pwrite_all(self._fd, head + data, self._pending_at)
        portable.sync_data(self._fd)  # the record is on disk before any byte it covers changes
        self._pending = (offset, data)

    def _apply(self, offset: int, data: bytes) -> None:
        """Write logged bytes in place, publish their chunks, then drop the record."""
        pwrite_all(self._fd, data, self.data_offset + offset)
        if self._mark(offset, data) or self._bitmap_stale():
            bitmap = bytes(self._bitmap)
            pwrite_all(self._fd, bitmap, BIN_HEADER_SIZE)
            pwrite_all(self._fd, _bin_header(self.memory_size, bitmap, self.data_offset), 0)
        portable.sync_data(self._fd)  # applied bytes on disk before the record goes
        pwrite_all(self._fd, bytes(_PENDING_HEADER.size), self._pending_at)
        self._pending = None

    def _bitmap_stale(self) -> bool:
        """True when the bitmap on disk is not the loaded one (a dead writer's torn update)."""
        return portable.pread(self._fd, len(self._bitmap), BIN_HEADER_SIZE) != self._bitmap or (
            _BIN_HEADER.unpack_from(portable.pread(self._fd, _BIN_HEADER.size, 0))[8]
            != _crc(bytes(self._bitmap))
        )

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> BinFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self._fd


@contextmanager
def memory_writes_held(path: Path, *, readers: bool = False) -> Iterator[None]:
    """Hold off guest memory writes to the BIN at `path` (none is half done meanwhile).
    `readers`: a shared hold, so a reader of the BIN (copy_bin) may still open it.

    For a Running VM changing state: a write waiting here re-checks the VM's state once this
    ends (Host.write_memory's guard), so none lands in the BIN of a Saved or Paused VM. The
    file is not read, so a damaged BIN does not stop the state change. No BIN: nothing to hold.
    """
    try:
        fd = open_regular(path, os.O_RDONLY)
    except (FileNotFoundError, HostError):
        yield
        return
    try:
        portable.lock(fd, exclusive=not readers)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _pending_offset(bitmap_length: int) -> int:
    """The pending-write record sits in the gap between the bitmap and the data."""
    return _align(BIN_HEADER_SIZE + bitmap_length, 4096)


def _pending_crc(offset: int, data: bytes) -> int:
    head = _PENDING_HEADER.pack(_PENDING_MAGIC, offset, len(data), 0)
    return _crc(data, _crc(head))


def _bin_header(memory_size: int, bitmap: bytes, data_offset: int) -> bytes:
    chunk_count = _align(memory_size, CHUNK_SIZE) // CHUNK_SIZE
    fields = (
        BIN_MAGIC,
        FORMAT_VERSION,
        BIN_HEADER_SIZE,
        memory_size,
        CHUNK_SIZE,
        chunk_count,
        BIN_HEADER_SIZE,
        len(bitmap),
        _crc(bitmap),
        data_offset,
        0,
    )
    header = bytearray(BIN_HEADER_SIZE)
    _BIN_HEADER.pack_into(header, 0, *fields)
    struct.pack_into("<I", header, _BIN_CRC_AT, _crc(bytes(header)))
    return bytes(header)


def _write_bin(path: Path, memory_size: int, bitmap: bytes) -> int:
    """Write header + bitmap, size the file sparsely; returns the open descriptor's data offset."""
    data_offset = _align(BIN_HEADER_SIZE + len(bitmap), CHUNK_SIZE)
    fd = portable.open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        pwrite_all(fd, _bin_header(memory_size, bitmap, data_offset), 0)
        pwrite_all(fd, bitmap, BIN_HEADER_SIZE)
        os.ftruncate(fd, data_offset + memory_size)
    finally:
        os.close(fd)
    return data_offset


def is_ours(path: Path) -> bool:
    """Whether a BIN or VSV starts with hvgui's magic (a real host's file does not)."""
    try:
        return read_bounded(path, 8)[:8] in (BIN_MAGIC, VSV_MAGIC)  # never a FIFO's read
    except (OSError, HostError):
        return False


def copy_bin(
    source: Path,
    destination: Path,
    *,
    progress: Progress | None = None,
    phase: str = "",
    cancel: CancelToken | None = None,
) -> int:
    """Copy a BIN file touching only its touched chunks (holes stay holes); returns bytes copied.

    The source's lock is held shared for the whole copy, so a guest writing memory meanwhile
    waits and the copy is memory at one instant (a checkpoint's BIN is never half a write).
    Only the file's data is copied (a touched chunk that is a hole reads as zeros either way),
    so the copy costs what the source really occupies, and that must be free first.
    """
    with BinFile(source) as src, src.locked(exclusive=False):
        src._load()
        runs = list(src.touched_runs())
        total = sum(count for _, count in runs) * CHUNK_SIZE
        needed = allocated_bytes(src.fileno())
        freespace.require(str(source), "copying it", [(destination, needed)])
        _write_bin(destination, src.memory_size, bytes(src._bitmap))
        done = 0
        fd = portable.open_fd(destination, os.O_WRONLY)
        try:
            for first, count in runs:
                offset = src.data_offset + first * CHUNK_SIZE
                end = min(src.data_offset + src.memory_size, offset + count * CHUNK_SIZE)
                while offset < end:
                    check(cancel)
                    step = min(end - offset, 8 * MiB)  # small enough to count in Status
                    for start, stop in data_extents(src.fileno(), offset, offset + step):
                        copy_range(src.fileno(), start, fd, start, stop - start)
                    offset += step
                    done += step
                    report(progress, done / total if total else 1.0, phase)
            if src._pending is not None:  # a dead writer's logged write: the copy holds it
                where, data = src._pending
                pwrite_all(fd, data, src.data_offset + where)
        finally:
            os.close(fd)
    return done


# ===================================================================================== VSV
@dataclass(frozen=True)
class DeviceState:
    """What a VSV file holds: per-vCPU registers, device state, and an optional guest blob."""

    processors: list[dict[str, int]]
    devices: dict[str, Any]
    guest: bytes = b""


def write_vsv(path: Path, state: DeviceState) -> None:
    cpu = struct.pack("<I", len(state.processors)) + b"".join(
        _VCPU.pack(*(int(p.get(r, 0)) & (2**64 - 1) for r in _REGISTERS)) for p in state.processors
    )
    devices = json.dumps(state.devices, sort_keys=True).encode("utf-8")
    payloads = [(SECTION_PROCESSORS, cpu), (SECTION_DEVICES, devices)]
    if state.guest:
        payloads.append((SECTION_GUEST, state.guest))
    offset = _VSV_HEADER_SIZE + _VSV_SECTION.size * len(payloads)
    table = bytearray()
    body = bytearray()
    for kind, payload in payloads:
        table += _VSV_SECTION.pack(kind, 0, offset + len(body), len(payload), _crc(payload), 0)
        body += payload
    total = offset + len(body)
    if total > MAX_VSV_BYTES:  # what read_vsv would refuse is never written
        raise HostError(path, f"device state of {total} bytes; at most {MAX_VSV_BYTES >> 20} MiB")
    header = bytearray(_VSV_HEADER_SIZE)
    _VSV_HEADER.pack_into(
        header,
        0,
        VSV_MAGIC,
        FORMAT_VERSION,
        _VSV_HEADER_SIZE,
        len(payloads),
        0,
        total,
        _crc(bytes(table)),
        0,
    )
    struct.pack_into("<I", header, _VSV_HEADER.size - 4, _crc(bytes(header)))
    with open(path, "xb") as handle:
        handle.write(bytes(header) + bytes(table) + bytes(body))


def _vsv_bytes(path: Path) -> bytes:
    """A VSV's bytes: a regular file of at most MAX_VSV_BYTES (a device is never streamed)."""
    try:
        data = read_bounded(path, MAX_VSV_BYTES)
    except FileNotFoundError:
        raise HostError(path, "the device state (VSV) file is missing") from None
    if len(data) > MAX_VSV_BYTES:
        raise HostError(path, "device state (VSV) file is implausibly large")
    return data


def copy_vsv(source: Path, destination: Path) -> None:
    """Copy a VSV file: bounded like a read of it, and only with room for it."""
    data = _vsv_bytes(source)
    freespace.require(str(source), "copying it", [(destination, len(data))])
    with open(destination, "wb") as handle:
        handle.write(data)


def read_vsv(path: Path) -> DeviceState:
    data = _vsv_bytes(path)
    if len(data) < _VSV_HEADER_SIZE or data[:8] != VSV_MAGIC:
        raise HostError(path, f"not an hvgui device state (VSV) file: bad magic{NOT_OURS}")
    (_, version, header_size, count, _flags, total, table_crc, header_crc) = (
        _VSV_HEADER.unpack_from(data)
    )
    zeroed = bytearray(data[:_VSV_HEADER_SIZE])
    struct.pack_into("<I", zeroed, _VSV_HEADER.size - 4, 0)
    if _crc(bytes(zeroed)) != header_crc:
        raise HostError(path, "device state (VSV) header checksum mismatch: the file is damaged")
    if version != FORMAT_VERSION:
        raise HostError(path, f"device state (VSV) format version {version} is not supported")
    table_end = _VSV_HEADER_SIZE + count * _VSV_SECTION.size
    if header_size != _VSV_HEADER_SIZE or count > 64 or total != len(data) or table_end > total:
        raise HostError(path, "device state (VSV) header describes an impossible layout")
    if _crc(data[_VSV_HEADER_SIZE:table_end]) != table_crc:
        raise HostError(path, "device state (VSV) section table is damaged")
    sections: dict[int, bytes] = {}
    for i in range(count):
        kind, _, offset, length, crc, _ = _VSV_SECTION.unpack_from(
            data, _VSV_HEADER_SIZE + i * _VSV_SECTION.size
        )
        if offset < table_end or offset + length > total:
            raise HostError(path, f"device state (VSV) section {i} lies outside the file")
        payload = data[offset : offset + length]
        if _crc(payload) != crc:
            name = SECTION_NAMES.get(kind, str(kind))
            raise HostError(path, f"device state (VSV) {name} section is damaged")
        sections[kind] = payload
    cpu = sections.get(SECTION_PROCESSORS, b"\0\0\0\0")
    (ncpu,) = struct.unpack_from("<I", cpu) if len(cpu) >= 4 else (0,)
    if len(cpu) != 4 + ncpu * _VCPU.size:
        raise HostError(path, "device state (VSV) processor section has the wrong size")
    processors = [
        dict(zip(_REGISTERS, _VCPU.unpack_from(cpu, 4 + i * _VCPU.size), strict=True))
        for i in range(ncpu)
    ]
    try:
        devices = parse_json(sections.get(SECTION_DEVICES, b"{}").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HostError(path, "device state (VSV) devices section is not valid JSON") from None
    if not isinstance(devices, dict):
        raise HostError(path, "device state (VSV) devices section is not an object")
    return DeviceState(processors, devices, sections.get(SECTION_GUEST, b""))


def vsv_sections(path: Path) -> list[FileSection]:
    """The VSV's header and its sections in table order; the file is validated first."""
    read_vsv(path)  # magic, version, layout and every CRC: the table below is sound
    data = _vsv_bytes(path)
    count = _VSV_HEADER.unpack_from(data)[3]
    out = [FileSection("header", 0, _VSV_HEADER_SIZE + count * _VSV_SECTION.size)]
    for i in range(count):
        kind, _, offset, length, crc, _ = _VSV_SECTION.unpack_from(
            data, _VSV_HEADER_SIZE + i * _VSV_SECTION.size
        )
        out.append(FileSection(SECTION_NAMES.get(kind, f"type {kind}"), offset, length, kind, crc))
    return out


def bin_sections(path: Path) -> list[FileSection]:
    """The BIN's regions in file order (see BinFile.sections); the file is validated first."""
    with BinFile(path) as handle:
        return handle.sections()


def describe_bin(path: Path) -> BinInfo:
    """Header facts of a BIN file (for the inspector and the host check)."""
    with BinFile(path) as handle:
        return handle.info()


def stored_size(path: Path) -> int | None:
    """The bytes a file holds for the event log: a BIN's touched memory (its holes cost nothing,
    and that is what a checkpoint copies), any other file's size."""
    if path.suffix.lower() == ".bin":
        try:
            with BinFile(path) as handle:  # touched chunks that are holes cost nothing either
                return min(handle.info().touched_bytes, allocated_bytes(handle.fileno()))
        except (HostError, OSError):
            pass  # a damaged BIN: its plain size
    return file_size(path)
