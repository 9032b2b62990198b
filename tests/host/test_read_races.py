"""Reads take no host lock: another program (hvctl, a second window) may delete a checkpoint
between a reader's read of the VM's configuration and of the checkpoint's. The reader then
lists the VM as it is, without that checkpoint, instead of failing on the vanished file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.host import Host, xmlconfig

MiB = 1 << 20


def test_a_checkpoint_deleted_while_the_list_is_read_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host.open(tmp_path / "lab")
    host.new_vm("vm", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    first = host.checkpoint_vm("vm", snapshot_name="first").snapshot
    second = host.checkpoint_vm("vm", snapshot_name="second").snapshot
    assert first is not None and second is not None
    real_read = xmlconfig.read_config

    def read_after_a_delete_elsewhere(path: Path) -> bytes:
        if second.id in path.name:
            path.unlink()  # the other program's delete lands between the two reads
        return real_read(path)

    monkeypatch.setattr(xmlconfig, "read_config", read_after_a_delete_elsewhere)
    assert [s.name for s in host.list_snapshots("vm")] == ["first"]
