"""VM states and transitions as Hyper-V has them; illegal ones refused with the reason."""

from __future__ import annotations

import pytest

from hvgui.backend.actions import allowed_actions
from hvgui.backend.states import VMAction
from hvgui.host import Host, InvalidStateError

from .hosthelpers import make_vm


def test_life_cycle_and_files(host: Host) -> None:
    vm_id = make_vm(host)
    vm = host.get_vm(vm_id)
    runtime = vm.config_path.parent / vm_id
    assert (vm.state, vm.memory_assigned) == ("Off", 0)
    host.start_vm("web01")
    vm = host.get_vm("web01")
    assert (vm.state, vm.memory_assigned) == ("Running", vm.memory_startup)
    assert (runtime / f"{vm_id}.bin").exists() and not (runtime / f"{vm_id}.vsv").exists()
    host.write_memory("web01", 1 << 20, b"in memory")
    host.suspend_vm("web01")
    assert host.get_vm("web01").state == "Paused"
    host.resume_vm("web01")
    host.save_vm("web01")
    assert host.get_vm("web01").state == "Saved"
    assert (runtime / f"{vm_id}.bin").exists() and (runtime / f"{vm_id}.vsv").exists()
    assert host.read_memory("web01", 1 << 20, 9) == b"in memory"
    host.start_vm("web01")  # from Saved: memory comes back
    assert host.read_memory("web01", 1 << 20, 9) == b"in memory"
    assert not (runtime / f"{vm_id}.vsv").exists()
    host.stop_vm("web01", turn_off=True)
    assert host.get_vm("web01").state == "Off"
    assert not (runtime / f"{vm_id}.bin").exists()
    assert host.read_memory("web01", 1 << 20, 9) == bytes(9)  # Turn Off loses memory
    assert host.check() == []


@pytest.mark.parametrize(
    ("setup", "action", "reason"),
    [
        ([], "suspend_vm", "cannot pause the VM: it is not running"),
        ([], "save_vm", "cannot save the VM: it is off"),
        ([], "resume_vm", "cannot resume the VM: it is not paused"),
        ([], "stop_vm", "cannot shut down the VM: it is already off"),
        (["start_vm"], "start_vm", "cannot start the VM: it is already running"),
        (["start_vm", "suspend_vm"], "start_vm", "it is paused: resume it instead"),
        (["start_vm", "suspend_vm"], "stop_vm", "a paused guest cannot shut itself down"),
        (["start_vm", "save_vm"], "suspend_vm", "it is saved, not running"),
    ],
)
def test_illegal_transitions_say_why(
    host: Host, setup: list[str], action: str, reason: str
) -> None:
    make_vm(host)
    for step in setup:
        getattr(host, step)("web01")
    before = host.get_vm("web01").state
    with pytest.raises(InvalidStateError) as info:
        getattr(host, action)("web01")
    assert str(info.value).startswith("web01: ")
    assert reason in str(info.value)
    assert host.get_vm("web01").state == before


def test_guest_writes_need_a_running_vm(host: Host) -> None:
    make_vm(host)
    with pytest.raises(InvalidStateError, match="the VM is Off"):
        host.write_memory("web01", 0, b"x")
    with pytest.raises(InvalidStateError, match="the VM is Off"):
        host.open_vm_disk("web01", writable=True)
    with host.open_vm_disk("web01", writable=False) as disk:  # reading is always fine
        assert disk.read(0, 4) == bytes(4)


def test_settings_that_need_the_vm_off(host: Host) -> None:
    make_vm(host, running=True)
    with pytest.raises(InvalidStateError, match="turn it off first"):
        host.set_vm("web01", processor_count=4)
    host.set_vm("web01", checkpoint_type="Production", notes="ok while running")
    vm = host.get_vm("web01")
    assert (vm.checkpoint_type, vm.notes, vm.processor_count) == (
        "Production",
        "ok while running",
        1,
    )


# How each state is reached from Off, and the host call behind each VM action.
_REACH = {
    "Off": [], "Running": ["start_vm"], "Paused": ["start_vm", "suspend_vm"],
    "Saved": ["start_vm", "save_vm"],
}
_CALLS: dict[VMAction, tuple[str, dict[str, object]]] = {
    VMAction.START: ("start_vm", {}), VMAction.TURN_OFF: ("stop_vm", {"turn_off": True}),
    VMAction.SHUT_DOWN: ("stop_vm", {}), VMAction.SAVE: ("save_vm", {}),
    VMAction.PAUSE: ("suspend_vm", {}), VMAction.RESUME: ("resume_vm", {}),
    VMAction.RESET: ("reset_vm", {}), VMAction.DELETE_SAVED_STATE: ("remove_saved_state", {}),
    VMAction.CHECKPOINT: ("checkpoint_vm", {}), VMAction.REVERT: ("revert_vm", {}),
    VMAction.DELETE: ("remove_vm", {}),
}


@pytest.mark.parametrize("state", list(_REACH))
def test_the_window_offers_exactly_what_the_host_allows(host: Host, state: str) -> None:
    """One rule (backend.actions): an action the window greys is one the host refuses, with
    the same words; one it offers, the host does."""
    for n, (action, (method, kwargs)) in enumerate(_CALLS.items()):
        name = f"vm{n}"
        make_vm(host, name, disk=None)
        for step in _REACH[state]:
            getattr(host, step)(name)
        vm = host.get_vm(name)
        assert vm.state == state
        problem = allowed_actions(vm)[action]
        if problem:
            with pytest.raises(InvalidStateError) as info:
                getattr(host, method)(name, **kwargs)
            assert str(info.value) == f"{name}: {problem}", action
            assert host.get_vm(name).state == state
        else:
            getattr(host, method)(name, **kwargs)
    assert host.check() == []
