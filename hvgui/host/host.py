"""The lab host: a Hyper-V host simulated on disk (the public facade of hvgui.host).

State lives on disk only. Every read parses what it needs (configurations are small), so the
GUI and `hvctl` see each other's changes; `revision()` tells cheaply whether anything changed.
Every mutation runs under the host lock, as a journalled transaction (journal.py), and
appends what it did to files to the event log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from hvgui import vhdx
from hvgui.backend.model import DiskEvent, HardDrive, Health
from hvgui.backend.protocol import EVERYTHING
from hvgui.host import chain_health, checkpoint_ops, journal, runtime, states, storage_ops, vm_ops
from hvgui.host.boundary import (
    allowed_outside,
    refuse_linked_metadata,
    set_allowed_outside,
)
from hvgui.host.check import check_host
from hvgui.host.checkpoints import vhd_paths
from hvgui.host.context import HostCore
from hvgui.host.errors import HostError, PausedCriticalError
from hvgui.host.fileio import file_size, norm, remove_path
from hvgui.host.layout import (
    EMPTY,
    FOLDER_PROBLEMS,
    HOST,
    MISSING,
    OTHER,
    default_host_dir,
    folder_kind,
    vm_runtime_dir,
)
from hvgui.host.lock import read_only_reason
from hvgui.host.operation import (
    PHASE_APPLY,
    PHASE_CREATE,
    PHASE_DELETE,
    PHASE_EXPORT,
    PHASE_MERGE,
    PHASE_MOVE,
    GuestDisk,
)
from hvgui.host.runtime import MAX_CHECKPOINTS
from hvgui.host.savedstate import BinFile
from hvgui.host.xmlconfig import ConfigDoc, to_filetime
from hvgui.progress import CancelToken, Progress

__all__ = [
    "MAX_CHECKPOINTS",
    "PHASE_APPLY",
    "PHASE_CREATE",
    "PHASE_DELETE",
    "PHASE_EXPORT",
    "PHASE_MERGE",
    "PHASE_MOVE",
    "GuestDisk",
    "Host",
]


class Host(HostCore):
    """A Hyper-V host kept in a directory. Open with `Host.open(root)`."""

    # ================================================================== opening and reading
    @classmethod
    def open(
        cls,
        root: Path | str | None = None,
        *,
        create: bool = True,
        progress: Progress | None = None,
    ) -> Host:
        """Open a host; completes or rolls back any interrupted operation first.

        With `create` (the default, for programs and tests) a missing or empty folder becomes a
        new, empty host; hvctl and the window pass False for a folder the user named, unless
        they asked for a new host (a mistyped path must not become one)."""
        path = norm(root) if root is not None else norm(default_host_dir())
        kind = folder_kind(path)
        if kind == OTHER and create:  # never scatter a host's folders among someone's files
            raise HostError(
                path, f"{FOLDER_PROBLEMS[OTHER]} and not empty: give an empty or new folder "
                "for a new host"
            )
        if kind != HOST and not (create and kind in (MISSING, EMPTY)):
            raise HostError(path, FOLDER_PROBLEMS[kind])
        host = cls(path)
        layout = host.layout
        refuse_linked_metadata(
            [
                layout.meta,
                layout.journal_dir,
                layout.status_dir,
                layout.revision_file,
                layout.lock_file,
                layout.events_file,
            ]
        )
        if kind == HOST:
            host.lock.read_only = read_only_reason(layout)
        if not host.read_only:  # read-only: listed as it is, nothing recovered or created
            layout.create()
            host._recover(progress)
        return host

    @classmethod
    def new(cls, root: Path | str) -> Host:
        """A new, empty host in `root`, a missing or empty folder (New Host, `hvctl new-host`)."""
        path = norm(root)
        if folder_kind(path) == HOST:
            raise HostError(path, "already a lab host: open it instead")
        return cls.open(path, create=True)

    def _recover(self, progress: Progress | None) -> None:
        leftovers = [p for p in self.layout.journal_dir.iterdir() if p.suffix in (".json", ".tmp")]
        if not leftovers:
            return
        fd = self.lock.try_exclusive()
        if fd < 0:
            return  # someone is mid-operation: their journal is theirs to finish
        try:
            self.recovered = journal.recover(
                self.layout.journal_dir, self.boundary, self.log.append, progress
            )
            for folder in (self.layout.journal_dir, self.layout.status_dir):
                for path in folder.iterdir():
                    if path.suffix == ".tmp" or folder == self.layout.status_dir:
                        remove_path(path)  # half-written by a process that died
            self.bump()
        finally:
            os.close(fd)

    def allowed_outside_folders(self) -> list[Path]:
        """The folders outside this host that the user allowed it to change (on this machine)."""
        return allowed_outside(self.root)

    def allow_outside_folders(self, folders: list[Path]) -> list[Path]:
        """Set the folders outside this host it may change (an empty list: none)."""
        return set_allowed_outside(self.root, folders)

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        vm_id = self.load_vm(vm).id if vm is not None else None
        return self.log.read(vm_id)

    def record_guest_event(
        self, vm: str, *, action: str, path: Path, size: int | None = None, detail: str = ""
    ) -> None:
        """Add what the guest did to a file (e.g. `written`, `grown`) to the event log."""
        self.lock.refuse_if_read_only()
        doc = self.load_vm(vm)
        event = DiskEvent(datetime.now(UTC), "Guest", doc.id, action, Path(path), size, detail)
        self.log.append([event])
        self.bump()

    def memory_path(self, vm: str) -> Path:
        """The VM's memory file: `Virtual Machines/<ID>/<ID>.bin` (exists while it has memory)."""
        doc = self.load_vm(vm)
        return runtime.runtime_bin(doc)

    # ================================================================== as a HostBackend
    # The rest of backend/protocol.py's contract (hvgui.backend.HostBackend); the lab host
    # can do everything a backend may lack.
    capabilities = EVERYTHING

    @property
    def display_name(self) -> str:
        return self.root.name or str(self.root)

    @property
    def location(self) -> str:
        return str(self.root)

    def events_size(self) -> int:
        # The log only grows (append-only JSON lines): its size says whether to re-read it.
        return file_size(self.log.path) or 0

    def drive_health(self, drives: Sequence[HardDrive]) -> Health:
        return self.chain_health.of_drives(drives)

    def chain_files(self, drives: Sequence[HardDrive]) -> list[Path]:
        return self.chain_health.files(drives)

    def chain_stamp(self, files: Sequence[Path]) -> object:
        return chain_health.stamp(files)

    def inspect_files(self, vm: str, snapshot: str | None) -> list[Path]:
        if snapshot is None:
            machine = self.get_vm(vm)
            config, drives = machine.config_path, machine.hard_drives
            folder = vm_runtime_dir(config, machine.id)
            state = [p for p in runtime.files_in(folder) if p.suffix.lower() in (".bin", ".vsv")]
        else:
            snap = self.get_snapshot(vm, snapshot)
            config, drives = snap.config_path, snap.hard_drives
            state = [p for p in (snap.bin_path, snap.vsv_path) if p is not None]
        passed = [d.path for d in drives if d.pass_through]  # a physical disk: no chain
        return [config, *state, *passed, *self.chain_files(drives)]

    def local_copy(
        self, path: Path, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> Path:
        return Path(path)  # the lab host's files are local

    # ================================================================== guest access
    def read_memory(self, vm: str, offset: int, length: int) -> bytes:
        """Guest memory; zeros when the VM has none (Off)."""
        doc = self.load_vm(vm)
        path = runtime.runtime_bin(doc)
        if doc.state == states.OFF or not path.exists():
            return bytes(length)
        with BinFile(path) as handle:
            return handle.read(offset, length)

    def write_memory(self, vm: str, offset: int, data: bytes) -> None:
        """Write guest memory of a running VM (lives only in memory until Save/checkpoint)."""
        self.lock.refuse_if_read_only()
        doc = self.load_vm(vm)

        def still_running() -> None:
            # Checked again under the BIN's lock: the VM may have been saved, paused or turned
            # off while this write waited (e.g. for a checkpoint's copy of the BIN).
            now = ConfigDoc.load(doc.path) if doc.path.exists() else doc
            states.require_guest_running(doc.name, now.state, "write guest memory")

        states.require_guest_running(doc.name, doc.state, "write guest memory")
        self.boundary.require_own(runtime.runtime_bin(doc), "write guest memory there")
        # Not the host's mutation lock: the BIN's own lock serializes memory writers (GUI
        # thread, hvctl) and keeps readers from seeing half a write (savedstate.BinFile).
        with BinFile(runtime.runtime_bin(doc), writable=True) as handle:
            handle.write(offset, data, guard=still_running)
        self.bump()

    def open_vm_disk(
        self, vm: str, writable: bool = True, *, what: str = "write to its disk"
    ) -> GuestDisk:
        """The VM's first running disk (through its whole chain) for the guest.

        Writing needs a Running VM (else InvalidStateError: "cannot <what>: the VM is ...") and
        holds the host lock until the disk is closed, so no checkpoint can freeze the disk
        under the guest: keep such opens short.
        """
        doc = self.load_vm(vm)
        disks = vhd_paths(doc)
        if not disks:
            raise HostError(doc.name, "the VM has no virtual hard disk")
        if not writable:
            return GuestDisk(vhdx.open_disk(disks[0]), lambda: None)
        states.require_guest_running(doc.name, doc.state, what)
        self.boundary.require_own(disks[0], "let the guest write to this disk")
        cm = self.lock.operation(doc.id, doc.name, "Guest I/O")
        cm.__enter__()
        try:
            self.status_board.write(doc.id, "Guest I/O", 0, visible=False)
            if self.finish_interrupted(doc.id):  # the guest writes to the disk it ends on
                doc = self.load_vm(doc.id)
            else:
                doc = ConfigDoc.load(doc.path)  # re-read under the lock
            states.require_guest_running(doc.name, doc.state, what)
            disk = vhdx.open_disk(vhd_paths(doc)[0], writable=True)
            size_before = file_size(disk.path) or 0
        except BaseException:
            self.status_board.clear(doc.id)
            cm.__exit__(None, None, None)
            raise

        def disk_full(exc: BaseException) -> None:
            """The running disk cannot grow: pause the VM as Hyper-V does (Paused-Critical).
            A failed disk write gives back the space it took, which leaves room for the
            configuration recording it."""
            why = f"{disk.path.name} cannot grow: no space left on {disk.path.parent}"
            try:
                self._set_state(doc.path, states.PAUSED_CRITICAL)
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
                    self.log.append([grown])
            finally:
                self.status_board.clear(doc.id)
                cm.__exit__(None, None, None)
                self.bump()

        return GuestDisk(disk, release, disk_full)

    def _set_state(self, config: Path, state: str) -> None:
        """Record a state the VM entered by itself (no operation: the guest's lock is held)."""
        doc = ConfigDoc.load(config)
        doc.set("hvgui/state", "string", state)
        doc.set("properties/last_state_change_time", "integer", to_filetime(datetime.now(UTC)))
        tx = journal.Transaction(self.layout.journal_dir, state, doc.id, self.boundary)
        try:
            tx.commit([tx.stage(doc.path, doc.to_bytes(self.root))])
        finally:
            if not tx.done:
                tx.rollback()
        self.bump()

    # ================================================================== operations
    # Each is a function of an operation module taking the HostCore first, bound here as a
    # method: its signature and docstring are written once, where it is implemented.
    check = check_host

    new_vm = vm_ops.new_vm
    remove_vm = vm_ops.remove_vm
    rename_vm = vm_ops.rename_vm
    start_vm = vm_ops.start_vm
    reset_vm = vm_ops.reset_vm
    remove_saved_state = vm_ops.remove_saved_state
    stop_vm = vm_ops.stop_vm
    save_vm = vm_ops.save_vm
    suspend_vm = vm_ops.suspend_vm
    resume_vm = vm_ops.resume_vm
    set_vm = vm_ops.set_vm
    add_hard_drive = vm_ops.add_hard_drive
    remove_hard_drive = vm_ops.remove_hard_drive
    add_fibre_channel = vm_ops.add_fibre_channel
    remove_fibre_channel = vm_ops.remove_fibre_channel

    checkpoint_vm = checkpoint_ops.checkpoint_vm
    restore_snapshot = checkpoint_ops.restore_snapshot
    revert_vm = checkpoint_ops.revert_vm
    remove_snapshot = checkpoint_ops.remove_snapshot
    rename_snapshot = checkpoint_ops.rename_snapshot

    export_snapshot = storage_ops.export_snapshot
    export_vm = storage_ops.export_vm
    move_storage = storage_ops.move_storage
