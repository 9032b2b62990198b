"""Lessons: the checkpoint article's notes taught on the demo lab, written once as data.

A lesson is a list of steps. Each step says what to do or what is about to happen, may run an
operation (what a student would do, through the host's real operations), and names what to
look at: the VM and checkpoint, the rows of What happened, and the file the inspector opens (on
which tab). `hvctl demo run NAME` runs every step and prints what each did; the window's
Lessons pane walks through the same steps one Next at a time. The last line is the lesson, in
the article's words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from hvgui import vhdx
from hvgui.backend.states import VMState
from hvgui.errors import HvError
from hvgui.fat.partitioned import GuestFS
from hvgui.guest.guest import Guest
from hvgui.host.errors import HostError
from hvgui.host.host import Host
from hvgui.host.readable import LabNames
from hvgui.progress import CancelToken, Progress, check, report
from hvgui.teaching import demo

Out = Callable[[str], None]
MiB = 1 << 20
NOW = "Now"  # Look.checkpoint: the VM's current state

# Look.file: which file the inspector opens (resolved by `look_file` once the step has run).
VM_CONFIG = "vm-config"  # the VM's own XML
RUNNING_DISK = "running-disk"  # Now's disk (the leaf of the first virtual disk)
PARENT_DISK = "parent-disk"  # the running disk's parent
BASE_DISK = "base-disk"  # the base of the running disk's chain
CHECKPOINT_CONFIG = "checkpoint-config"  # Look.checkpoint's XML
CHECKPOINT_BIN = "checkpoint-bin"  # Look.checkpoint's saved memory

# Look.tab: the inspector's tab for that file.
BLOCK_MAP = "Block map"
XML_DIFF = "Diff"


@dataclass(frozen=True)
class Look:
    """What to look at after a step: each part is optional."""

    vm: str = ""
    checkpoint: str = ""  # a checkpoint's name, or NOW
    operations: tuple[str, ...] = ()  # What happened rows, by operation ("Checkpoint", ...)
    file: str = ""  # one of the file selectors above
    tab: str = ""  # the inspector's tab for the file


@dataclass(frozen=True)
class Step:
    say: str  # what to do, or what is about to happen
    act: Callable[[Story], None] | None = None  # the step's operation (Next runs it)
    look: Look = field(default_factory=Look)


@dataclass(frozen=True)
class Lesson:
    name: str
    notes: tuple[int, ...]  # the article's notes it shows
    title: str
    lesson: str  # the last step's sentence, in the article's words
    steps: tuple[Step, ...]

    @property
    def note(self) -> str:
        """The notes as a reader writes them: "4", "1-3"."""
        first, last = self.notes[0], self.notes[-1]
        return str(first) if first == last else f"{first}-{last}"


class Story:
    """One run of a lesson: the host, where its lines go, and what its steps remember."""

    def __init__(self, host: Host, out: Out) -> None:
        self.host = host
        self.out = out
        self.files: list[Path] = []  # the files to look at, in the order found
        self.values: dict[str, Any] = {}

    def names(self) -> LabNames:
        return LabNames(self.host)

    def say(self, text: str) -> None:
        """A line of output, with lab paths made relative and GUIDs named."""
        self.out(self.names().text(text))

    def look_at(self, *paths: PurePath) -> None:
        for path in map(Path, paths):  # the lab host's model paths are its files here
            if path not in self.files:
                self.files.append(path)


def _size(path: PurePath) -> str:
    local = Path(path)  # the lab host's model paths are its files here
    return f"{local.stat().st_size / MiB:.1f} MiB" if local.exists() else "missing"


def _digest(path: PurePath) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _chain_of(host: Host, vm: str) -> list[Path]:
    """The running disk's chain, leaf first."""
    with host.open_vm_disk(vm, writable=False) as disk:
        return list(disk.chain)


def _list(story: Story, paths: Sequence[PurePath], *, sizes: bool = False) -> None:
    names = story.names()
    for path in paths:
        story.out(f"  {names.path(path)}" + (f"  {_size(path)}" if sizes else ""))


def _findings(story: Story) -> int:
    findings = story.host.check()
    names = story.names()
    for f in findings:
        story.out(f"  [{f.severity}] {names.path(f.path)}:")
        story.out(f"      {names.text(f.message)}")
    if not findings:
        story.out("  (the host check is clean)")
    return len(findings)


def _reads_now(story: Story, vm: str, still_reads: str, broken: str) -> None:
    try:
        Guest(story.host, vm).read_file("/inetpub/wwwroot/index.html")
        story.out(still_reads)
    except HvError as exc:
        story.say(f"{broken}: {exc}")


# ----------------------------------------------------------------------------- notes 1-3
def _captured_prepare(story: Story) -> None:
    guest = Guest(story.host, demo.WEB01)
    guest.write_file("/Documents/plan.txt", b"Plan A\r\n")
    guest.set_note("Typed but never saved: call the vendor")
    story.out("The guest wrote /Documents/plan.txt and typed a note (in memory only).")


def _captured_checkpoint(story: Story) -> None:
    result = story.host.checkpoint_vm(demo.WEB01, snapshot_name="Everything captured")
    snap = result.snapshot
    assert snap is not None
    story.values["snap"] = snap.id
    story.out(f"Checkpoint '{snap.name}' taken: no question was asked, nothing was destroyed.")
    story.out("It created:")
    _list(story, sorted({e.path for e in result.events if e.action == "created"}))
    files = [snap.config_path, *(p for p in (snap.bin_path, snap.vsv_path) if p is not None)]
    story.look_at(*files, *(d.path for d in snap.hard_drives))


def _captured_change(story: Story) -> None:
    host = story.host
    Guest(host, demo.WEB01).remove_file("/Documents/plan.txt")
    Guest(host, demo.WEB01).set_note("A different note")
    host.stop_vm(demo.WEB01, turn_off=True)
    story.out("plan.txt deleted, the note changed, the VM turned off: its memory is gone.")


def _captured_apply(story: Story) -> None:
    host = story.host
    host.restore_snapshot(demo.WEB01, story.values["snap"])
    guest = Guest(host, demo.WEB01)
    back = guest.read_file("/Documents/plan.txt").decode().strip()
    story.out(f"Applied: the VM is {guest.vm.state} again; plan.txt reads {back!r};")
    story.out(f"  the note in memory reads {guest.note()!r}")


# ----------------------------------------------------------------------------- note 4
def _backup_chain(story: Story) -> None:
    chain = _chain_of(story.host, demo.WEB01)
    story.out(f"{demo.WEB01}'s running disk is a chain of {len(chain)} files:")
    _list(story, chain, sizes=True)
    story.look_at(*chain)


def _backup_delete(story: Story) -> None:
    base = _chain_of(story.host, demo.WEB01)[-1]
    story.say(f"Deleting the base disk {base.name}, as if the AVHDX files were its backup...")
    story.host.boundary.require(base, "delete it for the lesson")  # the lab's own files only
    vhdx.set_read_only(base, False)
    base.unlink()


def _backup_check(story: Story) -> None:
    story.out("The host check now says:")
    count = _findings(story)
    _reads_now(story, demo.WEB01, "The guest's files still read: unexpected.",
               "The guest's disk cannot be read any more")
    story.out(f"{count} findings: every checkpoint and Now broke.")


# ----------------------------------------------------------------------------- note 5
def _grows_before(story: Story) -> None:
    leaf, parent = _chain_of(story.host, demo.ARCHIVE)[:2]
    names = story.names()
    with vhdx.open_disk(parent) as disk:
        virtual = disk.size
    story.out(f"The base disk {names.path(parent)}")
    story.out(f"  is dynamic: {_size(parent)} on the host, up to {virtual // MiB} MiB virtual.")
    story.out(f"Its AVHDX {names.path(leaf)} is {_size(leaf)}.")
    story.look_at(leaf, parent)


def _grows_write(story: Story) -> None:
    leaf, parent = _chain_of(story.host, demo.ARCHIVE)[:2]
    nbytes = 96 * MiB
    result = Guest(story.host, demo.ARCHIVE).run_workload(nbytes, path="/Workload/big.bin")
    story.out(f"The guest wrote {nbytes // MiB} MiB of new data; the AVHDX grew by "
              f"{result.disk_growth / MiB:.1f} MiB.")
    story.out(f"Now: AVHDX {_size(leaf)}  vs  its parent {_size(parent)}.")
    if leaf.stat().st_size > parent.stat().st_size:
        story.out("The child is larger than its parent.")


# ----------------------------------------------------------------------------- note 6
def _settings_change(story: Story) -> None:
    host = story.host
    vm = host.get_vm(demo.CLIENT)
    snaps = host.list_snapshots(vm.id)
    before = {s.config_path: _digest(s.config_path) for s in snaps}
    vm_before = _digest(vm.config_path)
    story.out(f"{vm.name} has {len(snaps)} checkpoints and {vm.processor_count} virtual "
              "processor(s).")
    result = host.set_vm(vm.id, processor_count=vm.processor_count + 3, notes="Changed later")
    story.out(result.powershell)
    changed = [p for p, d in before.items() if _digest(p) != d]
    names = story.names()
    state = "changed" if vm_before != _digest(vm.config_path) else "unchanged"
    story.out(f"  the VM's own configuration {names.path(vm.config_path)}: {state}")
    story.out(f"  checkpoint configurations changed: {len(changed)} of {len(before)}")
    story.look_at(vm.config_path, *before)


def _settings_apply(story: Story) -> None:
    host = story.host
    target = host.list_snapshots(demo.CLIENT)[0]
    host.restore_snapshot(demo.CLIENT, target.id)
    vm = host.get_vm(demo.CLIENT)
    story.out(f"Applying '{target.name}' brings back its settings: {vm.processor_count} "
              "processor(s).")


# ----------------------------------------------------------------------------- notes 7-8
_LATE_DATA = b"SAN LUN 2: data written AFTER the checkpoint\n"


def _pass_through_change(story: Story) -> None:
    host = story.host
    vm = host.get_vm(demo.SAN)
    drive = next(d for d in vm.hard_drives if d.pass_through)
    snap = host.list_snapshots(vm.id)[-1]
    story.out(f"{vm.name} has a pass-through disk ({drive.path.name}) and "
              f"{len(vm.fibre_channel)} virtual Fibre Channel adapter(s); checkpoint "
              f"'{snap.name}' exists.")
    host.boundary.require(drive.path, "write to it for the lesson")
    with open(drive.path, "r+b") as f:
        f.write(_LATE_DATA)
    if vm.state != VMState.OFF:
        host.stop_vm(vm.id, turn_off=True)
    host.remove_hard_drive(
        vm.id, drive.controller_type, drive.controller_number, drive.controller_location
    )
    attached = any(d.pass_through for d in host.get_vm(vm.id).hard_drives)
    story.out("The guest wrote new data on the pass-through disk, then the disk was detached.")
    story.out(f"  pass-through attached now: {attached}")
    story.look_at(drive.path, snap.config_path)


def _pass_through_apply(story: Story) -> None:
    host = story.host
    snap = host.list_snapshots(demo.SAN)[-1]
    result = host.restore_snapshot(demo.SAN, snap.id)
    for warning in result.warnings:
        story.say(f"  warning: {warning}")
    vm = host.get_vm(demo.SAN)
    attached = [d for d in vm.hard_drives if d.pass_through]
    story.out(f"After applying the checkpoint the pass-through is attached again: {bool(attached)}")
    if attached:
        with open(attached[0].path, "rb") as f:
            now = f.read(len(_LATE_DATA))
        reverted = "reverted" if now != _LATE_DATA else "NOT reverted"
        story.out(f"...but its data was {reverted}: it reads {now.decode(errors='replace')!r}")


# ----------------------------------------------------------------------------- note 9
def _modified_edit(story: Story) -> None:
    chain = _chain_of(story.host, demo.WEB01)
    parent = chain[1]
    story.out(f"Someone opens {story.names().path(parent)},")
    story.out(f"a read-only parent of {demo.WEB01}'s running disk, clears its read-only attribute")
    story.out("and 'just fixes one file' in it.")
    story.host.boundary.require(parent, "edit it for the lesson")
    vhdx.set_read_only(parent, False)
    with vhdx.open_disk(parent, writable=True) as disk, disk.as_file() as fp:
        with GuestFS(fp, writable=True) as fs:
            fs.write_file("/inetpub/wwwroot/index.html", b"<h1>hand-edited</h1>\r\n")
        disk.flush()
    story.look_at(*chain)


def _modified_check(story: Story) -> None:
    story.out("The host check now says:")
    count = _findings(story)
    _reads_now(story, demo.WEB01,
               "Now still reads (the damage is in what the child expects of its parent).",
               "Now cannot be read")
    story.out(f"{count} findings. A child records its parent's identity; changing the parent "
              "breaks every disk below it.")


# ----------------------------------------------------------------------------- note 10
def _moved_show(story: Story) -> None:
    host = story.host
    vm = host.get_vm(demo.ARCHIVE)
    names = story.names()
    story.out(f"{vm.name}: VM files in {names.path(vm.path)}; checkpoint file location moved "
              f"to {names.path(vm.snapshot_file_location)}")
    for snap in host.list_snapshots(vm.id):
        story.out(f"Checkpoint '{snap.name}':")
        paths = [p for p in (snap.config_path, snap.bin_path, snap.vsv_path) if p is not None]
        _list(story, paths)
        for d in snap.hard_drives:
            story.out(f"  its frozen disk, where it always was: {names.path(d.path)}")
        story.look_at(*paths, *(d.path for d in snap.hard_drives))
    for d in vm.hard_drives:
        story.out(f"The AVHDX the checkpoint started stays beside its parent: {names.path(d.path)}")
        story.look_at(d.path)


def _moved_again(story: Story) -> None:
    try:
        story.host.set_vm(demo.ARCHIVE, snapshot_file_location=story.host.root / "Elsewhere")
        story.out("Changing the location again was accepted: unexpected.")
    except HostError as exc:
        story.say(f"Changing it again now is refused: {exc.problem}")


# ----------------------------------------------------------------------------- note 11
def _move_before(story: Story) -> None:
    before = _chain_of(story.host, demo.WEB01)
    story.values["before"] = before
    story.out(f"{demo.WEB01}'s chain before the move ({len(before)} files):")
    _list(story, before)


def _move_run(story: Story) -> None:
    host = story.host
    before: list[Path] = story.values.get("before") or _chain_of(host, demo.WEB01)
    host.move_storage(demo.WEB01, host.root / "Moved Storage" / demo.WEB01)
    after = _chain_of(host, demo.WEB01)
    story.out("After Move-VMStorage:")
    _list(story, after)
    left = [p for p in before if p.exists()]
    story.out(f"Files left behind: {len(left)}. Test-VHD on the running disk: "
              f"{len(vhdx.test_vhd(after[0]))} problems.")
    index = Guest(host, demo.WEB01).read_file("/inetpub/wwwroot/index.html").decode().strip()
    story.out(f"The guest still reads its files: index.html = {index!r}")
    story.look_at(*after)


# ----------------------------------------------------------------------------- note 12
def _production_prepare(story: Story) -> None:
    host = story.host
    host.stop_vm(demo.ARCHIVE, turn_off=True)
    host.set_vm(demo.ARCHIVE, checkpoint_type="Production")
    host.start_vm(demo.ARCHIVE)
    guest = Guest(host, demo.ARCHIVE)
    guest.set_note("Unsaved work in memory")
    guest.write_file("/Archive/saved.txt", b"saved to disk\r\n")
    story.out(f"{demo.ARCHIVE}: CheckpointType Production. The guest saved a file and typed a "
              "note (memory).")


def _production_checkpoint(story: Story) -> None:
    snap = story.host.checkpoint_vm(demo.ARCHIVE, snapshot_name="Production").snapshot
    assert snap is not None
    saved = [p.name for p in (snap.bin_path, snap.vsv_path) if p is not None]
    story.out(f"Checkpoint '{snap.name}': {', '.join(saved) or 'no BIN and no VSV'} "
              "(no memory saved).")
    story.look_at(snap.config_path, *(d.path for d in snap.hard_drives))


def _production_apply(story: Story) -> None:
    host = story.host
    Guest(host, demo.ARCHIVE).remove_file("/Archive/saved.txt")
    host.restore_snapshot(demo.ARCHIVE, "Production")
    guest = Guest(host, demo.ARCHIVE)
    note = guest.note()
    saved = guest.read_file("/Archive/saved.txt").decode().strip()
    story.out(f"Applied: the VM is {guest.vm.state}; saved.txt is back: {saved!r};")
    story.out(f"  the note typed in memory: {'gone' if note is None else repr(note)}")


_W, _C, _S, _A = demo.WEB01, demo.CLIENT, demo.SAN, demo.ARCHIVE

LESSONS: dict[str, Lesson] = {
    lesson.name: lesson
    for lesson in (
        Lesson(
            "everything-captured", (1, 2, 3), "files and memory come back on Apply",
            "Everything about the VM is captured (disk contents, memory and CPU state, hardware "
            "configuration): an XML, a BIN and a VSV in the Snapshots folder, and an AVHDX "
            "beside each original disk with a generated name.",
            (
                Step("Web01 is running. The guest writes a file and types a note that lives "
                     "only in memory.", _captured_prepare, Look(_W, NOW)),
                Step("Take a checkpoint: Hyper-V asks nothing, since nothing is destroyed. "
                     "What happened lists the files it created.", _captured_checkpoint,
                     Look(_W, "Everything captured", ("Checkpoint",), CHECKPOINT_CONFIG)),
                Step("Delete the file, change the note and turn the VM off.", _captured_change,
                     Look(_W, NOW, ("Turn Off",))),
                Step("Apply the checkpoint: the file and the note in memory come back (the "
                     "BIN holds the memory).", _captured_apply,
                     Look(_W, "Everything captured", ("Apply",), CHECKPOINT_BIN)),
            ),
        ),
        Lesson(
            "not-a-backup", (4,), "remove the base VHDX and every checkpoint breaks",
            "Checkpoints are not backups: nothing is duplicated, and the AVHDX files are "
            "useless without the base files.",
            (
                Step("Web01's running disk is a chain: the AVHDX of Now reads through every "
                     "checkpoint's AVHDX down to the base VHDX.", _backup_chain,
                     Look(_W, NOW, (), RUNNING_DISK, BLOCK_MAP)),
                Step("Delete the base disk, as if the AVHDX files were a backup of it.",
                     _backup_delete, Look(_W, NOW, (), RUNNING_DISK)),
                Step("Check the host: every checkpoint and Now lost the blocks the base held.",
                     _backup_check, Look(_W, "Baseline", (), RUNNING_DISK)),
            ),
        ),
        Lesson(
            "avhdx-grows", (5,), "an AVHDX grows beyond its dynamic parent",
            "An AVHDX holds the blocks changed since its parent: it starts small and can grow "
            "to the parent's maximum size, so with a dynamic parent the child can end up "
            "larger than the parent.",
            (
                Step("Archive01 runs on a small AVHDX above its dynamic base disk.",
                     _grows_before, Look(_A, NOW, (), RUNNING_DISK, BLOCK_MAP)),
                Step("The guest writes 96 MiB of new data: every block goes to the AVHDX.",
                     _grows_write, Look(_A, NOW, ("Guest",), RUNNING_DISK, BLOCK_MAP)),
            ),
        ),
        Lesson(
            "settings-go-to-vm-files", (6,),
            "a settings change goes to the VM's files, not the checkpoint's",
            "The Snapshots XML, BIN and VSV hold the state as it was: configuration changes "
            "made while a checkpoint exists go to the VM's own files.",
            (
                Step("Change Lab-Client's processors and notes while it has checkpoints.",
                     _settings_change, Look(_C, NOW, ("Settings",), VM_CONFIG, XML_DIFF)),
                Step("Apply its first checkpoint: the settings as they were come back.",
                     _settings_apply, Look(_C, "Clean install", ("Apply",), CHECKPOINT_CONFIG)),
            ),
        ),
        Lesson(
            "pass-through-not-reverted", (7, 8),
            "the pass-through attachment reverts, its data does not",
            "Pass-through disks are not captured: applying a checkpoint restores their "
            "connection state, not the data on them, which can leave it inconsistent with the "
            "VM.",
            (
                Step("The guest writes on SAN-Server's pass-through disk; then the disk is "
                     "detached.", _pass_through_change, Look(_S, NOW, ("Remove drive",))),
                Step("Apply the checkpoint taken before: the attachment comes back, the data "
                     "does not.", _pass_through_apply,
                     Look(_S, "Before SAN change", ("Apply",), CHECKPOINT_CONFIG)),
            ),
        ),
        Lesson(
            "modified-parent", (9,), "a modified parent breaks its children",
            "Never change any file of a checkpoint or of a VM that has checkpoints: it is "
            "hard, sometimes impossible, to repair.",
            (
                Step("Someone edits a read-only parent of Web01's running disk by hand.",
                     _modified_edit, Look(_W, "Logs rotated", (), PARENT_DISK)),
                Step("Check the host: the child no longer matches its parent.",
                     _modified_check, Look(_W, NOW, (), RUNNING_DISK)),
            ),
        ),
        Lesson(
            "moved-checkpoint-location", (10,),
            "a moved checkpoint location holds XML/BIN/VSV only",
            "Only the BIN, VSV and XML files follow a relocated Snapshots folder; AVHDX files "
            "always stay with their parents.",
            (
                Step("Archive01's checkpoint file location was moved before its checkpoint "
                     "was taken.", _moved_show, Look(_A, "Month end", (), CHECKPOINT_CONFIG)),
                Step("Try to move it again while the checkpoint exists.", _moved_again,
                     Look(_A, NOW)),
            ),
        ),
        Lesson(
            "storage-move", (11,), "a storage move carries the whole chain",
            "A storage move moves the base disk and all its AVHDX files together: the chain "
            "stays valid.",
            (
                Step("Web01's chain before the move.", _move_before,
                     Look(_W, NOW, (), RUNNING_DISK)),
                Step("Move Web01's storage to another folder.", _move_run,
                     Look(_W, NOW, ("Move",), RUNNING_DISK, BLOCK_MAP)),
            ),
        ),
        Lesson(
            "production-checkpoint", (12,), "a production checkpoint saves no memory",
            "A production checkpoint is what a backup takes (VSS inside the guest, a "
            "consistent disk) and saves no memory.",
            (
                Step("Archive01 switches to production checkpoints; the guest saves a file "
                     "and types a note.", _production_prepare, Look(_A, NOW, ("Settings",))),
                Step("Take the checkpoint: no BIN and no VSV.", _production_checkpoint,
                     Look(_A, "Production", ("Checkpoint",), CHECKPOINT_CONFIG)),
                Step("Delete the file and apply: the file is back, the VM is Off and the note "
                     "is gone.", _production_apply, Look(_A, "Production", ("Apply",))),
            ),
        ),
    )
}


def look_file(host: Host, look: Look) -> Path | None:
    """The file a step's Look names, as the host is now (None when it names none)."""
    found = _look_path(host, look)
    return None if found is None else Path(found)  # the lab host's paths are its files here


def _look_path(host: Host, look: Look) -> PurePath | None:
    if not look.file:
        return None
    if look.file == VM_CONFIG:
        return host.get_vm(look.vm).config_path
    if look.file in (CHECKPOINT_CONFIG, CHECKPOINT_BIN):
        snap = host.get_snapshot(look.vm, look.checkpoint)
        return snap.config_path if look.file == CHECKPOINT_CONFIG else snap.bin_path
    vm = host.get_vm(look.vm)
    disks = [d.path for d in vm.hard_drives if not d.pass_through]
    if not disks:
        return None
    if look.file == RUNNING_DISK:
        return disks[0]
    try:
        chain = _chain_of(host, vm.id)
    except HvError:
        return disks[0]
    return chain[1] if look.file == PARENT_DISK and len(chain) > 1 else chain[-1]


def lesson_named(name: str) -> Lesson:
    lesson = LESSONS.get(name)
    if lesson is None:
        raise HostError(name, f"no such lesson; choose one of {', '.join(LESSONS)}")
    return lesson


def prepare_lab(
    root: Path, *, out: Out = print, progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Host:
    """The demo lab in `root`: built there first when the folder has no VMs."""
    root = Path(root)
    if not root.exists() or not any(root.iterdir()) or not Host.open(root).list_vms():
        out(f"Building the demo lab in {root}...")
        demo.build_demo_host(root, progress=progress, cancel=cancel)
    host = Host.open(root)
    names = {vm.name for vm in host.list_vms(errors=[])}
    missing = [vm for vm in (_W, _C, _S, _A) if vm not in names]
    if missing:
        raise HostError(
            root,
            f"not a demo lab (no {', '.join(missing)}): run the lesson on an empty folder, "
            "or without --host for a fresh lab",
        )
    report(progress, 1.0, "Demo lab ready")
    check(cancel)
    return host


def run_lesson(name: str, root: Path, *, out: Out = print) -> int:
    """Run every step of lesson `name` on the lab in `root` (built there first if empty)."""
    lesson = lesson_named(name)
    host = prepare_lab(Path(root), out=out)
    out(f"== {lesson.title} (note {lesson.note}) ==")
    story = Story(host, out)
    for number, step in enumerate(lesson.steps, 1):
        out(f"{number}. {step.say}")
        if step.act is not None:
            step.act(story)
    out(f"Lesson: {lesson.lesson}")
    # Whole names, to be found: `hvctl inspect <lab>/<name>` opens each one.
    out(f"Files to look at (in {host.root}):")
    names = story.names()
    for path in story.files:
        out(f"  {names.findable(path)}")
    return 0
