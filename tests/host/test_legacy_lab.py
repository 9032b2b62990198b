"""A lab host made before configurations were written as Hyper-V writes them (main 5cfe5f3,
`data/legacy-lab.tar.xz`, built by make_legacy_lab.py) opens as it was, works, and each
configuration an operation writes is then in Hyper-V's form, with nothing lost."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from hvgui.host import Host
from hvgui.host.xmlconfig import from_filetime
from tests.host.hosthelpers import listing

LEGACY = Path(__file__).parent / "data" / "legacy-lab.tar.xz"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    with tarfile.open(LEGACY) as tar:  # GNU sparse members: the memory files stay holes
        tar.extractall(tmp_path, filter="tar")
    return tmp_path / "lab"


def tree(path: Path) -> etree._Element:
    return etree.fromstring(path.read_bytes().decode("utf-16").split("?>", 1)[1].encode())


def old_checkpoint_times(root: Path) -> dict[str, datetime]:
    out = {}
    for xml in (root / "Snapshots").glob("*.xml"):
        node = tree(xml)
        out[node.findtext("properties/name") or ""] = from_filetime(
            int(node.findtext("snapshot/creation_time") or "0"))
    return out


def in_hyperv_form(path: Path) -> etree._Element:
    node = tree(path)
    assert node.find("global_settings/savedstate") is None
    assert node.find("global_settings/snapshots/checkpoint_type") is None
    assert node.find("global_settings/snapshots/user_type") is not None
    assert node.find("snapshot/creation_time") is None
    devices = [e.findtext("device") for e in node.find("manifest")]
    assert "83f8638b-8dca-4152-9eda-2ca8b33039b4" not in devices
    for element in node.iter():
        names = [str(c.tag) for c in element]
        assert names == sorted(names), element.tag
    return node


def test_a_host_made_by_main_5cfe5f3_opens_as_it_was(lab: Path) -> None:
    def files() -> dict[str, object]:  # the host's own bookkeeping (.hvgui) aside
        return {k: v for k, v in listing(lab).items() if not k.startswith(".hvgui")}

    before = files()
    host = Host.open(lab)
    vms = {vm.name: vm for vm in host.list_vms()}
    assert {n: v.state for n, v in vms.items()} == {"gen1": "Off", "gen2": "Saved"}
    assert vms["gen2"].checkpoint_type == "Production"
    assert vms["gen2"].notes == "production checkpoints"
    assert [(d.controller_type, d.controller_number) for d in vms["gen1"].hard_drives] == [
        ("IDE", 0)]
    assert [(d.controller_type, d.controller_number) for d in vms["gen2"].hard_drives] == [
        ("SCSI", 0)]
    snaps = host.list_snapshots("gen1")
    assert [(s.name, s.state, s.bin_path is not None) for s in snaps] == [
        ("running one", "Running", True), ("off two", "Off", False)]
    times = old_checkpoint_times(lab)
    assert {s.name: s.creation_time for s in snaps} == {
        n: t for n, t in times.items() if n in ("running one", "off two")}
    assert [s.snapshot_type for s in host.list_snapshots("gen2")] == ["Production"]
    assert host.check() == []
    assert files() == before  # reading rewrote nothing


def test_its_next_operations_write_the_new_form_without_loss(lab: Path) -> None:
    times = old_checkpoint_times(lab)
    host = Host.open(lab)
    host.restore_snapshot("gen1", "running one")  # its memory, from the old savedstate place
    vm = host.get_vm("gen1")
    assert vm.state == "Running"
    with host.open_vm_disk("gen1", writable=False) as disk:
        assert disk.read(0, 9) == b"base data"
        assert disk.read(512, 9) != b"after one"
    host.rename_snapshot("gen1", "off two", "two")
    host.rename_snapshot("gen1", "running one", "one")
    host.set_vm("gen2", notes="still production")
    node = in_hyperv_form(host.get_vm("gen2").config_path)
    assert node.findtext("global_settings/snapshots/user_type") == "3"
    assert node.findtext("savedstate/type") == "Normal"
    assert host.get_vm("gen2").checkpoint_type == "Production"
    for snap in host.list_snapshots("gen1"):
        in_hyperv_form(snap.config_path)
        old = {"one": "running one", "two": "off two"}[snap.name]
        assert snap.creation_time == times[old]  # its own time, kept
    gen1 = in_hyperv_form(vm.config_path)
    assert gen1.find("_83f8638b-8dca-4152-9eda-2ca8b33039b4_/controller0/drive0/weight") is not None
    assert host.get_vm("gen1").hard_drives[0].controller_type == "IDE"
    host.start_vm("gen2")  # from the saved state the old layout named
    assert host.get_vm("gen2").state == "Running"
    host.checkpoint_vm("gen1", snapshot_name="new")
    new = host.get_snapshot("gen1", "new")
    assert abs(new.creation_time - datetime.now(UTC)).total_seconds() < 3600
    assert new.creation_time > max(times.values())
    assert host.check() == []
