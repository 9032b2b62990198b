"""The VM list read again and again (the window's re-read once a second): whatever another
program changed shows at the next read, though unchanged configurations are not parsed again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hvgui.backend.model import VM
from hvgui.host import Host, HostError

MiB = 1 << 20


def _by_name(host: Host) -> dict[str, VM]:
    return {vm.name: vm for vm in host.list_vms()}


def test_changes_made_by_another_program_show_at_the_next_read(tmp_path: Path) -> None:
    window, other = Host.open(tmp_path / "h"), Host.open(tmp_path / "h")
    window.new_vm("Web", memory_startup_bytes=512 * MiB, new_vhd_size_bytes=64 * MiB)
    window.new_vm("Db")
    before = _by_name(window)["Web"]
    assert _by_name(window)["Web"] == before  # read again, unchanged
    other.set_vm("Web", memory_startup_bytes=1024 * MiB, notes="bigger")
    other.checkpoint_vm("Web", snapshot_name="First")
    other.start_vm("Web")
    listed = _by_name(window)["Web"]
    assert listed.memory_startup == 1024 * MiB and listed.notes == "bigger"
    assert listed.state == "Running" and listed.memory_assigned == 1024 * MiB
    assert listed.parent_snapshot_name == "First" and listed.snapshot_count == 1
    assert listed.hard_drives[0].path != before.hard_drives[0].path  # now on the AVHDX
    other.rename_snapshot("Web", "First", "Renamed")  # only the checkpoint's file changes
    assert _by_name(window)["Web"].parent_snapshot_name == "Renamed"
    other.rename_vm("Db", "Database")
    assert sorted(_by_name(window)) == ["Database", "Web"]


def test_a_configuration_broken_between_two_reads_is_named(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "h")
    host.new_vm("Web")
    host.new_vm("Db")
    config = host.get_vm("Web").config_path
    assert config is not None and len(host.list_vms()) == 2
    config.write_bytes(b"\xff\xfe" + "<configuration><oops".encode("utf-16-le"))
    errors: list[HostError] = []
    assert [vm.name for vm in host.list_vms(errors=errors)] == ["Db"]
    assert len(errors) == 1 and str(config) in str(errors[0])
    with pytest.raises(HostError, match="not well-formed"):
        host.list_vms()


def test_a_settled_configuration_edited_in_place_is_read_again(tmp_path: Path) -> None:
    """Files unchanged for two seconds are known by their stat: an edit in place (same size,
    same inode) must still show."""
    host = Host.open(tmp_path / "h")
    host.new_vm("Web1")
    host.new_vm("Db")
    config = host.get_vm("Web1").config_path
    assert config is not None
    time.sleep(2.1)  # settled (xmlconfig._SETTLED_NS)
    assert sorted(_by_name(host)) == ["Db", "Web1"]
    assert sorted(_by_name(host)) == ["Db", "Web1"]  # now known by stat
    data = config.read_bytes()
    with open(config, "r+b") as f:  # as an editor that writes in place
        f.write(data.replace("Web1".encode("utf-16-le"), "Web2".encode("utf-16-le")))
    assert sorted(_by_name(host)) == ["Db", "Web2"]
    assert host.get_vm("Web2").name == "Web2"
    with pytest.raises(HostError):
        host.get_vm("Web1")


def test_checkpoints_changed_by_another_program_show_at_the_next_read(tmp_path: Path) -> None:
    window, other = Host.open(tmp_path / "h"), Host.open(tmp_path / "h")
    window.new_vm("Web", new_vhd_size_bytes=64 * MiB)
    for name in ("One", "Two", "Three"):
        window.checkpoint_vm("Web", snapshot_name=name)

    def tree() -> list[tuple[str, str | None]]:
        return [(s.name, s.parent_snapshot_name) for s in window.list_snapshots("Web")]

    assert tree() == [("One", None), ("Two", "One"), ("Three", "Two")]
    assert tree() == [("One", None), ("Two", "One"), ("Three", "Two")]  # read again
    other.rename_snapshot("Web", "One", "First")
    other.remove_snapshot("Web", "Two")
    assert tree() == [("First", None), ("Three", "First")]
    other.rename_vm("Web", "Front")
    assert {(s.vm_name, s.vm_id) for s in window.list_snapshots("Front")} == {
        ("Front", window.get_vm("Front").id)}
