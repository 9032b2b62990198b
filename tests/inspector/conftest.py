"""Fixtures for the inspector's tests: saved-state and configuration files made by the host."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import Host, savedstate
from hvgui.host.xmlconfig import ConfigDoc, new_vm_config
from hvgui.ui.workers import Runner

MiB = 1 << 20


@pytest.fixture
def runner(qtbot: Any) -> Iterator[Runner]:
    """The workers a view reads on (its hex pages), stopped before the test ends."""
    runner = Runner()
    yield runner
    runner.shutdown()


@pytest.fixture
def bin_file(tmp_path: Path) -> Path:
    """A 64 MiB guest's memory with chunks 3-4 and 40 touched (a sparse file)."""
    path = tmp_path / "memory.bin"
    savedstate.BinFile.create(path, 64 * MiB)
    with savedstate.BinFile(path, writable=True) as memory:
        memory.write(3 * MiB, b"\xab" * (2 * MiB))
        memory.write(40 * MiB + 17, b"hello memory")
    return path


@pytest.fixture
def vsv_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.vsv"
    state = savedstate.DeviceState(
        processors=[{"rip": 0xFFFF800012345678, "rsp": 0x7FFE0000}, {"rip": 0x1000}],
        devices={"ide0": {"attached": True}, "nic": {"mac": "00:15:5D:00:00:01"}},
    )
    savedstate.write_vsv(path, state)
    return path


def write_config(path: Path, name: str, memory_mb: int) -> Path:
    doc = new_vm_config(
        path, vm_id="8F6F3C4E-1B2A-4C5D-9E8F-0123456789AB", name=name, generation=2,
        memory_mb=memory_mb, data_root=path.parent, snapshot_data_root=path.parent,
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    path.write_bytes(doc.to_bytes())
    return path


@pytest.fixture
def config_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two configurations of one VM that differ in name and startup memory."""
    left = write_config(tmp_path / "a.xml", "web01", 1024)
    doc = ConfigDoc.load(left)
    doc.set("properties/name", "string", "web01 renamed")
    doc.set("settings/memory/bank/size", "integer", 2048)
    right = tmp_path / "b.xml"
    right.write_bytes(doc.to_bytes())
    return left, right


def _write(host: Host, vm: str, offset: int, data: bytes) -> None:
    with host.open_vm_disk(vm) as disk:
        disk.write(offset, data)


@pytest.fixture
def lab(tmp_path: Path) -> Host:
    """A host with VM "Lab" (running, 64 MiB disk) and checkpoints One -> Two, each made after
    the guest wrote its own bytes; then the VM runs on in Now with more writes."""
    host = Host.open(tmp_path / "host")
    host.new_vm("Lab", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=64 * MiB)
    host.start_vm("Lab")
    _write(host, "Lab", 0, b"\x01" * (3 * MiB))
    host.checkpoint_vm("Lab", snapshot_name="One")
    _write(host, "Lab", 4 * MiB, b"\x02" * (2 * MiB + 4096))
    host.checkpoint_vm("Lab", snapshot_name="Two")
    _write(host, "Lab", 40 * MiB, b"\x03" * MiB)
    return host


@pytest.fixture
def branched(lab: Host) -> Host:
    """`lab` with One applied and checkpointed again: One's disk now has two children."""
    lab.restore_snapshot("Lab", "One")
    _write(lab, "Lab", 20 * MiB, b"\x04" * 4096)
    lab.checkpoint_vm("Lab", snapshot_name="Three")
    return lab
