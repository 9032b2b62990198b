"""A lab host stands for a folder on a Windows host (its Windows root): configurations and
AVHDX parent locators hold the Windows names of its files, as a real host's do, and they are
mapped back to the lab folder, never outside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.host import Host, HostError
from hvgui.vhdx import open_disk
from hvgui.vhdx.image import VhdxImage
from tests.host.hosthelpers import make_vm

DEFAULT = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-16")


def test_configurations_hold_windows_paths_under_the_default_root(tmp_path: Path) -> None:
    host = Host.new(tmp_path / "lab")
    assert host.windows_root == DEFAULT
    make_vm(host, "web01", generation=1)
    host.checkpoint_vm("web01", snapshot_name="one")
    vm = host.get_vm("web01")
    text = text_of(vm.config_path)
    assert f"<data_root type=\"string\">{DEFAULT}</data_root>" in text
    assert f"{DEFAULT}\\Virtual Hard Disks\\web01_" in text
    assert str(tmp_path) not in text and "../" not in text
    snap = host.get_snapshot("web01", "one")
    assert f"{DEFAULT}\\Virtual Hard Disks\\web01.vhdx" in text_of(snap.config_path)
    # read back as the lab's own files
    assert vm.hard_drives[0].path.parent == tmp_path / "lab" / "Virtual Hard Disks"
    assert snap.hard_drives[0].path == tmp_path / "lab" / "Virtual Hard Disks" / "web01.vhdx"
    host.restore_snapshot("web01", "one")
    assert host.check() == []


def test_the_windows_root_is_set_at_creation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = "D:\\Labs\\Hyper-V"
    assert main(["new-host", str(tmp_path / "lab"), "--windows-root", root]) == 0
    assert root in capsys.readouterr().out
    host = Host.open(tmp_path / "lab", create=False)
    assert host.windows_root == root
    make_vm(host, "web01")
    assert f"{root}\\Virtual Hard Disks\\web01.vhdx" in text_of(host.get_vm("web01").config_path)
    assert main(["new-host", str(tmp_path / "bad"), "--windows-root", "D:\\..\\x"]) == 1
    assert "not a Windows folder path" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_parent_locators_hold_all_five_keys_with_the_hosts_names(tmp_path: Path) -> None:
    host = Host.new(tmp_path / "lab")
    volume = json.loads((tmp_path / "lab" / ".hvgui" / "windows.json").read_text())["VolumeGuid"]
    make_vm(host, "web01")
    host.checkpoint_vm("web01", snapshot_name="one")
    host.checkpoint_vm("web01", snapshot_name="two")
    locators = []
    for step in (lambda: None, lambda: host.remove_snapshot("web01", "two")):  # then a merge
        step()
        with VhdxImage.open(host.get_vm("web01").hard_drives[0].path) as image:
            locators.append(image.parent_locator)
    for locator in locators:
        parent = locator["absolute_win32_path"]
        assert parent.startswith(f"{DEFAULT}\\Virtual Hard Disks\\web01"), locator
        assert list(locator) == ["parent_linkage", "parent_linkage2", "relative_path",
                                 "volume_path", "absolute_win32_path"]
        assert locator["parent_linkage2"] == "{00000000-0000-0000-0000-000000000000}"
        assert locator["relative_path"] == ".\\" + parent.rsplit("\\", 1)[1]
        assert locator["volume_path"] == (
            f"\\\\?\\Volume{{{volume}}}\\" + parent[len("C:\\"):])
    with open_disk(host.get_vm("web01").hard_drives[0].path) as disk:
        assert len(disk.chain) == 2


def test_a_windows_path_never_leads_out_of_the_lab(tmp_path: Path) -> None:
    host = Host.new(tmp_path / "lab")
    make_vm(host, "web01")
    path = host.get_vm("web01").config_path
    text = text_of(path).replace(
        f"{DEFAULT}\\Virtual Hard Disks\\web01.vhdx",
        f"{DEFAULT}\\..\\..\\..\\..\\..\\..\\etc\\passwd")
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    drive = host.get_vm("web01").hard_drives[0].path
    assert tmp_path / "lab" in drive.parents, drive


def test_damaged_windows_names_are_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.new(tmp_path / "lab")
    make_vm(host, "web01")
    names = tmp_path / "lab" / ".hvgui" / "windows.json"
    names.write_text('{"WindowsRoot": "not a path", "VolumeGuid": "x"}')
    assert main(["get-vm", "--host", str(tmp_path / "lab")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{names}: not the host's Windows names" in err


def test_a_windows_root_must_be_a_windows_folder(tmp_path: Path) -> None:
    for bad in ("/tmp/x", "relative\\x", "C:\\a|b", "\\\\server\\share"):
        with pytest.raises(HostError, match="not a Windows folder path"):
            Host.new(tmp_path / "lab", windows_root=bad)
    assert not (tmp_path / "lab").exists()
