"""HostBackend: everything the window and hvctl ask of a host, whichever host it is.

The lab host (`hvgui.host.Host`) implements it over a folder; the real Hyper-V backend
(`hvgui.hyperv`) over PowerShell. The UI and hvctl hold a `HostBackend` and the model types
(`hvgui.backend`), never one backend's internals, so a second backend plugs in unchanged.

The contract (tests/backend/test_contract.py states it for every backend):
- Reading is cheap enough for the GUI's poll: `revision()` changes whenever anything the
  reading methods return may have changed; the window re-reads only then.
- VMs and checkpoints are named by Name or Id (`vm`, `snapshot` arguments); an unknown one
  raises `NotFoundError`. Every error is a `HostError` (backend/errors.py) whose text the
  window and hvctl show as it is; a refused operation changes nothing.
- Every operation is a long operation (`hvgui.progress`): it takes `progress` and `cancel`
  keywords, calls `progress(fraction, phase)` as it goes, and returns an `OperationResult`
  (what it did to files, warnings, the PowerShell line that does the same). A cancelled
  operation raises `Cancelled` and leaves the host as before; whether an operation can be
  cancelled at all is a capability (`Capability.CANCEL_*`), else the window says it cannot.
- Paths in the model are the host's own (`PurePath`): a remote host gives Windows paths
  (`PureWindowsPath`), the lab host its files here (`Path`). The UI shows them and hands them
  back, never joins them with local paths or opens them itself; what it must read (the
  inspector) it gets through `local_copy`.
- What a backend cannot do is a missing capability with a reason the window shows as the
  tooltip of what it greys out; calling such a method raises `HostError` with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Protocol

from hvgui.backend.phases import Phase

if TYPE_CHECKING:
    from hvgui.backend.errors import HostError
    from hvgui.backend.model import (
        VM,
        DiskEvent,
        Finding,
        HardDrive,
        Health,
        OperationResult,
        Snapshot,
    )
    from hvgui.progress import CancelToken, Progress


class Capability(StrEnum):
    """Something not every backend can do; the window greys out what depends on it."""

    GUEST = "guest"  # the simulated guest: its files, memory note and console
    EVENT_LOG = "event log"  # a durable log of what every program's operations did to files
    JOURNAL = "journal"  # interrupted operations finished on open (`recovered`)
    CHECK_HOST = "check host"  # Check Host / test-host: orphans, broken chains, stray files
    OUTSIDE_FOLDERS = "outside folders"  # folders outside the host it may change (set-host)
    CHAIN_HEALTH = "chain health"  # each disk chain's verdict (`drive_health`)
    INSPECT_FILES = "inspect files"  # the files of a checkpoint, readable (`local_copy`)
    # The host's files are on this computer, under `location` (a folder): file dialogs may
    # browse them. A remote host's are not: its paths are typed as the host names them.
    LOCAL_FILES = "local files"
    # Which long operations stop at a safe point when cancelled (rolled back).
    CANCEL_CHECKPOINT = "cancel checkpoint"
    CANCEL_APPLY = "cancel apply"
    CANCEL_DELETE = "cancel delete"
    CANCEL_EXPORT = "cancel export"
    CANCEL_MOVE = "cancel move"


class HostKind(StrEnum):
    """What a host is; the window and hvctl act on this one property (Adopt, the Windows
    root), never infer it from others."""

    LAB = "lab host"  # hvgui's own folder (new, or adopted): it changes files, unless read-only
    # A folder copied off a Windows Server 2012 R2 host or made by Export-VM: read-only until
    # the user adopts it (then a LAB host).
    HYPERV_FOLDER = "Hyper-V host's folder"
    # A folder from a Windows Server 2016+ host (VMCX configurations): read, never changed,
    # never adopted.
    VMCX_FOLDER = "Server 2016+ host's folder"
    HYPERV = "Hyper-V host"  # a real Hyper-V host, reached over PowerShell


# The capability cancelling an operation in each phase needs (the phase it starts with, which
# the window shows in the Status column); an operation not listed stops where it can.
CANCEL_NEEDS: dict[str, Capability] = {
    Phase.CREATE: Capability.CANCEL_CHECKPOINT,
    Phase.APPLY: Capability.CANCEL_APPLY,
    Phase.DELETE: Capability.CANCEL_DELETE,
    Phase.MERGE: Capability.CANCEL_DELETE,
    Phase.EXPORT: Capability.CANCEL_EXPORT,
    Phase.MOVE: Capability.CANCEL_MOVE,
}


@dataclass(frozen=True, eq=False)
class Capabilities:
    """What a backend can do: each capability it lacks, with the reason the window shows."""

    missing: Mapping[Capability, str] = field(default_factory=dict)

    def has(self, capability: Capability) -> bool:
        return capability not in self.missing

    def reason(self, capability: Capability) -> str:
        """Why the backend cannot do it, as a tooltip ("" when it can)."""
        return self.missing.get(capability, "")

    def cancel_refusal(self, phase: str) -> str:
        """Why an operation started with `phase` cannot be cancelled here ("" when it can)."""
        needs = CANCEL_NEEDS.get(phase)  # Phase is a StrEnum: its members are their text
        return self.reason(needs) if needs is not None else ""


EVERYTHING = Capabilities()


class HostBackend(Protocol):
    """A Hyper-V host as the window and hvctl see it (see the module docstring)."""

    # ------------------------------------------------------------------ the host itself
    @property
    def display_name(self) -> str:
        """How the window names the host (its tree's root, the window title)."""
        ...

    @property
    def location(self) -> str:
        """Where the host is, as the user gave it and as it is opened again (a lab host's
        folder, a computer name): remembered in the settings, printed by hvctl."""
        ...

    @property
    def read_only(self) -> str:
        """Why nothing on this host can be changed, or "" (every operation is then refused)."""
        ...

    @property
    def kind(self) -> HostKind:
        """What the host is: a lab host, a real host's folder (adoptable or not), a real host."""
        ...

    @property
    def windows_root(self) -> str:
        """The Windows folder a lab host stands for, as its configurations name it (set at New
        Host); "" for any other kind, and for a lab host whose record of it is damaged (its
        reads of the VMs name that file). Known once the host is open: reading it does no I/O."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def recovered(self) -> list[str]:
        """What opening the host finished or set aside (interrupted operations), in words."""
        ...

    # ------------------------------------------------------------------ reading
    def revision(self) -> str:
        """Changes whenever the host changes (an operation, an event, a status update)."""
        ...

    def list_vms(self, *, errors: list[HostError] | None = None) -> list[VM]:
        """Every VM that can be read, by name. An unreadable VM is left out and its error
        appended to `errors` when given; without `errors` the first such error is raised."""
        ...

    def get_vm(self, name_or_id: str) -> VM: ...

    def list_snapshots(self, vm: str) -> list[Snapshot]:
        """The VM's checkpoints in tree order: each parent before its children, oldest first."""
        ...

    def get_snapshot(self, vm: str, name_or_id: str) -> Snapshot: ...

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        """What operations did to files, oldest first (the VM's only, when given)."""
        ...

    def events_size(self) -> int:
        """Grows when events are added (the event log's length); re-read `events` only then."""
        ...

    def check(self) -> list[Finding]:
        """Check Host: what is wrong on the host, in plain words (Capability.CHECK_HOST)."""
        ...

    def drive_health(self, drives: Sequence[HardDrive]) -> Health:
        """The first problem among the drives' disk chains (Capability.CHAIN_HEALTH; SOUND
        where the backend cannot tell)."""
        ...

    def chain_files(self, drives: Sequence[HardDrive]) -> list[PurePath]:
        """Every file of the drives' disk chains, leaf first (as the host names them)."""
        ...

    def chain_stamp(self, files: Sequence[PurePath]) -> object:
        """Changes when one of `files` (from `chain_files`) is written, replaced or deleted, by
        hand too (no revision covers that); cheap: the window polls it with `revision()`. A
        host without Capability.LOCAL_FILES may return a constant (its revision covers it)."""
        ...

    def inspect_files(self, vm: str, snapshot: str | None) -> list[PurePath]:
        """The files a checkpoint (None: the VM now) consists of, as the host names them: its
        configuration, saved memory and device state, each disk's chain down to its base."""
        ...

    def local_copy(
        self, path: PurePath, *, progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        """A local file holding what the inspector reads of the host's file `path` (the lab
        host: `path` itself; a remote host: a copy). Capability.INSPECT_FILES."""
        ...

    def allowed_outside_folders(self) -> list[Path]:
        """Folders outside the host it may change (Capability.OUTSIDE_FOLDERS; without it,
        none: setting them is refused)."""
        ...

    def allow_outside_folders(self, folders: list[Path]) -> list[Path]: ...

    # ------------------------------------------------------------------ VMs
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
    ) -> OperationResult: ...

    def remove_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def rename_vm(
        self,
        vm: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def start_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def reset_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def remove_saved_state(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def stop_vm(
        self,
        vm: str,
        *,
        turn_off: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def save_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def suspend_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

    def resume_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult: ...

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
    ) -> OperationResult: ...

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
    ) -> OperationResult: ...

    def remove_hard_drive(
        self,
        vm: str,
        controller_type: str,
        controller_number: int,
        controller_location: int,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def add_fibre_channel(
        self,
        vm: str,
        *,
        san_name: str,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def remove_fibre_channel(
        self,
        vm: str,
        adapter: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_vm(
        self,
        vm: str,
        *,
        snapshot_name: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Checkpoint-VM; the result's `snapshot` is the new checkpoint."""
        ...

    def restore_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        take_checkpoint_first: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Apply a checkpoint (Restore-VMSnapshot), optionally Checkpoint-VM first."""
        ...

    def revert_vm(
        self, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> OperationResult:
        """Revert: apply the VM's current parent checkpoint."""
        ...

    def remove_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        include_children: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Remove-VMSnapshot [-IncludeAllChildSnapshots]."""
        ...

    def rename_snapshot(
        self,
        vm: str,
        snapshot: str,
        new_name: str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def export_snapshot(
        self,
        vm: str,
        snapshot: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def export_vm(
        self,
        vm: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...

    def move_storage(
        self,
        vm: str,
        destination: Path | str,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult: ...
