"""A VM whose disk is a legacy .vhd: checkpoints make .avhd children (in the VHD format), the
guest writes through them, Apply goes back, and deleting a checkpoint merges its .avhd."""

from __future__ import annotations

from pathlib import Path

from hvgui.host import Host
from hvgui.vhdx import get_vhd, open_disk
from hvgui.vhdx.vhd import VhdImage
from hvgui.vhdx.vhd_create import create_vhd

from .hosthelpers import make_vm, write_now

MiB = 1 << 20


def _disk(host: Host, vm: str) -> Path:
    (drive,) = host.get_vm(vm).hard_drives
    return Path(drive.path)


def _read(host: Host, vm: str, offset: int, length: int) -> bytes:
    with open_disk(_disk(host, vm)) as disk:
        return disk.read(offset, length)


def _files(host: Host) -> list[str]:
    return sorted(p.suffix for p in host.root.rglob("*") if p.suffix in (".vhd", ".avhd"))


def test_a_vhd_vm_gets_avhd_checkpoints_applies_and_merges_them(host: Host) -> None:
    make_vm(host, "old", disk=None)
    vhd = create_vhd(host.root / "old.vhd", 16 * MiB)
    host.add_hard_drive("old", vhd)
    host.start_vm("old")
    write_now(host, "old", 0, b"A" * 4096)
    host.checkpoint_vm("old", snapshot_name="one")
    child = _disk(host, "old")
    assert child.suffix == ".avhd" and child.name.startswith("old_")
    info = get_vhd(child)
    assert (info.vhd_format, info.vhd_type, info.parent_path) == (
        "VHD", "Differencing", str(vhd.resolve()))
    with VhdImage.open(child) as image:  # W2ku names the parent as the lab's Windows host
        assert image.parent_locator["absolute_win32_path"] == f"{host.windows_root}\\old.vhd"
    write_now(host, "old", 0, b"B" * 4096)
    host.checkpoint_vm("old", snapshot_name="two")
    write_now(host, "old", 0, b"C" * 4096)
    assert _read(host, "old", 0, 4) == b"CCCC"
    assert _files(host) == [".avhd", ".avhd", ".vhd"]
    host.stop_vm("old", turn_off=True)
    host.restore_snapshot("old", "one")  # Apply: a fresh .avhd on the frozen .vhd
    assert _read(host, "old", 0, 4) == b"AAAA"
    assert _disk(host, "old").suffix == ".avhd"
    host.remove_snapshot("old", "two")
    host.remove_snapshot("old", "one")  # the running .avhd merges back into the .vhd
    assert _disk(host, "old") == vhd
    assert _read(host, "old", 0, 4) == b"AAAA"
    assert _files(host) == [".vhd"]
    assert [f for f in host.check() if f.severity == "error"] == []
