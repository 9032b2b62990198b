"""Finding a VM by name: another program's changes are seen at once (the names of unchanged
configurations are remembered by content, never by time or place)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.host import Host, HostError, NotFoundError


def test_a_vm_renamed_by_another_program_is_found_by_its_new_name_only(tmp_path: Path) -> None:
    window, other = Host.open(tmp_path / "h"), Host.open(tmp_path / "h")
    window.new_vm("Web")
    window.new_vm("Db")
    assert window.get_vm("Web").name == "Web"
    other.rename_vm("Web", "Front")
    assert window.get_vm("Front").name == "Front"
    with pytest.raises(NotFoundError):
        window.get_vm("Web")
    with pytest.raises(HostError, match="already exists"):
        window.new_vm("Front")
    window.new_vm("Web")  # the old name is free again
    assert sorted(v.name for v in other.list_vms()) == ["Db", "Front", "Web"]


def test_a_configuration_broken_after_it_was_read_is_named(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "h")
    host.new_vm("Web")
    config = host.get_vm("Web").config_path
    assert config is not None
    config.write_bytes(b"\xff\xfe" + "<configuration><oops".encode("utf-16-le"))
    with pytest.raises(HostError) as caught:
        host.get_vm("Web")
    assert str(config) in str(caught.value) and "not well-formed" in str(caught.value)


def test_two_vms_of_one_name_made_by_copying_a_configuration(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "h")
    host.new_vm("Web")
    vm = host.get_vm("Web")
    assert vm.config_path is not None
    text = vm.config_path.read_bytes().decode("utf-16")
    twin = "11111111-2222-3333-4444-555555555555"
    copy = vm.config_path.with_name(f"{twin}.xml")
    copy.write_bytes(b"\xff\xfe" + text.replace(vm.id, twin).encode("utf-16-le"))
    with pytest.raises(HostError, match="several VMs have this name"):
        host.get_vm("Web")
    assert host.get_vm(twin).name == "Web"
