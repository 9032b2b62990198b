"""The simulated guest: files on its disk, a note in its memory, and a disk-filling workload.

- Files live in a FAT partition on the VM's running disk (guestfs over `Disk.as_file()`), so a
  guest write lands in the running AVHDX and a checkpoint freezes what the guest had written.
- The note lives only in the VM's memory (the host's read/write_memory): Save and a standard
  checkpoint keep it (in BIN); Turn Off and a production checkpoint lose it.
- The workload writes N bytes of new (random, incompressible) data into one guest file at an
  optional rate, so the running AVHDX grows by about N and can be watched growing.

Every action is appended to the host's event log.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui.backend.formats import human_size
from hvgui.fat.partitioned import Disk, FatEntry, GuestFS
from hvgui.host.errors import HostError
from hvgui.progress import CancelToken, Progress, check, report

if TYPE_CHECKING:
    from hvgui.backend.model import VM
    from hvgui.host.host import Host


MiB = 1 << 20
# Where the note lives in guest-physical memory, and its frame: magic, length, CRC-32, text.
NOTE_ADDRESS = 16 * MiB
NOTE_MAGIC = b"HVNOTE01"
NOTE_HEADER = struct.Struct("<8sII")
NOTE_MAX_BYTES = 64 * 1024
WORKLOAD_CHUNK = 1 * MiB


@dataclass(frozen=True)
class WorkloadResult:
    path: str  # the guest file written
    bytes_written: int
    seconds: float
    disk: Path  # the running disk that received the data
    disk_growth: int  # bytes the running disk's file grew by


class Guest:
    """One VM's guest, seen from the host. Methods re-read state on every call."""

    def __init__(self, host: Host, vm: str) -> None:
        self.host = host
        found = host.get_vm(vm)
        self.vm_id, self.vm_name = found.id, found.name

    @property
    def vm(self) -> VM:
        """The VM as it is now (another process may have changed it)."""
        return self.host.get_vm(self.vm_id)

    # ------------------------------------------------------------------ disks
    def _open_fs(self, disk: Disk, writable: bool) -> GuestFS:
        return GuestFS(
            disk.as_file(),
            writable=writable,
            sector_size=disk.logical_sector_size,
            subject=f"{self.vm_name} ({disk.path.name})",
        )

    def _log(self, action: str, path: Path, detail: str) -> None:
        size = path.stat().st_size if path.exists() else None
        self.host.record_guest_event(self.vm_id, action=action, path=path, size=size, detail=detail)

    # ------------------------------------------------------------------ files
    def list_files(self, path: str = "/") -> list[FatEntry]:
        with self.host.open_vm_disk(self.vm_id, writable=False) as disk:
            return self._open_fs(disk, False).list_dir(path)

    def read_file(self, path: str) -> bytes:
        with self.host.open_vm_disk(self.vm_id, writable=False) as disk:
            return self._open_fs(disk, False).read_file(path)

    def write_file(self, path: str, data: bytes) -> int:
        with self.host.open_vm_disk(self.vm_id, writable=True, what="write a file") as disk:
            with self._open_fs(disk, True) as fs:
                written = fs.write_file(path, data)
            disk.flush()
            where = disk.path
        self._log("written", where, f"guest wrote {path} ({written} bytes)")
        return written

    def remove_file(self, path: str) -> None:
        with self.host.open_vm_disk(self.vm_id, writable=True, what="delete a file") as disk:
            with self._open_fs(disk, True) as fs:
                fs.remove_file(path)
            disk.flush()
            where = disk.path
        self._log("written", where, f"guest deleted {path}")

    # ------------------------------------------------------------------- note
    def note(self) -> str | None:
        """The memory-only note, or None when memory holds none (or the VM has no memory:
        the host's read gives zeros then, by the state it stores, not a passing Status)."""
        # One read for frame and text: two could straddle a note being typed meanwhile.
        frame = self.host.read_memory(self.vm_id, NOTE_ADDRESS, NOTE_HEADER.size + NOTE_MAX_BYTES)
        magic, length, crc = NOTE_HEADER.unpack_from(frame)
        if magic != NOTE_MAGIC or length > NOTE_MAX_BYTES:
            return None
        body = frame[NOTE_HEADER.size : NOTE_HEADER.size + length]
        if zlib.crc32(body) != crc:
            return None
        return body.decode("utf-8", errors="replace")

    def set_note(self, text: str) -> None:
        """Type a note into the running guest: it lives in memory only. The host's memory
        write refuses a VM that is not running (checked again under the BIN's lock)."""
        vm = self.vm
        body = text.encode("utf-8")
        if len(body) > NOTE_MAX_BYTES:
            raise HostError(vm.name, f"a note is at most {NOTE_MAX_BYTES} bytes")
        frame = NOTE_HEADER.pack(NOTE_MAGIC, len(body), zlib.crc32(body)) + body
        self.host.write_memory(self.vm_id, NOTE_ADDRESS, frame)
        self._log(
            "written",
            self.host.memory_path(self.vm_id),
            f"guest note set ({len(body)} bytes, memory only)",
        )

    # --------------------------------------------------------------- workload
    def run_workload(
        self,
        nbytes: int,
        *,
        rate: float | None = None,
        path: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> WorkloadResult:
        """Write `nbytes` of new data into a guest file, at `rate` bytes/s when given."""
        vm = self.vm
        if nbytes <= 0:
            raise HostError(vm.name, "a workload needs a positive number of bytes")
        if rate is not None and rate <= 0:
            raise HostError(vm.name, "a workload rate must be positive")
        target = path or f"/Workload/data-{time.strftime('%Y%m%d-%H%M%S')}.bin"
        start = time.monotonic()

        def chunks() -> Iterator[bytes]:
            done = 0
            while done < nbytes:
                check(cancel)
                piece = os.urandom(min(WORKLOAD_CHUNK, nbytes - done))
                done += len(piece)
                yield piece
                report(progress, done / nbytes, "Guest workload")
                if rate is not None:  # sleep until the chosen rate allows the next chunk
                    ahead = done / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)

        with self.host.open_vm_disk(self.vm_id, writable=True, what="run a workload") as disk:
            if nbytes > disk.size:  # refuse at once rather than fill the disk, then fail
                raise HostError(
                    vm.name,
                    f"a workload of {human_size(nbytes)} cannot fit on its "
                    f"{human_size(disk.size)} virtual disk",
                )
            where = disk.path
            before = where.stat().st_size
            with self._open_fs(disk, True) as fs:
                written = fs.write_file(target, chunks())
            disk.flush()
        growth = where.stat().st_size - before
        seconds = time.monotonic() - start
        self._log(
            "grown",
            where,
            f"guest workload wrote {target} ({written} bytes in {seconds:.1f} s)",
        )
        return WorkloadResult(target, written, seconds, where, growth)
