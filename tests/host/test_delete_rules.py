"""Deleting checkpoints by Hyper-V's rules, on a branched tree, in random orders: what every
remaining checkpoint and Now read never changes."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import Host, HostError

from .hosthelpers import MiB, contents, digest, make_vm, now_disk, write_now

SMALL = 8 * MiB


def branched(host: Host) -> None:
    """c1 -> c2 -> c3, c1 -> c4 (applied c1, then checkpointed), c2 -> c5; Now under c5."""
    make_vm(host, disk=SMALL, running=True)
    write_now(host, "web01", 0, b"A" * 70000)
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 2 * MiB + 512, b"B" * 5000)
    host.checkpoint_vm("web01", snapshot_name="c2")
    write_now(host, "web01", 0, b"C" * 512)
    host.checkpoint_vm("web01", snapshot_name="c3")
    host.restore_snapshot("web01", "c1")
    write_now(host, "web01", 5 * MiB, b"D" * (1 * MiB))
    host.checkpoint_vm("web01", snapshot_name="c4")
    host.restore_snapshot("web01", "c2")
    write_now(host, "web01", 7 * MiB, b"E" * 4096)
    host.checkpoint_vm("web01", snapshot_name="c5")
    write_now(host, "web01", 1 * MiB, b"now" * 1000)


def disk_files(host: Host) -> list[Path]:
    return sorted((host.root / "Virtual Hard Disks").iterdir())


def test_delete_newest_merges_now_into_its_parent(host: Host) -> None:
    make_vm(host, disk=SMALL, running=True)
    write_now(host, "web01", 0, b"base")
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 0, b"now!")
    base, child = host.get_snapshot("web01", "c1").hard_drives[0].path, now_disk(host, "web01")
    before = digest(child)
    result = host.remove_snapshot("web01", "c1")
    assert not child.exists() and now_disk(host, "web01") == base  # merged into the base
    assert base.stat().st_mode & 0o200  # the running disk is writable again
    assert digest(base) == before
    assert [e for e in result.events if e.action == "merged" and e.path == child]
    assert host.get_vm("web01").parent_snapshot_id is None
    assert host.check() == []


def test_delete_with_no_dependent_disk_deletes_it(host: Host) -> None:
    make_vm(host, disk=SMALL, running=True)
    host.checkpoint_vm("web01", snapshot_name="c1")
    host.checkpoint_vm("web01", snapshot_name="c2")
    c2_disk = host.get_snapshot("web01", "c2").hard_drives[0].path
    host.restore_snapshot("web01", "c1")  # Now's disk under c2 is discarded: c2's disk has no child
    result = host.remove_snapshot("web01", "c2")
    assert not c2_disk.exists()
    assert [e for e in result.events if e.action == "deleted" and e.path == c2_disk]
    assert host.check() == []


def test_several_children_keep_the_disk_until_it_can_be_merged(host: Host) -> None:
    branched(host)
    before = contents(host, "web01")
    c1_disk = host.get_snapshot("web01", "c1").hard_drives[0].path
    result = host.remove_snapshot("web01", "c1")
    assert c1_disk.exists()  # c2's and c4's disks both depend on it
    assert host.get_vm("web01").merge_pending
    assert any("kept until they can be merged" in w for w in result.warnings)
    assert host.check() == []
    host.remove_snapshot("web01", "c4")  # its disk goes; c1's disk has one child left: merged
    assert not host.get_vm("web01").merge_pending
    assert host.get_snapshot("web01", "c2").hard_drives[0].path == c1_disk
    del before["c1"], before["c4"]
    assert contents(host, "web01") == before
    assert host.check() == []


@pytest.mark.parametrize("seed", range(5))
def test_random_delete_orders_never_change_what_remains(tmp_path: Path, seed: int) -> None:
    host = Host.open(tmp_path / "host")
    branched(host)
    expected = contents(host, "web01")
    order = [s.name for s in host.list_snapshots("web01")]
    rng = random.Random(seed)
    rng.shuffle(order)
    for name in order:
        host.remove_snapshot("web01", name)
        del expected[name]
        assert contents(host, "web01") == expected, f"after deleting {name} (order {order})"
        assert host.check() == [], f"after deleting {name} (order {order})"
    assert [p.suffix for p in disk_files(host)] == [".vhdx"]  # everything merged into the base
    assert not host.get_vm("web01").merge_pending


def test_delete_subtree(host: Host) -> None:
    branched(host)
    expected = contents(host, "web01")
    host.remove_snapshot("web01", "c2", include_children=True)
    assert [s.name for s in host.list_snapshots("web01")] == ["c1", "c4"]
    for name in ("c2", "c3", "c5"):
        del expected[name]
    assert contents(host, "web01") == expected
    assert host.get_vm("web01").parent_snapshot_name == "c1"  # Now's parent was in the subtree
    assert host.check() == []


def test_export_is_a_standalone_flattened_vm(host: Host, tmp_path: Path) -> None:
    branched(host)
    snap = host.get_snapshot("web01", "c3")
    result = host.export_snapshot("web01", "c3", tmp_path / "export")
    folder = tmp_path / "export" / "web01"
    disks = list((folder / "Virtual Hard Disks").iterdir())
    assert [d.name for d in disks] == ["web01.vhdx"]
    assert digest(disks[0]) == digest(snap.hard_drives[0].path)
    info = subprocess.run(
        ["qemu-img", "info", str(disks[0])], capture_output=True, text=True, check=True
    )
    assert "file format: vhdx" in info.stdout and "backing file" not in info.stdout
    raw = tmp_path / "flat.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disks[0]), str(raw)], check=True)
    with open(raw, "rb") as f:
        assert f.read(4) == b"CCCC" and f.seek(2 * MiB + 512) and f.read(4) == b"BBBB"
    configs = list((folder / "Virtual Machines").glob("*.xml"))
    assert len(configs) == 1
    memory = list((folder / "Virtual Machines").rglob("*.bin"))
    assert len(memory) == 1  # c3 was taken running: its memory comes along as a saved state
    assert result.powershell.startswith("Export-VMSnapshot -VMName 'web01' -Name 'c3'")
    assert host.check() == []


def test_phase_texts_of_delete_move_and_export(host: Host, tmp_path: Path) -> None:
    make_vm(host, disk=SMALL, running=True)
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 0, b"x" * (2 * MiB))
    phases: dict[str, set[str]] = {}

    def recorder(name: str) -> Callable[[float, str], None]:
        return lambda fraction, phase: phases.setdefault(name, set()).add(phase)

    host.export_snapshot("web01", "c1", tmp_path / "out", progress=recorder("export"))
    host.move_storage("web01", host.root / "moved", progress=recorder("move"))
    host.remove_snapshot("web01", "c1", progress=recorder("delete"))
    assert phases["export"] - {""} == {"Exporting"}
    assert phases["move"] - {""} == {"Moving Storage"}
    assert phases["delete"] - {""} == {"Deleting Checkpoint", "Merge in progress"}


@pytest.mark.parametrize("seed", range(4))
def test_random_trees_random_deletes(tmp_path: Path, seed: int) -> None:
    """Random checkpoints, applies and writes build a random tree; then random deletes (some
    with their subtree) never change what the remaining checkpoints and Now read."""
    rng = random.Random(1000 + seed)
    host = Host.open(tmp_path / "host")
    make_vm(host, disk=SMALL, running=True)
    count = 0
    for _ in range(14):
        snaps = host.list_snapshots("web01")
        roll = rng.random()
        if roll < 0.4 or not snaps:
            count += 1
            host.checkpoint_vm("web01", snapshot_name=f"s{count}")
        elif roll < 0.6:
            host.restore_snapshot("web01", rng.choice(snaps).id)
        else:
            offset = rng.randrange(0, SMALL - 8192, 512)
            write_now(host, "web01", offset, rng.randbytes(rng.choice([512, 4096, 300000])))
    expected = contents(host, "web01")
    while host.list_snapshots("web01"):
        snaps = host.list_snapshots("web01")
        victim = rng.choice(snaps)
        subtree = rng.random() < 0.25
        before = {s.name for s in snaps}
        host.remove_snapshot("web01", victim.id, include_children=subtree)
        after = {s.name for s in host.list_snapshots("web01")}
        for name in before - after:
            del expected[name]
        assert contents(host, "web01") == expected, f"seed {seed}: after deleting {victim.name}"
        assert host.check() == [], f"seed {seed}: after deleting {victim.name}"
    assert not host.get_vm("web01").merge_pending


def test_apply_of_a_checkpoint_another_hand_deleted_meanwhile_says_so(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another window or process deletes the checkpoint between Apply's look-up and its lock:
    the refusal is that it no longer exists, not a 'broken chain' of the disk the deleted
    checkpoint's configuration named (it was merged away)."""
    make_vm(host, disk=SMALL, running=True)
    host.checkpoint_vm("web01", snapshot_name="c1")
    host.checkpoint_vm("web01", snapshot_name="c2")
    host.restore_snapshot("web01", "c1")  # c2's disk has no child: deleting c2 deletes it
    other = Host.open(host.root, create=False)
    looked_up = host.get_snapshot

    def deleted_meanwhile(vm: str, snapshot: str) -> Any:
        found = looked_up(vm, snapshot)
        other.remove_snapshot(vm, found.id)
        return found

    monkeypatch.setattr(host, "get_snapshot", deleted_meanwhile)
    with pytest.raises(HostError, match="the checkpoint no longer exists"):
        host.restore_snapshot("web01", "c2")
    monkeypatch.undo()
    assert [s.name for s in host.list_snapshots("web01")] == ["c1"]
    assert host.check() == []
