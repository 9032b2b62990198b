"""The lab host: a Hyper-V host simulated on disk (the public facade of hvgui.host).

State lives on disk only. Every read parses what it needs (configurations are small), so the
GUI and `hvctl` see each other's changes; `revision()` tells cheaply whether anything changed.
Every mutation runs under the host lock, as a journalled transaction (journal.py), and
appends what it did to files to the event log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from hvgui.host import journal, states
from hvgui.host.checkpoints import chain_parents, resolve_pending, vhd_paths
from hvgui.host.errors import HostError, InvalidStateError
from hvgui.host.events import EventLog
from hvgui.host.fileio import atomic_write, file_size, link_or_copy, norm, remove_path
from hvgui.host.guest import format_new_vm_disk
from hvgui.host.layout import (
    SNAPSHOTS,
    VIRTUAL_HARD_DISKS,
    VIRTUAL_MACHINES,
    Layout,
    avhdx_name,
    base_stem,
    default_host_dir,
    snapshot_config_path,
    snapshot_state_dir,
    vm_runtime_dir,
)
from hvgui.host.lock import HostLock, StatusBoard
from hvgui.host.model import (
    VM,
    DiskEvent,
    FibreChannelAdapter,
    Finding,
    HardDrive,
    OperationResult,
    Snapshot,
)
from hvgui.host.names import default_checkpoint_name, ps_quote, ps_size, validate_name
from hvgui.host.savedstate import BinFile, DeviceState, copy_bin, read_vsv, write_vsv
from hvgui.host.xmlconfig import (
    DRIVE_NONE,
    DRIVE_PASSTHROUGH,
    DRIVE_VHD,
    ConfigDoc,
    from_filetime,
    new_guid,
    new_vm_config,
    to_filetime,
)
from hvgui.progress import CancelToken, Progress, check, report, scaled
from hvgui.vhdx import Disk, convert_vhd, create_differencing, create_dynamic, open_disk

CHECKPOINT_TYPES = ("Standard", "Production", "ProductionOnly", "Disabled")
PHASE_CREATE = "Creating Checkpoint"
PHASE_APPLY = "Applying Checkpoint"
PHASE_DELETE = "Deleting Checkpoint"
PHASE_MERGE = "Merge in progress"
PHASE_EXPORT = "Exporting"
PHASE_MOVE = "Moving Storage"
MIN_MEMORY = 32 << 20
MAX_MEMORY = 1 << 40
MAX_PROCESSORS = 64
MAX_CHECKPOINTS = 50  # Hyper-V 2012 R2's limit per VM
STATUS_INTERVAL = 0.1  # seconds between two status-file updates of one operation


def _is_guid(text: str) -> bool:
    stripped = text.strip("{}")
    return len(stripped) == 36 and all(c in "0123456789abcdefABCDEF-" for c in stripped)


@dataclass
class _Op:
    """One operation in progress: its VM documents, transaction, events and warnings."""

    host: Host
    operation: str  # "Checkpoint", "Apply", ...
    vm_id: str
    vm_name: str
    doc: ConfigDoc
    progress: Progress | None
    cancel: CancelToken | None
    events: list[DiskEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _tx: journal.Transaction | None = None
    _snaps: dict[str, ConfigDoc] | None = None
    dirty: list[ConfigDoc] = field(default_factory=list)
    after: list[journal.Action] = field(default_factory=list)  # run after the renames

    @property
    def tx(self) -> journal.Transaction:
        if self._tx is None or self._tx.done:
            self._tx = journal.Transaction(self.host.layout.journal_dir, self.operation, self.vm_id)
        return self._tx

    @property
    def snaps(self) -> dict[str, ConfigDoc]:
        if self._snaps is None:
            self._snaps = self.host._snapshot_docs(self.doc)
        return self._snaps

    def mark(self, doc: ConfigDoc) -> None:
        if doc not in self.dirty:
            self.dirty.append(doc)

    def event(self, action: str, path: Path, size: int | None = None, detail: str = "") -> None:
        self.events.append(
            DiskEvent(datetime.now(UTC), self.operation, self.vm_id, action, path, size, detail)
        )

    def commit(
        self,
        before: list[journal.Action] | None = None,
        after: list[journal.Action] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Stage every changed document, then run: `before`, the renames, `after`."""
        staged = [self.tx.stage(doc.path, doc.to_bytes()) for doc in self.dirty]
        actions = [*(before or []), *staged, *(after or []), *self.after]
        self.events.extend(self.tx.commit(actions, progress=progress))
        self.dirty.clear()
        self.after.clear()


class GuestDisk:
    """The VM's running disk opened for the guest; closing it releases the host lock."""

    def __init__(self, disk: Disk, release: Callable[[], None]) -> None:
        self._disk = disk
        self._release: Callable[[], None] | None = release
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
        self._disk.write(offset, data)

    def flush(self) -> None:
        self._disk.flush()

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

    def __exit__(self, *exc: object) -> None:
        self.close()


class Host:
    """A Hyper-V host kept in a directory. Open with `Host.open(root)`."""

    def __init__(self, root: Path) -> None:
        self.root = norm(root)
        self.layout = Layout(self.root)
        self.status_board = StatusBoard(self.layout)
        self.lock = HostLock(self.layout, self.status_board)
        self.log = EventLog(self.layout.events_file)
        self.recovered: list[str] = []

    # ================================================================== opening and reading
    @classmethod
    def open(
        cls,
        root: Path | str | None = None,
        *,
        create: bool = True,
        progress: Progress | None = None,
    ) -> Host:
        """Open (or create) a host; completes or rolls back any interrupted operation first."""
        path = norm(root) if root is not None else norm(default_host_dir())
        if not path.is_dir():
            if not create:
                raise HostError(path, "no lab host here (the folder does not exist)")
            if path.exists():
                raise HostError(path, "not a folder")
        elif not create and not (path / VIRTUAL_MACHINES).is_dir():
            raise HostError(path, f"not a lab host (no '{VIRTUAL_MACHINES}' folder)")
        host = cls(path)
        host.layout.create()
        host._recover(progress)
        return host

    def _recover(self, progress: Progress | None) -> None:
        leftovers = [p for p in self.layout.journal_dir.iterdir() if p.suffix in (".json", ".tmp")]
        if not leftovers:
            return
        fd = self.lock.try_exclusive()
        if fd < 0:
            return  # someone is mid-operation: their journal is theirs to finish
        try:
            self.recovered = journal.recover(self.layout.journal_dir, self.log.append, progress)
            for folder in (self.layout.journal_dir, self.layout.status_dir):
                for path in folder.iterdir():
                    if path.suffix == ".tmp" or folder == self.layout.status_dir:
                        remove_path(path)  # half-written by a process that died
            self._bump()
        finally:
            os.close(fd)

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
                try:
                    with open(entry.path, encoding="utf-8") as handle:
                        target = handle.read(4096).strip()
                except OSError:
                    continue
                if target:
                    index[vm_id] = Path(target)
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
            raise HostError(vm, "no VM with this name or Id on this host")
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
            hard_drives=_hard_drives(doc),
            fibre_channel=_fibre_channel(doc),
            config_path=doc.path,
            snapshot_count=len(doc.snapshot_ids),
            merge_pending=doc.merge_pending,
        )

    def list_vms(self) -> list[VM]:
        statuses = self.status_board.read_all()
        out = []
        for vm_id, path in self._vm_index().items():
            doc = ConfigDoc.load(path)
            out.append(self._vm_from_doc(doc, statuses.get(vm_id)))
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
            hard_drives=_hard_drives(doc),
            state=doc.snapshot_vm_state,
            fibre_channel=_fibre_channel(doc),
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
            raise HostError(name_or_id, f"no checkpoint with this name or Id on VM {vm!r}")
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
        return _runtime_bin(doc)

    # ================================================================== guest access
    def read_memory(self, vm: str, offset: int, length: int) -> bytes:
        """Guest memory; zeros when the VM has none (Off)."""
        doc = self._load_vm(vm)
        path = _runtime_bin(doc)
        if doc.state == states.OFF or not path.exists():
            return bytes(length)
        with BinFile(path) as handle:
            return handle.read(offset, length)

    def write_memory(self, vm: str, offset: int, data: bytes) -> None:
        """Write guest memory of a running VM (lives only in memory until Save/checkpoint)."""
        doc = self._load_vm(vm)
        if doc.state != states.RUNNING:
            raise InvalidStateError(doc.name, f"cannot write guest memory: the VM is {doc.state}")
        with BinFile(_runtime_bin(doc), writable=True) as handle:
            handle.write(offset, data)
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
            return GuestDisk(open_disk(disks[0]), lambda: None)
        if doc.state != states.RUNNING:
            raise InvalidStateError(doc.name, f"the guest cannot write: the VM is {doc.state}")
        cm = self.lock.operation(doc.id, doc.name, "Guest I/O")
        cm.__enter__()
        try:
            self.status_board.write(doc.id, "Guest I/O", 0, visible=False)
            doc = ConfigDoc.load(doc.path)  # re-read under the lock
            if doc.state != states.RUNNING:
                raise InvalidStateError(doc.name, f"the guest cannot write: the VM is {doc.state}")
            disk = open_disk(vhd_paths(doc)[0], writable=True)
        except BaseException:
            self.status_board.clear(doc.id)
            cm.__exit__(None, None, None)
            raise

        def release() -> None:
            self.status_board.clear(doc.id)
            cm.__exit__(None, None, None)
            self._bump()

        return GuestDisk(disk, release)

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
    ) -> Iterator[_Op]:
        doc = vm if isinstance(vm, ConfigDoc) else self._load_vm(vm)
        vm_id, vm_name = doc.id, doc.name
        with self.lock.operation(vm_id, vm_name, phase):
            last = [0, 0.0]  # the first report is written at once, later ones throttled

            def tell(fraction: float, text: str) -> None:
                percent = int(min(1.0, max(0.0, fraction)) * 100)
                moment = time.monotonic()
                if percent != last[0] and moment - last[1] >= STATUS_INTERVAL:
                    last[0], last[1] = percent, moment
                    self.status_board.write(vm_id, text or phase, percent, transient)
                if progress is not None:
                    progress(fraction, text or phase)

            self.status_board.write(vm_id, phase, 0, transient)
            if doc.path.exists():
                doc = ConfigDoc.load(doc.path)  # re-read under the lock
            op = _Op(self, operation, vm_id, vm_name, doc, tell, cancel)
            try:
                yield op
                if op._tx is not None and not op._tx.done:
                    op._tx.rollback()  # prepared but nothing to commit
            except BaseException:
                if op._tx is not None and not op._tx.done:
                    op._tx.rollback()
                raise
            finally:
                self.status_board.clear(vm_id)
                self.log.append(op.events)
                self._bump()

    def _result(
        self, op: _Op, powershell: str, snapshot: Snapshot | None = None
    ) -> OperationResult:
        report(op.progress, 1.0, "")
        return OperationResult(
            op.operation, op.vm_id, list(op.events), list(op.warnings), powershell, snapshot
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
        validate_name(name, name, "VM")
        if any(v.name.casefold() == name.casefold() for v in self.list_vms()):
            raise HostError(name, "a VM with this name already exists on this host")
        if generation not in (1, 2):
            raise HostError(name, f"generation must be 1 or 2, not {generation}")
        _check_memory(name, memory_startup_bytes)
        vm_id = new_guid()
        data_root = norm(path) / name if path is not None else self.root
        config_path = data_root / VIRTUAL_MACHINES / f"{vm_id}.xml"
        doc = new_vm_config(
            config_path,
            vm_id=vm_id,
            name=name,
            generation=generation,
            memory_mb=memory_startup_bytes >> 20,
            data_root=data_root,
            snapshot_data_root=data_root,
            created=datetime.now(UTC),
        )
        line = f"New-VM -Name {ps_quote(name)} -MemoryStartupBytes {ps_size(memory_startup_bytes)}"
        line += f" -Generation {generation}"
        if path is not None:
            line += f" -Path {ps_quote(norm(path))}"
        with self._operation(doc, "New", "Creating", progress, cancel) as op:
            config_path.parent.mkdir(parents=True, exist_ok=True)
            if new_vhd_size_bytes is not None:
                vhd = data_root / VIRTUAL_HARD_DISKS / f"{name}.vhdx"
                if vhd.exists():
                    raise HostError(vhd, "a disk with this name already exists")
                vhd.parent.mkdir(parents=True, exist_ok=True)
                op.tx.created(vhd)
                create_dynamic(vhd, new_vhd_size_bytes)
                with open_disk(vhd, writable=True) as new_disk:
                    format_new_vm_disk(new_disk)  # the guest's FAT partition (hvgui.host.guest)
                op.event(
                    "created",
                    vhd,
                    file_size(vhd),
                    f"new dynamic disk, {ps_size(new_vhd_size_bytes)}",
                )
                ctype = "IDE" if generation == 1 else "SCSI"
                doc.set_drive(ctype, 0, 0, DRIVE_VHD, str(vhd))
                line += (
                    f" -NewVHDPath {ps_quote(vhd)} -NewVHDSizeBytes {ps_size(new_vhd_size_bytes)}"
                )
            op.tx.write_new(config_path, doc.to_bytes())
            op.event("created", config_path, file_size(config_path), "VM configuration")
            after = []
            if config_path != self.layout.local_config(vm_id):
                after.append(
                    op.tx.stage(self.layout.pointer_file(vm_id), str(config_path).encode())
                )
            op.commit(after=after)
            return self._result(op, line)

    def remove_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Remove-VM: the configuration, saved state and checkpoint files go; disks stay."""
        with self._operation(vm, "Remove", "Removing", progress, cancel) as op:
            doc = op.doc
            actions: list[journal.Action] = []
            for snap_id, sdoc in op.snaps.items():
                actions.append(journal.delete(sdoc.path))
                op.event("deleted", sdoc.path, file_size(sdoc.path), "checkpoint configuration")
                state_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
                for f in _files_in(state_dir):
                    op.event("deleted", f, file_size(f))
                actions.append(journal.delete(state_dir))
            runtime = vm_runtime_dir(doc.path, doc.id)
            for f in _files_in(runtime):
                op.event("deleted", f, file_size(f))
            actions += [
                journal.delete(runtime),
                journal.delete(doc.path),
                journal.delete(self.layout.pointer_file(doc.id)),
            ]
            op.event("deleted", doc.path, file_size(doc.path), "VM configuration")
            op.commit(after=actions)
            return self._result(op, f"Remove-VM -Name {ps_quote(doc.name)} -Force")

    def rename_vm(
        self,
        vm: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        validate_name(new_name, new_name, "VM")
        with self._operation(vm, "Rename", "Renaming", progress, cancel) as op:
            others = [v for v in self.list_vms() if v.id != op.vm_id]
            if any(v.name.casefold() == new_name.casefold() for v in others):
                raise HostError(new_name, "a VM with this name already exists on this host")
            old = op.doc.name
            op.doc.set("properties/name", "string", new_name)
            op.mark(op.doc)
            op.commit()
            return self._result(
                op, f"Rename-VM -Name {ps_quote(old)} -NewName {ps_quote(new_name)}"
            )

    # ------------------------------------------------------------------ state transitions
    def _transition(
        self,
        vm: str,
        action: str,
        cmdlet: str,
        progress: Progress | None,
        cancel: CancelToken | None,
    ) -> OperationResult:
        doc = self._load_vm(vm)
        transient, _ = states.transition(doc.name, action, doc.state)
        with self._operation(doc, action, transient, progress, cancel, transient=transient) as op:
            doc = op.doc
            _, result = states.transition(doc.name, action, doc.state)  # re-check under the lock
            runtime = vm_runtime_dir(doc.path, doc.id)
            rbin, rvsv = _runtime_bin(doc), _runtime_vsv(doc)
            before: list[journal.Action] = []
            after: list[journal.Action] = []
            now = datetime.now(UTC)
            if action == states.START and doc.state == states.OFF:
                runtime.mkdir(parents=True, exist_ok=True)
                tmp = rbin.with_name(rbin.name + ".hvnew")
                remove_path(tmp)
                op.tx.created(tmp)
                BinFile.create(tmp, doc.memory_mb << 20)
                before.append(journal.replace(tmp, rbin))
                op.event(
                    "created", rbin, 0, "memory of the running VM (sparse: nothing touched yet)"
                )
                doc.set("properties/last_powered_on_time", "integer", to_filetime(now))
                doc.set_saved_state(rbin, None)
            elif action == states.START:  # from Saved: the memory is already there
                uptime = _saved_uptime(rvsv)
                after.append(journal.delete(rvsv))
                op.event("deleted", rvsv, file_size(rvsv), "saved device state restored")
                doc.set(
                    "properties/last_powered_on_time",
                    "integer",
                    to_filetime(now - timedelta(seconds=uptime)),
                )
                doc.set_saved_state(rbin, None)
            elif action in (states.TURN_OFF, states.SHUT_DOWN):
                for f in (rbin, rvsv):
                    if f.exists():
                        op.event(
                            "deleted", f, file_size(f), "memory discarded" if f == rbin else ""
                        )
                after += [journal.delete(rbin), journal.delete(rvsv)]
                doc.set("properties/last_powered_off_time", "integer", to_filetime(now))
                doc.set_saved_state(None, None)
            elif action == states.SAVE:
                tmp = rvsv.with_name(rvsv.name + ".hvnew")
                remove_path(tmp)
                op.tx.created(tmp)
                write_vsv(tmp, _device_state(doc, doc.state))
                before.append(journal.replace(tmp, rvsv))
                op.event("created", rvsv, file_size(tmp), "saved device state")
                doc.set_saved_state(rbin, rvsv)
            doc.set("hvgui/state", "string", result)
            doc.set("properties/last_state_change_time", "integer", to_filetime(now))
            op.mark(doc)
            op.commit(before=before, after=after)
            return self._result(op, f"{cmdlet} -Name {ps_quote(doc.name)}")

    def start_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return self._transition(vm, states.START, "Start-VM", progress, cancel)

    def stop_vm(
        self,
        vm: str,
        *,
        turn_off: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        if turn_off:
            return self._transition(vm, states.TURN_OFF, "Stop-VM -TurnOff", progress, cancel)
        return self._transition(vm, states.SHUT_DOWN, "Stop-VM", progress, cancel)

    def save_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return self._transition(vm, states.SAVE, "Save-VM", progress, cancel)

    def suspend_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return self._transition(vm, states.PAUSE, "Suspend-VM", progress, cancel)

    def resume_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        return self._transition(vm, states.RESUME, "Resume-VM", progress, cancel)

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
        with self._operation(vm, "Settings", "Applying settings", progress, cancel) as op:
            doc = op.doc
            line = f"Set-VM -Name {ps_quote(doc.name)}"
            if processor_count is not None:
                if not 1 <= processor_count <= MAX_PROCESSORS:
                    raise HostError(doc.name, f"processor count must be 1 to {MAX_PROCESSORS}")
                _require_off(doc, "change the processor count")
                doc.set("settings/processors/count", "integer", processor_count)
                line += f" -ProcessorCount {processor_count}"
            if memory_startup_bytes is not None:
                _check_memory(doc.name, memory_startup_bytes)
                _require_off(doc, "change the startup memory")
                doc.set("settings/memory/bank/size", "integer", memory_startup_bytes >> 20)
                line += f" -MemoryStartupBytes {ps_size(memory_startup_bytes)}"
            if snapshot_file_location is not None:
                if doc.snapshot_ids:
                    raise HostError(
                        doc.name,
                        "the checkpoint file location can only be changed while the VM has no "
                        "checkpoints",
                    )
                where = norm(snapshot_file_location)
                (where / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
                doc.set("global_settings/snapshots/data_root", "string", str(where))
                line += f" -SnapshotFileLocation {ps_quote(where)}"
            if checkpoint_type is not None:
                if checkpoint_type not in CHECKPOINT_TYPES:
                    raise HostError(
                        doc.name, f"checkpoint type must be one of {', '.join(CHECKPOINT_TYPES)}"
                    )
                doc.set("global_settings/snapshots/checkpoint_type", "string", checkpoint_type)
                line += f" -CheckpointType {checkpoint_type}"
            if notes is not None:
                doc.set("properties/notes", "string", notes)
                line += f" -Notes {ps_quote(notes)}"
            op.mark(doc)
            op.commit()
            return self._result(op, line)

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
        file = norm(path)
        with self._operation(vm, "Add drive", "Adding drive", progress, cancel) as op:
            doc = op.doc
            if not file.is_file():
                raise HostError(file, "no such file")
            if any(norm(d.path) == file for d in doc.drives() if d.path):
                raise HostError(file, f"already attached to {doc.name}")
            if not pass_through:
                with open_disk(file):
                    pass  # a readable VHDX with a sound chain
            slot = _free_slot(doc, controller_type, controller_number, controller_location)
            kind = DRIVE_PASSTHROUGH if pass_through else DRIVE_VHD
            doc.set_drive(slot[0], slot[1], slot[2], kind, str(file))
            if pass_through:
                op.warnings.append(
                    f"{file.name} is a pass-through disk: checkpoints will not capture its data"
                )
            op.mark(doc)
            op.commit()
            line = f"Add-VMHardDiskDrive -VMName {ps_quote(doc.name)} -ControllerType {slot[0]}"
            line += f" -ControllerNumber {slot[1]} -ControllerLocation {slot[2]}"
            line += (
                f" -DiskNumber <disk of {file.name}>"
                if pass_through
                else f" -Path {ps_quote(file)}"
            )
            return self._result(op, line)

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
        with self._operation(vm, "Remove drive", "Removing drive", progress, cancel) as op:
            doc = op.doc
            slot = (controller_type.upper(), controller_number, controller_location)
            drive = next(
                (
                    d
                    for d in doc.drives()
                    if (d.controller_type, d.controller_number, d.controller_location) == slot
                ),
                None,
            )
            if drive is None or drive.kind not in (DRIVE_VHD, DRIVE_PASSTHROUGH):
                raise HostError(doc.name, f"no hard drive at {slot[0]} {slot[1]}:{slot[2]}")
            if slot[0] == "IDE" and doc.state != states.OFF:
                raise InvalidStateError(
                    doc.name, "IDE drives can only be removed while the VM is off"
                )
            doc.remove_drive(*slot)
            op.mark(doc)
            op.commit()
            line = (
                f"Remove-VMHardDiskDrive -VMName {ps_quote(doc.name)} -ControllerType {slot[0]}"
                f" -ControllerNumber {slot[1]} -ControllerLocation {slot[2]}"
            )
            return self._result(op, line)

    def add_fibre_channel(
        self,
        vm: str,
        *,
        san_name: str,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Add-VMFibreChannelHba (VM must be off)."""
        validate_name(san_name, san_name, "virtual SAN")
        with self._operation(vm, "Add Fibre Channel", "Adding adapter", progress, cancel) as op:
            _require_off(op.doc, "add a Fibre Channel adapter")
            op.doc.add_fibre_channel(san_name)
            op.warnings.append("virtual Fibre Channel: checkpoints will not capture the SAN's data")
            op.mark(op.doc)
            op.commit()
            return self._result(
                op,
                f"Add-VMFibreChannelHba -VMName {ps_quote(op.doc.name)}"
                f" -SanName {ps_quote(san_name)}",
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
        with self._operation(
            vm, "Remove Fibre Channel", "Removing adapter", progress, cancel
        ) as op:
            _require_off(op.doc, "remove a Fibre Channel adapter")
            ports = [
                p
                for p in op.doc.fibre_channel()
                if p.instance_id == adapter.upper() or p.san_name == adapter
            ]
            if not ports:
                raise HostError(adapter, f"no Fibre Channel adapter like this on {op.doc.name}")
            op.doc.remove_fibre_channel(ports[0].instance_id)
            op.mark(op.doc)
            op.commit()
            return self._result(
                op,
                f"Remove-VMFibreChannelHba -VMName {ps_quote(op.doc.name)}"
                f" -SanName {ps_quote(ports[0].san_name)}",
            )

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
        with self._operation(vm, "Checkpoint", PHASE_CREATE, progress, cancel) as op:
            snap_id, name = self._checkpoint(op, snapshot_name, op.progress)
            op.commit()
            snap = self._new_snapshot(op, snap_id)
            line = f"Checkpoint-VM -Name {ps_quote(op.doc.name)} -SnapshotName {ps_quote(name)}"
            return self._result(op, line, snap)

    def _new_snapshot(self, op: _Op, snap_id: str) -> Snapshot:
        """The checkpoint just taken, without reading every other checkpoint."""
        sdoc = ConfigDoc.load(snapshot_config_path(op.doc.snapshot_data_root, snap_id))
        names: dict[str, str] = {}
        parent = sdoc.snapshot_parent_id
        if parent:
            path = snapshot_config_path(op.doc.snapshot_data_root, parent)
            names[parent] = ConfigDoc.load(path).name
        return self._snapshot_from_doc(sdoc, op.doc, names)

    def _checkpoint(
        self, op: _Op, snapshot_name: str | None, progress: Progress | None
    ) -> tuple[str, str]:
        doc = op.doc
        ctype = doc.checkpoint_type
        if ctype == "Disabled":
            raise HostError(
                doc.name, "checkpoints are disabled for this VM (CheckpointType Disabled)"
            )
        if len(doc.snapshot_ids) >= MAX_CHECKPOINTS:
            raise HostError(doc.name, f"a VM can have at most {MAX_CHECKPOINTS} checkpoints")
        state = doc.state
        now = datetime.now(UTC)
        name = validate_name(doc.name, snapshot_name or default_checkpoint_name(doc.name, now))
        production = ctype in ("Production", "ProductionOnly")
        snap_id = new_guid()
        snap_root = doc.snapshot_data_root
        sdoc = doc.copy(snapshot_config_path(snap_root, snap_id))
        sdoc.set("properties/global_id", "string", snap_id)
        sdoc.set("properties/name", "string", name)
        sdoc.remove("global_settings/snapshots/list")
        sdoc.remove("global_settings/snapshots/pending_merge")
        sdoc.set("snapshot/parent_id", "string", doc.parent_snapshot_id or "")
        sdoc.set("snapshot/type", "string", "Production" if production else "Standard")
        sdoc.set("snapshot/creation_time", "integer", to_filetime(now))
        sdoc.set("snapshot/vm_id", "string", doc.id)
        sdoc.set("snapshot/vm_name", "string", doc.name)
        sdoc.set("snapshot/vm_state", "string", state)
        report(progress, 0.0, PHASE_CREATE)
        freeze: list[journal.Action] = []
        children = {
            (d.controller_type, d.controller_number, d.controller_location): avhdx_name(
                norm(d.path), new_guid()
            )
            for d in doc.drives()
            if d.kind == DRIVE_VHD and d.path
        }
        memory = not production and state in (*states.LIVE_STATES, states.SAVED)
        state_dir = snapshot_state_dir(snap_root, snap_id)
        staged = doc.path.with_name(doc.path.name + ".hvnew")
        remove_path(staged)  # only ever a leftover here: this VM's operations hold the lock
        op.tx.created(*children.values(), sdoc.path, *([state_dir] if memory else []), staged)
        for drive in doc.drives():
            check(op.cancel)
            if drive.kind == DRIVE_PASSTHROUGH:
                op.warnings.append(
                    f"pass-through disk {Path(drive.path).name} is not captured: only its "
                    "attachment is part of the checkpoint, not its data"
                )
            if drive.kind != DRIVE_VHD or not drive.path:
                continue
            parent = norm(drive.path)
            child = children[(drive.controller_type, drive.controller_number, drive.controller_location)]
            create_differencing(child, parent)
            doc.set_drive(
                drive.controller_type,
                drive.controller_number,
                drive.controller_location,
                DRIVE_VHD,
                str(child),
            )
            op.event("created", child, file_size(child), f"differencing disk of {parent.name}")
            op.event("read-only", parent, file_size(parent), "frozen: the checkpoint's disk")
            freeze.append(journal.read_only(parent, True))
        if doc.fibre_channel():
            op.warnings.append("virtual Fibre Channel storage is not captured by checkpoints")
        if memory:
            state_dir.mkdir(parents=True)
            sbin, svsv = state_dir / f"{snap_id}.bin", state_dir / f"{snap_id}.vsv"
            copied = copy_bin(
                _runtime_bin(doc),
                sbin,
                progress=scaled(progress, 0.1, 0.95),
                phase=PHASE_CREATE,
                cancel=op.cancel,
            )
            if state == states.SAVED:
                shutil.copyfile(_runtime_vsv(doc), svsv)
            else:
                write_vsv(svsv, _device_state(doc, state))
            op.event("created", sbin, copied, "memory at checkpoint time (touched chunks only)")
            op.event("created", svsv, file_size(svsv), "device state at checkpoint time")
            sdoc.set_saved_state(sbin, svsv)
        else:
            sdoc.set_saved_state(None, None)
        check(op.cancel)
        sdoc.path.parent.mkdir(parents=True, exist_ok=True)
        op.tx.write_new(sdoc.path, sdoc.to_bytes())
        op.event("created", sdoc.path, file_size(sdoc.path), f"checkpoint configuration '{name}'")
        doc.snapshot_ids = [*doc.snapshot_ids, snap_id]
        doc.set("global_settings/snapshots/parent", "string", snap_id)
        op.mark(doc)
        if op._snaps is not None:
            op._snaps[snap_id] = sdoc
        op.after.extend(freeze)  # parents become read-only once the VM runs on the children
        return snap_id, name

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
        target = self.get_snapshot(vm, snapshot)
        with self._operation(vm, "Apply", PHASE_APPLY, progress, cancel) as op:
            lines = []
            if take_checkpoint_first:
                _, name = self._checkpoint(op, None, scaled(op.progress, 0.0, 0.3))
                lines.append(
                    f"Checkpoint-VM -Name {ps_quote(op.doc.name)} -SnapshotName {ps_quote(name)}"
                )
            self._apply(
                op, target.id, scaled(op.progress, 0.3 if take_checkpoint_first else 0.0, 1.0)
            )
            lines.append(
                f"Restore-VMSnapshot -VMName {ps_quote(op.doc.name)} "
                f"-Name {ps_quote(target.name)} -Confirm:$false"
            )
            return self._result(op, "; ".join(lines), self.get_snapshot(op.vm_id, target.id))

    def revert_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Revert: apply the VM's current parent checkpoint."""
        current = self.get_vm(vm)
        if not current.parent_snapshot_id:
            raise HostError(current.name, "the VM has no checkpoint to revert to")
        result = self.restore_snapshot(
            current.id, current.parent_snapshot_id, progress=progress, cancel=cancel
        )
        result.operation = "Revert"
        return result

    def _apply(self, op: _Op, snap_id: str, progress: Progress | None) -> None:
        report(progress, 0.0, PHASE_APPLY)
        doc = op.doc
        if snap_id not in op.snaps:
            raise HostError(snap_id, "the checkpoint's configuration file is missing")
        sdoc = op.snaps[snap_id]
        snaps = list(op.snaps.values())
        leaves = [
            *vhd_paths(doc),
            *(p for s in snaps for p in vhd_paths(s)),
            *(norm(p) for p in doc.pending_merges),
        ]
        parents = chain_parents(leaves)
        tree = {p for s in snaps for p in vhd_paths(s)} | {norm(p) for p in doc.pending_merges}
        before: list[journal.Action] = []
        after: list[journal.Action] = []
        for now_disk in vhd_paths(doc):  # Now's own AVHDX: discarded
            if now_disk not in tree and parents.get(now_disk) in tree:
                before.append(journal.delete(now_disk))
                op.event("deleted", now_disk, file_size(now_disk), "the discarded current state")
                parents.pop(now_disk, None)
        for drive in [*doc.drives(), *sdoc.drives()]:
            if drive.kind == DRIVE_PASSTHROUGH:
                op.warnings.append(
                    f"pass-through disk {Path(drive.path).name}: its attachment was restored, "
                    "not its data (pass-through disks are not captured by checkpoints)"
                )
        if doc.fibre_channel() or sdoc.fibre_channel():
            op.warnings.append(
                "virtual Fibre Channel: the adapter was restored, not the data on the SAN"
            )
        new = sdoc.copy(doc.path)
        new.remove("snapshot")
        for part in ("global_settings", "hvgui"):
            new.remove(part)
            node = doc.root.find(part)
            if node is not None:
                new.root.append(etree.fromstring(etree.tostring(node)))
        new.set("properties/global_id", "string", doc.id)
        new.set("properties/name", "string", doc.name)
        new.set("global_settings/snapshots/parent", "string", snap_id)
        for drive in new.drives():
            check(op.cancel)
            if drive.kind != DRIVE_VHD or not drive.path:
                continue
            frozen = norm(drive.path)
            child = avhdx_name(frozen, new_guid())
            op.tx.created(child)
            create_differencing(child, frozen)
            parents[child] = frozen
            new.set_drive(
                drive.controller_type,
                drive.controller_number,
                drive.controller_location,
                DRIVE_VHD,
                str(child),
            )
            op.event("created", child, file_size(child), f"differencing disk of {frozen.name}")
        report(progress, 0.3, PHASE_APPLY)
        # The VM's state: the checkpoint's, with its memory when it has some.
        rbin, rvsv = _runtime_bin(doc), _runtime_vsv(doc)
        sbin = sdoc.get_str("global_settings/savedstate/memlocation", "")
        svsv = sdoc.get_str("global_settings/savedstate/vsvlocation", "")
        taken = sdoc.snapshot_vm_state
        restored = states.OFF
        if sdoc.snapshot_type == "Standard" and sbin and Path(sbin).exists():
            restored = taken if taken in (*states.LIVE_STATES, states.SAVED) else states.OFF
        now = datetime.now(UTC)
        if restored == states.OFF:
            for f in (rbin, rvsv):
                if f.exists():
                    op.event("deleted", f, file_size(f), "memory discarded")
            after += [journal.delete(rbin), journal.delete(rvsv)]
            new.set_saved_state(None, None)
        else:
            rbin.parent.mkdir(parents=True, exist_ok=True)
            tmp = rbin.with_name(rbin.name + ".hvnew")
            remove_path(tmp)
            op.tx.created(tmp)
            copied = copy_bin(
                Path(sbin),
                tmp,
                progress=scaled(progress, 0.3, 0.9),
                phase=PHASE_APPLY,
                cancel=op.cancel,
            )
            before.append(journal.replace(tmp, rbin))
            op.event("created", rbin, copied, "memory restored from the checkpoint")
            uptime = _saved_uptime(Path(svsv)) if svsv else 0
            if restored == states.SAVED:
                vtmp = rvsv.with_name(rvsv.name + ".hvnew")
                remove_path(vtmp)
                op.tx.created(vtmp)
                shutil.copyfile(svsv, vtmp)
                before.append(journal.replace(vtmp, rvsv))
                new.set_saved_state(rbin, rvsv)
            else:
                after.append(journal.delete(rvsv))
                new.set_saved_state(rbin, None)
                new.set(
                    "properties/last_powered_on_time",
                    "integer",
                    to_filetime(now - timedelta(seconds=uptime)),
                )
        new.set("hvgui/state", "string", restored)
        new.set("properties/last_state_change_time", "integer", to_filetime(now))
        op.doc = new
        pending = [norm(p) for p in doc.pending_merges]
        plan = resolve_pending(new, snaps, parents, pending)
        new.pending_merges = [str(p) for p in pending]
        self._record_resolution(op, plan)
        for changed in plan.changed_docs:
            op.mark(changed)
        op.mark(new)
        check(op.cancel)
        op.commit(
            before=[*before, *plan.merges],
            after=[*after, *plan.deletes, *plan.read_only],
            progress=scaled(progress, 0.9, 1.0),
        )

    def _record_resolution(self, op: _Op, plan: Any) -> None:
        for disk, size in plan.deleted:
            op.event("deleted", disk, size, "no disk depends on it any more")
        for child, dest in plan.merged:
            op.event("read-only", dest, file_size(dest), f"made writable to merge {child.name}")

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
        target = self.get_snapshot(vm, snapshot)
        with self._operation(vm, "Delete", PHASE_DELETE, progress, cancel) as op:
            doc = op.doc
            docs = op.snaps
            doomed = [target.id]
            if include_children:
                frontier = [target.id]
                while frontier:
                    parent = frontier.pop()
                    kids = [i for i, d in docs.items() if d.snapshot_parent_id == parent]
                    doomed += kids
                    frontier += kids
            gone = set(doomed)
            leaves = [
                *vhd_paths(doc),
                *(p for s in docs.values() for p in vhd_paths(s)),
                *(norm(p) for p in doc.pending_merges),
            ]
            parents = chain_parents(leaves)
            report(op.progress, 0.05, PHASE_DELETE)

            def surviving(snap: str | None) -> str | None:
                while snap is not None and snap in gone:
                    snap = docs[snap].snapshot_parent_id if snap in docs else None
                return snap

            for snap_id, sdoc in docs.items():
                if snap_id not in gone and sdoc.snapshot_parent_id in gone:
                    sdoc.set(
                        "snapshot/parent_id", "string", surviving(sdoc.snapshot_parent_id) or ""
                    )
                    op.mark(sdoc)
            if doc.parent_snapshot_id in gone:
                doc.set(
                    "global_settings/snapshots/parent",
                    "string",
                    surviving(doc.parent_snapshot_id) or "",
                )
            doc.snapshot_ids = [i for i in doc.snapshot_ids if i not in gone]
            pending = [norm(p) for p in doc.pending_merges]
            after: list[journal.Action] = []
            for snap_id in doomed:
                sdoc = docs.pop(snap_id)
                for disk in vhd_paths(sdoc):
                    if disk not in pending:
                        pending.append(disk)
                after.append(journal.delete(sdoc.path))
                op.event(
                    "deleted",
                    sdoc.path,
                    file_size(sdoc.path),
                    f"checkpoint configuration '{sdoc.name}'",
                )
                state_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
                for f in _files_in(state_dir):
                    op.event("deleted", f, file_size(f), "checkpoint saved state")
                after.append(journal.delete(state_dir))
            plan = resolve_pending(doc, list(docs.values()), parents, pending)
            doc.pending_merges = [str(p) for p in pending]
            self._record_resolution(op, plan)
            for changed in plan.changed_docs:
                op.mark(changed)
            op.mark(doc)
            check(op.cancel)
            if pending:
                op.warnings.append(
                    f"{len(pending)} disk(s) kept until they can be merged: several checkpoints "
                    "or the running VM depend on them"
                )
            merge_progress = scaled(op.progress, 0.1, 1.0)

            def merging(fraction: float, _phase: str) -> None:
                report(merge_progress, fraction, PHASE_MERGE)

            op.commit(
                before=plan.merges,
                after=[*after, *plan.deletes, *plan.read_only],
                progress=merging if plan.merges else None,
            )
            line = f"Remove-VMSnapshot -VMName {ps_quote(doc.name)} -Name {ps_quote(target.name)}"
            if include_children:
                line += " -IncludeAllChildSnapshots"
            return self._result(op, line)

    def rename_snapshot(
        self,
        vm: str,
        snapshot: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        target = self.get_snapshot(vm, snapshot)
        validate_name(new_name, new_name)
        with self._operation(vm, "Rename", "Renaming Checkpoint", progress, cancel) as op:
            sdoc = op.snaps.get(target.id)
            if sdoc is None:
                raise HostError(
                    target.config_path, "the checkpoint's configuration file is missing"
                )
            sdoc.set("properties/name", "string", new_name)
            op.mark(sdoc)
            op.commit()
            line = (
                f"Rename-VMSnapshot -VMName {ps_quote(op.doc.name)} -Name {ps_quote(target.name)}"
                f" -NewName {ps_quote(new_name)}"
            )
            return self._result(op, line, self.get_snapshot(op.vm_id, target.id))

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
        target = self.get_snapshot(vm, snapshot)
        with self._operation(vm, "Export", PHASE_EXPORT, progress, cancel) as op:
            sdoc = op.snaps.get(target.id)
            if sdoc is None:
                raise HostError(
                    target.config_path, "the checkpoint's configuration file is missing"
                )
            folder = self._export(op, sdoc, norm(destination))
            line = (
                f"Export-VMSnapshot -VMName {ps_quote(op.doc.name)} -Name {ps_quote(target.name)}"
                f" -Path {ps_quote(norm(destination))}"
            )
            op.warnings.append(f"exported to {folder}")
            return self._result(op, line)

    def export_vm(
        self,
        vm: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Export-VM of the current state (Now), disks flattened (checkpoints not included)."""
        with self._operation(vm, "Export", PHASE_EXPORT, progress, cancel) as op:
            if op.doc.state in states.LIVE_STATES:
                raise InvalidStateError(op.doc.name, "save or turn off the VM before exporting it")
            folder = self._export(op, op.doc, norm(destination))
            op.warnings.append(f"exported to {folder}")
            return self._result(
                op, f"Export-VM -Name {ps_quote(op.doc.name)} -Path {ps_quote(norm(destination))}"
            )

    def _export(self, op: _Op, source: ConfigDoc, destination: Path) -> Path:
        vm_doc = op.doc
        folder = destination / vm_doc.name
        if folder.exists():
            raise HostError(folder, "already exists; choose another destination")
        destination.mkdir(parents=True, exist_ok=True)
        work = destination / f".{vm_doc.name}.export-partial"
        remove_path(work)
        try:
            (work / VIRTUAL_HARD_DISKS).mkdir(parents=True)
            (work / SNAPSHOTS).mkdir()
            config = work / VIRTUAL_MACHINES / f"{vm_doc.id}.xml"
            config.parent.mkdir()
            out = source.copy(config)
            out.remove("snapshot")
            out.set("properties/global_id", "string", vm_doc.id)
            out.set("properties/name", "string", vm_doc.name)
            out.set("global_settings/data_root", "string", str(folder))
            out.set("global_settings/snapshots/data_root", "string", str(folder))
            out.set("global_settings/snapshots/parent", "string", "")
            out.snapshot_ids = []
            out.pending_merges = []
            vhds = [d for d in out.drives() if d.kind == DRIVE_VHD and d.path]
            used: set[str] = set()
            for i, drive in enumerate(vhds):
                check(op.cancel)
                name = f"{base_stem(Path(drive.path))}.vhdx"
                while name in used:
                    name = f"{base_stem(Path(drive.path))}-{len(used)}.vhdx"
                used.add(name)
                flat = work / VIRTUAL_HARD_DISKS / name
                convert_vhd(
                    Path(drive.path),
                    flat,
                    cancel=op.cancel,
                    progress=_phase(
                        scaled(op.progress, i / len(vhds), (i + 1) / len(vhds)), PHASE_EXPORT
                    ),
                )
                out.set_drive(
                    drive.controller_type,
                    drive.controller_number,
                    drive.controller_location,
                    DRIVE_VHD,
                    str(folder / VIRTUAL_HARD_DISKS / name),
                )
                op.event(
                    "created",
                    folder / VIRTUAL_HARD_DISKS / name,
                    file_size(flat),
                    f"flattened copy of {Path(drive.path).name}",
                )
            for drive in out.drives():
                if drive.kind == DRIVE_PASSTHROUGH:
                    op.warnings.append(
                        f"pass-through disk {Path(drive.path).name} is not exported "
                        "(only its attachment is in the configuration)"
                    )
            memloc = source.get_str("global_settings/savedstate/memlocation", "")
            vsvloc = source.get_str("global_settings/savedstate/vsvlocation", "")
            state = states.OFF
            if memloc and vsvloc and Path(memloc).exists() and Path(vsvloc).exists():
                runtime = config.parent / vm_doc.id
                runtime.mkdir()
                copy_bin(Path(memloc), runtime / f"{vm_doc.id}.bin", cancel=op.cancel)
                shutil.copyfile(vsvloc, runtime / f"{vm_doc.id}.vsv")
                final = folder / VIRTUAL_MACHINES / vm_doc.id
                out.set_saved_state(final / f"{vm_doc.id}.bin", final / f"{vm_doc.id}.vsv")
                state = states.SAVED
            elif memloc and Path(memloc).exists() and source.is_snapshot:
                # a checkpoint of a running VM: export its memory as a saved state
                runtime = config.parent / vm_doc.id
                runtime.mkdir()
                copy_bin(Path(memloc), runtime / f"{vm_doc.id}.bin", cancel=op.cancel)
                write_vsv(runtime / f"{vm_doc.id}.vsv", _device_state(source, states.RUNNING))
                final = folder / VIRTUAL_MACHINES / vm_doc.id
                out.set_saved_state(final / f"{vm_doc.id}.bin", final / f"{vm_doc.id}.vsv")
                state = states.SAVED
            else:
                out.set_saved_state(None, None)
            out.set("hvgui/state", "string", state)
            config.write_bytes(out.to_bytes())
            os.replace(work, folder)
        except BaseException:
            remove_path(work)
            raise
        return folder

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
        dest = norm(destination)
        with self._operation(vm, "Move", PHASE_MOVE, progress, cancel) as op:
            doc = op.doc
            if dest == doc.data_root and dest == doc.snapshot_data_root:
                raise HostError(dest, "the VM's storage is already here")
            snaps = list(op.snaps.values())
            leaves = [
                *vhd_paths(doc),
                *(p for s in snaps for p in vhd_paths(s)),
                *(norm(p) for p in doc.pending_merges),
            ]
            parents = chain_parents(leaves)
            disks = list(dict.fromkeys([*parents, *(p for p in parents.values() if p)]))
            vhd_dir = dest / VIRTUAL_HARD_DISKS
            mapping: dict[Path, Path] = {}
            for disk in disks:
                target = vhd_dir / disk.name
                if target in mapping.values() or (target.exists() and target != disk):
                    raise HostError(target, "a disk with this name is already at the destination")
                mapping[disk] = target
            files: list[tuple[Path, Path]] = [(d, t) for d, t in mapping.items() if d != t]
            new_config = dest / VIRTUAL_MACHINES / f"{doc.id}.xml"
            old_runtime = vm_runtime_dir(doc.path, doc.id)
            new_runtime = vm_runtime_dir(new_config, doc.id)
            files += [(f, new_runtime / f.name) for f in _files_in(old_runtime)]
            snap_moves: list[tuple[ConfigDoc, Path]] = []
            for sdoc in snaps:
                snap_id = sdoc.id
                old_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
                new_dir = snapshot_state_dir(dest, snap_id)
                files += [(f, new_dir / f.name) for f in _files_in(old_dir)]
                snap_moves.append((sdoc, snapshot_config_path(dest, snap_id)))
            total = sum(file_size(src) or 0 for src, _ in files) or 1
            moved = 0
            after: list[journal.Action] = []
            for src, dst in files:
                check(op.cancel)
                if dst.exists():
                    raise HostError(dst, "already exists at the destination")
                dst.parent.mkdir(parents=True, exist_ok=True)
                op.tx.created(dst)
                link_or_copy(src, dst)
                moved += file_size(src) or 0
                report(op.progress, 0.9 * moved / total, PHASE_MOVE)
                after.append(journal.delete(src))
                op.event("moved", dst, file_size(dst), f"from {src.parent}")

            def relocate(d: ConfigDoc) -> None:
                for drive in d.drives():
                    if drive.kind == DRIVE_VHD and drive.path and norm(drive.path) in mapping:
                        d.set_drive(
                            drive.controller_type,
                            drive.controller_number,
                            drive.controller_location,
                            DRIVE_VHD,
                            str(mapping[norm(drive.path)]),
                        )
                d.set("global_settings/data_root", "string", str(dest))
                d.set("global_settings/snapshots/data_root", "string", str(dest))
                for key in ("memlocation", "vsvlocation"):
                    value = d.get_str(f"global_settings/savedstate/{key}", "")
                    if value:
                        old = Path(value)
                        base = new_runtime if not d.is_snapshot else snapshot_state_dir(dest, d.id)
                        d.set(f"global_settings/savedstate/{key}", "string", str(base / old.name))

            for sdoc, new_path in snap_moves:
                relocate(sdoc)
                new_path.parent.mkdir(parents=True, exist_ok=True)
                op.tx.write_new(new_path, sdoc.to_bytes())
                after.append(journal.delete(sdoc.path))
                after.append(journal.delete(snapshot_state_dir(doc.snapshot_data_root, sdoc.id)))
                op.event("moved", new_path, file_size(new_path), f"from {sdoc.path.parent}")
            relocate(doc)
            doc.pending_merges = [str(mapping.get(norm(p), norm(p))) for p in doc.pending_merges]
            new_config.parent.mkdir(parents=True, exist_ok=True)
            op.tx.write_new(new_config, doc.to_bytes())
            op.event("moved", new_config, file_size(new_config), f"from {doc.path.parent}")
            before: list[journal.Action] = []
            local = self.layout.local_config(doc.id)
            pointer = self.layout.pointer_file(doc.id)
            if new_config == local:
                before.append(journal.delete(pointer))
            else:
                before.append(op.tx.stage(pointer, str(new_config).encode()))
            if doc.path != new_config:
                before.append(journal.delete(doc.path))
                after.append(journal.delete(old_runtime))
            check(op.cancel)
            op.commit(before=before, after=after)
            line = f"Move-VMStorage -VMName {ps_quote(doc.name)}"
            line += f" -DestinationStoragePath {ps_quote(dest)}"
            return self._result(op, line)


# ====================================================================== helpers
def _phase(progress: Progress | None, phase: str) -> Progress | None:
    if progress is None:
        return None
    outer = progress

    def inner(fraction: float, _text: str) -> None:
        outer(fraction, phase)

    return inner


def _hard_drives(doc: ConfigDoc) -> list[HardDrive]:
    return [
        HardDrive(
            d.controller_type,
            d.controller_number,
            d.controller_location,
            Path(d.path),
            d.kind == DRIVE_PASSTHROUGH,
        )
        for d in doc.drives()
        if d.kind in (DRIVE_VHD, DRIVE_PASSTHROUGH) and d.path
    ]


def _fibre_channel(doc: ConfigDoc) -> list[FibreChannelAdapter]:
    return [
        FibreChannelAdapter(p.instance_id, p.san_name, p.wwnn, p.wwpn) for p in doc.fibre_channel()
    ]


def _runtime_bin(doc: ConfigDoc) -> Path:
    return vm_runtime_dir(doc.path, doc.id) / f"{doc.id}.bin"


def _runtime_vsv(doc: ConfigDoc) -> Path:
    return vm_runtime_dir(doc.path, doc.id) / f"{doc.id}.vsv"


def _files_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _saved_uptime(vsv: Path) -> int:
    try:
        value = read_vsv(vsv).devices.get("uptime_seconds", 0)
    except HostError:
        return 0
    return int(value) if isinstance(value, int) and value >= 0 else 0


def _device_state(doc: ConfigDoc, state: str) -> DeviceState:
    """A believable processor and device state for the VSV file of `doc` in `state`."""
    now = datetime.now(UTC)
    uptime = 0
    if doc.last_powered_on:
        uptime = max(0, int((now - from_filetime(doc.last_powered_on)).total_seconds()))
    seed = hashlib.sha256(f"{doc.id}:{uptime}".encode()).digest()
    processors = []
    for cpu in range(doc.processor_count):
        word = int.from_bytes(seed[cpu % 4 * 8 : cpu % 4 * 8 + 8], "little")
        processors.append(
            {
                "rip": 0xFFFFF80000000000 | (word & 0xFFFFFFF0),
                "rsp": 0xFFFFD00000000000 | ((word >> 16) & 0xFFFFFF00),
                "rflags": 0x246,
                "cr0": 0x80050033,
                "cr3": (word >> 8) & 0xFFFFF000,
                "cr4": 0x001506F8,
                "efer": 0xD01,
                "tsc": uptime * 2_600_000_000 + cpu,
            }
        )
    devices = {
        "state": state,
        "uptime_seconds": uptime,
        "memory_bytes": doc.memory_mb << 20,
        "drives": [
            {
                "controller": f"{d.controller_type} {d.controller_number}:{d.controller_location}",
                "type": d.kind,
                "path": d.path,
            }
            for d in doc.drives()
            if d.kind != DRIVE_NONE
        ],
        "fibre_channel": [p.san_name for p in doc.fibre_channel()],
        "integration_services": {
            "heartbeat": "OK",
            "shutdown": "OK",
            "time_sync": "OK",
            "kvp_exchange": "OK",
            "vss": "OK",
        },
    }
    return DeviceState(processors, devices)


def _check_memory(subject: str, value: int) -> None:
    if not MIN_MEMORY <= value <= MAX_MEMORY or value % (1 << 20):
        raise HostError(
            subject, "startup memory must be a whole number of MB between 32 MB and 1 TB"
        )


def _require_off(doc: ConfigDoc, what: str) -> None:
    if doc.state != states.OFF:
        raise InvalidStateError(
            doc.name, f"cannot {what} while the VM is {doc.state}: turn it off first"
        )


def _free_slot(
    doc: ConfigDoc, ctype: str | None, number: int | None, location: int | None
) -> tuple[str, int, int]:
    used = {
        (d.controller_type, d.controller_number, d.controller_location)
        for d in doc.drives()
        if d.kind != DRIVE_NONE
    }
    if ctype is None:
        ctype = "IDE" if doc.generation == 1 and doc.state == states.OFF else "SCSI"
    ctype = ctype.upper()
    if ctype not in ("IDE", "SCSI"):
        raise HostError(doc.name, f"controller type must be IDE or SCSI, not {ctype}")
    if ctype == "IDE":
        if doc.generation == 2:
            raise HostError(doc.name, "generation 2 VMs have no IDE controller")
        if doc.state != states.OFF:
            raise InvalidStateError(doc.name, "IDE drives can only be added while the VM is off")
        slots = [(n, loc) for n in (0, 1) for loc in (0, 1)]
    else:
        if doc.scsi_controller_count() == 0:
            doc.add_scsi_controller()
        slots = [(n, loc) for n in range(doc.scsi_controller_count()) for loc in range(64)]
    if number is not None:
        slots = [s for s in slots if s[0] == number]
    if location is not None:
        slots = [s for s in slots if s[1] == location]
    for n, loc in slots:
        if (ctype, n, loc) not in used:
            return ctype, n, loc
    raise HostError(doc.name, f"no free {ctype} slot for another drive")
