r"""The lab transport: the scripts' JSON-lines contract answered from a lab host.

`LabTransport(Host.open(dir)).run("checkpoint_vm", {"VMId": ...})` yields the records a real
host would print for the same script and parameters: progress while the operation runs
("Creating Checkpoint", JobType 70; after Remove-VMSnapshot's own job, the merge's JobType 50
records until the merge ends), then the result, or an error record shaped like PowerShell's.
Parameters are bound as PowerShell binds the script's `param()` block (unknown or missing
mandatory ones are errors), so HyperVHost runs end to end in CI with no Windows host.

`windows_paths=True` answers as the Windows host the lab stands for would (`WindowsView`): every
path a record gives is its Windows path below the host's Windows root (`C:\ProgramData\...`,
hvgui.host.winpaths), and every path a script is given is mapped back below the lab folder, so
the tests see what a real host does to code that would open or join the host's paths locally.

It is a test double, not part of the package: only the tests and the contract suite
(tests/backend/test_contract.py) use it; the window, hvctl, the demo and the lessons open a lab
host directly (`hvgui.connect`). It needs both `hvgui.hyperv` and `hvgui.host`, and the
real-host backend never depends on the lab host (an import-linter contract): this adapter, kept
beside the tests, is the one place that knows them together.
"""

from __future__ import annotations

import base64
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hvgui.backend.errors import (
    AccessDeniedError,
    HostError,
    InvalidStateError,
    NotFoundError,
    VMBusyError,
)
from hvgui.backend.model import VM, Snapshot
from hvgui.errors import HvError
from hvgui.host.host import Host
from hvgui.host.winpaths import is_windows, read_names
from hvgui.hyperv.errors import lost_while
from hvgui.hyperv.parse import JOB_PHASES
from hvgui.hyperv.records import Record
from hvgui.hyperv.transport import Parameters, declared_parameters, script_names
from hvgui.progress import Cancelled, CancelToken

CHUNK = 1 << 20
DISK_SUFFIXES = (".vhd", ".vhdx", ".avhd", ".avhdx")
_PHASE_JOBS: dict[str, int] = {phase: job for job, phase in JOB_PHASES.items()}
_MERGE = 50
_DONE = object()
_STATE_ACTIONS = {
    "Start": "start_vm",
    "Save": "save_vm",
    "Suspend": "suspend_vm",
    "Resume": "resume_vm",
    "Reset": "reset_vm",
    "RemoveSavedState": "remove_saved_state",
}


def vm_object(vm: VM) -> dict[str, Any]:
    """A VM as get_vms.ps1 prints it (ConvertTo-HvguiVM)."""
    return {
        **vm.to_json(),
        "ConfigurationFile": str(vm.config_path),
        "SnapshotCount": vm.snapshot_count,
        "OperationalStatus": [2],
        "RunningJobs": [],
    }


def snapshot_object(snap: Snapshot) -> dict[str, Any]:
    """A checkpoint as get_snapshots.ps1 prints it (ConvertTo-HvguiSnapshot)."""
    return {
        **snap.to_json(),
        "ConfigurationFile": str(snap.config_path),
        "MemoryFile": str(snap.bin_path) if snap.bin_path else None,
        "StateFile": str(snap.vsv_path) if snap.vsv_path else None,
    }


def file_object(path: Path) -> dict[str, Any]:
    """A file as ConvertTo-HvguiFile prints it."""
    st = path.stat()
    return {
        "Path": str(path), "Length": st.st_size,
        "LastWriteTime": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
        "IsReadOnly": not st.st_mode & 0o222,
    }


def _vhd_facts(path: Path) -> dict[str, Any]:
    """What vm_files.ps1 adds to a disk's File record from Get-VHD (nothing where it fails)."""
    from hvgui.vhdx import get_vhd

    if path.suffix.lower() not in DISK_SUFFIXES:
        return {}
    try:
        info = get_vhd(path)
    except (HvError, OSError):
        return {}
    return {"ParentPath": info.parent_path or ""}


def error_object(exc: BaseException, script: str) -> dict[str, Any]:
    """A lab host's refusal as the PowerShell error record a real host would give."""
    message = exc.problem if isinstance(exc, HvError) else str(exc)
    target = exc.subject if isinstance(exc, HvError) else ""
    error_id, category = "OperationFailed", "NotSpecified"
    if isinstance(exc, Cancelled):
        error_id, category, message = "OperationStopped", "OperationStopped", "cancelled"
    elif isinstance(exc, VMBusyError):
        error_id, category = "ObjectInUse", "ResourceBusy"
    elif isinstance(exc, InvalidStateError):
        error_id, category = "InvalidState", "InvalidOperation"
    elif isinstance(exc, NotFoundError):
        error_id, category = "ObjectNotFound", "ObjectNotFound"
    elif isinstance(exc, AccessDeniedError):
        error_id, category = "AccessDenied", "PermissionDenied"
    elif isinstance(exc, FileNotFoundError):
        error_id, category = "PathNotFound", "ObjectNotFound"
    elif isinstance(exc, PermissionError):
        error_id, category = "AccessDenied", "PermissionDenied"
    return {
        "Record": "error",
        "FullyQualifiedErrorId": f"{error_id},hvgui.lab.{script}",
        "Category": category,
        "Reason": type(exc).__name__,
        "ExceptionType": "Microsoft.HyperV.PowerShell.VirtualizationException",
        "Message": message,
        "TargetObject": target,
    }


class _Run:
    """One script running in its own thread: records go through a queue to the caller."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.records: queue.Queue[Any] = queue.Queue()
        self.cancel = CancelToken()
        self.job_id = f"Microsoft:{uuid.uuid4()}".upper()
        self.job_type = 0
        self.vm_id = ""
        # Lockstep: after each progress record the operation waits until the caller has
        # handled it (asked for the next record), as a pipeline's output back-pressures a
        # script; so a cancel given while handling a record reaches the operation before
        # it goes on.
        self.turn = threading.Semaphore(0)
        self.abandoned = threading.Event()

    def result(self, kind: str, obj: Any) -> None:
        self.records.put({"Record": "result", "Kind": kind, "Object": obj})

    def progress(self, fraction: float, phase: str) -> None:
        job_type = _PHASE_JOBS.get(phase)
        if job_type is None:
            return
        if self.job_type == _MERGE and job_type != _MERGE:
            job_type = _MERGE  # the operation's last report: the merge has ended
        if job_type == _MERGE and self.job_type not in (0, _MERGE):
            # Remove-VMSnapshot's own job ends here; the merge job goes on without it.
            self._emit(self.job_type, 100)
        self.job_type = job_type
        self._emit(job_type, int(min(1.0, max(0.0, fraction)) * 100))

    def _emit(self, job_type: int, percent: int) -> None:
        phase = JOB_PHASES[job_type]
        self.records.put({
            "Record": "progress", "Phase": phase, "PercentComplete": percent,
            "JobType": job_type, "VMId": self.vm_id, "JobId": self.job_id,
            "Cancellable": job_type != _MERGE,
        })
        while not self.turn.acquire(timeout=0.05):
            if self.abandoned.is_set():
                return


# The fields of the scripts' records that hold a path of the host, and the parameters that do.
PATH_FIELDS = frozenset({
    "Path", "ConfigurationLocation", "SnapshotFileLocation", "CheckpointFileLocation",
    "ConfigurationFile", "MemoryFile", "StateFile", "ParentPath",
})
PATH_PARAMETERS = ("Path", "SnapshotFileLocation")
_TEXT_FIELDS = ("Message", "TargetObject")
_PATH_ENDS = ":'\"\n"  # where a path quoted in an error message ends


class WindowsView:
    """A lab host as the Windows host it stands for: its folder is its Windows root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names = read_names(root)

    def record(self, value: Any, key: str = "") -> Any:
        """A record with each path the Windows host's (a path outside the lab stays)."""
        if isinstance(value, dict):
            return {k: self.record(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.record(v, key) for v in value]
        if isinstance(value, str) and key in PATH_FIELDS and os.path.isabs(value):
            return self.names.to_windows(self.root, value) or value
        if isinstance(value, str) and key in _TEXT_FIELDS:
            return self.text(value)
        return value

    def text(self, text: str) -> str:
        """A message with the paths it quotes as the Windows host names them."""
        root, out, at = str(self.root), [], 0
        while (start := text.find(root, at)) >= 0:
            end = start + len(root)
            while end < len(text) and text[end] not in _PATH_ENDS:
                end += 1
            out += [text[at:start], self.names.root, text[start + len(root):end].replace(
                os.sep, "\\")]
            at = end
        return "".join(out) + text[at:]

    def parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The script's parameters with each Windows path the file in the lab folder; a path
        that is not one of the host's is refused as Hyper-V refuses a path it cannot use."""
        mapped = dict(parameters)
        for key in PATH_PARAMETERS:
            value = mapped.get(key)
            if not value:
                continue
            local = self.names.to_local(self.root, str(value)) if is_windows(str(value)) \
                else None
            if local is None:
                raise NotFoundError(str(value), f"not a path on this host: its folders are "
                                    f"below {self.names.root}")
            mapped[key] = str(local)
        return mapped


class LabTransport:
    """A Transport over a lab host (in this process); see the module docstring."""

    def __init__(self, host: Host, computer_name: str = "lab", *,
                 windows_paths: bool = False) -> None:
        self.host = host
        self.windows = WindowsView(host.root) if windows_paths else None
        self._name = computer_name
        self._runs: list[_Run] = []
        self._lock = threading.Lock()
        self._closed = False
        self._dropped = False

    @property
    def computer_name(self) -> str:
        return self._name

    def drop(self) -> None:
        """The network between here and the host breaks: every script being read fails at
        its next record, and new ones at once, while what they started runs on to its end
        on the host (as a real host's operation does), until answer_again()."""
        self._dropped = True

    def answer_again(self) -> None:
        self._dropped = False

    def _lost(self, script: str) -> HostError:
        return lost_while(self._name, script, "no answer")

    @property
    def location(self) -> str:
        return str(self.host.root)

    def run(self, script: str, parameters: Parameters) -> Iterator[Record]:
        if self._closed:
            raise HostError(self._name, "the connection is closed")
        if self._dropped:
            raise self._lost(script)
        try:
            bound = self._bind(script, parameters)
        except HostError as exc:  # PowerShell's ParameterBindingException, as a record
            yield Record("error", {**error_object(exc, script),
                                   "FullyQualifiedErrorId": f"ParameterBinding,{script}",
                                   "Category": "InvalidArgument"})
            return
        run = _Run(script)
        handler = getattr(self, f"_{script}")
        worker = threading.Thread(
            target=self._work, args=(run, handler, bound), name=f"lab {script}", daemon=True
        )
        with self._lock:
            self._runs.append(run)
        worker.start()
        lost = False
        try:
            while True:
                item = run.records.get()
                if item is _DONE:
                    break
                if self._dropped:
                    lost = True
                    raise self._lost(script)
                if self.windows is not None:
                    item = self.windows.record(item)
                yield Record(item["Record"], item)
                if item["Record"] == "progress":
                    run.turn.release()
        finally:
            run.abandoned.set()
            if not lost:  # the caller stopped reading: stop the script too
                run.cancel.cancel()
                worker.join()
            with self._lock:
                self._runs.remove(run)

    def stop(self) -> None:
        with self._lock:
            for run in self._runs:
                run.cancel.cancel()

    def close(self) -> None:
        self.stop()
        self._closed = True

    # ------------------------------------------------------------------ plumbing
    def _bind(self, script: str, parameters: Parameters) -> dict[str, Any]:
        """PowerShell's parameter binding against the script's own param() block."""
        if script not in script_names():
            raise HostError(script, "no such script in hvgui/hyperv/scripts")
        declared = declared_parameters(script)
        unknown = [name for name in parameters if name not in declared]
        if unknown:
            raise HostError(script, f"the script has no parameter {unknown[0]!r}")
        missing = [n for n, mandatory in declared.items() if mandatory and n not in parameters]
        if missing:
            raise HostError(script, f"the script's mandatory parameter {missing[0]!r} is missing")
        return dict(parameters)

    def _work(self, run: _Run, handler: Callable[[_Run, dict[str, Any]], None],
              parameters: dict[str, Any]) -> None:
        run.vm_id = str(parameters.get("VMId") or "")
        try:
            if self.windows is not None:
                parameters = self.windows.parameters(parameters)
            handler(run, parameters)
        except (HvError, Cancelled, OSError) as exc:
            run.records.put(error_object(exc, run.script))
        finally:
            run.records.put(_DONE)

    def _vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        run.result("VM", vm_object(self.host.get_vm(str(parameters["VMId"]))))

    # ------------------------------------------------------------------ the scripts
    def _probe(self, run: _Run, parameters: dict[str, Any]) -> None:
        run.result("Host", {
            "ComputerName": self._name, "OSVersion": "6.3.9600.0", "PSVersion": "5.1",
            "HyperVModule": True, "UserName": "LAB\\student", "IsAdministrator": True,
            "IsHyperVAdministrator": True,
        })

    def _get_vms(self, run: _Run, parameters: dict[str, Any]) -> None:
        if parameters.get("VMId"):
            self._vm(run, parameters)
            return
        errors: list[HostError] = []
        for vm in self.host.list_vms(errors=errors):
            run.result("VM", vm_object(vm))
        for error in errors:  # Get-VM's non-terminating errors: the other VMs are listed
            run.records.put(error_object(error, run.script))

    def _get_snapshots(self, run: _Run, parameters: dict[str, Any]) -> None:
        for snap in self.host.list_snapshots(str(parameters["VMId"])):
            run.result("Snapshot", snapshot_object(snap))

    def _checkpoint_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        result = self.host.checkpoint_vm(
            str(parameters["VMId"]), snapshot_name=parameters.get("SnapshotName") or None,
            progress=run.progress, cancel=run.cancel,
        )
        assert result.snapshot is not None  # Checkpoint always makes one
        run.result("Snapshot", snapshot_object(result.snapshot))

    def _restore_snapshot(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.restore_snapshot(
            str(parameters["VMId"]), str(parameters["SnapshotId"]),
            take_checkpoint_first=bool(parameters.get("TakeCheckpointFirst")),
            progress=run.progress, cancel=run.cancel,
        )
        self._vm(run, parameters)

    def _remove_snapshot(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.remove_snapshot(
            str(parameters["VMId"]), str(parameters["SnapshotId"]),
            include_children=bool(parameters.get("IncludeAllChildSnapshots")),
            progress=run.progress, cancel=run.cancel,
        )
        run.result("Done", {"VMId": parameters["VMId"], "SnapshotId": parameters["SnapshotId"]})

    def _rename_snapshot(self, run: _Run, parameters: dict[str, Any]) -> None:
        vm, snap = str(parameters["VMId"]), str(parameters["SnapshotId"])
        self.host.rename_snapshot(vm, snap, str(parameters["NewName"]), cancel=run.cancel)
        run.result("Snapshot", snapshot_object(self.host.get_snapshot(vm, snap)))

    def _export_snapshot(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.export_snapshot(
            str(parameters["VMId"]), str(parameters["SnapshotId"]), str(parameters["Path"]),
            progress=run.progress, cancel=run.cancel,
        )
        self._files_below(run, Path(str(parameters["Path"])))
        run.result("Done", {"VMId": parameters["VMId"], "SnapshotId": parameters["SnapshotId"],
                            "Path": parameters["Path"]})

    def _move_storage(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.move_storage(str(parameters["VMId"]), str(parameters["Path"]),
                               progress=run.progress, cancel=run.cancel)
        self._vm(run, parameters)

    def _set_vm_state(self, run: _Run, parameters: dict[str, Any]) -> None:
        vm, action = str(parameters["VMId"]), str(parameters["Action"])
        if action in ("ShutDown", "TurnOff"):
            self.host.stop_vm(vm, turn_off=action == "TurnOff", cancel=run.cancel)
        elif action in _STATE_ACTIONS:
            getattr(self.host, _STATE_ACTIONS[action])(vm, cancel=run.cancel)
        else:  # the script's ValidateSet
            raise HostError(action, "not one of the script's actions")
        self._vm(run, parameters)

    def _set_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.set_vm(
            str(parameters["VMId"]),
            checkpoint_type=parameters.get("CheckpointType") or None,
            processor_count=parameters.get("ProcessorCount") or None,
            memory_startup_bytes=parameters.get("MemoryStartupBytes") or None,
            notes=parameters.get("Notes"),
            snapshot_file_location=parameters.get("SnapshotFileLocation") or None,
            cancel=run.cancel,
        )
        self._vm(run, parameters)

    def _new_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        result = self.host.new_vm(
            str(parameters["Name"]),
            memory_startup_bytes=int(parameters.get("MemoryStartupBytes") or 1 << 30),
            new_vhd_size_bytes=int(parameters["NewVHDSizeBytes"])
            if parameters.get("NewVHDSizeBytes") else None,
            generation=int(parameters.get("Generation") or 2),
            path=parameters.get("Path") or None,
            progress=run.progress, cancel=run.cancel,
        )
        run.result("VM", vm_object(self.host.get_vm(result.vm_id)))

    def _remove_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.remove_vm(str(parameters["VMId"]), cancel=run.cancel)
        run.result("Done", {"VMId": parameters["VMId"]})

    def _rename_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.rename_vm(str(parameters["VMId"]), str(parameters["NewName"]),
                            cancel=run.cancel)
        self._vm(run, parameters)

    def _add_hard_drive(self, run: _Run, parameters: dict[str, Any]) -> None:
        number = int(parameters.get("ControllerNumber", -1))
        location = int(parameters.get("ControllerLocation", -1))
        disk = int(parameters.get("DiskNumber", -1))
        self.host.add_hard_drive(
            str(parameters["VMId"]), str(parameters.get("Path") or ""),
            pass_through=disk >= 0,
            controller_type=parameters.get("ControllerType") or None,
            controller_number=number if number >= 0 else None,
            controller_location=location if location >= 0 else None,
            cancel=run.cancel,
        )
        self._vm(run, parameters)

    def _remove_hard_drive(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.remove_hard_drive(
            str(parameters["VMId"]), str(parameters["ControllerType"]),
            int(parameters["ControllerNumber"]), int(parameters["ControllerLocation"]),
            cancel=run.cancel,
        )
        self._vm(run, parameters)

    def _add_fibre_channel(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.add_fibre_channel(str(parameters["VMId"]), san_name=str(parameters["SanName"]),
                                    cancel=run.cancel)
        self._vm(run, parameters)

    def _remove_fibre_channel(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.remove_fibre_channel(str(parameters["VMId"]), str(parameters["Adapter"]),
                                       cancel=run.cancel)
        self._vm(run, parameters)

    def _export_vm(self, run: _Run, parameters: dict[str, Any]) -> None:
        self.host.export_vm(str(parameters["VMId"]), str(parameters["Path"]),
                            progress=run.progress, cancel=run.cancel)
        self._files_below(run, Path(str(parameters["Path"])))
        run.result("Done", {"VMId": parameters["VMId"], "Path": parameters["Path"]})

    def _files_below(self, run: _Run, folder: Path) -> None:
        """Write-HvguiFiles: an export's files, for What happened."""
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file():
                run.result("File", file_object(path))

    def _get_vhd(self, run: _Run, parameters: dict[str, Any]) -> None:
        from hvgui.vhdx import get_vhd

        path: str | None = str(parameters["Path"])
        for _level in range(128):
            if not path:
                break
            if not Path(path).exists():  # Get-VHD of a missing file: ObjectNotFound
                raise NotFoundError(path, "the system cannot find the file specified")
            info = get_vhd(path)
            run.result("VHD", info.to_json())
            path = info.parent_path

    def _read_file(self, run: _Run, parameters: dict[str, Any]) -> None:
        path = Path(str(parameters["Path"]))
        problem = self.host.boundary.problem(path)
        if problem:
            raise HostError(path, problem)
        offset = max(0, int(parameters.get("Offset") or 0))
        length = int(parameters.get("Length", -1) if parameters.get("Length") is not None
                     else -1)
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            end = size if length < 0 else min(size, offset + length)
            position = min(offset, size)
            handle.seek(position)
            run.result("FileInfo", {"Path": str(path), "Length": size,
                                    "IsReadOnly": not path.stat().st_mode & 0o222})
            while position < end:
                run.cancel.raise_if_cancelled()
                data = handle.read(min(CHUNK, end - position))
                if not data:
                    break
                run.result("Chunk", {"Offset": position,
                                     "Data": base64.b64encode(data).decode("ascii")})
                position += len(data)

    def _vm_files(self, run: _Run, parameters: dict[str, Any]) -> None:
        vm = self.host.get_vm(str(parameters["VMId"]))
        config = Path(vm.config_path)  # the lab host's paths are its files here
        runtime = config.parent / vm.id
        snapshots = Path(vm.snapshot_file_location) / "Snapshots"
        paths = [config, *(runtime.iterdir() if runtime.is_dir() else [])]
        if snapshots.is_dir():
            paths += [p for p in snapshots.rglob("*") if len(p.relative_to(snapshots).parts) <= 2]
        for folder in sorted({Path(d.path).parent for d in vm.hard_drives}):
            if folder.is_dir():
                paths += [p for p in folder.iterdir() if p.suffix.lower() in DISK_SUFFIXES]
        for path in sorted(set(paths)):
            if path.is_file():
                run.result("File", {**file_object(path), **_vhd_facts(path)})

    def _stop_job(self, run: _Run, parameters: dict[str, Any]) -> None:
        job_id = str(parameters["JobId"])
        with self._lock:
            target = next((r for r in self._runs if r.job_id == job_id), None)
        cancellable = target is not None and target.job_type != _MERGE
        if target is not None and cancellable:
            target.cancel.cancel()
        run.result("Job", {"JobId": job_id, "Found": target is not None,
                           "Cancellable": cancellable})
