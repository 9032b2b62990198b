"""The lab host's core: the public context its operations run in.

`HostCore` holds what every operation works with (the host's folder, lock, status board,
event log and loaded configurations) and `operation()`, the locked and journalled context
that yields an `Operation` (operation.py); `result()` builds what the caller gets back.
The operation modules (vm_ops, checkpoint_ops, storage_ops, check) take a HostCore as their
first parameter and never import host.py; `Host` (host.py) binds them as its methods.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from hvgui.backend.model import VM, DiskEvent, OperationResult, Snapshot
from hvgui.backend.names import find_snapshot
from hvgui.backend.phases import status_text
from hvgui.errors import HvError
from hvgui.host import freespace, journal, runtime, states
from hvgui.host.boundary import Boundary, allowed_outside
from hvgui.host.chain_health import ChainHealth
from hvgui.host.checkpoints import derive_now, needs_tree, snapshot_docs
from hvgui.host.errors import HostError, NotFoundError, ReadOnlyHostError
from hvgui.host.events import EventLog
from hvgui.host.fileio import atomic_write, norm
from hvgui.host.layout import Layout, read_pointer, snapshot_config_path, vm_runtime_dir
from hvgui.host.lock import HostLock, StatusBoard
from hvgui.host.operation import STATUS_INTERVAL, Operation
from hvgui.host.winpaths import lab_root_of, read_names, vhdx_names
from hvgui.host.xmlconfig import (
    ConfigDoc,
    config_bytes,
    config_digest,
    config_name,
    from_filetime,
    is_vmcx,
)
from hvgui.progress import CancelToken, Progress, report
from hvgui.vhdx.locator import windows_names


def _is_guid(text: str) -> bool:
    stripped = text.strip("{}")
    return len(stripped) == 36 and all(c in "0123456789abcdefABCDEF-" for c in stripped)


@dataclass(frozen=True)
class _ListedVM:
    """What a VM's configuration alone says, kept between reads of the VM list."""

    vm: VM  # without its Status, uptime, CPU and parent checkpoint's name
    powered_on: int  # FILETIME of its last start while it runs, else 0
    snapshot_root: Path  # where its checkpoints' configurations are


_LISTED_KEPT = 10_000  # VMs (or checkpoints) remembered by one host
_T = TypeVar("_T")


class _Remembered(Generic[_T]):
    """What was made of configuration files, kept while a file holds the same bytes and its
    lab's Windows names are the same (config_digest: known by content, or by stat once
    settled), so that the window's re-reads parse only what changed (~1.5 ms a file)."""

    def __init__(self) -> None:
        self._kept: dict[Path, tuple[tuple[Any, ...], _T]] = {}

    def made_from(self, path: Path, make: Callable[[ConfigDoc], tuple[_T, bool]]) -> _T:
        """`make(doc)`'s value for the configuration at `path` (its bool: whether the value
        depends on the file alone, and may be kept), made again only when the file changed."""
        digest, data = config_digest(path)
        lab = lab_root_of(path.parent)
        names = read_names(lab) if lab is not None else None
        known = self._kept.get(path)
        if known is not None and known[0] == (digest, lab, names):
            return known[1]
        self._kept.pop(path, None)
        data, digest = config_bytes(path, digest, data)  # known by its stat only: read
        doc = ConfigDoc.from_bytes(data, path)
        value, keep = make(doc)
        if keep and not doc.searched:  # else it depends on other files too
            if len(self._kept) >= _LISTED_KEPT:
                self._kept.clear()
            self._kept[path] = ((digest, lab, names), value)
        return value


class HostCore:
    """What every operation of the lab host works with: the host's folder and layout, its
    lock and status board, the event log, reading VMs and checkpoints, and `operation()`, the
    locked, journalled context an operation runs in. The operation modules (vm_ops,
    checkpoint_ops, storage_ops, check) take it as their first parameter; `Host` binds them
    as its methods."""

    def __init__(self, root: Path) -> None:
        self.root = norm(root)
        self.layout = Layout(self.root)
        self.status_board = StatusBoard(self.layout)
        self.lock = HostLock(self.layout, self.status_board)
        self.log = EventLog(self.layout.events_file)
        self.recovered: list[str] = []
        # What each VM's configuration said (_listed_vm), and each checkpoint's less its VM's
        # part (_listed_snapshots).
        self._listed: _Remembered[_ListedVM] = _Remembered()
        self._listed_snaps: _Remembered[Snapshot | None] = _Remembered()
        # VMs' and checkpoints' chains, walked per change; a disk outside is a warning
        self.chain_health = ChainHealth(lambda path: self.boundary.problem(path))

    @property
    def read_only(self) -> str:
        """Why nothing on this host can be changed (read-only folder or mount), or ""."""
        return self.lock.read_only


    @property
    def boundary(self) -> Boundary:
        """What this host may change: its folder and the outside folders the user allowed
        (read afresh, so `hvctl set-host` takes effect in an open window too)."""
        return Boundary(self.root, allowed_outside(self.root))


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

    def bump(self) -> None:
        """Change `revision()`: every window and hvctl sees that the host changed."""
        stamp = f"{datetime.now(UTC).isoformat()} {os.getpid()} {os.urandom(4).hex()}"
        atomic_write(self.layout.revision_file, stamp.encode(), durable=False)
        freespace.keep_reserve(self.layout.reserve_file)  # given up on a full disk: again

    def vm_index(self) -> dict[str, Path]:
        """VM id -> configuration file, from the host's `Virtual Machines` registry: `<id>.xml`,
        a `<id>.location` pointer, or a Windows Server 2016+ host's `<id>.vmcx`."""
        index: dict[str, Path] = {}
        try:
            entries = list(os.scandir(self.layout.vm_registry))
        except FileNotFoundError:
            return index
        vmcx: dict[str, Path] = {}  # Windows Server 2016+ (any case): when there is no XML
        for entry in entries:
            stem, _, ext = entry.name.rpartition(".")
            if not _is_guid(stem):
                continue
            vm_id = stem.upper()
            if ext.lower() == "xml":  # a copy made on Windows may have kept any case
                index[vm_id] = Path(entry.path)
            elif is_vmcx(Path(entry.name)):
                vmcx[vm_id] = Path(entry.path)
            elif ext == "location" and vm_id not in index:
                target = read_pointer(Path(entry.path))
                if target is not None:
                    index[vm_id] = target
        for vm_id, path in vmcx.items():
            index.setdefault(vm_id, path)
        return index

    def load_vm(self, vm: str) -> ConfigDoc:
        """The configuration of the VM with this Id or (unique) name."""
        index = self.vm_index()
        key = vm.strip("{}").upper()
        if key in index:
            return ConfigDoc.load(index[key])
        unreadable: list[HostError] = []
        matches = [
            path for path, name in self.vm_names(unreadable).items()
            if name.casefold() == vm.casefold()
        ]
        if not matches and unreadable:
            raise unreadable[0]  # perhaps the VM asked for: say what is wrong with its file
        if not matches:
            raise NotFoundError(vm, "no VM with this name or Id on this host")
        if len(matches) > 1:
            raise HostError(vm, "several VMs have this name: use the VM's Id")
        return ConfigDoc.load(matches[0])

    def vm_names(self, errors: list[HostError]) -> dict[Path, str]:
        """Configuration file -> VM name, of every VM that can be read (the HostError of each
        one that cannot is appended to `errors`). Cheap on a host of many VMs: a file read
        before with the same content is not parsed again (config_name)."""
        names: dict[Path, str] = {}
        for path in self.vm_index().values():
            try:
                names[path] = config_name(path)
            except HostError as exc:
                errors.append(exc)
        return names

    def _vm_from_doc(self, doc: ConfigDoc, status: dict[str, Any] | None) -> VM:
        derive_now(doc)  # a real host's: the checkpoint Now descends from, derived
        return self._vm_now(self._vm_of(doc), status)

    def _vm_of(self, doc: ConfigDoc) -> _ListedVM:
        """What the configuration alone says of its VM (`_vm_now` adds the rest)."""
        parent_id = doc.parent_snapshot_id
        live = doc.state in states.LIVE_STATES
        vm = VM(
            id=doc.id,
            name=doc.name,
            state=doc.state,
            cpu_usage=0,
            memory_assigned=(doc.memory_mb << 20) if live else 0,
            uptime=timedelta(0),
            status="",
            path=doc.data_root,
            configuration_location=doc.data_root,
            snapshot_file_location=doc.snapshot_data_root,
            parent_snapshot_id=parent_id,
            parent_snapshot_name=None,
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
        powered_on = doc.last_powered_on if doc.state in states.LIVE_STATES else 0
        return _ListedVM(vm, powered_on, doc.snapshot_data_root)

    def _vm_now(self, listed: _ListedVM, status: dict[str, Any] | None) -> VM:
        """The VM as shown now: its Status (the host's status board), uptime and CPU, and the
        name of the checkpoint it runs from (that checkpoint's file)."""
        vm = listed.vm
        state = vm.state
        uptime = timedelta(0)
        if listed.powered_on:
            uptime = max(timedelta(0), datetime.now(UTC) - from_filetime(listed.powered_on))
        text = ""
        if status is not None and status.get("visible", True):
            text = status_text(str(status.get("operation", "")), int(status.get("percent", 0)))
            state = str(status.get("state") or state)
        parent_name = None
        if vm.parent_snapshot_id:
            path = snapshot_config_path(listed.snapshot_root, vm.parent_snapshot_id)
            try:
                parent_name = config_name(path)
            except HostError:
                parent_name = None
        cpu = 0
        if state == states.RUNNING:
            cpu = 1 + (int(uptime.total_seconds()) // 5 + int(vm.id[:2], 16)) % 4
        return replace(vm, state=state, cpu_usage=cpu, uptime=uptime, status=text,
                       parent_snapshot_name=parent_name, hard_drives=list(vm.hard_drives),
                       fibre_channel=list(vm.fibre_channel))

    def _listed_vm(self, path: Path, status: dict[str, Any] | None) -> VM:
        """The VM of the configuration at `path`, for the VM list: a file read before with
        the same bytes (and its lab's Windows names unchanged) is not parsed again, so the
        window's re-read of a host of hundreds of VMs, once a second while it changes, stats
        (or reads and hashes: config_digest) each file instead of parsing it (~1.5 ms each)."""
        if is_vmcx(path):
            return self._vm_from_doc(ConfigDoc.load(path), status)

        def make(doc: ConfigDoc) -> tuple[_ListedVM, bool]:
            derive_now(doc)
            return self._vm_of(doc), not needs_tree(doc)

        listed = self._listed.made_from(path, make)
        return self._vm_now(listed, status)

    def list_vms(self, *, errors: list[HostError] | None = None) -> list[VM]:
        """Every VM that can be read. A VM whose configuration cannot be read is left out and,
        when `errors` is given, its HostError (naming the file) is appended there; without
        `errors` the first such error is raised."""
        statuses = self.status_board.read_all()
        out = []
        for vm_id, path in self.vm_index().items():
            try:
                out.append(self._listed_vm(path, statuses.get(vm_id)))
            except HostError as exc:
                if errors is None:
                    raise
                errors.append(exc)
        return sorted(out, key=lambda v: (v.name.casefold(), v.id))

    def get_vm(self, name_or_id: str) -> VM:
        doc = self.load_vm(name_or_id)
        return self._vm_from_doc(doc, self.status_board.read(doc.id))

    def snapshot_from_doc(self, doc: ConfigDoc, vm: ConfigDoc, names: dict[str, str]) -> Snapshot:
        """The checkpoint `doc` of `vm` as the model shows it (`names`: id -> checkpoint name)."""
        parent = doc.snapshot_parent_id
        memloc = doc.saved_state("memlocation")
        vsvloc = doc.saved_state("vsvlocation")
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
        doc = self.load_vm(vm)
        snaps = self._listed_snapshots(doc)
        if snaps is None:  # a real host's: the tree is derived from the disks
            docs = snapshot_docs(doc)
            names = {i: d.name for i, d in docs.items()}
            snaps = {i: self.snapshot_from_doc(d, doc, names) for i, d in docs.items()}
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

    def _listed_snapshots(self, doc: ConfigDoc) -> dict[str, Snapshot] | None:
        """The VM's checkpoints by Id as `snapshot_docs` and `snapshot_from_doc` give them, not
        parsing again a file read before with the same bytes (the window reads the selected
        VM's tree at every re-read and every pick of a VM: 20 checkpoints, ~30 ms); None where
        the tree must be derived from the disks (a real host's files name no parents)."""
        if not doc.names_parent or is_vmcx(doc.path):  # else needs_tree: derived
            return None
        def make(sdoc: ConfigDoc) -> tuple[Snapshot | None, bool]:
            if not sdoc.names_parent:  # the tree is derived: not this way
                return None, False
            return self.snapshot_from_doc(sdoc, doc, {}), True  # the VM's part: below

        root = doc.snapshot_data_root
        found: dict[str, Snapshot] = {}
        for snap_id in doc.snapshot_ids:
            path = snapshot_config_path(root, snap_id)
            if is_vmcx(path):
                return None
            try:
                snap = self._listed_snaps.made_from(path, make)
            except HvError:
                if path.exists():
                    raise
                continue  # missing, or deleted since the VM's configuration was read
            if snap is None:
                return None
            found[snap_id] = snap
        titles = {i: snap.name for i, snap in found.items()}
        return {
            i: replace(snap, vm_id=doc.id, vm_name=doc.name, path=doc.snapshot_data_root,
                       parent_snapshot_name=titles.get(snap.parent_snapshot_id)
                       if snap.parent_snapshot_id else None,
                       hard_drives=list(snap.hard_drives), fibre_channel=list(snap.fibre_channel))
            for i, snap in found.items()
        }

    def get_snapshot(self, vm: str, name_or_id: str) -> Snapshot:
        return find_snapshot(self.list_snapshots(vm), name_or_id, vm)

    # ================================================================== operation plumbing
    def _looking(self, doc: ConfigDoc, operation: str, progress: Progress | None,
                 cancel: CancelToken | None) -> Operation:
        """An operation that changes nothing (Export) on a read-only host: it takes no lock
        and writes no status, journal or event log, nothing inside the folder at all."""
        derive_now(doc)  # a real host's: the checkpoint Now descends from, derived

        def no_transaction() -> journal.Transaction:
            raise ReadOnlyHostError(self.root, f"the host is read-only: {self.read_only}")

        return Operation(operation, doc.id, doc.name, doc, progress, cancel, self.root,
                         no_transaction)

    @contextmanager
    def operation(
        self,
        vm: str | ConfigDoc,
        operation: str,
        phase: str,
        progress: Progress | None,
        cancel: CancelToken | None,
        transient: str | None = None,
        *,
        changes_vm: bool = True,
        looks_only: bool = False,
    ) -> Iterator[Operation]:
        """Run one operation on `vm` under the host lock: interrupted ones are finished
        first, the VM's configuration is re-read, the Status column follows `op.progress`;
        afterwards an uncommitted transaction is rolled back and the events are logged.
        `looks_only`: it changes nothing on the host (`backend.actions.changes_host`), so a
        read-only host allows it, writing nothing inside (see _looking)."""
        doc = vm if isinstance(vm, ConfigDoc) else self.load_vm(vm)
        vm_id, vm_name = doc.id, doc.name
        if self.read_only and looks_only:
            yield self._looking(doc, operation, progress, cancel)
            return
        self.lock.refuse_if_read_only()  # the host's own reason first (a 2016+ folder's)
        if is_vmcx(doc.path):  # before the lock or any file: hvgui never writes a VMCX
            raise ReadOnlyHostError(doc.path, "a Windows Server 2016+ configuration (VMCX): "
                                    "hvgui reads it, never changes it; nothing was changed")
        if changes_vm:  # the configuration and the VM's folder beside it: never outside
            boundary = self.boundary
            boundary.require(doc.path, "change this VM's configuration")
            boundary.require(vm_runtime_dir(doc.path, doc.id), "change this VM's saved state")
        # Parent locators written meanwhile name files as the lab's Windows host does.
        with self.lock.operation(vm_id, vm_name, phase), windows_names(vhdx_names(self.root)):
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
            finished = self.finish_interrupted(vm_id)
            if finished:
                doc = self.load_vm(vm_id)  # the finished operation changed it (or moved it)
            elif doc.path.exists():
                doc = ConfigDoc.load(doc.path)  # re-read under the lock
            derive_now(doc)  # a real host's: the checkpoint Now descends from, derived
            op = Operation(
                operation, vm_id, vm_name, doc, tell, cancel, self.root,
                lambda: journal.Transaction(
                    self.layout.journal_dir, operation, vm_id, self.boundary
                ),
            )
            op.warnings.extend(finished)
            op.resumed = f"{operation}: {journal.COMPLETED}" in finished
            try:
                yield op
                op.rollback_unfinished()  # prepared but nothing to commit
            except BaseException:
                op.rollback_unfinished()
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
                    self.bump,
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

    def finish_interrupted(self, vm_id: str) -> list[str]:
        """Finish the VM's operations an error stopped (journal.py): a retry completes them
        before anything else happens to the VM; one that fails again refuses the retry."""
        if not journal.pending_journals(self.layout.journal_dir):
            return []
        return journal.recover(
            self.layout.journal_dir, self.boundary, self.log.append, vm_id=vm_id
        )

    def result(
        self, op: Operation, powershell: str, snapshot: Snapshot | None = None
    ) -> OperationResult:
        """What a finished operation tells its caller (progress is reported complete)."""
        report(op.progress, 1.0, "")
        return OperationResult(
            # The same warnings list: bookkeeping after the result may still add to it.
            op.operation, op.vm_id, list(op.events), op.warnings, powershell, snapshot
        )

