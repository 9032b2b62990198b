"""Fixtures for the inspector's tests: saved-state and configuration files made by the host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hvgui.host import savedstate
from hvgui.host.xmlconfig import ConfigDoc, new_vm_config

MiB = 1 << 20


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
