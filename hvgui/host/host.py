"""The lab host: a Hyper-V host simulated on disk (the public facade of hvgui.host).

State lives on disk only. Every read parses what it needs (configurations are small), so the
GUI and `hvctl` see each other's changes; `revision()` tells cheaply whether anything changed.
Every mutation runs under the host lock, as a journalled transaction (journal.py), and
appends what it did to files to the event log.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hvgui import vhdx
from hvgui.backend.model import (
    VM,
    DiskEvent,
    Finding,
    HardDrive,
    Health,
    OperationResult,
    Snapshot,
)
from hvgui.backend.protocol import EVERYTHING
from hvgui.host import checkpoint_ops, journal, runtime, states, storage_ops, vm_ops
from hvgui.host.boundary import (
    Boundary,
    allowed_outside,
    refuse_linked_metadata,
    set_allowed_outside,
)
from hvgui.host.chain_health import ChainHealth
from hvgui.host.checkpoints import vhd_paths
from hvgui.host.errors import HostError, NotFoundError, PausedCriticalError
from hvgui.host.events import EventLog
from hvgui.host.fileio import atomic_write, file_size, norm, remove_path
from hvgui.host.layout import (
    EMPTY,
    FOLDER_PROBLEMS,
    HOST,
    MISSING,
    OTHER,
    Layout,
    default_host_dir,
    folder_kind,
    read_pointer,
    snapshot_config_path,
    vm_runtime_dir,
)
from hvgui.host.lock import HostLock, StatusBoard, read_only_reason
from hvgui.host.operation import (
    PHASE_APPLY,
    PHASE_CREATE,
    PHASE_DELETE,
    PHASE_EXPORT,
    PHASE_MERGE,
    PHASE_MOVE,
    STATUS_INTERVAL,
    GuestDisk,
    Operation,
)
from hvgui.host.runtime import CHECKPOINT_TYPES, MAX_CHECKPOINTS
from hvgui.host.savedstate import BinFile
from hvgui.host.xmlconfig import ConfigDoc, from_filetime, to_filetime
from hvgui.progress import CancelToken, Progress, report


def _is_guid(text: str) -> bool:
    stripped = text.strip("{}")
    return len(stripped) == 36 and all(c in "0123456789abcdefABCDEF-" for c in stripped)


__all__ = [
    "CHECKPOINT_TYPES",
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


class Host:
    """A Hyper-V host kept in a directory. Open with `Host.open(root)`."""

    def __init__(self, root: Path) -> None:
        self.root = norm(root)
        self.layout = Layout(self.root)
        self.status_board = StatusBoard(self.layout)
        self.lock = HostLock(self.layout, self.status_board)
        self.log = EventLog(self.layout.events_file)
        self.recovered: list[str] = []
        # VMs' and checkpoints' chains, walked per change; a disk outside is a warning
        self.chain_health = ChainHealth(lambda path: self.boundary.problem(path))

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

    @property
    def read_only(self) -> str:
        """Why nothing on this host can be changed (read-only folder or mount), or ""."""
        return self.lock.read_only

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
            self._bump()
        finally:
            os.close(fd)

    @property
    def boundary(self) -> Boundary:
        """What this host may change: its folder and the outside folders the user allowed
        (read afresh, so `hvctl set-host` takes effect in an open window too)."""
        return Boundary(self.root, allowed_outside(self.root))

    def allowed_outside_folders(self) -> list[Path]:
        """The folders outside this host that the user allowed it to change (on this machine)."""
        return allowed_outside(self.root)

    def allow_outside_folders(self, folders: list[Path]) -> list[Path]:
        """Set the folders outside this host it may change (an empty list: none)."""
        return set_allowed_outside(self.root, folders)

    def revision(self) -> str:
        """Changes whenever the host changes (an operation, an event, a status update)."""
        parts = []
        for path in (self.layout.revision_file, self.layout.events_file, self.layout.status_dir):
            try:
                st = path.stat()
                parts.append(f"{st.st_mtime_ns}.{st.st_ino}.{st.st_size}")
            except OSError:
                parts.append("-")
        return "/".join(parts)

    def _bump(self) -> None:
        stamp = f"{datetime.now(UTC).isoformat()} {os.getpid()} {os.urandom(4).hex()}"
        atomic_write(self.layout.revision_file, stamp.encode(), durable=False)

    def _vm_index(self) -> dict[str, Path]:
        """VM id -> configuration file, from the host's `Virtual Machines` registry."""
        index: dict[str, Path] = {}
        try:
            entries = list(os.scandir(self.layout.vm_registry))
        except FileNotFoundError:
            return index
        for entry in entries:
            stem, _, ext = entry.name.rpartition(".")
            if not _is_guid(stem):
                continue
            vm_id = stem.upper()
            if ext == "xml":
                index[vm_id] = Path(entry.path)
            elif ext == "location" and vm_id not in index:
                target = read_pointer(Path(entry.path))
                if target is not None:
                    index[vm_id] = target
        return index

    def _load_vm(self, vm: str) -> ConfigDoc:
        index = self._vm_index()
        key = vm.strip("{}").upper()
        if key in index:
            return ConfigDoc.load(index[key])
        matches = []
        unreadable: list[HostError] = []
        for path in index.values():
            try:
                doc = ConfigDoc.load(path)
                if doc.name.casefold() == vm.casefold():
                    matches.append(doc)
            except HostError as exc:
                unreadable.append(exc)
        if not matches and unreadable:
            raise unreadable[0]  # perhaps the VM asked for: say what is wrong with its file
        if not matches:
            raise NotFoundError(vm, "no VM with this name or Id on this host")
        if len(matches) > 1:
            raise HostError(vm, "several VMs have this name: use the VM's Id")
        return matches[0]

    def _snapshot_docs(self, doc: ConfigDoc) -> dict[str, ConfigDoc]:
        out: dict[str, ConfigDoc] = {}
        root = doc.snapshot_data_root
        for snap_id in doc.snapshot_ids:
            path = snapshot_config_path(root, snap_id)
            if not path.exists():
                continue  # the host check reports it
            out[snap_id] = ConfigDoc.load(path)
        return out

    def _vm_from_doc(self, doc: ConfigDoc, status: dict[str, Any] | None) -> VM:
        vm_id = doc.id
        state = doc.state
        now = datetime.now(UTC)
        uptime = timedelta(0)
        if state in states.LIVE_STATES and doc.last_powered_on:
            uptime = max(timedelta(0), now - from_filetime(doc.last_powered_on))
        text = ""
        if status is not None and status.get("visible", True):
            text = f"{status.get('operation', '')} ({int(status.get('percent', 0))}%)"
            state = str(status.get("state") or state)
        parent_id = doc.parent_snapshot_id
        parent_name = None
        if parent_id:
            path = snapshot_config_path(doc.snapshot_data_root, parent_id)
            try:
                parent_name = ConfigDoc.load(path).name
            except HostError:
                parent_name = None
        cpu = 0
        if state == states.RUNNING:
            cpu = 1 + (int(uptime.total_seconds()) // 5 + int(vm_id[:2], 16)) % 4
        live = doc.state in states.LIVE_STATES
        return VM(
            id=vm_id,
            name=doc.name,
            state=state,
            cpu_usage=cpu,
            memory_assigned=(doc.memory_mb << 20) if live else 0,
            uptime=uptime,
            status=text,
            path=doc.data_root,
            configuration_location=doc.data_root,
            snapshot_file_location=doc.snapshot_data_root,
            parent_snapshot_id=parent_id,
            parent_snapshot_name=parent_name,
            checkpoint_type=doc.checkpoint_type,
            processor_count=doc.processor_count,
            memory_startup=doc.memory_mb << 20,
            generation=doc.generation,
            version=doc.version,
            notes=doc.notes,
            hard_drives=runtime.hard_drives(doc),
            fibre_channel=runtime.fibre_channel(doc),
            config_path=doc.path,
            snapshot_count=len(doc.snapshot_ids),
            merge_pending=doc.merge_pending,
        )

    def list_vms(self, *, errors: list[HostError] | None = None) -> list[VM]:
        """Every VM that can be read. A VM whose configuration cannot be read is left out and,
        when `errors` is given, its HostError (naming the file) is appended there; without
        `errors` the first such error is raised."""
        statuses = self.status_board.read_all()
        out = []
        for vm_id, path in self._vm_index().items():
            try:
                doc = ConfigDoc.load(path)
                out.append(self._vm_from_doc(doc, statuses.get(vm_id)))
            except HostError as exc:
                if errors is None:
                    raise
                errors.append(exc)
        return sorted(out, key=lambda v: (v.name.casefold(), v.id))

    def get_vm(self, name_or_id: str) -> VM:
        doc = self._load_vm(name_or_id)
        return self._vm_from_doc(doc, self.status_board.read(doc.id))

    def _snapshot_from_doc(self, doc: ConfigDoc, vm: ConfigDoc, names: dict[str, str]) -> Snapshot:
        parent = doc.snapshot_parent_id
        memloc = doc.get_str("global_settings/savedstate/memlocation", "")
        vsvloc = doc.get_str("global_settings/savedstate/vsvlocation", "")
        return Snapshot(
            id=doc.id,
            name=doc.name,
            vm_id=vm.id,
            vm_name=vm.name,
            snapshot_type=doc.snapshot_type,
            creation_time=doc.snapshot_creation_time,
            parent_snapshot_id=parent,
            parent_snapshot_name=names.get(parent) if parent else None,
            path=vm.snapshot_data_root,
            config_path=doc.path,
            bin_path=Path(memloc) if memloc else None,
            vsv_path=Path(vsvloc) if vsvloc else None,
            hard_drives=runtime.hard_drives(doc),
            state=doc.snapshot_vm_state,
            fibre_channel=runtime.fibre_channel(doc),
            processor_count=doc.processor_count,
            memory_startup=doc.memory_mb << 20,
            notes=doc.notes,
        )

    def list_snapshots(self, vm: str) -> list[Snapshot]:
        """The VM's checkpoints in tree order: each parent before its children, oldest first."""
        doc = self._load_vm(vm)
        docs = self._snapshot_docs(doc)
        names = {i: d.name for i, d in docs.items()}
        snaps = {i: self._snapshot_from_doc(d, doc, names) for i, d in docs.items()}
        children: dict[str | None, list[Snapshot]] = {}
        for snap in snaps.values():
            key = snap.parent_snapshot_id if snap.parent_snapshot_id in snaps else None
            children.setdefault(key, []).append(snap)
        out: list[Snapshot] = []
        stack = sorted(children.get(None, []), key=lambda s: s.creation_time, reverse=True)
        while stack:
            snap = stack.pop()
            out.append(snap)
            stack.extend(
                sorted(children.get(snap.id, []), key=lambda s: s.creation_time, reverse=True)
            )
        return out

    def get_snapshot(self, vm: str, name_or_id: str) -> Snapshot:
        snaps = self.list_snapshots(vm)
        key = name_or_id.strip("{}").upper()
        for snap in snaps:
            if snap.id == key:
                return snap
        matches = [s for s in snaps if s.name == name_or_id]
        if not matches:
            raise NotFoundError(name_or_id, f"no checkpoint with this name or Id on VM {vm!r}")
        if len(matches) > 1:
            raise HostError(
                name_or_id, "several checkpoints have this name: use the checkpoint's Id"
            )
        return matches[0]

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        vm_id = self._load_vm(vm).id if vm is not None else None
        return self.log.read(vm_id)

    def record_guest_event(
        self, vm: str, *, action: str, path: Path, size: int | None = None, detail: str = ""
    ) -> None:
        """Add what the guest did to a file (e.g. `written`, `grown`) to the event log."""
        self.lock.refuse_if_read_only()
        doc = self._load_vm(vm)
        event = DiskEvent(datetime.now(UTC), "Guest", doc.id, action, Path(path), size, detail)
        self.log.append([event])
        self._bump()

    def check(self) -> list[Finding]:
        from hvgui.host.check import check_host

        return check_host(self)

    def memory_path(self, vm: str) -> Path:
        """The VM's memory file: `Virtual Machines/<ID>/<ID>.bin` (exists while it has memory)."""
        doc = self._load_vm(vm)
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
        doc = self._load_vm(vm)
        path = runtime.runtime_bin(doc)
        if doc.state == states.OFF or not path.exists():
            return bytes(length)
        with BinFile(path) as handle:
            return handle.read(offset, length)

    def write_memory(self, vm: str, offset: int, data: bytes) -> None:
        """Write guest memory of a running VM (lives only in memory until Save/checkpoint)."""
        self.lock.refuse_if_read_only()
        doc = self._load_vm(vm)

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
        self._bump()

    def open_vm_disk(self, vm: str, writable: bool = True) -> GuestDisk:
        """The VM's first running disk (through its whole chain) for the guest.

        Writing needs a Running VM and holds the host lock until the disk is closed, so no
        checkpoint can freeze the disk under the guest: keep such opens short.
        """
        doc = self._load_vm(vm)
        disks = vhd_paths(doc)
        if not disks:
            raise HostError(doc.name, "the VM has no virtual hard disk")
        if not writable:
            return GuestDisk(vhdx.open_disk(disks[0]), lambda: None)
        states.require_guest_running(doc.name, doc.state, "write to its disk")
        self.boundary.require_own(disks[0], "let the guest write to this disk")
        cm = self.lock.operation(doc.id, doc.name, "Guest I/O")
        cm.__enter__()
        try:
            self.status_board.write(doc.id, "Guest I/O", 0, visible=False)
            if self._finish_interrupted(doc.id):  # the guest writes to the disk it ends on
                doc = self._load_vm(doc.id)
            else:
                doc = ConfigDoc.load(doc.path)  # re-read under the lock
            states.require_guest_running(doc.name, doc.state, "write to its disk")
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
                self._bump()

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
        self._bump()

    # ================================================================== operation plumbing
    @contextmanager
    def _operation(
        self,
        vm: str | ConfigDoc,
        operation: str,
        phase: str,
        progress: Progress | None,
        cancel: CancelToken | None,
        transient: str | None = None,
        *,
        changes_vm: bool = True,
    ) -> Iterator[Operation]:
        doc = vm if isinstance(vm, ConfigDoc) else self._load_vm(vm)
        vm_id, vm_name = doc.id, doc.name
        if changes_vm:  # the configuration and the VM's folder beside it: never outside
            boundary = self.boundary
            boundary.require(doc.path, "change this VM's configuration")
            boundary.require(vm_runtime_dir(doc.path, doc.id), "change this VM's saved state")
        with self.lock.operation(vm_id, vm_name, phase):
            last = [0, 0.0]  # the first report is written at once, later ones throttled

            def tell(fraction: float, text: str) -> None:
                percent = int(min(1.0, max(0.0, fraction)) * 100)
                moment = time.monotonic()
                if percent != last[0] and moment - last[1] >= STATUS_INTERVAL:
                    last[0], last[1] = percent, moment
                    # The Status column is a courtesy: a full disk must not stop the operation.
                    with contextlib.suppress(OSError):
                        self.status_board.write(vm_id, text or phase, percent, transient)
                if progress is not None:
                    progress(fraction, text or phase)

            self.status_board.write(vm_id, phase, 0, transient)
            finished = self._finish_interrupted(vm_id)
            if finished:
                doc = self._load_vm(vm_id)  # the finished operation changed it (or moved it)
            elif doc.path.exists():
                doc = ConfigDoc.load(doc.path)  # re-read under the lock
            op = Operation(self, operation, vm_id, vm_name, doc, tell, cancel)
            op.warnings.extend(finished)
            op.resumed = f"{operation}: {journal.COMPLETED}" in finished
            try:
                yield op
                if op._tx is not None and not op._tx.done:
                    op._tx.rollback()  # prepared but nothing to commit
            except BaseException:
                if op._tx is not None and not op._tx.done:
                    op._tx.rollback()
                raise
            finally:
                # Its warnings too, so a window that did not run it can show them.
                warned = [
                    DiskEvent(datetime.now(UTC), operation, vm_id, "warning", doc.path, None, w)
                    for w in op.warnings
                ]
                # The operation is done (or failed with its own error): a record that cannot
                # be written (a full disk) becomes a warning, not a failure of what happened.
                for step in (
                    lambda: self.status_board.clear(vm_id),
                    lambda: self.log.append([*op.events, *warned]),
                    self._bump,
                ):
                    try:
                        step()
                    except OSError as exc:
                        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                            raise  # e.g. a linked events.jsonl: refused, as on open
                        op.warnings.append(
                            f"the host's event log or status could not be updated: "
                            f"{exc.strerror or exc}"
                        )

    def _finish_interrupted(self, vm_id: str) -> list[str]:
        """Finish the VM's operations an error stopped (journal.py): a retry completes them
        before anything else happens to the VM; one that fails again refuses the retry."""
        if not journal.pending_journals(self.layout.journal_dir):
            return []
        return journal.recover(
            self.layout.journal_dir, self.boundary, self.log.append, vm_id=vm_id
        )

    def _result(
        self, op: Operation, powershell: str, snapshot: Snapshot | None = None
    ) -> OperationResult:
        report(op.progress, 1.0, "")
        return OperationResult(
            # The same warnings list: bookkeeping after the result may still add to it.
            op.operation, op.vm_id, list(op.events), op.warnings, powershell, snapshot
        )

    # ================================================================== VMs
    def new_vm(
        self,
        name: str,
        *,
        memory_startup_bytes: int = 1 << 30,
        new_vhd_size_bytes: int | None = None,
        generation: int = 2,
        path: Path | str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        return vm_ops.new_vm(
            self,
            name,
            memory_startup_bytes=memory_startup_bytes,
            new_vhd_size_bytes=new_vhd_size_bytes,
            generation=generation,
            path=path,
            progress=progress,
            cancel=cancel,
        )

    def remove_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Remove-VM: the configuration, saved state and checkpoint files go; disks stay."""
        return vm_ops.remove_vm(self, vm, progress=progress, cancel=cancel)

    def rename_vm(
        self,
        vm: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        return vm_ops.rename_vm(self, vm, new_name, progress=progress, cancel=cancel)

    # ------------------------------------------------------------------ state transitions

    def start_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return vm_ops.transition(self, vm, states.START, "Start-VM", progress, cancel)

    def reset_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Restart-VM -Force: a Running (or Paused) VM restarts at once; its memory is lost."""
        return vm_ops.transition(self, vm, states.RESET, "Restart-VM", progress, cancel)

    def remove_saved_state(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Remove-VMSavedState: a Saved VM's memory and device state are deleted; it is Off."""
        return vm_ops.transition(
            self, vm, states.DELETE_SAVED_STATE, "Remove-VMSavedState", progress, cancel
        )

    def stop_vm(
        self,
        vm: str,
        *,
        turn_off: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        if turn_off:
            return vm_ops.transition(
                self, vm, states.TURN_OFF, "Stop-VM -TurnOff", progress, cancel
            )
        return vm_ops.transition(self, vm, states.SHUT_DOWN, "Stop-VM", progress, cancel)

    def save_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return vm_ops.transition(self, vm, states.SAVE, "Save-VM", progress, cancel)

    def suspend_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return vm_ops.transition(self, vm, states.PAUSE, "Suspend-VM", progress, cancel)

    def resume_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return vm_ops.transition(self, vm, states.RESUME, "Resume-VM", progress, cancel)

    # ------------------------------------------------------------------ settings
    def set_vm(
        self,
        vm: str,
        *,
        processor_count: int | None = None,
        memory_startup_bytes: int | None = None,
        snapshot_file_location: Path | str | None = None,
        checkpoint_type: str | None = None,
        notes: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Set-VM. With checkpoints present, only the VM's own configuration changes."""
        return vm_ops.set_vm(
            self,
            vm,
            processor_count=processor_count,
            memory_startup_bytes=memory_startup_bytes,
            snapshot_file_location=snapshot_file_location,
            checkpoint_type=checkpoint_type,
            notes=notes,
            progress=progress,
            cancel=cancel,
        )

    def add_hard_drive(
        self,
        vm: str,
        path: Path | str,
        *,
        pass_through: bool = False,
        controller_type: str | None = None,
        controller_number: int | None = None,
        controller_location: int | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Add-VMHardDiskDrive: attach a VHDX, or a raw file standing for a physical disk."""
        return vm_ops.add_hard_drive(
            self,
            vm,
            path,
            pass_through=pass_through,
            controller_type=controller_type,
            controller_number=controller_number,
            controller_location=controller_location,
            progress=progress,
            cancel=cancel,
        )

    def remove_hard_drive(
        self,
        vm: str,
        controller_type: str,
        controller_number: int,
        controller_location: int,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Remove-VMHardDiskDrive: detach a drive (its file stays where it is)."""
        return vm_ops.remove_hard_drive(
            self,
            vm,
            controller_type,
            controller_number,
            controller_location,
            progress=progress,
            cancel=cancel,
        )

    def add_fibre_channel(
        self,
        vm: str,
        *,
        san_name: str,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Add-VMFibreChannelHba (VM must be off)."""
        return vm_ops.add_fibre_channel(
            self, vm, san_name=san_name, progress=progress, cancel=cancel
        )

    def remove_fibre_channel(
        self,
        vm: str,
        adapter: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Remove-VMFibreChannelHba: `adapter` is its Id or SAN name (VM must be off)."""
        return vm_ops.remove_fibre_channel(self, vm, adapter, progress=progress, cancel=cancel)

    # ================================================================== checkpoints
    def checkpoint_vm(
        self,
        vm: str,
        *,
        snapshot_name: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Checkpoint-VM: freeze every disk, start an AVHDX per disk, copy the configuration
        (and memory + device state of a running VM) into the Snapshots folder."""
        return checkpoint_ops.checkpoint_vm(
            self, vm, snapshot_name=snapshot_name, progress=progress, cancel=cancel
        )

    # ------------------------------------------------------------------ apply / revert
    def restore_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        take_checkpoint_first: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Apply a checkpoint: Now's disks are discarded, new AVHDX start off the checkpoint's
        disks, and the VM returns to the checkpoint's state (with its memory if it had any)."""
        return checkpoint_ops.restore_snapshot(
            self,
            vm,
            snapshot,
            take_checkpoint_first=take_checkpoint_first,
            progress=progress,
            cancel=cancel,
        )

    def revert_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Revert: apply the VM's current parent checkpoint."""
        return checkpoint_ops.revert_vm(self, vm, progress=progress, cancel=cancel)

    # ------------------------------------------------------------------ delete
    def remove_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        include_children: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Remove-VMSnapshot: delete a checkpoint (or its subtree) by Hyper-V's merge rules."""
        return checkpoint_ops.remove_snapshot(
            self, vm, snapshot, include_children=include_children, progress=progress, cancel=cancel
        )

    def rename_snapshot(
        self,
        vm: str,
        snapshot: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        return checkpoint_ops.rename_snapshot(
            self, vm, snapshot, new_name, progress=progress, cancel=cancel
        )

    # ------------------------------------------------------------------ export
    def export_snapshot(
        self,
        vm: str,
        snapshot: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Export-VMSnapshot: a standalone VM folder as of the checkpoint, disks flattened."""
        return storage_ops.export_snapshot(
            self, vm, snapshot, destination, progress=progress, cancel=cancel
        )

    def export_vm(
        self,
        vm: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Export-VM of the current state (Now), disks flattened (checkpoints not included)."""
        return storage_ops.export_vm(self, vm, destination, progress=progress, cancel=cancel)

    # ------------------------------------------------------------------ move storage
    def move_storage(
        self,
        vm: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Move-VMStorage -DestinationStoragePath: configuration, checkpoints, saved state and
        every disk (the base and ALL its AVHDX together) move under `destination`."""
        return storage_ops.move_storage(self, vm, destination, progress=progress, cancel=cancel)
