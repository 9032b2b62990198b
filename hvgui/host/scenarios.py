"""Teaching scenarios: scripted stories on a demo lab, one per note of the checkpoint article.

Each scenario does what a student might do, prints what happened in plain words, and ends with
the files to look at. `run_scenario` builds the demo lab first when the folder has none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hvgui import vhdx
from hvgui.errors import HvError
from hvgui.host import demo
from hvgui.host.errors import HostError
from hvgui.host.guest import Guest
from hvgui.host.host import Host

Out = Callable[[str], None]
MiB = 1 << 20


@dataclass(frozen=True)
class Scenario:
    name: str
    note: str  # the article's note(s) it illustrates
    title: str
    run: Callable[[Host, Out], list[Path]]  # returns the files to look at


def _size(path: Path) -> str:
    return f"{path.stat().st_size / MiB:.1f} MiB" if path.exists() else "missing"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _chain_of(host: Host, vm: str) -> list[Path]:
    """The running disk's chain, leaf first."""
    with host.open_vm_disk(vm, writable=False) as disk:
        return list(disk.chain)


def _findings(host: Host, out: Out) -> int:
    findings = host.check()
    for f in findings:
        out(f"  [{f.severity}] {f.path}: {f.message}")
    if not findings:
        out("  (the host check is clean)")
    return len(findings)


def _show_damage(host: Host, vm: str, out: Out, still_reads: str, broken: str) -> int:
    """After a file was tampered with: the host check's findings, then whether Now still reads.

    Returns the number of findings."""
    out("The host check now says:")
    count = _findings(host, out)
    try:
        Guest(host, vm).read_file("/inetpub/wwwroot/index.html")
        out(still_reads)
    except HvError as exc:
        out(f"{broken}: {exc}")
    return count


# ----------------------------------------------------------------------------- notes 1-3
def _everything_captured(host: Host, out: Out) -> list[Path]:
    vm = demo.WEB01
    guest = Guest(host, vm)
    guest.write_file("/Documents/plan.txt", b"Plan A\r\n")
    guest.set_note("Typed but never saved: call the vendor.")
    out(f"{vm} is running. The guest wrote /Documents/plan.txt and typed a note (memory only).")
    snap = host.checkpoint_vm(vm, snapshot_name="Everything captured").snapshot
    assert snap is not None
    out(f"Checkpoint '{snap.name}' taken: no confirmation was asked, nothing was destroyed.")
    Guest(host, vm).remove_file("/Documents/plan.txt")
    Guest(host, vm).set_note("A different note.")
    host.stop_vm(vm, turn_off=True)
    out("Then the file was deleted, the note changed, and the VM turned off (memory lost).")
    host.restore_snapshot(vm, snap.id)
    guest = Guest(host, vm)
    back = guest.read_file("/Documents/plan.txt").decode()
    out(f"Apply: the VM is {guest.vm.state} again; plan.txt reads {back.strip()!r};")
    out(f"       the note in memory reads {guest.note()!r}.")
    snap = host.get_snapshot(vm, snap.id)
    files = [snap.config_path]
    files += [p for p in (snap.bin_path, snap.vsv_path) if p is not None]
    files += [d.path for d in snap.hard_drives]
    out("The checkpoint is an XML (configuration), a BIN (memory), a VSV (device state),")
    out("and the frozen disks; its new AVHDX sits beside its parent with a generated name.")
    return files


# ----------------------------------------------------------------------------- note 4
def _not_a_backup(host: Host, out: Out) -> list[Path]:
    vm = demo.WEB01
    chain = _chain_of(host, vm)
    base = chain[-1]
    out(f"{vm}'s running disk is a chain of {len(chain)} files:")
    for p in chain:
        out(f"  {p.name:<60} {_size(p)}")
    out(f"Deleting the base disk {base.name}, as if the AVHDX files were a backup of it...")
    vhdx.set_read_only(base, False)
    base.unlink()
    count = _show_damage(
        host,
        vm,
        out,
        "The guest's files still read: unexpected.",
        "The guest's disk cannot be read any more",
    )
    out(f"{count} findings: every checkpoint and Now broke. AVHDX files hold only changed")
    out("blocks; without the base they are useless. Checkpoints are not backups.")
    return chain


# ----------------------------------------------------------------------------- note 5
def _avhdx_grows(host: Host, out: Out) -> list[Path]:
    vm = demo.ARCHIVE
    chain = _chain_of(host, vm)
    leaf, parent = chain[0], chain[1]
    out(f"{vm}'s base disk {parent.name} is dynamic: {_size(parent)} on the host,")
    with vhdx.open_disk(parent) as disk:
        out(f"  up to {disk.size / MiB:.0f} MiB virtual. Its AVHDX {leaf.name} is {_size(leaf)}.")
    nbytes = 96 * MiB
    result = Guest(host, vm).run_workload(nbytes, path="/Workload/big.bin")
    out(
        f"The guest writes {nbytes // MiB} MiB of new data; the AVHDX grew by "
        f"{result.disk_growth / MiB:.1f} MiB."
    )
    out(f"Now: AVHDX {_size(leaf)}  vs  its parent {_size(parent)}.")
    if leaf.stat().st_size > parent.stat().st_size:
        out("The child is larger than its parent: it can grow up to the parent's maximum size.")
    return [leaf, parent]


# ----------------------------------------------------------------------------- note 6
def _settings_to_vm_files(host: Host, out: Out) -> list[Path]:
    vm = host.get_vm(demo.CLIENT)
    snaps = host.list_snapshots(vm.id)
    before = {s.config_path: _digest(s.config_path) for s in snaps}
    vm_xml = vm.config_path
    vm_before = _digest(vm_xml)
    out(f"{vm.name} has {len(snaps)} checkpoints and {vm.processor_count} virtual processor(s).")
    result = host.set_vm(vm.id, processor_count=vm.processor_count + 3, notes="Changed later")
    vm = host.get_vm(vm.id)
    out(f"{result.powershell}")
    changed = [p for p, d in before.items() if _digest(p) != d]
    out(
        f"  the VM's own configuration {vm_xml.name}: "
        f"{'changed' if vm_before != _digest(vm_xml) else 'unchanged'}"
    )
    out(f"  checkpoint configurations changed: {len(changed)} of {len(before)}")
    target = snaps[0]
    host.restore_snapshot(vm.id, target.id)
    vm = host.get_vm(vm.id)
    out(f"Applying '{target.name}' brings back its settings: {vm.processor_count} processor(s).")
    return [vm_xml, *before]


# ----------------------------------------------------------------------------- notes 7-8
def _pass_through(host: Host, out: Out) -> list[Path]:
    vm = host.get_vm(demo.SAN)
    raw = next(d.path for d in vm.hard_drives if d.pass_through)
    snap = host.list_snapshots(vm.id)[-1]
    out(
        f"{vm.name} has a pass-through disk ({raw.name}) and {len(vm.fibre_channel)} virtual "
        f"Fibre Channel adapter(s); checkpoint '{snap.name}' exists."
    )
    message = b"SAN LUN 2: data written AFTER the checkpoint\n"
    with open(raw, "r+b") as f:
        f.write(message)
    out("The guest writes new data on the pass-through disk, then the disk is detached.")
    if vm.state != "Off":
        host.stop_vm(vm.id, turn_off=True)
    drive = next(d for d in vm.hard_drives if d.pass_through)
    host.remove_hard_drive(
        vm.id, drive.controller_type, drive.controller_number, drive.controller_location
    )
    attached = any(d.pass_through for d in host.get_vm(vm.id).hard_drives)
    out(f"  pass-through attached now: {attached}")
    result = host.restore_snapshot(vm.id, snap.id)
    for warning in result.warnings:
        out(f"  warning: {warning}")
    attached = any(d.pass_through for d in host.get_vm(vm.id).hard_drives)
    out(f"After applying the checkpoint the pass-through is attached again: {attached}")
    with open(raw, "rb") as f:
        now = f.read(len(message))
    reverted = now != message
    out(f"...but its data was {'reverted' if reverted else 'NOT reverted'}: it reads {now!r}.")
    out("The connection state is captured; the data on a pass-through disk or SAN LUN is not.")
    return [raw, snap.config_path]


# ----------------------------------------------------------------------------- note 9
def _modified_parent(host: Host, out: Out) -> list[Path]:
    vm = demo.WEB01
    chain = _chain_of(host, vm)
    parent = chain[1]
    out(f"Someone opens {parent.name},")
    out(f"a read-only parent of {vm}'s running disk, clears its read-only attribute and")
    out("'just fixes one file' in it.")
    vhdx.set_read_only(parent, False)
    from hvgui.host.guestfs import GuestFS  # the same driver the guest uses

    with vhdx.open_disk(parent, writable=True) as disk, disk.as_file() as fp:
        with GuestFS(fp, writable=True) as fs:
            fs.write_file("/inetpub/wwwroot/index.html", b"<h1>hand-edited</h1>\r\n")
        disk.flush()
    count = _show_damage(
        host,
        vm,
        out,
        "Now still reads (the damage is in what the child expects of its parent).",
        "Now cannot be read",
    )
    out(f"{count} findings. A child records its parent's identity; changing the parent breaks")
    out("every disk below it. Never change a file of a checkpoint or of a VM that has them.")
    return chain


# ----------------------------------------------------------------------------- note 10
def _moved_location(host: Host, out: Out) -> list[Path]:
    vm = host.get_vm(demo.ARCHIVE)
    out(f"{vm.name}: VM files in {vm.path}")
    out(f"  checkpoint file location moved to {vm.snapshot_file_location}")
    files: list[Path] = []
    for snap in host.list_snapshots(vm.id):
        out(f"Checkpoint '{snap.name}':")
        for p in (snap.config_path, snap.bin_path, snap.vsv_path):
            if p is not None:
                out(f"  {p}")
                files.append(p)
        for d in snap.hard_drives:
            out(f"  its frozen disk, where it always was: {d.path}")
            files.append(d.path)
    for d in vm.hard_drives:
        out(f"The AVHDX the checkpoint started stays beside its parent: {d.path}")
        files.append(d.path)
    try:
        host.set_vm(vm.id, snapshot_file_location=host.root / "Elsewhere")
        out("Changing the location again was accepted: unexpected.")
    except HostError as exc:
        out(f"Changing it again now is refused: {exc}")
    out("Only XML, BIN and VSV follow the Snapshots location; AVHDX stay beside their parents.")
    return files


# ----------------------------------------------------------------------------- note 11
def _storage_move(host: Host, out: Out) -> list[Path]:
    vm = demo.WEB01
    before = _chain_of(host, vm)
    destination = host.root / "Moved Storage" / vm
    out(f"{vm}'s chain before the move ({len(before)} files):")
    for p in before:
        out(f"  {p}")
    host.move_storage(vm, destination)
    after = _chain_of(host, vm)
    out("After Move-VMStorage:")
    for p in after:
        out(f"  {p}")
    left = [p for p in before if p.exists()]
    out(
        f"Files left behind: {len(left)}. Test-VHD on the running disk: "
        f"{len(vhdx.test_vhd(after[0]))} problems."
    )
    index = Guest(host, vm).read_file("/inetpub/wwwroot/index.html").decode().strip()
    out(f"The guest still reads its files: index.html = {index!r}")
    out("The base disk and all its AVHDX files moved together; the chain stays valid.")
    return after


# ----------------------------------------------------------------------------- note 12
def _production(host: Host, out: Out) -> list[Path]:
    vm = demo.ARCHIVE
    host.stop_vm(vm, turn_off=True)
    host.set_vm(vm, checkpoint_type="Production")
    host.start_vm(vm)
    guest = Guest(host, vm)
    guest.set_note("Unsaved work in memory")
    guest.write_file("/Archive/saved.txt", b"saved to disk\r\n")
    out(f"{vm}: CheckpointType Production. The guest saved a file and typed a note (memory).")
    snap = host.checkpoint_vm(vm, snapshot_name="Production").snapshot
    assert snap is not None
    saved = [p.name for p in (snap.bin_path, snap.vsv_path) if p is not None]
    out(f"Checkpoint '{snap.name}': {', '.join(saved) or 'no BIN and no VSV'} (no memory saved).")
    Guest(host, vm).remove_file("/Archive/saved.txt")
    host.restore_snapshot(vm, snap.id)
    guest = Guest(host, vm)
    note = guest.note()
    out(
        f"Applied: the VM is {guest.vm.state}; saved.txt is back: "
        f"{guest.read_file('/Archive/saved.txt').decode().strip()!r};"
    )
    out(f"  the note typed in memory: {'gone' if note is None else repr(note)}.")
    out("A production checkpoint is what a backup would capture: the disk, consistent; no memory.")
    return [snap.config_path, *[d.path for d in snap.hard_drives]]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "everything-captured",
            "1-3",
            "files and memory come back on Apply",
            _everything_captured,
        ),
        Scenario(
            "not-a-backup", "4", "remove the base VHDX and every checkpoint breaks", _not_a_backup
        ),
        Scenario("avhdx-grows", "5", "an AVHDX grows beyond its dynamic parent", _avhdx_grows),
        Scenario(
            "settings-go-to-vm-files",
            "6",
            "a settings change goes to the VM's files, not the checkpoint's",
            _settings_to_vm_files,
        ),
        Scenario(
            "pass-through-not-reverted",
            "7-8",
            "the pass-through attachment reverts, its data does not",
            _pass_through,
        ),
        Scenario("modified-parent", "9", "a modified parent breaks its children", _modified_parent),
        Scenario(
            "moved-checkpoint-location",
            "10",
            "a moved checkpoint location holds XML/BIN/VSV only",
            _moved_location,
        ),
        Scenario("storage-move", "11", "a storage move carries the whole chain", _storage_move),
        Scenario(
            "production-checkpoint", "12", "a production checkpoint saves no memory", _production
        ),
    )
}


def run_scenario(name: str, root: Path, *, out: Out = print) -> int:
    """Run scenario `name` on the lab in `root` (built there first when it has no VMs)."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise HostError(name, f"no such scenario; choose one of {', '.join(SCENARIOS)}")
    root = Path(root)
    if not root.exists() or not any(root.iterdir()) or not Host.open(root).list_vms():
        out(f"Building the demo lab in {root}...")
        demo.build_demo_host(root)
    host = Host.open(root)
    names = {vm.name for vm in host.list_vms(errors=[])}
    missing = [vm for vm in (demo.WEB01, demo.CLIENT, demo.SAN, demo.ARCHIVE) if vm not in names]
    if missing:
        raise HostError(
            root,
            f"not a demo lab (no {', '.join(missing)}): run the scenario on an empty folder, "
            "or without --host for a fresh lab",
        )
    out(f"== {scenario.title} (note {scenario.note}) ==")
    files = scenario.run(host, out)
    out("Files to look at:")
    for path in files:
        out(f"  {path}")
    return 0
