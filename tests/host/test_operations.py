"""More operations: saved and paused VMs' checkpoints, Remove-VM, the event log, revisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.host import Host, HostError, InvalidStateError

from .hosthelpers import MiB, digest, make_vm, now_disk, write_now


@pytest.mark.parametrize("state", ["Saved", "Paused"])
def test_checkpoint_of_a_saved_or_paused_vm_comes_back_in_that_state(
    host: Host, state: str
) -> None:
    make_vm(host, running=True)
    host.write_memory("web01", 2 * MiB, b"remember me")
    if state == "Saved":
        host.save_vm("web01")
    else:
        host.suspend_vm("web01")
    snap = host.checkpoint_vm("web01", snapshot_name="s").snapshot
    assert snap is not None and snap.state == state and snap.bin_path and snap.vsv_path
    host.stop_vm("web01", turn_off=True)
    host.restore_snapshot("web01", "s")
    assert host.get_vm("web01").state == state
    assert host.read_memory("web01", 2 * MiB, 11) == b"remember me"
    assert host.check() == []


def test_remove_vm_merges_checkpoints_into_the_disks_and_keeps_them(host: Host) -> None:
    """Remove-VM: "If the virtual machine has any snapshots, these are deleted and merged into
    the virtual hard disk files"; only an Off or Saved VM can be deleted."""
    vm_id = make_vm(host, running=True)
    write_now(host, "web01", 0, b"before one" * 100)
    host.checkpoint_vm("web01", snapshot_name="one")
    write_now(host, "web01", MiB, b"after one" * 100)
    host.checkpoint_vm("web01", snapshot_name="two")
    now = digest(now_disk(host, "web01"))
    with pytest.raises(InvalidStateError, match="turn it off or save it first"):
        host.remove_vm("web01")
    host.save_vm("web01")
    config = host.get_vm("web01").config_path
    result = host.remove_vm("web01")
    assert not config.exists() and not (config.parent / vm_id).exists()
    assert not list((host.root / "Snapshots").iterdir())
    [base] = (host.root / "Virtual Hard Disks").iterdir()
    assert base.suffix == ".vhdx" and digest(base) == now  # everything merged into the base
    assert base.stat().st_mode & 0o200  # and no longer frozen
    actions = {e.action for e in result.events}
    assert {"merged", "deleted"} <= actions
    with pytest.raises(HostError, match="no VM with this name"):
        host.get_vm("web01")
    assert host.check() == []


def test_event_log_is_persisted_per_vm(host: Host, tmp_path: Path) -> None:
    a = make_vm(host, "a", running=True)
    make_vm(host, "b")
    host.checkpoint_vm("a")
    write_now(host, "a", 0, b"x" * MiB)
    host.record_guest_event(
        "a", action="written", path=now_disk(host, "a"), size=MiB, detail="guest wrote 1 MiB"
    )
    reopened = Host.open(host.root)
    events = reopened.events("a")
    assert all(e.vm_id == a for e in events)
    assert [e.action for e in events if e.operation == "Checkpoint"][:2] == ["created", "read-only"]
    assert events[-1].detail == "guest wrote 1 MiB"
    assert {e.vm_id for e in reopened.events()} == {a, host.get_vm("b").id}
    times = [e.time for e in reopened.events()]
    assert times == sorted(times)


def test_revision_changes_with_every_change(host: Host) -> None:
    make_vm(host)
    first = host.revision()
    assert host.revision() == first
    host.checkpoint_vm("web01")
    second = host.revision()
    assert second != first
    host.get_vm("web01")
    host.list_snapshots("web01")
    assert host.revision() == second  # reading changes nothing


def test_vm_names_and_lookup(host: Host) -> None:
    vm_id = make_vm(host)
    with pytest.raises(HostError, match="already exists"):
        host.new_vm("WEB01")
    assert host.get_vm(vm_id.lower()).name == "web01"
    assert host.get_vm("{" + vm_id + "}").name == "web01"
    host.rename_vm("web01", "web02")
    assert host.get_vm(vm_id).name == "web02"
    with pytest.raises(HostError, match="startup memory"):
        host.new_vm("tiny", memory_startup_bytes=1000)
    with pytest.raises(HostError, match="generation must be 1 or 2"):
        host.new_vm("gen3", generation=3)


def test_damaged_checkpoint_configuration_names_the_file(host: Host) -> None:
    make_vm(host)
    snap = host.checkpoint_vm("web01").snapshot
    assert snap is not None
    snap.config_path.write_bytes(b"\xff\xfe" + "<configuration>".encode("utf-16-le"))
    with pytest.raises(HostError) as info:
        host.list_snapshots("web01")
    assert str(info.value).startswith(str(snap.config_path))


def test_guest_writes_that_grow_the_avhdx_are_logged(host: Host) -> None:
    make_vm(host, running=True)
    host.checkpoint_vm("web01")
    avhdx = now_disk(host, "web01")
    before = avhdx.stat().st_size
    write_now(host, "web01", 0, bytes(range(256)) * (16 * 4096))  # 16 MiB of new data
    grown = [e for e in host.events("web01") if e.action == "grown"]
    assert len(grown) == 1 and grown[0].path == avhdx
    assert grown[0].size == avhdx.stat().st_size > before + 15 * MiB
    write_now(host, "web01", 0, b"same block again")  # no new block: no event
    assert len([e for e in host.events("web01") if e.action == "grown"]) == 1


def test_a_checkpoints_memory_file_is_logged_with_its_length(host: Host) -> None:
    """What happened's "Size" is a file's length for every file: a checkpoint's BIN is as long
    as the VM's memory (as on Hyper-V); the little it really stores is said in words."""
    make_vm(host, running=True)
    host.write_memory("web01", 2 * MiB, b"remember me")
    result = host.checkpoint_vm("web01", snapshot_name="s")
    assert result.snapshot is not None and result.snapshot.bin_path is not None
    [event] = [e for e in result.events if e.path == result.snapshot.bin_path]
    assert event.size == result.snapshot.bin_path.stat().st_size
    assert event.size >= host.get_vm("web01").memory_startup > 2 * MiB
    assert event.detail.endswith("of it stored") and "MiB of it stored" in event.detail
