"""hvctl's VM and checkpoint commands on the lab host: Hyper-V's cmdlet names and options.

Every command takes `--host DIR` (else HVGUI_HOST, else the default host). Reading commands
print a table like PowerShell, or the cmdlet's property names with `--json`. Changing
commands print what they did to files, any warning, and the PowerShell line that does the same
on a real host.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgui.backend.formats import human_size, ps_datetime
from hvgui.backend.states import CHECKPOINT_TYPES
from hvgui.cli.common import (
    PS51,
    add_host_option,
    add_json,
    open_host,
    parse_size,
    print_json,
    print_table,
    progress_bar,
)

if TYPE_CHECKING:  # the host is loaded by open_host, when a command runs
    from hvgui.backend import VM, HostBackend, HostError, OperationResult, Snapshot
    from hvgui.progress import Progress

Parser = argparse.ArgumentParser


def _command(
    subparsers: argparse._SubParsersAction[Parser],
    name: str,
    help_text: str,
    func: Callable[[argparse.Namespace], int],
    *,
    json_option: bool = True,
) -> Parser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    add_host_option(parser)
    if json_option:
        add_json(parser)
    parser.set_defaults(func=func)
    return parser


def _print_result(result: OperationResult, args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        print_json(result.to_json(), args.json)
        return 0
    for event in result.events:
        size = f" ({human_size(event.size)})" if event.size is not None else ""
        detail = f": {event.detail}" if event.detail else ""
        print(f"{event.action:<9} {event.path}{size}{detail}")
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"PS> {result.powershell}")
    return 0


def _run(
    args: argparse.Namespace, call: Callable[[HostBackend, Progress | None], OperationResult]
) -> int:
    host = open_host(args)
    with progress_bar(not getattr(args, "json", False)) as progress:
        result = call(host, progress)
    return _print_result(result, args)


# ---------------------------------------------------------------------- reading
def _vm_record(vm: VM, mode: object) -> dict[str, Any]:
    """Get-VM's record; for --json-ps51 its Uptime is the TimeSpan itself (to the millisecond,
    as Hyper-V counts it), which --json writes as hh:mm:ss text."""
    record = vm.to_json()
    if mode == PS51:
        record["Uptime"] = timedelta(milliseconds=vm.uptime // timedelta(milliseconds=1))
    return record


def _get_vm(args: argparse.Namespace) -> int:
    host = open_host(args)
    errors: list[HostError] = []
    vms = [host.get_vm(args.name)] if args.name else host.list_vms(errors=errors)
    for error in errors:  # the others are still listed, as Hyper-V Manager does
        print(f"hvctl: error: {error}", file=sys.stderr)
    status = 1 if errors else 0
    if args.json:
        records = [_vm_record(vm, args.json) for vm in vms]
        print_json(records[0] if args.name else records, args.json)
        return status
    rows: list[dict[str, Any]] = []
    for vm in vms:
        row = vm.to_json()
        row["CPUUsage(%)"] = vm.cpu_usage
        row["MemoryAssigned(M)"] = vm.memory_assigned >> 20
        rows.append(row)
    print_table(rows, ["Name", "State", "CPUUsage(%)", "MemoryAssigned(M)", "Uptime", "Status"])
    return status


def _checkpoint(args: argparse.Namespace) -> int:
    name = args.snapshot_name
    if args.snapshot_name_arg is not None:
        if name is not None and name != args.snapshot_name_arg:
            args.parser.error("the checkpoint's name is given twice: give SNAPSHOT_NAME or "
                         "--snapshot-name, not both")
        name = args.snapshot_name_arg
    return _run(args, lambda h, pr: h.checkpoint_vm(args.name, snapshot_name=name, progress=pr))


def _matching(snaps: list[Snapshot], wanted: str) -> list[Snapshot]:
    """Get-VMSnapshot -Name: the checkpoints of that name (without case; wildcards `*`, `?`,
    `[...]`) or that Id."""
    if any(c in wanted for c in "*?["):
        return [s for s in snaps if fnmatch.fnmatchcase(s.name.casefold(), wanted.casefold())]
    key = wanted.strip("{}").casefold()
    return [s for s in snaps if s.name.casefold() == wanted.casefold() or s.id.casefold() == key]


def _get_snapshot(args: argparse.Namespace) -> int:
    host = open_host(args)
    snaps = host.list_snapshots(args.name)
    if args.snapshot is not None:
        matching = _matching(snaps, args.snapshot)
        if not matching and not any(c in args.snapshot for c in "*?["):
            from hvgui.backend.names import find_snapshot

            find_snapshot(snaps, args.snapshot, args.name)  # none: the host's own error
        snaps = matching
    if args.json:
        print_json([s.to_json() for s in snaps], args.json)
        return 0
    rows = []
    for snap in snaps:
        row = snap.to_json()
        row["CreationTime"] = ps_datetime(snap.creation_time)
        rows.append(row)
    print_table(rows, ["VMName", "Name", "SnapshotType", "CreationTime", "ParentSnapshotName"])
    return 0


def _test_host(args: argparse.Namespace) -> int:
    host = open_host(args)
    findings = host.check()
    if args.json:
        print_json([f.to_json() for f in findings], args.json)
    elif not findings:
        print(f"{host.location}: no problems found")
    else:
        for finding in findings:
            print(f"{finding.severity.upper()}: {finding.message}")
            print(f"    {finding.path}")
    return 1 if any(f.is_problem for f in findings) else 0


def _new_host(args: argparse.Namespace) -> int:
    from hvgui.connect import new_lab_host

    host = new_lab_host(args.dir, args.windows_root)
    print(f"{host.location}: a new lab host (no VMs yet), standing for "
          f"{host.windows_root} on a Windows host")
    return 0


def _set_host(args: argparse.Namespace) -> int:
    host = open_host(args)
    folders = host.allowed_outside_folders()
    if args.allow or args.disallow:
        gone = {Path(os.path.realpath(d)) for d in args.disallow}
        wanted = [*(f for f in folders if f not in gone), *(Path(d) for d in args.allow)]
        folders = host.allow_outside_folders(wanted)
    if args.json:
        print_json(
            {"Path": host.location, "AllowedOutsideFolders": [str(f) for f in folders]},
            args.json,
        )
    elif folders:
        print(f"{host.location} may also change files in:")
        for folder in folders:
            print(f"    {folder}")
    else:
        print(f"{host.location} changes files only inside its own folder")
    return 0


def _adopt_host(args: argparse.Namespace) -> int:
    from hvgui.backend.protocol import HostKind  # here: its dataclasses cost --help ~9 ms
    from hvgui.connect import lab_host

    host = lab_host(open_host(args), "only a folder can be adopted as a lab host")
    if host.kind is HostKind.VMCX_FOLDER:
        host.adopt()  # a folder no lab host may change (2016+): refused in its words
    if host.kind is not HostKind.HYPERV_FOLDER:
        print(f"{host.location}: already a lab host (nothing to adopt)")
        return 0
    host.adopt()
    print(f"{host.location}: adopted as a lab host; nothing in it changes until its first "
          "operation")
    return 0


def _get_events(args: argparse.Namespace) -> int:
    host = open_host(args)
    events = host.events(args.name)
    if args.json:
        print_json([e.to_json() for e in events], args.json)
        return 0
    rows = []
    for event in events:
        row = event.to_json()
        row["Size"] = human_size(event.size)
        row["File"] = event.path.name
        rows.append(row)
    print_table(rows, ["Time", "Operation", "Action", "File", "Size", "Detail"])
    return 0


# ---------------------------------------------------------------------- registration
def register(subparsers: argparse._SubParsersAction[Parser]) -> None:
    p = _command(subparsers, "get-vm", "list the lab host's VMs (Get-VM)", _get_vm)
    p.add_argument("name", metavar="NAME", nargs="?")

    p = _command(
        subparsers,
        "new-vm",
        "create a VM (New-VM)",
        lambda a: _run(
            a,
            lambda h, pr: h.new_vm(
                a.name,
                memory_startup_bytes=a.memory_startup_bytes,
                new_vhd_size_bytes=a.new_vhd_size_bytes,
                generation=a.generation,
                path=a.path,
                progress=pr,
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--memory-startup-bytes", type=parse_size, default=1 << 30)
    p.add_argument(
        "--new-vhd-size-bytes", type=parse_size, help="also create a new dynamic VHDX of this size"
    )
    p.add_argument("--generation", type=int, choices=(1, 2), default=2)
    p.add_argument("--path", type=Path, help="store the VM under DIR/NAME")

    p = _command(
        subparsers,
        "remove-vm",
        "delete a VM (Remove-VM); its disks stay",
        lambda a: _run(a, lambda h, pr: h.remove_vm(a.name, progress=pr)),
    )
    p.add_argument("name", metavar="NAME")

    p = _command(
        subparsers,
        "rename-vm",
        "rename a VM (Rename-VM)",
        lambda a: _run(a, lambda h, pr: h.rename_vm(a.name, a.new_name, progress=pr)),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("new_name", metavar="NEWNAME")

    for name, help_text, method in (
        ("start-vm", "start a VM (Start-VM)", "start_vm"),
        ("save-vm", "save a VM's state (Save-VM)", "save_vm"),
        ("suspend-vm", "pause a VM (Suspend-VM)", "suspend_vm"),
        ("resume-vm", "resume a paused VM (Resume-VM)", "resume_vm"),
        ("remove-vmsavedstate", "delete a saved VM's saved state: it is Off "
         "(Remove-VMSavedState)", "remove_saved_state"),
    ):
        p = _command(subparsers, name, help_text, _transition(method))
        p.add_argument("name", metavar="NAME")

    p = _command(
        subparsers,
        "stop-vm",
        "shut down a VM, or turn it off (Stop-VM)",
        lambda a: _run(a, lambda h, pr: h.stop_vm(a.name, turn_off=a.turn_off, progress=pr)),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--turn-off", action="store_true", help="pull the plug: memory is lost")

    p = _command(
        subparsers,
        "restart-vm",
        "reset a running VM: it restarts at once, its memory is lost (Restart-VM -Force)",
        lambda a: _run(a, lambda h, pr: h.reset_vm(a.name, progress=pr)),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", required=True,
                   help="as Restart-VM -Force: no shutdown in the guest (required)")

    p = _command(
        subparsers,
        "set-vm",
        "change a VM's settings (Set-VM)",
        lambda a: _run(
            a,
            lambda h, pr: h.set_vm(
                a.name,
                processor_count=a.processor_count,
                memory_startup_bytes=a.memory_startup_bytes,
                snapshot_file_location=a.snapshot_file_location,
                checkpoint_type=a.checkpoint_type,
                notes=a.notes,
                progress=pr,
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--processor-count", type=int)
    p.add_argument("--memory-startup-bytes", type=parse_size)
    p.add_argument(
        "--snapshot-file-location",
        type=Path,
        help="the checkpoint file location (only while the VM has no checkpoints)",
    )
    p.add_argument("--checkpoint-type", choices=CHECKPOINT_TYPES)
    p.add_argument("--notes")

    p = _command(subparsers, "checkpoint-vm", "take a checkpoint (Checkpoint-VM)", _checkpoint)
    p.set_defaults(parser=p)
    p.add_argument("name", metavar="NAME")
    # Checkpoint-VM's -SnapshotName is its second positional parameter: both spellings work.
    p.add_argument("snapshot_name_arg", nargs="?", metavar="SNAPSHOT_NAME",
                   help="the checkpoint's name, as --snapshot-name")
    p.add_argument("--snapshot-name", help="default: 'NAME - (M/D/YYYY - h:mm:ss AM/PM)'")

    p = _command(
        subparsers, "get-vmsnapshot", "list a VM's checkpoints (Get-VMSnapshot)", _get_snapshot
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("snapshot", nargs="?", metavar="SNAPSHOT",
                   help="only this checkpoint: its name (wildcards * and ?, as Get-VMSnapshot "
                        "-Name) or Id")

    p = _command(
        subparsers,
        "restore-vmsnapshot",
        "apply a checkpoint (Restore-VMSnapshot)",
        lambda a: _run(
            a,
            lambda h, pr: h.restore_snapshot(
                a.name, a.snapshot, take_checkpoint_first=a.take_checkpoint_first, progress=pr
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="the checkpoint's name or Id")
    p.add_argument(
        "--take-checkpoint-first",
        action="store_true",
        help="checkpoint the current state before applying",
    )

    p = _command(
        subparsers,
        "remove-vmsnapshot",
        "delete a checkpoint (Remove-VMSnapshot)",
        lambda a: _run(
            a,
            lambda h, pr: h.remove_snapshot(
                a.name, a.snapshot, include_children=a.include_all_child_snapshots, progress=pr
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("snapshot", metavar="SNAPSHOT")
    p.add_argument(
        "--include-all-child-snapshots",
        action="store_true",
        help="delete the checkpoint's whole subtree",
    )

    p = _command(
        subparsers,
        "rename-vmsnapshot",
        "rename a checkpoint (Rename-VMSnapshot)",
        lambda a: _run(
            a, lambda h, pr: h.rename_snapshot(a.name, a.snapshot, a.new_name, progress=pr)
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("snapshot", metavar="SNAPSHOT")
    p.add_argument("new_name", metavar="NEWNAME")

    p = _command(
        subparsers,
        "export-vmsnapshot",
        "export a checkpoint as a standalone VM folder (Export-VMSnapshot)",
        lambda a: _run(
            a, lambda h, pr: h.export_snapshot(a.name, a.snapshot, a.destination, progress=pr)
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("snapshot", metavar="SNAPSHOT")
    p.add_argument("destination", metavar="DESTINATION", type=Path)

    p = _command(
        subparsers,
        "move-vmstorage",
        "move a VM's files, every disk with all its AVHDX (Move-VMStorage)",
        lambda a: _run(
            a, lambda h, pr: h.move_storage(a.name, a.destination_storage_path, progress=pr)
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--destination-storage-path", type=Path, required=True)

    p = _command(
        subparsers,
        "add-vmharddiskdrive",
        "attach a VHDX, or a raw file as a pass-through disk (Add-VMHardDiskDrive)",
        lambda a: _run(
            a,
            lambda h, pr: h.add_hard_drive(
                a.name,
                a.path,
                pass_through=a.pass_through,
                controller_type=a.controller_type,
                controller_number=a.controller_number,
                controller_location=a.controller_location,
                progress=pr,
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--path", type=Path, required=True)
    p.add_argument(
        "--pass-through",
        action="store_true",
        help="the file stands for a physical disk: checkpoints do not capture it",
    )
    p.add_argument("--controller-type", choices=("IDE", "SCSI"))
    p.add_argument("--controller-number", type=int)
    p.add_argument("--controller-location", type=int)

    p = _command(
        subparsers,
        "remove-vmharddiskdrive",
        "detach a hard drive (Remove-VMHardDiskDrive); the file stays",
        lambda a: _run(
            a,
            lambda h, pr: h.remove_hard_drive(
                a.name, a.controller_type, a.controller_number, a.controller_location, progress=pr
            ),
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--controller-type", choices=("IDE", "SCSI"), required=True)
    p.add_argument("--controller-number", type=int, required=True)
    p.add_argument("--controller-location", type=int, required=True)

    p = _command(
        subparsers,
        "add-vmfibrechannelhba",
        "add a virtual Fibre Channel adapter (Add-VMFibreChannelHba)",
        lambda a: _run(
            a, lambda h, pr: h.add_fibre_channel(a.name, san_name=a.san_name, progress=pr)
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--san-name", required=True)

    p = _command(
        subparsers,
        "remove-vmfibrechannelhba",
        "remove a virtual Fibre Channel adapter (Remove-VMFibreChannelHba)",
        lambda a: _run(a, lambda h, pr: h.remove_fibre_channel(a.name, a.adapter, progress=pr)),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("adapter", metavar="ADAPTER", help="the adapter's Id or SAN name")

    p = subparsers.add_parser(
        "new-host",
        help="make a new, empty lab host in DIR (a new or empty folder)",
        description="make a new, empty lab host in DIR (a new or empty folder); --host and "
        "HVGUI_HOST only open existing hosts",
    )
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument(
        "--windows-root", metavar="PATH", default=None,
        help="the folder on the Windows host this lab stands for, as its configurations and "
        r"parent locators name it (default C:\ProgramData\Microsoft\Windows\Hyper-V)",
    )
    p.set_defaults(func=_new_host)

    p = _command(
        subparsers,
        "test-host",
        "check the lab host: broken chains, orphaned AVHDX, stray BIN/VSV, missing "
        "files; exit 1 with findings",
        _test_host,
    )

    p = _command(
        subparsers,
        "adopt-host",
        "adopt a folder from a Hyper-V host (copied off it, or made by Export-VM), which "
        "opens read-only, as a lab host: remembered in your settings; nothing in the folder "
        "changes until its first operation",
        _adopt_host,
    )

    p = _command(
        subparsers,
        "set-host",
        "show or change which folders outside the lab host it may change (a lab folder from "
        "elsewhere can change only its own files unless you name a folder here)",
        _set_host,
    )
    p.add_argument(
        "--allow-outside-folder",
        dest="allow",
        metavar="DIR",
        action="append",
        default=[],
        help="let this host create, change and delete files in DIR (kept in your settings, "
        "not in the lab folder)",
    )
    p.add_argument(
        "--disallow-outside-folder",
        dest="disallow",
        metavar="DIR",
        action="append",
        default=[],
        help="take DIR off the list",
    )

    p = _command(
        subparsers,
        "get-vmevent",
        "show the disk event log (what operations did to files)",
        _get_events,
    )
    p.add_argument("name", metavar="NAME", nargs="?")


def _transition(method: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return _run(args, lambda h, pr: getattr(h, method)(args.name, progress=pr))

    return run
