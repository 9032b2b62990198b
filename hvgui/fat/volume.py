"""A small FAT16/FAT32 driver over any seekable file object, at a byte offset (a partition).

Why our own: the guest's disk is a VHDX chain seen through `Disk.as_file()`, and guest actions
must touch only the clusters they change (so an AVHDX grows by what the guest wrote, not by a
rewritten FAT). pyfatfs rewrites whole FATs on every allocation, parses the whole FAT on every
mount and writes boot sectors mtools rejects (zero heads/sectors), so it did not fit.

Layout facts follow Microsoft's FAT specification (fatgen103): BPB fields, cluster-count rules
for the FAT type, directory entries, LFN entries and their checksum. Everything read from the
volume is validated: a malformed volume gives a FatError naming the problem, never a hang
(chains are walked at most once per cluster) or an unbounded allocation.
"""

from __future__ import annotations

import itertools
import math
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hvgui.errors import HvError
from hvgui.fat import names as fatnames

MiB = 1 << 20
ATTR_READ_ONLY = 0x01
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_ARCHIVE = 0x20
MAX_DIR_BYTES = 65536 * 32  # the specification's limit: 65,536 entries per directory
MAX_FILE_SIZE = 0xFFFFFFFF
_FAT_PAGE = 64 * 1024  # FAT bytes read and written at a time
FAT16_MIN_CLUSTERS = 4085
FAT32_MIN_CLUSTERS = 65525


class FatError(HvError):
    """A FAT volume is malformed, full, or asked for something it cannot do."""


class BinaryFile(Protocol):
    """What the driver needs from a file: io.BytesIO, an open file, or Disk.as_file()."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def read(self, size: int = ..., /) -> bytes | None: ...
    def write(self, data: bytes, /) -> int | None: ...


@dataclass(frozen=True)
class FatEntry:
    """One file or directory as a listing shows it."""

    name: str  # the long name (or the short one when there is no long name)
    short_name: str  # the 8.3 name, e.g. HELLOW~1.TXT
    is_dir: bool
    size: int
    modified: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "Name": self.name,
            "ShortName": self.short_name,
            "IsDirectory": self.is_dir,
            "Length": self.size,
            "LastWriteTime": self.modified.isoformat() if self.modified else None,
        }


@dataclass
class _Record:
    name: str
    short: bytes
    attr: int
    cluster: int
    size: int
    wdate: int
    wtime: int
    first_slot: int
    last_slot: int

    @property
    def is_dir(self) -> bool:
        return bool(self.attr & ATTR_DIRECTORY)


@dataclass
class _Dir:
    """A directory's slots: the fixed FAT16 root (cluster 0) or a cluster chain."""

    cluster: int
    chain: list[int]


def _dos_now() -> tuple[int, int]:
    t = time.localtime()
    year = min(max(t.tm_year, 1980), 2107)
    date = ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    clock = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return date, clock


def _dos_datetime(date: int, clock: int) -> datetime | None:
    try:
        return datetime(
            1980 + (date >> 9),
            (date >> 5) & 0x0F,
            date & 0x1F,
            clock >> 11,
            (clock >> 5) & 0x3F,
            min((clock & 0x1F) * 2, 59),
        )
    except ValueError:
        return None


def split_path(path: str) -> list[str]:
    """`/a/b\\c` -> [a, b, c]: both separators, empty parts ignored."""
    return [part for part in path.replace("\\", "/").split("/") if part]


class FatVolume:
    """A mounted FAT16/FAT32 volume. Call flush() (or use `with`) to write FAT changes."""

    def __init__(
        self, fp: BinaryFile, offset: int = 0, *, writable: bool = False, subject: str = "disk"
    ) -> None:
        self._fp = fp
        self._base = offset
        self.writable = writable
        self.subject = subject
        self._pages: dict[int, bytearray] = {}
        self._dirty: set[int] = set()
        self._parse_boot_sector(self._pread(0, 512))
        self._next_free = self._fsinfo_hint()

    # ----------------------------------------------------------------- raw I/O
    def _error(self, problem: str) -> FatError:
        return FatError(self.subject, problem)

    def _pread(self, address: int, length: int) -> bytes:
        self._fp.seek(self._base + address)
        chunks = []
        left = length
        while left > 0:
            chunk = self._fp.read(left)
            if not chunk:
                raise self._error(f"the file system reaches past the end of the disk ({address})")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _pwrite(self, address: int, data: bytes) -> None:
        if not self.writable:
            raise self._error("the guest file system is open read-only")
        self._fp.seek(self._base + address)
        view = memoryview(data)
        while view:
            written = self._fp.write(bytes(view))
            if not written:
                raise self._error(f"could not write at byte {address} of the file system")
            view = view[written:]

    # ------------------------------------------------------------- boot sector
    def _parse_boot_sector(self, boot: bytes) -> None:
        if boot[510:512] != b"\x55\xaa":
            raise self._error("no FAT file system here (boot sector signature missing)")
        (bps, spc, rsvd, nfats, root_entries, tot16, _media, fatsz16) = struct.unpack_from(
            "<HBHBHHBH", boot, 11
        )
        (tot32,) = struct.unpack_from("<I", boot, 32)
        fatsz32, _flags, _ver, root_cluster = struct.unpack_from("<IHHI", boot, 36)
        if bps not in (512, 1024, 2048, 4096):
            raise self._error(f"unsupported bytes per sector {bps}")
        if spc == 0 or spc & (spc - 1) or spc * bps > 64 * 1024:
            raise self._error(f"invalid sectors per cluster {spc}")
        if rsvd == 0 or not 1 <= nfats <= 4:
            raise self._error("invalid reserved sector or FAT count in the boot sector")
        fat_sectors = fatsz16 or fatsz32
        total = tot16 or tot32
        if fat_sectors == 0 or total == 0:
            raise self._error("the boot sector gives no FAT size or no sector count")
        root_sectors = (root_entries * 32 + bps - 1) // bps
        data_start = rsvd + nfats * fat_sectors + root_sectors
        if data_start >= total:
            raise self._error("the boot sector's regions do not fit in the volume")
        clusters = (total - data_start) // spc
        if clusters < FAT16_MIN_CLUSTERS:
            raise self._error("FAT12 volumes are not supported")
        self.fat_type = 16 if clusters < FAT32_MIN_CLUSTERS else 32
        self._entry = 2 if self.fat_type == 16 else 4
        if self.fat_type == 16 and root_entries == 0:
            raise self._error("a FAT16 volume without root directory entries")
        if self.fat_type == 32 and (root_entries != 0 or fatsz32 == 0):
            raise self._error("a FAT32 boot sector with FAT16 fields")
        if fat_sectors * bps // self._entry < clusters + 2:
            raise self._error("the FAT is too small for the volume's clusters")
        self.sector_size = bps
        self.cluster_size = spc * bps
        self.cluster_count = clusters
        self.max_cluster = clusters + 1
        self._fat_start = rsvd * bps
        self._fat_bytes = fat_sectors * bps
        self._fat_count = nfats
        self._root_start = (rsvd + nfats * fat_sectors) * bps
        self._root_bytes = root_sectors * bps
        self._data_start = data_start * bps
        self._fsinfo_sector = struct.unpack_from("<H", boot, 48)[0] if self.fat_type == 32 else 0
        self.volume_bytes = total * bps
        if self.fat_type == 32:
            if not 2 <= root_cluster <= self.max_cluster:
                raise self._error(f"the root directory cluster {root_cluster} is out of range")
            self._root_cluster = root_cluster
        else:
            self._root_cluster = 0
        self._eoc_min = 0xFFF8 if self.fat_type == 16 else 0x0FFFFFF8
        self._eoc = 0xFFFF if self.fat_type == 16 else 0x0FFFFFFF
        self._bad = 0xFFF7 if self.fat_type == 16 else 0x0FFFFFF7
        self._mask = 0xFFFF if self.fat_type == 16 else 0x0FFFFFFF

    def _fsinfo_hint(self) -> int:
        """Where to start looking for free clusters: FAT32's FSInfo hint when it is sane."""
        if self.fat_type != 32 or not self._fsinfo_sector:
            return 2
        info = self._pread(self._fsinfo_sector * self.sector_size, 512)
        hint = struct.unpack_from("<I", info, 492)[0]
        if info[:4] == b"RRaA" and info[484:488] == b"rrAa" and 2 <= hint <= self.max_cluster:
            return int(hint)
        return 2

    # --------------------------------------------------------------------- FAT
    def _page(self, index: int) -> bytearray:
        page = self._pages.get(index)
        if page is None:
            start = index * _FAT_PAGE
            length = min(_FAT_PAGE, self._fat_bytes - start)
            page = bytearray(self._pread(self._fat_start + start, length))
            self._pages[index] = page
        return page

    def _fat_get(self, cluster: int) -> int:
        pos = cluster * self._entry
        page = self._page(pos // _FAT_PAGE)
        if self._entry == 2:
            return int.from_bytes(page[pos % _FAT_PAGE : pos % _FAT_PAGE + 2], "little")
        raw = int.from_bytes(page[pos % _FAT_PAGE : pos % _FAT_PAGE + 4], "little")
        return raw & 0x0FFFFFFF

    def _fat_set(self, cluster: int, value: int) -> None:
        pos = cluster * self._entry
        index = pos // _FAT_PAGE
        page = self._page(index)
        at = pos % _FAT_PAGE
        if self._entry == 2:
            page[at : at + 2] = value.to_bytes(2, "little")
        else:  # FAT32 keeps the top four bits of an entry as they were
            old = int.from_bytes(page[at : at + 4], "little")
            page[at : at + 4] = ((old & 0xF0000000) | (value & 0x0FFFFFFF)).to_bytes(4, "little")
        self._dirty.add(index)

    def chain(self, first: int) -> list[int]:
        """The clusters of a chain starting at `first`; malformed chains raise FatError."""
        if first == 0:
            return []
        out = []
        cluster = first
        while True:
            if not 2 <= cluster <= self.max_cluster:
                raise self._error(f"a cluster chain points at cluster {cluster}, off the volume")
            out.append(cluster)
            if len(out) > self.cluster_count:
                raise self._error(f"the cluster chain starting at {first} loops")
            nxt = self._fat_get(cluster)
            if nxt >= self._eoc_min:
                return out
            if nxt == 0 or nxt == self._bad:
                raise self._error(
                    f"the cluster chain starting at {first} runs into a free or bad cluster"
                )
            cluster = nxt

    def _find_free(self, count: int) -> list[int]:
        """`count` free clusters, scanning from the last allocation; FatError when full."""
        import numpy as np  # here: listing and reading the guest's files need none of it

        found: list[int] = []
        seen: set[int] = set()
        entries_per_page = _FAT_PAGE // self._entry
        dtype = "<u2" if self._entry == 2 else "<u4"
        pages = math.ceil((self.max_cluster + 1) / entries_per_page)
        start_page = self._next_free // entries_per_page
        for step in range(pages + 1):
            index = (start_page + step) % pages
            values = np.frombuffer(bytes(self._page(index)), dtype=dtype) & self._mask
            base = index * entries_per_page
            free = np.flatnonzero(values == 0) + base
            lo = max(2, self._next_free if step == 0 else 2)
            free = free[(free >= lo) & (free <= self.max_cluster)]
            for cluster in free.tolist():
                if cluster not in seen:
                    seen.add(cluster)
                    found.append(cluster)
                    if len(found) == count:
                        self._next_free = cluster + 1
                        return found
        raise self._error(
            f"the guest disk is full (needed {count} more clusters of {self.cluster_size} bytes)"
        )

    def _allocate(self, count: int, after: int = 0) -> list[int]:
        """Allocate and link `count` clusters, appended to the chain ending at `after`."""
        if count == 0:
            return []
        clusters = self._find_free(count)
        for a, b in itertools.pairwise(clusters):
            self._fat_set(a, b)
        self._fat_set(clusters[-1], self._eoc)
        if after:
            self._fat_set(after, clusters[0])
        return clusters

    def _free_chain(self, first: int) -> None:
        for cluster in self.chain(first):
            self._fat_set(cluster, 0)
        if first:
            self._next_free = min(self._next_free, first)

    def flush(self) -> None:
        """Write changed FAT pages to every FAT copy, and the FSInfo hint on FAT32."""
        if not self._dirty:
            return
        for index in sorted(self._dirty):
            data = bytes(self._pages[index])
            for copy in range(self._fat_count):
                self._pwrite(self._fat_start + copy * self._fat_bytes + index * _FAT_PAGE, data)
        self._dirty.clear()
        if self.fat_type == 32 and self._fsinfo_sector:
            at = self._fsinfo_sector * self.sector_size
            info = self._pread(at, 512)
            if info[:4] == b"RRaA" and info[484:488] == b"rrAa":
                # Free count unknown (0xFFFFFFFF is allowed); keep the next-free hint useful.
                self._pwrite(at + 488, struct.pack("<II", 0xFFFFFFFF, self._next_free))

    def __enter__(self) -> FatVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.writable:
            self.flush()

    # ---------------------------------------------------------------- clusters
    def _cluster_address(self, cluster: int) -> int:
        return self._data_start + (cluster - 2) * self.cluster_size

    def _runs(self, clusters: list[int]) -> Iterator[tuple[int, int]]:
        """(first cluster, count) for each contiguous run."""
        i = 0
        while i < len(clusters):
            j = i
            while j + 1 < len(clusters) and clusters[j + 1] == clusters[j] + 1:
                j += 1
            yield clusters[i], j - i + 1
            i = j + 1

    def _read_clusters(self, clusters: list[int], length: int) -> bytes:
        out = bytearray()
        for first, count in self._runs(clusters):
            want = min(count * self.cluster_size, length - len(out))
            if want <= 0:
                break
            out += self._pread(self._cluster_address(first), want)
        return bytes(out)

    def _write_clusters(self, clusters: list[int], data: bytes) -> None:
        done = 0
        for first, count in self._runs(clusters):
            piece = data[done : done + count * self.cluster_size]
            if not piece:
                break
            self._pwrite(self._cluster_address(first), piece)
            done += len(piece)

    # -------------------------------------------------------------- directories
    def _root(self) -> _Dir:
        if self.fat_type == 16:
            return _Dir(0, [])
        return _Dir(self._root_cluster, self.chain(self._root_cluster))

    def _dir_size(self, d: _Dir) -> int:
        return self._root_bytes if d.cluster == 0 else len(d.chain) * self.cluster_size

    def _dir_bytes(self, d: _Dir) -> bytes:
        if d.cluster == 0:
            return self._pread(self._root_start, self._root_bytes)
        if self._dir_size(d) > MAX_DIR_BYTES:
            raise self._error(f"a directory (cluster {d.cluster}) is larger than FAT allows")
        return self._read_clusters(d.chain, self._dir_size(d))

    def _slot_address(self, d: _Dir, slot: int) -> int:
        pos = slot * 32
        if d.cluster == 0:
            return self._root_start + pos
        return self._cluster_address(d.chain[pos // self.cluster_size]) + pos % self.cluster_size

    def _write_slots(self, d: _Dir, slot: int, entries: list[bytes]) -> None:
        for i, entry in enumerate(entries):
            self._pwrite(self._slot_address(d, slot + i), entry)

    def _records(self, d: _Dir) -> tuple[list[_Record], int, int]:
        """(records, slot index of the end marker, total slots) of a directory."""
        raw = self._dir_bytes(d)
        total = len(raw) // 32
        records: list[_Record] = []
        parts: dict[int, str] = {}
        expected = 0
        check = -1
        lfn_first = -1
        for slot in range(total):
            entry = raw[slot * 32 : slot * 32 + 32]
            first = entry[0]
            if first == 0x00:
                return records, slot, total
            if first == 0xE5:
                parts, expected = {}, 0
                continue
            attr = entry[11]
            if attr & 0x3F == fatnames.ATTR_LONG_NAME:
                order, chk, text = fatnames.lfn_part(entry)
                if order & 0x40:
                    parts, expected, check, lfn_first = {}, order & 0x1F, chk, slot
                if expected and chk == check and 1 <= (order & 0x1F) <= expected:
                    parts[order & 0x1F] = text
                else:
                    parts, expected = {}, 0
                continue
            short = entry[:11]
            long_name = ""
            if expected and len(parts) == expected and fatnames.checksum(short) == check:
                long_name = "".join(parts[i] for i in range(1, expected + 1))
            start_slot = lfn_first if long_name else slot
            parts, expected = {}, 0
            if attr & ATTR_VOLUME_ID or short[:1] == b".":
                continue
            hi, wtime, wdate, lo, size = struct.unpack_from("<HHHHI", entry, 20)
            cluster = ((hi << 16) | lo) if self.fat_type == 32 else lo
            name = long_name or fatnames.short_name_with_case(short, entry[12])
            records.append(
                _Record(name, short, attr, cluster, size, wdate, wtime, start_slot, slot)
            )
        return records, total, total

    def _find(self, records: list[_Record], name: str) -> _Record | None:
        folded = name.casefold()
        for record in records:
            if record.name.casefold() == folded:
                return record
            if fatnames.short_name_text(record.short).casefold() == folded:
                return record
        return None

    def _subdir(self, record: _Record) -> _Dir:
        if record.cluster == 0:  # ".." of a first-level directory on FAT32 means the root
            return self._root()
        return _Dir(record.cluster, self.chain(record.cluster))

    def _walk(self, parts: list[str], *, create: bool = False) -> _Dir:
        d = self._root()
        for i, part in enumerate(parts):
            records, _, _ = self._records(d)
            record = self._find(records, part)
            if record is None:
                if not create:
                    where = "/".join(parts[: i + 1])
                    raise self._error(f"no such directory in the guest: /{where}")
                record = self._make_dir_in(d, part)
            elif not record.is_dir:
                raise self._error(f"not a directory in the guest: /{'/'.join(parts[: i + 1])}")
            d = self._subdir(record)
        return d

    def _short_entry(
        self, short: bytes, attr: int, cluster: int, size: int, nt_flags: int = 0
    ) -> bytes:
        date, clock = _dos_now()
        return struct.pack(
            "<11sBBBHHHHHHHI",
            short,
            attr,
            nt_flags,
            0,
            clock,
            date,
            date,
            (cluster >> 16) if self.fat_type == 32 else 0,
            clock,
            date,
            cluster & 0xFFFF,
            size,
        )

    def _add_entry(self, d: _Dir, name: str, attr: int, cluster: int, size: int) -> _Record:
        reason = fatnames.validate_long_name(name)
        if reason:
            raise self._error(f"{name!r}: {reason}")
        records, end, total = self._records(d)
        short = fatnames.make_short_name(name, [r.short for r in records])
        entries = []
        if fatnames.needs_long_name(name):
            entries = fatnames.lfn_entries(name, short)
        entries.append(self._short_entry(short, attr, cluster, size))
        slot = self._free_slots(d, len(entries), end, total)
        self._write_slots(d, slot, entries)
        last = slot + len(entries) - 1
        date, clock = _dos_now()
        return _Record(name, short, attr, cluster, size, date, clock, slot, last)

    def _free_slots(self, d: _Dir, count: int, end: int, total: int) -> int:
        """The first slot of `count` free slots at the end marker, growing the directory."""
        if end + count > total:
            if d.cluster == 0:
                raise self._error("the guest's root directory is full")
            missing = end + count - total
            grow = math.ceil(missing * 32 / self.cluster_size)
            if (total * 32) + grow * self.cluster_size > MAX_DIR_BYTES:
                raise self._error("a guest directory cannot hold more entries")
            new = self._allocate(grow, after=d.chain[-1])
            self._write_clusters(new, bytes(grow * self.cluster_size))
            d.chain.extend(new)
            total += grow * self.cluster_size // 32
        if end + count < total:  # keep an end marker right after the new entries
            self._pwrite(self._slot_address(d, end + count), bytes(32))
        return end

    def _make_dir_in(self, parent: _Dir, name: str) -> _Record:
        [cluster] = self._allocate(1)
        block = bytearray(self.cluster_size)
        block[0:32] = self._short_entry(b".          ", ATTR_DIRECTORY, cluster, 0)
        parent_cluster = 0 if parent.cluster in (0, self._root_cluster) else parent.cluster
        block[32:64] = self._short_entry(b"..         ", ATTR_DIRECTORY, parent_cluster, 0)
        self._write_clusters([cluster], bytes(block))
        return self._add_entry(parent, name, ATTR_DIRECTORY, cluster, 0)

    # ------------------------------------------------------------------ public
    def list_dir(self, path: str = "/") -> list[FatEntry]:
        records, _, _ = self._records(self._walk(split_path(path)))
        return [self._entry_of(r) for r in records]

    def _entry_of(self, record: _Record) -> FatEntry:
        return FatEntry(
            name=record.name,
            short_name=fatnames.short_name_text(record.short),
            is_dir=record.is_dir,
            size=0 if record.is_dir else record.size,
            modified=_dos_datetime(record.wdate, record.wtime),
        )

    def _lookup(self, path: str) -> tuple[_Dir, _Record]:
        parts = split_path(path)
        if not parts:
            raise self._error("the guest's root directory is not a file")
        parent = self._walk(parts[:-1])
        records, _, _ = self._records(parent)
        record = self._find(records, parts[-1])
        if record is None:
            raise self._error(f"no such file in the guest: /{'/'.join(parts)}")
        return parent, record

    def stat(self, path: str) -> FatEntry:
        return self._entry_of(self._lookup(path)[1])

    def exists(self, path: str) -> bool:
        try:
            self._lookup(path)
        except FatError:
            return False
        return True

    def read_file(self, path: str) -> bytes:
        _, record = self._lookup(path)
        if record.is_dir:
            raise self._error(f"{path} is a directory in the guest")
        clusters = self.chain(record.cluster)
        if len(clusters) * self.cluster_size < record.size:
            raise self._error(f"{path}: the file is longer than its cluster chain")
        return self._read_clusters(clusters, record.size)

    def make_dirs(self, path: str) -> None:
        self._walk(split_path(path), create=True)

    def write_file(self, path: str, data: bytes | Iterable[bytes]) -> int:
        """Create or replace a file (parents are created); returns the bytes written.

        `data` may be an iterable of chunks, written as they come (a workload streams this way).
        """
        parts = split_path(path)
        if not parts:
            raise self._error("cannot write the guest's root directory")
        parent = self._walk(parts[:-1], create=True)
        records, _, _ = self._records(parent)
        existing = self._find(records, parts[-1])
        if existing is not None and existing.is_dir:
            raise self._error(f"{path} is a directory in the guest")
        chunks: Iterable[bytes] = [data] if isinstance(data, bytes | bytearray) else data
        clusters: list[int] = []
        size = 0
        pending = b""
        try:
            for chunk in chunks:
                pending += chunk
                whole = len(pending) // self.cluster_size * self.cluster_size
                if whole:
                    size = self._append(clusters, pending[:whole], size)
                    pending = pending[whole:]
            if pending:
                size = self._append(clusters, pending, size)
        except BaseException:
            for cluster in clusters:
                self._fat_set(cluster, 0)
            raise
        first = clusters[0] if clusters else 0
        if existing is not None:
            self._free_chain(existing.cluster)
            entry = self._short_entry(existing.short, ATTR_ARCHIVE, first, size)
            self._pwrite(self._slot_address(parent, existing.last_slot), entry)
        else:
            self._add_entry(parent, parts[-1], ATTR_ARCHIVE, first, size)
        self.flush()
        return size

    def _append(self, clusters: list[int], data: bytes, size: int) -> int:
        if size + len(data) > MAX_FILE_SIZE:
            raise self._error("a FAT file is at most 4 GiB - 1 byte")
        count = math.ceil(len(data) / self.cluster_size)
        new = self._allocate(count, clusters[-1] if clusters else 0)
        self._write_clusters(new, data)
        clusters.extend(new)
        return size + len(data)

    def remove(self, path: str) -> None:
        """Delete a file or an empty directory."""
        parent, record = self._lookup(path)
        if record.is_dir:
            inner, _, _ = self._records(self._subdir(record))
            if inner:
                raise self._error(f"the guest directory {path} is not empty")
        for slot in range(record.first_slot, record.last_slot + 1):
            self._pwrite(self._slot_address(parent, slot), b"\xe5")
        self._free_chain(record.cluster)
        self.flush()


def format_volume(
    fp: BinaryFile,
    offset: int,
    size: int,
    *,
    sector_size: int = 512,
    label: str = "NO NAME",
    hidden_sectors: int = 0,
    assume_zeroed: bool = False,
    volume_id: int | None = None,
    subject: str = "disk",
) -> int:
    """Write an empty FAT16 (under 512 MiB) or FAT32 volume of `size` bytes; returns 16 or 32.

    `assume_zeroed` skips zeroing the FAT and root regions when the caller knows they read as
    zeros (a new dynamic disk), so formatting allocates almost nothing.
    """
    if size < 16 * MiB:
        raise FatError(subject, "a guest volume needs at least 16 MiB")
    total = size // sector_size
    fat_type = 16 if size < 512 * MiB else 32
    if fat_type == 16:
        cluster = 2048 if size <= 128 * MiB else 4096 if size <= 256 * MiB else 8192
    else:
        gib = 1 << 30
        cluster = 4096 if size <= 8 * gib else 8192 if size <= 16 * gib else 16384
        cluster = cluster if size <= 32 * gib else 32768
    cluster = max(cluster, sector_size)
    entry = 2 if fat_type == 16 else 4
    reserved = 1 if fat_type == 16 else 32
    root_entries = 512 if fat_type == 16 else 0
    root_sectors = root_entries * 32 // sector_size
    while True:
        spc = cluster // sector_size
        fat_sectors = 1
        while True:
            clusters = (total - reserved - root_sectors - 2 * fat_sectors) // spc
            need = math.ceil((clusters + 2) * entry / sector_size)
            if need <= fat_sectors:
                break
            fat_sectors = need
        low, high = (
            (FAT16_MIN_CLUSTERS, FAT32_MIN_CLUSTERS)
            if fat_type == 16
            else (FAT32_MIN_CLUSTERS, 0x0FFFFFF5)
        )
        if clusters < low:
            raise FatError(subject, f"too small for FAT{fat_type}")
        if clusters < high:
            break
        cluster *= 2
        if cluster > 65536:
            raise FatError(subject, f"too large for FAT{fat_type}")

    vol_id = volume_id if volume_id is not None else int(time.time()) & 0xFFFFFFFF
    label_raw = label.upper()[:11].ljust(11).encode("ascii", "replace")
    boot = bytearray(sector_size)
    boot[0:3] = b"\xeb\x3c\x90" if fat_type == 16 else b"\xeb\x58\x90"
    boot[3:11] = b"MSWIN4.1"
    struct.pack_into(
        "<HBHBHHBHHHII",
        boot,
        11,
        sector_size,
        spc,
        reserved,
        2,
        root_entries,
        total if (fat_type == 16 and total < 0x10000) else 0,
        0xF8,
        fat_sectors if fat_type == 16 else 0,
        63,
        255,
        hidden_sectors,
        0 if (fat_type == 16 and total < 0x10000) else total,
    )
    if fat_type == 16:
        struct.pack_into("<BBBI11s8s", boot, 36, 0x80, 0, 0x29, vol_id, label_raw, b"FAT16   ")
    else:
        struct.pack_into("<IHHIHH12x", boot, 36, fat_sectors, 0, 0, 2, 1, 6)
        struct.pack_into("<BBBI11s8s", boot, 64, 0x80, 0, 0x29, vol_id, label_raw, b"FAT32   ")
    boot[510:512] = b"\x55\xaa"

    def write(address: int, data: bytes) -> None:
        fp.seek(offset + address)
        view = memoryview(data)
        while view:
            n = fp.write(bytes(view))
            if not n:
                raise FatError(subject, f"could not write at byte {offset + address}")
            view = view[n:]

    fat_start = reserved * sector_size
    fat_bytes = fat_sectors * sector_size
    data_start = fat_start + 2 * fat_bytes + root_sectors * sector_size
    if not assume_zeroed:
        end = data_start + (cluster if fat_type == 32 else 0)
        zeros = bytes(MiB)
        for at in range(0, end, MiB):
            write(at, zeros[: min(MiB, end - at)])
    write(0, bytes(boot))
    if fat_type == 16:
        head = struct.pack("<HH", 0xFFF8, 0xFFFF)
        root_address = data_start - root_sectors * sector_size
    else:
        head = struct.pack("<III", 0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF)
        info = bytearray(sector_size)
        struct.pack_into("<I", info, 0, 0x41615252)
        struct.pack_into("<IIII", info, 484, 0x61417272, 0xFFFFFFFF, 3, 0)
        info[510:512] = b"\x55\xaa"
        write(1 * sector_size, bytes(info))
        write(6 * sector_size, bytes(boot))
        write(7 * sector_size, bytes(info))
        root_address = data_start
    for copy in range(2):
        write(fat_start + copy * fat_bytes, head)
    if label.strip():
        date, clock = _dos_now()
        volume_entry = struct.pack(
            "<11sBBBHHHHHHHI", label_raw, ATTR_VOLUME_ID, 0, 0, 0, 0, 0, 0, clock, date, 0, 0
        )
        write(root_address, volume_entry)
    return fat_type
