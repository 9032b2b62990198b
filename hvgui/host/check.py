"""The host check: everything that would surprise a Hyper-V administrator, in plain words.

Broken chains (a missing or modified parent), orphaned AVHDX files nothing uses, stray BIN/VSV
files, configurations pointing at missing files, unreadable configurations and saved states.
Each checkpoint is checked on its own, so removing a base disk shows every checkpoint it breaks
(checkpoints are not backups).
"""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui import vhdx
from hvgui.backend.model import Finding
from hvgui.backend.states import CheckpointType
from hvgui.errors import HvError
from hvgui.host import states, winpaths
from hvgui.host.boundary import same_file
from hvgui.host.errors import HostError
from hvgui.host.fileio import norm, read_bounded
from hvgui.host.journal import in_flight_paths, waiting
from hvgui.host.layout import (
    SNAPSHOTS,
    VIRTUAL_HARD_DISKS,
    VIRTUAL_MACHINES,
    read_pointer,
    snapshot_config_path,
)
from hvgui.host.savedstate import describe_bin, is_ours, read_vsv
from hvgui.host.xmlconfig import (
    DRIVE_ISO,
    DRIVE_PASSTHROUGH,
    DRIVE_VHD,
    ConfigDoc,
    is_config_file,
)

if TYPE_CHECKING:
    from hvgui.host.context import HostCore


class _Checker:
    def __init__(self, host: HostCore) -> None:
        self.host = host
        self.findings: list[Finding] = []
        self.used_disks: set[Path] = set()
        self.disk_folders: set[Path] = {host.root / VIRTUAL_HARD_DISKS}
        self.snapshot_roots: set[Path] = {host.root}
        self.vm_roots: set[Path] = {host.root}
        self.known_snapshots: set[str] = set()
        self.known_vms: set[str] = set()
        self._tested: dict[Path, list[tuple[str, Path, str, str]]] = {}
        self.boundary = host.boundary
        self.vm_names: dict[str, tuple[str, Path]] = {}  # VM id -> (name, configuration)

    def outside(self, path: Path, who: str, what: str, vm: str) -> None:
        """A file the host reads but will not change: say so before an operation refuses."""
        why = self.boundary.problem(path)
        if why:
            self.add(
                "warning",
                path,
                f"{who}: its {what} {path.name} is {why}: it is read, but operations that "
                "would change it are refused",
                "outside-host",
                vm,
            )

    def add(self, severity: str, path: Path, message: str, code: str, vm: str | None) -> None:
        finding = Finding(severity, path, message, code, vm)
        if finding not in self.findings:
            self.findings.append(finding)

    # ------------------------------------------------------------------ disks
    def _chain_problems(self, disk: Path) -> list[tuple[str, Path, str, str]]:
        """(severity, file, message, code) for the chain from `disk`, cached per disk."""
        if disk in self._tested:
            return self._tested[disk]
        problems: list[tuple[str, Path, str, str]] = []
        if not disk.exists():
            problems.append(("error", disk, f"{disk.name} is missing", "missing-file"))
        else:
            try:
                with vhdx.open_disk(disk) as opened:
                    chain = [norm(p) for p in opened.chain]
                self.used_disks.update(chain)
                self.disk_folders.update(p.parent for p in chain)
            except OSError as exc:  # gone since it was seen, or unreadable
                problems.append(("error", Path(exc.filename or disk),
                                 f"cannot be read: {exc.strerror}", "missing-file"))
                self.used_disks.add(disk)
            except HvError as exc:
                problems.append(("error", Path(exc.subject), exc.problem, "broken-chain"))
                self.used_disks.add(disk)
            try:
                for f in vhdx.test_vhd(disk):
                    if f.severity == "error" and not any(p[0] == "error" for p in problems):
                        problems.append((f.severity, f.path, f.message, f.code))
            except OSError as exc:  # a file of the chain went away since (another hand)
                problems.append(("error", Path(exc.filename or disk),
                                 f"cannot be read: {exc.strerror}", "missing-file"))
        self._tested[disk] = problems
        return problems

    def check_drives(self, doc: ConfigDoc, who: str, vm: str, frozen: bool) -> None:
        for drive in doc.drives():
            if not drive.path:
                continue
            # A real host's Windows path not found in this copy stays that path: never a file
            # or folder here (not "outside the host", not a folder to look for orphans in).
            unresolved = winpaths.is_windows(drive.path)
            path = Path(drive.path) if unresolved else norm(drive.path)
            slot = f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"
            if drive.kind == DRIVE_VHD:
                if not unresolved:
                    self.outside(path, who, "disk", vm)
                    self.disk_folders.add(path.parent)
                self.used_disks.add(path)
                for severity, where, message, code in self._chain_problems(path):
                    if where == path and code == "missing-file":
                        text = f"{who}: its disk {path.name} ({slot}) is missing"
                        if winpaths.is_windows(drive.path):  # from a real host: say where
                            text += f"; {winpaths.looked_for(drive.path, doc.path.parent)}"
                    else:
                        text = (
                            f"{who}: the disk chain of {path.name} ({slot}) is broken: "
                            f"{where.name}: {message}"
                        )
                    self.add(severity, where, text, code, vm)
                if frozen and _writable(path):
                    self.add(
                        "warning",
                        path,
                        f"{who}: its disk {path.name} is not read-only; "
                        "writing to it would break every disk that depends on it",
                        "frozen-disk-writable",
                        vm,
                    )
            elif drive.kind in (DRIVE_PASSTHROUGH, DRIVE_ISO) and not path.exists():
                what = "pass-through disk" if drive.kind == DRIVE_PASSTHROUGH else "ISO image"
                where_looked = ""
                if winpaths.is_windows(drive.path):
                    where_looked = f"; {winpaths.looked_for(drive.path, doc.path.parent)}"
                self.add(
                    "error" if drive.kind == DRIVE_PASSTHROUGH else "warning",
                    path,
                    f"{who}: its {what} {path.name} ({slot}) is missing{where_looked}",
                    "missing-file",
                    vm,
                )

    def check_saved_state(
        self, doc: ConfigDoc, who: str, vm: str, need_bin: bool, need_vsv: bool
    ) -> set[Path]:
        files: set[Path] = set()
        for key, needed, label in (
            ("memlocation", need_bin, "memory (BIN)"),
            ("vsvlocation", need_vsv, "device state (VSV)"),
        ):
            value = doc.saved_state(key)
            if not value:
                if needed:
                    self.add(
                        "error",
                        doc.path,
                        f"{who}: its {label} file is not recorded",
                        "missing-state",
                        vm,
                    )
                continue
            path = norm(value)
            files.add(path)
            self.outside(path, who, label, vm)
            if not path.exists():
                if needed:
                    self.add(
                        "error",
                        path,
                        f"{who}: its {label} file {path.name} is missing",
                        "missing-state",
                        vm,
                    )
                continue
            try:
                describe_bin(path) if key == "memlocation" else read_vsv(path)
            except OSError as exc:  # unreadable (or gone since: the double check drops it)
                self.add("error", path, f"{who}: cannot be read: {exc.strerror}",
                         "damaged-state", vm)
            except HostError as exc:
                if doc.root.find("hvgui") is None and not is_ours(path):  # a real host's
                    self.add("info", path, f"{who}: its {label} file {path.name} is "
                             "Hyper-V's own (an undocumented format): shown in hex; hvgui cannot "
                             "apply this checkpoint", "hyperv-state", vm)
                else:
                    self.add("error", path, f"{who}: {exc.problem}", "damaged-state", vm)
        return files

    # ------------------------------------------------------------------ VMs
    def check_vm(self, vm_id: str, config: Path) -> None:
        try:
            doc = ConfigDoc.load(config)
            name = doc.name
            _ = doc.id, doc.snapshot_data_root, doc.drives(), doc.snapshot_ids
            _ = doc.memory_mb, doc.processor_count, doc.parent_snapshot_id  # what get-vm reads
            _ = doc.last_powered_on, doc.creation_time
        except HostError as exc:
            self.add(
                "error",
                Path(exc.subject),
                f"VM configuration cannot be read: {exc.problem}",
                "config-unreadable",
                None,
            )
            return
        self.known_vms.add(vm_id)
        self.vm_names[vm_id] = (name, config)
        who = f"VM '{name}'"
        self.vm_roots.add(config.parent.parent)
        self.snapshot_roots.add(doc.snapshot_data_root)
        self.check_drives(doc, who, name, frozen=False)
        state = doc.state
        runtime = config.parent / vm_id
        expected = self.check_saved_state(
            doc,
            who,
            name,
            need_bin=state in states.MEMORY_STATES,
            need_vsv=state == states.SAVED,
        )
        for f in _files(runtime):
            if norm(f) not in expected and f.suffix.lower() in (".bin", ".vsv"):
                self.add(
                    "warning",
                    f,
                    f"{who} is {state} but {f.name} is left in its folder "
                    "(a stray saved-state file)",
                    "stray-state",
                    name,
                )
        for pending in doc.pending_merges:
            path = norm(pending)
            self.used_disks.add(path)
            if not path.exists():
                self.add(
                    "error",
                    path,
                    f"{who}: disk {path.name}, kept for a later merge, is missing",
                    "missing-file",
                    name,
                )
        for snap_id in doc.snapshot_ids:
            self.known_snapshots.add(snap_id)
            self.check_snapshot(doc, snap_id, name)

    def check_snapshot(self, vm: ConfigDoc, snap_id: str, vm_name: str) -> None:
        path = snapshot_config_path(vm.snapshot_data_root, snap_id)
        if not path.exists():
            self.add(
                "error",
                path,
                f"VM '{vm_name}' lists checkpoint {snap_id}, but its configuration file is missing",
                "missing-file",
                vm_name,
            )
            return
        try:
            doc = ConfigDoc.load(path)
            label = doc.name
            _ = doc.id, doc.memory_mb, doc.processor_count, doc.snapshot_parent_id
            _ = doc.snapshot_creation_time
        except HostError as exc:
            self.add(
                "error",
                path,
                f"checkpoint configuration cannot be read: {exc.problem}",
                "config-unreadable",
                vm_name,
            )
            return
        who = f"Checkpoint '{label}' of VM '{vm_name}'"
        self.check_drives(doc, who, vm_name, frozen=True)
        live = (doc.snapshot_type == CheckpointType.STANDARD
                and doc.snapshot_vm_state in states.MEMORY_STATES)
        self.check_saved_state(doc, who, vm_name, need_bin=live, need_vsv=live)

    # ------------------------------------------------------------------ leftovers
    def check_leftovers(self) -> None:
        for root in self.snapshot_roots:
            folder = root / SNAPSHOTS
            for entry in _entries(folder):
                stem = entry.name.split(".")[0].upper()
                if stem in self.known_snapshots or entry.name.endswith(".hvnew"):
                    continue
                if entry.is_dir():
                    for f in _files(entry):
                        self.add(
                            "warning",
                            f,
                            f"{f.name} belongs to no checkpoint (a stray saved-state file)",
                            "stray-state",
                            None,
                        )
                elif is_config_file(entry):
                    self.add(
                        "warning",
                        entry,
                        f"{entry.name} is a checkpoint configuration no VM "
                        "lists (an orphaned checkpoint)",
                        "orphaned-checkpoint",
                        None,
                    )
                elif entry.suffix.lower() in (".bin", ".vsv", ".vmrs"):
                    self.add(
                        "warning",
                        entry,
                        f"{entry.name} belongs to no checkpoint (a stray saved-state file)",
                        "stray-state",
                        None,
                    )
        for root in self.vm_roots:
            for entry in _entries(root / VIRTUAL_MACHINES):
                if entry.is_dir() and entry.name.upper() not in self.known_vms:
                    for f in _files(entry):
                        self.add(
                            "warning",
                            f,
                            f"{f.name} belongs to no VM (a stray saved-state file)",
                            "stray-state",
                            None,
                        )
        for folder in self.disk_folders:
            for entry in _entries(folder):
                destination = vhdx.marked_destination(entry)
                if destination is not None:
                    self.add("warning", entry, _marker_message(entry, destination),
                             "merge-marker", None)
                if (
                    entry.suffix.lower() in (".avhdx", ".avhd")
                    and norm(entry) not in self.used_disks
                ):
                    self.add(
                        "warning",
                        entry,
                        f"{entry.name} is an orphaned checkpoint disk: no VM or checkpoint uses it",
                        "orphaned-avhdx",
                        None,
                    )


def _marker_message(marker: Path, destination: Path) -> str:
    """What a merge marker left behind (its journal gone) is and how to be rid of it."""
    merged = next((p for p in _entries(marker.parent) if p != marker and p != destination
                   and p.suffix.lower() in (".vhdx", ".avhdx") and same_file(p, marker)), None)
    if merged is None:
        return (f"{marker.name} is left by a cut merge into {destination.name}, and no disk "
                "beside it is the same file: remove it")
    return (f"{marker.name} is left by a merge of {merged.name} into {destination.name} that "
            f"was cut (a second name of {merged.name}, which refuses changes while it has "
            f"one): finish it with `hvctl merge-vhd --path {merged} --destination-path "
            f"{destination}`")


def _writable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IWUSR)
    except FileNotFoundError:  # gone since it was listed (another hand): reported as missing
        return False


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _files(folder: Path) -> list[Path]:
    return [p for p in _entries(folder) if p.is_file()]


def check_host(host: HostCore) -> list[Finding]:
    """Check the host; a VM another process (or thread) is changing meanwhile is reported as
    busy and its files are left alone: they are half-way by design, not damaged.

    A finding is reported only when a second check right after finds it too: an operation
    that starts and ends between the reads of one check (many hands) can make a file look
    orphaned or missing once, never twice in a row; damage stays until it is repaired."""
    first = _check_once(host)
    if all(f.code in _NOT_DAMAGE for f in first):
        return first
    seen = {(f.code, f.path, f.message) for f in first}
    return [f for f in _check_once(host)
            if f.code in _NOT_DAMAGE or (f.code, f.path, f.message) in seen]


_NOT_DAMAGE = ("vm-busy",)  # what the check says of the moment, not of the files


def _check_once(host: HostCore) -> list[Finding]:
    for _attempt in range(_ATTEMPTS):
        start = time.time_ns() - _CLOCK_SLACK_NS
        before = _activity(host)
        # The journals' files, read at both ends: an operation running at either end has
        # its journal there (one ending meanwhile: only at the start).
        paths = in_flight_paths(host.layout.journal_dir)
        checker = _check(host)
        journals = waiting(host.layout.journal_dir)
        for vm_id, named in in_flight_paths(host.layout.journal_dir).items():
            paths.setdefault(vm_id, set()).update(named)
        after = _activity(host)
        if after == before:
            break  # nothing started or ended meanwhile: the busy VMs are all there were
    busy = {**after[1], **before[1]}
    if after != before:
        # Operations kept starting and ending (many hands): one may have come and gone
        # within the check. A VM whose configuration changed meanwhile counts as busy, and
        # no file or folder that changed meanwhile is judged.
        for vm_id, (_name, config) in checker.vm_names.items():
            if vm_id not in busy and _changed_since(config, start):
                busy[vm_id] = "an operation that ended during the check"
        checker.findings = [
            f for f in checker.findings if f.vm is not None
            or not (_changed_since(f.path, start) or _changed_since(f.path.parent, start))
        ]
    elif busy:
        # Busy at both ends: its journal, read at both ends, may have come and gone between
        # them (created, committed, removed while its status stayed), so a file it made while
        # the configurations were being read looks orphaned. Files that changed during the
        # check are not judged; older ones (real leftovers) still are.
        checker.findings = [
            f for f in checker.findings if f.vm is not None or not _changed_since(f.path, start)
        ]
    # Stopped past its commit point (a full disk, an I/O error) and not finished yet: its
    # files are half-way until it is, so they are not judged either.
    unfinished = {
        vm_id: operation for vm_id, operation in journals.items() if vm_id not in busy
    }
    in_flight = {p for vm_id in (*busy, *unfinished) for p in paths.get(vm_id, ())}
    names = {checker.vm_names[vm_id][0] for vm_id in (*busy, *unfinished)
             if vm_id in checker.vm_names}
    notes = [
        Finding("warning", config, f"VM '{name}' busy: {busy[vm_id]} (its files were not "
                "checked: check again when it has finished)", "vm-busy", name)
        for vm_id, (name, config) in checker.vm_names.items() if vm_id in busy
    ] + [
        Finding("error", config, f"VM '{name}': an interrupted {unfinished[vm_id]} is not "
                "finished yet (it will be at the next open of the host or the VM's next "
                "operation, once its cause, e.g. a full disk, is fixed); its files were not "
                "checked", "unfinished-operation", name)
        for vm_id, (name, config) in checker.vm_names.items() if vm_id in unfinished
    ]
    return notes + [  # a file in flight, or in a folder in flight (a checkpoint's state)
        f for f in checker.findings
        if f.vm not in names and not {norm(f.path), norm(f.path).parent} & in_flight
    ]


_ATTEMPTS = 3
_CLOCK_SLACK_NS = 50_000_000  # file times come from a coarser clock than time.time_ns()


def _changed_since(path: Path, start_ns: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return max(st.st_mtime_ns, st.st_ctime_ns) >= start_ns


def _activity(host: HostCore) -> tuple[bytes, dict[str, str]]:
    """The host's revision stamp (rewritten after every change, unique: a stat could repeat
    within a clock tick) and the VMs operations run on now (VM id -> operation)."""
    try:
        revision = read_bounded(host.layout.revision_file, 4096)
    except (OSError, HostError):
        revision = b""
    running = host.status_board.read_all()
    return revision, {vm_id: str(r.get("operation") or "an operation") for vm_id, r in
                      sorted(running.items())}


def _check(host: HostCore) -> _Checker:
    checker = _Checker(host)
    for entry in _entries(host.layout.vm_registry):
        if entry.suffix == ".location":
            target = read_pointer(entry)
            if target is None:
                checker.add(
                    "error",
                    entry,
                    "this VM location file is damaged: it should hold the path of the VM's "
                    "configuration file",
                    "damaged-file",
                    None,
                )
            elif not target.is_file():
                checker.add(
                    "error",
                    target,
                    f"the host registers a VM at {target}, but its configuration file is missing",
                    "missing-file",
                    None,
                )
    for vm_id, config in host.vm_index().items():
        if config.is_file():
            checker.check_vm(vm_id, config)
    checker.check_leftovers()
    for journal in host.layout.journal_dir.glob("*.damaged"):
        checker.add(
            "error",
            journal,
            "an interrupted operation's journal was set aside without running it (damaged, "
            "or naming files the lab host never makes): check what it lists, then delete it",
            "damaged-journal",
            None,
        )
    return checker
