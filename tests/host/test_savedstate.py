"""BIN and VSV: our documented formats; sparse memory; damage detected."""

from __future__ import annotations

import errno
import itertools
import os
from pathlib import Path

import pytest

from hvgui.host import HostError
from hvgui.host.fileio import copy_sparse
from hvgui.host.savedstate import (
    MAX_VSV_BYTES,
    BinFile,
    DeviceState,
    bin_sections,
    copy_bin,
    describe_bin,
    read_vsv,
    vsv_sections,
    write_vsv,
)

MiB = 1 << 20


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_bin_is_sparse_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 4 << 30)  # a 4 GiB guest
    with BinFile(path, writable=True) as mem:
        mem.write(3 * MiB + 5, b"note")
        mem.write((4 << 30) - 4, b"tail")
        mem.write(100 * MiB, os.urandom(3 * MiB))
    assert os.path.getsize(path) > 4 << 30  # sized like the guest's memory ...
    assert allocated(path) < 8 * MiB  # ... but only touched chunks take disk space
    with BinFile(path) as mem:
        assert mem.read(3 * MiB + 5, 4) == b"note"
        assert mem.read((4 << 30) - 4, 4) == b"tail"
        assert mem.read(0, 16) == bytes(16)
    info = describe_bin(path)
    assert (info.memory_size, info.touched_chunks) == (4 << 30, 1 + 1 + 3)


def test_copy_bin_copies_touched_chunks_only(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.bin", tmp_path / "b.bin"
    BinFile.create(src, 1 << 30)
    payload = os.urandom(2 * MiB)
    with BinFile(src, writable=True) as mem:
        mem.write(500 * MiB, payload)
    assert copy_bin(src, dst) == 2 * MiB
    assert allocated(dst) < 4 * MiB
    with BinFile(dst) as mem:
        assert mem.read(500 * MiB, 2 * MiB) == payload


def test_memory_outside_the_guest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 64 * MiB)
    with BinFile(path, writable=True) as mem, pytest.raises(HostError, match="outside"):
        mem.write(64 * MiB - 2, b"abc")


@pytest.mark.parametrize("where", [0, 20, 4096])
def test_damaged_bin_is_detected(tmp_path: Path, where: int) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 64 * MiB)
    with open(path, "r+b") as f:
        f.seek(where)
        byte = f.read(1)
        f.seek(where)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(HostError) as info:
        BinFile(path)
    assert str(info.value).startswith(str(path))


def test_vsv_round_trip_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "d.vsv"
    state = DeviceState(
        [{"rip": 0xFFFFF80000001000, "tsc": 42}], {"state": "Running", "n": 1}, b"guest blob"
    )
    write_vsv(path, state)
    back = read_vsv(path)
    assert back.processors[0]["rip"] == 0xFFFFF80000001000
    assert back.processors[0]["tsc"] == 42
    assert back.devices == {"state": "Running", "n": 1}
    assert back.guest == b"guest blob"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last section
    path.write_bytes(bytes(data))
    with pytest.raises(HostError, match="section is damaged"):
        read_vsv(path)
    path.write_bytes(b"HVGUIVSV" + bytes(10))
    with pytest.raises(HostError, match=r"bad magic|damaged|impossible"):
        read_vsv(path)


def test_sparse_copy_keeps_holes(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.bin", tmp_path / "b.bin"
    BinFile.create(src, 2 << 30)
    with BinFile(src, writable=True) as mem:
        mem.write(1 << 30, b"middle")
    copy_sparse(src, dst)
    assert os.path.getsize(dst) == os.path.getsize(src)
    assert allocated(dst) < 8 * MiB
    with BinFile(dst) as mem:
        assert mem.read(1 << 30, 6) == b"middle"


@pytest.mark.parametrize("kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_sparse_copy_by_the_kernel_or_by_read_write_gives_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    """A copy to another file system (a storage move there) goes through the kernel where it
    can, through pread/pwrite where copy_file_range is missing (another OS): same bytes,
    holes kept either way."""
    src, dst = tmp_path / "a.bin", tmp_path / "b.bin"
    with open(src, "wb") as f:
        f.truncate(96 * MiB)
        for at in (0, 40 * MiB - 3, 95 * MiB):
            f.seek(at)
            f.write(os.urandom(MiB))
    copied: list[int] = []
    if kernel:
        real = os.copy_file_range

        def counting(*args: int) -> int:
            copied.append(real(*args))
            return copied[-1]

        monkeypatch.setattr(os, "copy_file_range", counting)
    else:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    copy_sparse(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert allocated(dst) < 16 * MiB
    assert (sum(copied) >= 3 * MiB) == kernel


@pytest.mark.parametrize("refused", ["no-copy_file_range", "EXDEV"])
def test_a_checkpoints_memory_copy_is_the_same_by_the_kernel_or_by_read_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """copy_bin (a checkpoint or export of a running VM's memory) copies touched chunks in the
    kernel; where that is refused (another OS, two file systems) through pread/pwrite: the
    two copies are the same file, byte for byte, holes kept."""
    src = tmp_path / "a.bin"
    BinFile.create(src, 256 * MiB)
    with BinFile(src, writable=True) as mem:
        mem.write(3 * MiB + 5, b"note")
        mem.write(100 * MiB, os.urandom(9 * MiB))  # more than one 8 MiB step
        mem.write(256 * MiB - 4, b"tail")
    real = os.copy_file_range
    copied: list[int] = []

    def counting(*args: int) -> int:
        copied.append(real(*args))
        return copied[-1]

    monkeypatch.setattr(os, "copy_file_range", counting)
    assert copy_bin(src, tmp_path / "kernel.bin") > 0
    assert sum(copied) >= 9 * MiB  # the chunks went through the kernel
    if refused == "EXDEV":
        def cross_device(*args: int) -> int:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

        monkeypatch.setattr(os, "copy_file_range", cross_device)
    else:
        monkeypatch.delattr(os, "copy_file_range")
    assert copy_bin(src, tmp_path / "fallback.bin") > 0
    assert (tmp_path / "kernel.bin").read_bytes() == (tmp_path / "fallback.bin").read_bytes()
    assert allocated(tmp_path / "fallback.bin") < 16 * MiB
    with BinFile(tmp_path / "fallback.bin") as mem:
        assert mem.read(3 * MiB + 5, 4) == b"note" and mem.read(256 * MiB - 4, 4) == b"tail"


def test_sections_are_listed_in_file_order_without_overlap(tmp_path: Path) -> None:
    memory = tmp_path / "m.bin"
    BinFile.create(memory, 64 * MiB)
    names = [s.name for s in bin_sections(memory)]
    assert names == ["header", "chunk bitmap", "pending-write record", "memory data"]
    state = tmp_path / "s.vsv"
    write_vsv(state, DeviceState([{"rip": 1}], {"nic": {}}, b"guest"))
    vsv = vsv_sections(state)
    assert [s.name for s in vsv][:3] == ["header", "processors", "devices"]
    for sections, path in ((bin_sections(memory), memory), (vsv, state)):
        ends = [(s.offset, s.offset + s.length) for s in sections]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))
        assert ends[-1][1] <= os.path.getsize(path)
    damaged = bytearray(state.read_bytes())
    damaged[-1] ^= 0xFF
    state.write_bytes(bytes(damaged))
    with pytest.raises(HostError, match="damaged"):
        vsv_sections(state)  # a table is only listed once its file is sound


def test_a_vsv_past_what_reading_accepts_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "big.vsv"
    state = DeviceState([], {}, b"g" * MAX_VSV_BYTES)
    with pytest.raises(HostError, match="at most 16 MiB"):
        write_vsv(path, state)
    assert not path.exists()
    write_vsv(path, DeviceState([], {}, b"g" * (MAX_VSV_BYTES - 4096)))
    assert read_vsv(path).guest == b"g" * (MAX_VSV_BYTES - 4096)
