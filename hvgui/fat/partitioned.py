"""The guest's file system: an MBR disk with one FAT partition at 1 MiB, on any seekable file.

In the product the file is `Disk.as_file()` of the VM's running disk, so guest writes land in
the running AVHDX and a checkpoint freezes them. Tests use plain files and io.BytesIO; mtools
reads the same disk with `mdir -i disk.raw@@1048576 ::`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hvgui.fat.volume import BinaryFile, FatEntry, FatError, FatVolume, format_volume

__all__ = [
    "GUEST_LABEL",
    "GUEST_PARTITION_OFFSET",
    "MIN_GUEST_DISK",
    "Disk",
    "FatEntry",
    "GuestFS",
    "GuestFsError",
    "Partition",
    "format_guest_disk",
    "format_new_vm_disk",
    "read_partition",
]

GuestFsError = FatError
GUEST_PARTITION_OFFSET = 1 << 20  # Windows aligns its first partition at 1 MiB
_FAT_TYPES = {
    0x04: "FAT16 (<32 MiB)",
    0x06: "FAT16",
    0x0B: "FAT32",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
}
_MBR_MAX_SECTORS = 0xFFFFFFFF
GUEST_LABEL = "GUEST"
# A new VM's disk gets a partition when it is at least this big (FAT16's floor + the 1 MiB gap).
MIN_GUEST_DISK = 32 << 20


class Disk(Protocol):
    """What the guest needs of a disk: a vhdx.Disk or the host's GuestDisk around one."""

    path: Path
    size: int
    logical_sector_size: int

    def as_file(self) -> Any: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class Partition:
    offset: int  # bytes from the start of the disk
    size: int  # bytes
    type_id: int  # the MBR partition type byte

    @property
    def type_name(self) -> str:
        return _FAT_TYPES.get(self.type_id, f"type 0x{self.type_id:02X}")


def _chs(lba: int) -> bytes:
    """CHS bytes for `lba` with the usual 255 heads x 63 sectors, saturated past cylinder 1023."""
    cylinder, rest = divmod(lba, 255 * 63)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, 63)
    sector += 1
    return bytes([head, ((cylinder >> 2) & 0xC0) | sector, cylinder & 0xFF])


def _write(fp: BinaryFile, address: int, data: bytes) -> None:
    fp.seek(address)
    view = memoryview(data)
    while view:
        n = fp.write(bytes(view))
        if not n:
            raise OSError(f"could not write at byte {address}")
        view = view[n:]


def format_guest_disk(
    fp: BinaryFile,
    disk_size: int,
    *,
    sector_size: int = 512,
    label: str = "GUEST",
    assume_zeroed: bool = False,
    subject: str = "disk",
) -> Partition:
    """Write an MBR with one FAT partition from 1 MiB to the end (or the MBR's 2 TiB limit)."""
    start = GUEST_PARTITION_OFFSET // sector_size
    sectors = min(disk_size // sector_size - start, _MBR_MAX_SECTORS)
    if sectors <= 0:
        raise GuestFsError(subject, f"a {disk_size}-byte disk is too small for a guest partition")
    size = sectors * sector_size
    # Build the file system first: it refuses sizes it cannot hold before the MBR is touched.
    fat = format_volume(
        fp,
        GUEST_PARTITION_OFFSET,
        size,
        sector_size=sector_size,
        label=label,
        hidden_sectors=start,
        assume_zeroed=assume_zeroed,
        subject=subject,
    )
    type_id = 0x0C if fat == 32 else 0x0E
    mbr = bytearray(512)
    struct.pack_into("<I", mbr, 440, 0x48564755)  # disk signature "UGVH"
    entry = bytes([0x00]) + _chs(start) + bytes([type_id]) + _chs(start + sectors - 1)
    entry += struct.pack("<II", start, sectors)
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    _write(fp, 0, bytes(mbr))
    return Partition(GUEST_PARTITION_OFFSET, size, type_id)


def read_partition(fp: BinaryFile, *, sector_size: int = 512, subject: str = "disk") -> Partition:
    """The first FAT partition in the disk's MBR; GuestFsError when there is none."""
    fp.seek(0)
    mbr = fp.read(512) or b""
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        raise GuestFsError(subject, "the guest disk has no partition table (not formatted)")
    for i in range(4):
        entry = mbr[446 + 16 * i : 462 + 16 * i]
        type_id = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if type_id in _FAT_TYPES and start and count:
            return Partition(start * sector_size, count * sector_size, type_id)
    raise GuestFsError(subject, "the guest disk has no FAT partition")


class GuestFS:
    """The guest's files: paths like `/Documents/notes.txt`, case-insensitive as on Windows."""

    def __init__(
        self,
        fp: BinaryFile,
        *,
        writable: bool = False,
        sector_size: int = 512,
        subject: str = "disk",
    ) -> None:
        self.partition = read_partition(fp, sector_size=sector_size, subject=subject)
        self.volume = FatVolume(fp, self.partition.offset, writable=writable, subject=subject)
        if self.volume.volume_bytes > self.partition.size:
            raise GuestFsError(subject, "the file system is larger than its partition")

    def __enter__(self) -> GuestFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.volume.writable:
            self.volume.flush()

    def list_dir(self, path: str = "/") -> list[FatEntry]:
        return self.volume.list_dir(path)

    def stat(self, path: str) -> FatEntry:
        return self.volume.stat(path)

    def exists(self, path: str) -> bool:
        return self.volume.exists(path)

    def read_file(self, path: str) -> bytes:
        return self.volume.read_file(path)

    def write_file(self, path: str, data: bytes | Iterable[bytes]) -> int:
        return self.volume.write_file(path, data)

    def make_dirs(self, path: str) -> None:
        self.volume.make_dirs(path)
        self.volume.flush()

    def remove_file(self, path: str) -> None:
        self.volume.remove(path)


def format_new_vm_disk(disk: Disk) -> bool:
    """Give a brand-new (all-zero) VM disk its guest partition; False when it is too small.

    The host calls this from new_vm. Only the MBR, boot sectors, FAT heads and the root
    directory are written, so a new dynamic VHDX stays small.
    """
    if disk.size < MIN_GUEST_DISK:
        return False
    with disk.as_file() as fp:
        format_guest_disk(
            fp,
            disk.size,
            sector_size=disk.logical_sector_size,
            label=GUEST_LABEL,
            assume_zeroed=True,
            subject=str(disk.path),
        )
    disk.flush()
    return True
