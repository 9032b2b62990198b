"""What the simulated guest (hvgui/guest) asks of the lab host: its VM's memory, its running
disk (GuestDisk, holding the host lock while open for writing) and the events it records.
Functions take the HostCore (context.py); `Host` binds them as its methods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgui import vhdx
from hvgui.backend.model import DiskEvent
from hvgui.host import freespace, journal, runtime, states
from hvgui.host.checkpoints import vhd_paths
from hvgui.host.errors import HostError, PausedCriticalError
from hvgui.host.fileio import file_size
from hvgui.host.savedstate import BinFile
from hvgui.host.xmlconfig import ConfigDoc, to_filetime

if TYPE_CHECKING:
    from hvgui.host.context import HostCore
    from hvgui.vhdx import Disk


class GuestDisk:
    """The VM's running disk opened for the guest; closing it releases the host lock."""

    def __init__(
        self,
        disk: Disk,
        release: Callable[[], None],
        disk_full: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._disk = disk
        self._release: Callable[[], None] | None = release
        self._disk_full = disk_full  # raises PausedCriticalError when a write found no space
        self.path = disk.path
        self.size = disk.size
        self.block_size = disk.block_size
        self.logical_sector_size = disk.logical_sector_size
        self.physical_sector_size = disk.physical_sector_size
        self.disk_type = disk.disk_type
        self.chain = disk.chain

    def read(self, offset: int, length: int) -> bytes:
        return self._disk.read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        try:
            self._disk.write(offset, data)
        except Exception as exc:
            self._stopped(exc)
            raise

    def flush(self) -> None:
        try:
            self._disk.flush()
        except Exception as exc:
            self._stopped(exc)
            raise

    def _stopped(self, exc: BaseException) -> None:
        """A write failed: if for want of space, the VM goes Paused-Critical (once)."""
        if self._disk_full is not None and freespace.disk_full(exc) is not None:
            report, self._disk_full = self._disk_full, None
            report(exc)

    def as_file(self) -> Any:
        return self._disk.as_file()

    def block_sources(self) -> Any:
        return self._disk.block_sources()

    def close(self) -> None:
        try:
            self._disk.close()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()

    def __enter__(self) -> GuestDisk:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None:  # a write through as_file() (the guest's file system)
                self._stopped(exc)
        finally:
            self.close()


def record_guest_event(
    host: HostCore, vm: str, *, action: str, path: Path, size: int | None = None, detail: str = ""
) -> None:
    """Add what the guest did to a file (e.g. `written`, `grown`) to the event log."""
    host.lock.refuse_if_read_only()
    doc = host.load_vm(vm)
    event = DiskEvent(datetime.now(UTC), "Guest", doc.id, action, Path(path), size, detail)
    host.log.append([event])
    host.bump()


def memory_path(host: HostCore, vm: str) -> Path:
    """The VM's memory file: `Virtual Machines/<ID>/<ID>.bin` (exists while it has memory)."""
    doc = host.load_vm(vm)
    return runtime.runtime_bin(doc)


def read_memory(host: HostCore, vm: str, offset: int, length: int) -> bytes:
    """Guest memory; zeros when the VM has none (Off)."""
    doc = host.load_vm(vm)
    path = runtime.runtime_bin(doc)
    if doc.state == states.OFF or not path.exists():
        return bytes(length)
    with BinFile(path) as handle:
        return handle.read(offset, length)


def write_memory(host: HostCore, vm: str, offset: int, data: bytes) -> None:
    """Write guest memory of a running VM (lives only in memory until Save/checkpoint)."""
    host.lock.refuse_if_read_only()
    doc = host.load_vm(vm)

    def still_running() -> None:
        # Checked again under the BIN's lock: the VM may have been saved, paused or turned
        # off while this write waited (e.g. for a checkpoint's copy of the BIN).
        now = ConfigDoc.load(doc.path) if doc.path.exists() else doc
        states.require_guest_running(doc.name, now.state, "write guest memory")

    states.require_guest_running(doc.name, doc.state, "write guest memory")
    host.boundary.require_own(runtime.runtime_bin(doc), "write guest memory there")
    # Not the host's mutation lock: the BIN's own lock serializes memory writers (GUI
    # thread, hvctl) and keeps readers from seeing half a write (savedstate.BinFile).
    with BinFile(runtime.runtime_bin(doc), writable=True) as handle:
        handle.write(offset, data, guard=still_running)
    host.bump()


def open_vm_disk(
    host: HostCore, vm: str, writable: bool = True, *, what: str = "write to its disk"
) -> GuestDisk:
    """The VM's first running disk (through its whole chain) for the guest.

    Writing needs a Running VM (else InvalidStateError: "cannot <what>: the VM is ...") and
    holds the host lock until the disk is closed, so no checkpoint can freeze the disk
    under the guest: keep such opens short.
    """
    doc = host.load_vm(vm)
    disks = vhd_paths(doc)
    if not disks:
        raise HostError(doc.name, "the VM has no virtual hard disk")
    if not writable:
        return GuestDisk(vhdx.open_disk(disks[0]), lambda: None)
    states.require_guest_running(doc.name, doc.state, what)
    host.boundary.require_own(disks[0], "let the guest write to this disk")
    cm = host.lock.operation(doc.id, doc.name, "Guest I/O")
    cm.__enter__()
    try:
        host.status_board.write(doc.id, "Guest I/O", 0, visible=False)
        # An interrupted operation is finished first (the guest writes to the disk it ends
        # on); else the configuration is re-read under the lock.
        finished = host.finish_interrupted(doc.id)
        doc = host.load_vm(doc.id) if finished else ConfigDoc.load(doc.path)
        states.require_guest_running(doc.name, doc.state, what)
        disk = vhdx.open_disk(vhd_paths(doc)[0], writable=True)
        size_before = file_size(disk.path) or 0
    except BaseException:
        host.status_board.clear(doc.id)
        cm.__exit__(None, None, None)
        raise

    def disk_full(exc: BaseException) -> None:
        """The running disk cannot grow: pause the VM as Hyper-V does (Paused-Critical).
        A failed disk write gives back the space it took, which leaves room for the
        configuration recording it."""
        why = f"{disk.path.name} cannot grow: no space left on {disk.path.parent}"
        try:
            freespace.with_reserve(  # too little left: the host's reserve is for this
                lambda: _set_state(host, doc.path, states.PAUSED_CRITICAL),
                host.layout.reserve_file,
            )
        except (OSError, HostError) as failed:
            why += f", and the state could not be saved ({failed})"
        raise PausedCriticalError(
            doc.name, f"the VM is Paused-Critical: {why}; free space, then resume it"
        ) from exc

    def release() -> None:
        try:
            size = file_size(disk.path) or 0
            if size > size_before:  # the AVHDX (or disk) took new blocks: say so
                grown = DiskEvent(
                    datetime.now(UTC),
                    "Guest",
                    doc.id,
                    "grown",
                    disk.path,
                    size,
                    f"+{(size - size_before) >> 20} MiB by guest writes",
                )
                host.log.append([grown])
        finally:
            host.status_board.clear(doc.id)
            cm.__exit__(None, None, None)
            host.bump()

    return GuestDisk(disk, release, disk_full)


def _set_state(host: HostCore, config: Path, state: str) -> None:
    """Record a state the VM entered by itself (no operation: the guest's lock is held)."""
    doc = ConfigDoc.load(config)
    doc.set("hvgui/state", "string", state)
    doc.set("properties/last_state_change_time", "integer", to_filetime(datetime.now(UTC)))
    tx = journal.Transaction(host.layout.journal_dir, state, doc.id, host.boundary)
    try:
        tx.commit([tx.stage(doc.path, doc.to_bytes(host.root))])
    finally:
        if not tx.done:
            tx.rollback()
    host.bump()
