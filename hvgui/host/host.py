"""The lab host: a Hyper-V host simulated on disk (the public facade of hvgui.host).

State lives on disk only. Every read parses what it needs (configurations are small), so the
GUI and `hvctl` see each other's changes; `revision()` tells cheaply whether anything changed.
Every mutation runs under the host lock, as a journalled transaction (journal.py), and
appends what it did to files to the event log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path, PurePath

from hvgui.backend.model import DiskEvent, HardDrive, Health
from hvgui.backend.protocol import EVERYTHING, HostKind
from hvgui.durable import temp_files_of
from hvgui.host import (
    chain_health,
    checkpoint_ops,
    guest_io,
    journal,
    runtime,
    storage_ops,
    vm_ops,
    winpaths,
)
from hvgui.host.boundary import (
    allowed_outside,
    refuse_linked_metadata,
    set_allowed_outside,
)
from hvgui.host.check import check_host
from hvgui.host.context import HostCore
from hvgui.host.errors import HostError
from hvgui.host.fileio import file_size, norm, remove_path
from hvgui.host.foreign import (
    NOT_ADOPTED,
    VMCX_FOLDER,
    adopt,
    adopted,
    exported_vms,
    holds_vmcx,
    is_foreign,
)
from hvgui.host.guest_io import GuestDisk
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
)
from hvgui.host.runtime import MAX_CHECKPOINTS
from hvgui.progress import CancelToken, Progress
from hvgui.vhdx.locator import windows_names

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

    # Known once open (`open`, `new`, `adopt` set them): reading them does no I/O.
    _kind = HostKind.LAB
    _windows_root = ""

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
        if kind == OTHER and exported_vms(path):  # Export-VM's destination: one folder a VM
            raise HostError(path, "holds VM folders exported from Hyper-V: open one of them ("
                            + ", ".join(exported_vms(path)) + ")")
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
        foreign = kind == HOST and is_foreign(path)  # from a real host: nothing written yet
        if foreign and holds_vmcx(path):  # 2016+: read, never written, adopted or not
            host.lock.read_only = VMCX_FOLDER
            host._kind = HostKind.VMCX_FOLDER
        elif foreign and not adopted(path):
            host.lock.read_only = NOT_ADOPTED
            host._kind = HostKind.HYPERV_FOLDER
        elif foreign:  # adopted: the probe would write; the first operation makes .hvgui
            writable = os.access(path, os.W_OK | os.X_OK)
            host.lock.read_only = "" if writable else f"{path} is not writable"
        elif kind == HOST:
            host.lock.read_only = read_only_reason(layout)
        if not host.read_only and not foreign:  # read-only: listed as it is, nothing made
            layout.create()
            if kind != HOST:  # a new host: its Windows names, the default root
                winpaths.write_names(path, winpaths.DEFAULT_ROOT)
            host._recover(progress)
        host._read_windows_root()
        return host

    @property
    def kind(self) -> HostKind:
        return self._kind

    def adopt(self) -> None:
        """Adopt this folder as a lab host: remembered in the user's settings; nothing in the
        folder changes until the first operation."""
        if self._kind is HostKind.VMCX_FOLDER:
            raise HostError(self.root, f"cannot be adopted: {VMCX_FOLDER}")
        adopt(self.root)
        if self._kind is HostKind.HYPERV_FOLDER:
            self.lock.read_only = ""
            self._kind = HostKind.LAB
            self._read_windows_root()

    @classmethod
    def new(cls, root: Path | str, *, windows_root: str | None = None) -> Host:
        """A new, empty host in `root`, a missing or empty folder (New Host, `hvctl new-host`).
        `windows_root`: the folder of the Windows host it stands for, as its configurations
        name it (default C:\\ProgramData\\Microsoft\\Windows\\Hyper-V)."""
        path = norm(root)
        if folder_kind(path) == HOST:
            raise HostError(path, "already a lab host: open it instead")
        if windows_root is not None:
            winpaths.check_root(windows_root)  # before anything is made
        host = cls.open(path, create=True)
        host._windows_root = winpaths.write_names(path, windows_root or winpaths.DEFAULT_ROOT).root
        return host

    @property
    def windows_root(self) -> str:
        return self._windows_root

    def _read_windows_root(self) -> None:
        """The Windows host's folder this lab stands for ("" for a real host's folder, and
        for a damaged record: the VMs' reads name that file, opening the host must not stop)."""
        self._windows_root = ""
        if self._kind is HostKind.LAB:
            with contextlib.suppress(HostError):
                self._windows_root = winpaths.read_names(self.root).root

    def _recover(self, progress: Progress | None) -> None:
        leftovers = [p for p in self.layout.journal_dir.iterdir() if p.suffix in (".json", ".tmp")]
        if not leftovers:
            return
        fd = self.lock.try_exclusive()
        if fd < 0:
            return  # someone is mid-operation: their journal is theirs to finish
        try:
            self.recovered = self._finish_journals(progress)
            for folder in (self.layout.journal_dir, self.layout.status_dir):
                for path in folder.iterdir():
                    if path.suffix == ".tmp" or folder == self.layout.status_dir:
                        remove_path(path)  # half-written by a process that died
            self.bump()
        finally:
            os.close(fd)

    def finish_left_by(self, pid: int, progress: Progress | None = None) -> list[str]:
        """Finish what process `pid` left half-done when it ended mid-operation (an
        operation's child, killed), as the next open would: its journals rolled forward or
        back, its half-written records and Status entries removed; another process's or
        thread's operation is left be. Call only once `pid` has ended. Returns what was done."""
        with self.lock.held(None, "", ""):
            done = self._finish_journals(progress, pid)
            # its journals' and Status entries', the revision stamp's and free-space reserve's
            # (.hvgui), its copy of a shared event log's (the host's folder)
            for folder in (self.layout.journal_dir, self.layout.status_dir, self.layout.meta,
                           self.root):
                for path in temp_files_of(folder, pid):
                    remove_path(path)
            self.status_board.clear_left_by(pid)
            self.bump()
        return done

    def _finish_journals(self, progress: Progress | None, pid: int | None = None) -> list[str]:
        with windows_names(winpaths.vhdx_names(self.root)):  # a finished merge's locators
            return journal.recover(self.layout.journal_dir, self.boundary, self.log.append,
                                   progress, pid=pid)

    def allowed_outside_folders(self) -> list[Path]:
        """The folders outside this host that the user allowed it to change (on this machine)."""
        return allowed_outside(self.root)

    def allow_outside_folders(self, folders: list[Path]) -> list[Path]:
        """Set the folders outside this host it may change (an empty list: none)."""
        return set_allowed_outside(self.root, folders)

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        vm_id = self.load_vm(vm).id if vm is not None else None
        return self.log.read(vm_id)

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

    # The model's paths are PurePath (a remote host's are Windows paths); the lab host's are
    # its files here, so Path(...) of one is the same file.
    def chain_files(self, drives: Sequence[HardDrive]) -> list[PurePath]:
        return [*self.chain_health.files(drives)]

    def chain_stamp(self, files: Sequence[PurePath]) -> object:
        return chain_health.stamp([Path(f) for f in files])

    def inspect_files(self, vm: str, snapshot: str | None) -> list[PurePath]:
        state: list[PurePath]
        if snapshot is None:
            machine = self.get_vm(vm)
            config, drives = machine.config_path, machine.hard_drives
            folder = vm_runtime_dir(Path(config), machine.id)
            state = [p for p in runtime.files_in(folder) if p.suffix.lower() in (".bin", ".vsv")]
        else:
            snap = self.get_snapshot(vm, snapshot)
            config, drives = snap.config_path, snap.hard_drives
            state = [p for p in (snap.bin_path, snap.vsv_path) if p is not None]
        passed = [d.path for d in drives if d.pass_through]  # a physical disk: no chain
        return [config, *state, *passed, *self.chain_files(drives)]

    def local_copy(
        self, path: PurePath, *, progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        return Path(path)  # the lab host's files are local

    # ================================================================== operations
    # Each is a function of an operation module taking the HostCore first, bound here as a
    # method: its signature and docstring are written once, where it is implemented.
    check = check_host

    # For the guest (hvgui/guest): its memory, its running disk and the events it records.
    read_memory = guest_io.read_memory
    write_memory = guest_io.write_memory
    open_vm_disk = guest_io.open_vm_disk
    memory_path = guest_io.memory_path
    record_guest_event = guest_io.record_guest_event

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
