"""What each user action does: one small function per action over a selection.

As Anki's `aqt/operations`: a command takes the widget to ask over and the `Selection` it acts
on, asks at most one question (through `hvgui.ui.ask`, patchable in tests) and returns the
operation to run, a `HostOp`, or None when the user said no (or the selection does not fit).
The caller runs it (`MainWindow.run_command`, the console's toolbar); nothing here reaches into
a window's widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from hvgui.backend import VM, Snapshot
from hvgui.backend.names import name_problem
from hvgui.backend.phases import Phase
from hvgui.ui import ask
from hvgui.ui.formatting import sentence
from hvgui.ui.host_op import HostOp, now_of, the_checkpoint
from hvgui.ui.session import HostSession


@dataclass(frozen=True)
class Selection:
    """What an action acts on: a VM of one open host and, in its tree, a checkpoint."""

    session: HostSession
    vm: VM
    snapshot: Snapshot | None = None


Command = Callable[[QWidget, Selection], HostOp | None]


# ------------------------------------------------------------------ VM state
def start(_parent: QWidget, sel: Selection) -> HostOp:
    host, vm = sel.session.host, sel.vm
    return HostOp(sel.session, vm, "Starting",
                  lambda p, c: host.start_vm(vm.id, progress=p, cancel=c))


def turn_off(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm_stop(parent, vm.name, turn_off=True):
        return None
    return HostOp(sel.session, vm, "Turning Off",
                  lambda p, c: host.stop_vm(vm.id, turn_off=True, progress=p, cancel=c))


def shut_down(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm_stop(parent, vm.name, turn_off=False):
        return None
    return HostOp(sel.session, vm, "Shutting Down",
                  lambda p, c: host.stop_vm(vm.id, progress=p, cancel=c))


def save(_parent: QWidget, sel: Selection) -> HostOp:
    host, vm = sel.session.host, sel.vm
    return HostOp(sel.session, vm, "Saving", lambda p, c: host.save_vm(vm.id, progress=p, cancel=c))


def pause(_parent: QWidget, sel: Selection) -> HostOp:
    host, vm = sel.session.host, sel.vm
    return HostOp(sel.session, vm, "Pausing",
                  lambda p, c: host.suspend_vm(vm.id, progress=p, cancel=c))


def resume(_parent: QWidget, sel: Selection) -> HostOp:
    host, vm = sel.session.host, sel.vm
    return HostOp(sel.session, vm, "Resuming",
                  lambda p, c: host.resume_vm(vm.id, progress=p, cancel=c))


def reset(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm_reset(parent, vm.name):
        return None
    return HostOp(sel.session, vm, "Resetting",
                  lambda p, c: host.reset_vm(vm.id, progress=p, cancel=c))


def delete_saved_state(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm_delete_saved_state(parent, vm.name):
        return None
    return HostOp(sel.session, vm, "Deleting Saved State",
                  lambda p, c: host.remove_saved_state(vm.id, progress=p, cancel=c))


# ------------------------------------------------------------------ VM
def checkpoint(_parent: QWidget, sel: Selection) -> HostOp:
    """No question: Hyper-V Manager takes a checkpoint at once (nothing is destroyed)."""
    host, vm = sel.session.host, sel.vm
    return HostOp(sel.session, vm, Phase.CREATE,
                  lambda p, c: host.checkpoint_vm(vm.id, progress=p, cancel=c),
                  shows=the_checkpoint)


def revert(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm_revert(parent, vm.name, vm.parent_snapshot_name or ""):
        return None
    return HostOp(sel.session, vm, Phase.APPLY,
                  lambda p, c: host.revert_vm(vm.id, progress=p, cancel=c), shows=now_of)


def move_storage(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    folder = ask.ask_host_path(
        parent, host, f"Move the storage of {vm.name} to", sel.session.local_folder()
    )
    if folder is None:
        return None
    return HostOp(sel.session, vm, Phase.MOVE,
                  lambda p, c: host.move_storage(vm.id, folder, progress=p, cancel=c))


def export_vm(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    folder = ask.ask_host_path(parent, host, f"Export {vm.name} to")
    if folder is None:
        return None
    return HostOp(sel.session, vm, Phase.EXPORT,
                  lambda p, c: host.export_vm(vm.id, folder, progress=p, cancel=c))


def rename_vm(parent: QWidget, sel: Selection, name: str) -> HostOp | None:
    """The name typed in place: refused with a message, or renamed by the host."""
    host, vm = sel.session.host, sel.vm
    if not _acceptable(parent, "Rename Virtual Machine", name):
        return None
    return HostOp(sel.session, vm, "Renaming",
                  lambda p, c: host.rename_vm(vm.id, name, progress=p, cancel=c))


def delete_vm(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm = sel.session.host, sel.vm
    if not ask.confirm(
        parent, "Delete Selected Virtual Machines",
        f"Are you sure you want to delete \"{vm.name}\"?",
        "Its configuration and checkpoints are deleted (each checkpoint's differencing "
        "disk is merged first, as Hyper-V does); its virtual hard disks are kept."
        # The VM's own count: the checkpoint tree may still show the VM selected before.
        if vm.snapshot_count or vm.parent_snapshot_id
        else "Its configuration is deleted; its virtual hard disks are kept.",
    ):
        return None
    return HostOp(sel.session, vm, "Deleting",
                  lambda p, c: host.remove_vm(vm.id, progress=p, cancel=c))


def new_vm(parent: QWidget, session: HostSession) -> HostOp | None:
    from hvgui.ui.vm_dialogs import NewVmDialog  # loaded when first asked

    values = NewVmDialog.ask(parent)
    if values is None:
        return None
    host = session.host
    return HostOp(session, None, "Creating Virtual Machine", lambda p, c: host.new_vm(
        values.name, memory_startup_bytes=values.memory, new_vhd_size_bytes=values.disk_size,
        generation=values.generation, progress=p, cancel=c))


# ------------------------------------------------------------------ checkpoint
def apply_checkpoint(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm, snap = sel.session.host, sel.vm, sel.snapshot
    if snap is None:
        return None
    choice = ask.ask_apply(parent, vm.name, snap.name)
    if choice is ask.ApplyChoice.CANCEL:
        return None
    first = choice is ask.ApplyChoice.TAKE_CHECKPOINT_AND_APPLY
    return HostOp(sel.session, vm, Phase.APPLY, lambda p, c: host.restore_snapshot(
        vm.id, snap.id, take_checkpoint_first=first, progress=p, cancel=c), shows=now_of)


def export_checkpoint(parent: QWidget, sel: Selection) -> HostOp | None:
    host, vm, snap = sel.session.host, sel.vm, sel.snapshot
    if snap is None:
        return None
    folder = ask.ask_host_path(parent, host, f"Export checkpoint \"{snap.name}\" to")
    if folder is None:
        return None
    return HostOp(sel.session, vm, Phase.EXPORT, lambda p, c: host.export_snapshot(
        vm.id, snap.id, folder, progress=p, cancel=c))


def rename_checkpoint(parent: QWidget, sel: Selection, name: str) -> HostOp | None:
    """The name typed in place: refused with a message, or renamed by the host."""
    host, vm, snap = sel.session.host, sel.vm, sel.snapshot
    if snap is None or not _acceptable(parent, "Rename Checkpoint", name, "checkpoint"):
        return None
    return HostOp(sel.session, vm, "Renaming Checkpoint", lambda p, c: host.rename_snapshot(
        vm.id, snap.id, name, progress=p, cancel=c), shows=the_checkpoint)


def delete_checkpoint(parent: QWidget, sel: Selection) -> HostOp | None:
    return _delete(parent, sel, include_children=False)


def delete_checkpoint_subtree(parent: QWidget, sel: Selection) -> HostOp | None:
    return _delete(parent, sel, include_children=True)


def _delete(parent: QWidget, sel: Selection, *, include_children: bool) -> HostOp | None:
    host, vm, snap = sel.session.host, sel.vm, sel.snapshot
    if snap is None:
        return None
    if include_children:
        title = "Delete Checkpoint Subtree"
        text = f"Are you sure you want to delete \"{snap.name}\" and all checkpoints under it?"
    else:
        title = "Delete Checkpoint"
        text = f"Are you sure you want to delete the checkpoint \"{snap.name}\"?"
    if not ask.confirm_delete(parent, host, vm, snap, title, text,
                              include_children=include_children):
        return None
    return HostOp(sel.session, vm, Phase.DELETE, lambda p, c: host.remove_snapshot(
        vm.id, snap.id, include_children=include_children, progress=p, cancel=c))


def _acceptable(parent: QWidget, title: str, name: str, what: str = "VM") -> bool:
    problem = name_problem(name, what)
    if problem:
        ask.inform(parent, title, f"This name cannot be used. {sentence(problem)}")
    return not problem
