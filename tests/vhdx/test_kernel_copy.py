"""Kernel-side copies (os.copy_file_range) and the read/write fallback give the same bytes:
copy_range itself, Convert-VHD to raw (sparse where a granule holds only zeros) and to VHDX,
Merge-VHD, and the same of a legacy VHD chain, each run once with the kernel copy and once
with it refused the ways it is refused in the wild (another OS, two file systems, an old
kernel). The forward merge's O_DIRECT writes from the mapped source (vhdx/direct_copy.py)
too: taken, not offered (another file system), refused by the kernel part-way, failing."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hvgui import portable
from hvgui.vhdx import (
    MiB,
    VhdxError,
    convert_vhd,
    create_differencing,
    create_dynamic,
    merge_vhd,
    open_disk,
    test_vhd,
)
from hvgui.vhdx.files import copy_range
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.vhd_create import create_vhd, create_vhd_differencing
from tests.vhdx.helpers import random_bytes

Kernel = Callable[..., int]
REAL = os.copy_file_range


def refusing(code: int) -> Kernel:
    def refuse(*args: object) -> int:
        raise OSError(code, os.strerror(code))

    return refuse


# How the kernel copy is unavailable: None = no os.copy_file_range at all (macOS, Windows).
FALLBACKS = {
    "no-copy_file_range": None,
    "EXDEV": errno.EXDEV,
    "ENOSYS": errno.ENOSYS,
    "EINVAL": errno.EINVAL,
    "EOPNOTSUPP": errno.EOPNOTSUPP,
}


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths the kernel copied, so a test can tell the kernel path was the one taken."""
    calls: list[int] = []

    def counting(src: int, dst: int, count: int, *offsets: int) -> int:
        n = REAL(src, dst, count, *offsets)
        calls.append(n)
        return n

    monkeypatch.setattr(os, "copy_file_range", counting)
    return calls


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths written with O_DIRECT, so a test can tell the direct path was taken."""
    calls: list[int] = []
    real = os.pwrite

    def counting(fd: int, data: bytes | memoryview, offset: int) -> int:
        n = real(fd, data, offset)
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            calls.append(n)
        return n

    monkeypatch.setattr(os, "pwrite", counting)
    return calls


def force_direct(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The direct path offered whatever file system the tests' folder is on (it is chosen for
    ext2/3/4 only); skips where that file system refuses O_DIRECT."""
    monkeypatch.setattr(portable, "file_system_type", lambda fd: "ext4")
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    fd = os.open(probe, os.O_RDONLY)
    try:
        direct = portable.direct_writer(fd)
    finally:
        os.close(fd)
        probe.unlink()
    if direct is None:
        pytest.skip("the tests' file system refuses O_DIRECT")
    os.close(direct)


def no_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct path not offered (a file system whose kernel copy shares or is remote)."""
    monkeypatch.setattr(portable, "file_system_type", lambda fd: "xfs")


def force_fallback(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    code = FALLBACKS[how]
    if code is None:
        monkeypatch.delattr(os, "copy_file_range")
    else:
        monkeypatch.setattr(os, "copy_file_range", refusing(code), raising=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copy_range_kernel_and_fallback_copy_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int]
) -> None:
    source = tmp_path / "src"
    data = random_bytes(3 * MiB + 123, seed=5)
    source.write_bytes(data)
    results = {}
    with open(source, "rb") as src:
        for name in ("kernel", *FALLBACKS):
            if name != "kernel":
                force_fallback(monkeypatch, name)
            out = tmp_path / f"out-{name}"
            with open(out, "wb") as dst:
                # past the source's end: fewer bytes copied, as many as there are
                copied = copy_range(src.fileno(), 1000, dst.fileno(), 7, 4 * MiB)
            assert copied == len(data) - 1000
            results[name] = out.read_bytes()
            if name == "kernel":
                assert sum(kernel_calls) == copied  # the bytes went through the kernel
    assert all(r == bytes(7) + data[1000:] for r in results.values())


def test_a_real_write_error_of_the_kernel_copy_is_raised_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"x" * 4096)
    monkeypatch.setattr(os, "copy_file_range", refusing(errno.ENOSPC))
    with open(source, "rb") as src, open(tmp_path / "out", "wb") as dst, \
            pytest.raises(OSError, match="No space left"):
        copy_range(src.fileno(), 0, dst.fileno(), 0, 4096)


def make_disk(path: Path) -> bytes:
    """A dynamic disk of 1 MiB blocks: fully written blocks, a block of written zeros, a block
    with a zero granule in the middle, and blocks never written. Returns its virtual bytes."""
    size = 8 * MiB
    model = bytearray(size)
    create_dynamic(path, size, block_size=MiB)
    with open_disk(path, writable=True) as disk:
        for offset, data in (
            (0, random_bytes(2 * MiB, seed=1)),  # blocks 0-1: contiguous random data
            (2 * MiB, bytes(MiB)),  # block 2: allocated, all zeros
            (4 * MiB, random_bytes(MiB, seed=2)),  # block 4
            (4 * MiB + 128 * 1024, bytes(64 * 1024)),  # ... with a zero granule inside
            (6 * MiB + 4096, b"\x01"),  # block 6: one byte not at a granule's start
        ):
            disk.write(offset, data)
            model[offset : offset + len(data)] = data
        disk.flush()
    return bytes(model)


@pytest.mark.parametrize("how", sorted(FALLBACKS))
def test_convert_to_raw_is_the_same_by_kernel_copy_and_by_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], how: str
) -> None:
    disk = tmp_path / "d.vhdx"
    model = make_disk(disk)
    kernel_out = tmp_path / "kernel.raw"
    convert_vhd(disk, kernel_out)
    assert kernel_calls, "the kernel copy was not used"
    force_fallback(monkeypatch, how)
    fallback_out = tmp_path / "fallback.raw"
    convert_vhd(disk, fallback_out)
    assert kernel_out.read_bytes() == fallback_out.read_bytes() == model
    for out in (kernel_out, fallback_out):
        # the zero block, the zero granule and the unwritten blocks are holes: 3 MiB of data
        # (blocks 0, 1 and 4 less a granule) and block 6's one granule are stored
        assert os.stat(out).st_blocks * 512 <= 3 * MiB + 64 * 1024


def make_merge(folder: Path) -> tuple[Path, Path, bytes]:
    """A base (make_disk) and a child holding fully present blocks and a partial one; returns
    (child, base, the child's view)."""
    folder.mkdir()
    base = folder / "base.vhdx"
    make_disk(base)
    child = folder / "child.avhdx"
    create_differencing(child, base)
    with open_disk(child, writable=True) as disk:
        disk.write(0, random_bytes(4 * MiB, seed=3))  # fully present child blocks
        disk.write(5 * MiB + 100, b"partial")  # and a partial one
        disk.flush()
        expected = disk.read(0, disk.size)
    return child, base, expected


def merged_view(child: Path, base: Path, expected: bytes) -> bytes:
    """Merge (forward: the child holds more); check it ended well; the base's bytes."""
    merge_vhd(child, direction="forward")
    with open_disk(base) as disk:
        merged = disk.read(0, disk.size)
    assert merged == expected and not child.exists()
    assert [f for f in test_vhd(base) if f.severity == "error"] == []
    return merged


@pytest.mark.parametrize("how", ["EXDEV", "no-copy_file_range"])
def test_merge_is_the_same_by_direct_writes_kernel_copy_and_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int],
    direct_writes: list[int], how: str
) -> None:
    merged: dict[str, bytes] = {}
    for name in ("direct", "kernel", how):
        with monkeypatch.context() as patch:
            if name == "direct":
                force_direct(patch, tmp_path)
            else:
                no_direct(patch)
            if name == how:
                force_fallback(patch, how)
            kernel_calls.clear()
            direct_writes.clear()
            merged[name] = merged_view(*make_merge(tmp_path / name))
            if name == "direct":  # the whole blocks, O_DIRECT; the partial one, the kernel
                assert sum(direct_writes) == 4 * MiB and kernel_calls
            else:
                assert not direct_writes
            if name == "kernel":
                assert sum(kernel_calls) >= 4 * MiB, "the kernel copy was not used"
    assert merged["direct"] == merged["kernel"] == merged[how]


@pytest.mark.parametrize("errno_", [errno.EINVAL, errno.EFAULT])
def test_direct_writes_refused_part_way_are_made_the_other_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], errno_: int
) -> None:
    """The kernel refuses an O_DIRECT write (an alignment rule of another disk, a source
    shorter than mapped): that range and the rest go through the kernel copy, same bytes."""
    force_direct(monkeypatch, tmp_path)
    real = os.pwrite
    direct: list[int] = []

    def refuse_the_second(fd: int, data: bytes | memoryview, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            direct.append(offset)
            if len(direct) == 2:
                raise OSError(errno_, os.strerror(errno_))
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refuse_the_second)
    child, base, expected = make_merge(tmp_path / "m")
    monkeypatch.setattr("hvgui.vhdx.direct_copy._STEP", MiB)  # one write per block
    merged_view(child, base, expected)
    assert len(direct) >= 2  # one made, one refused (others may have started meanwhile)
    assert sum(kernel_calls) >= MiB  # the refused one at least


@pytest.mark.parametrize("errno_", [errno.ENODEV, errno.ENOMEM])
def test_a_source_that_cannot_be_mapped_is_copied_the_other_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], errno_: int
) -> None:
    """The checkpoint's disk on a file system that maps no files (FUSE in direct_io mode:
    ENODEV), or no address space left to map it (ENOMEM), while the parent is on ext4: the
    merge copies it the other way, same bytes, instead of failing."""
    force_direct(monkeypatch, tmp_path)
    child, base, expected = make_merge(tmp_path / "m")

    def unmappable(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(mmap, "mmap", unmappable)
    merged_view(child, base, expected)
    assert sum(kernel_calls) >= 4 * MiB


def test_a_failing_direct_write_stops_the_merge_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO is the disk failing, not O_DIRECT being refused: the merge stops with its error
    (no quiet retry the other way), the chain still reads the same, a rerun finishes."""
    force_direct(monkeypatch, tmp_path)
    child, base, expected = make_merge(tmp_path / "m")
    real = os.pwrite

    def failing(fd: int, data: bytes | memoryview, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, data, offset)

    with monkeypatch.context() as patch:
        patch.setattr(os, "pwrite", failing)
        with pytest.raises(VhdxError, match="Input/output error"):
            merge_vhd(child, direction="forward")
    with open_disk(child) as disk:
        assert disk.read(0, disk.size) == expected
    merged_view(child, base, expected)


def make_wide_disk(path: Path) -> bytes:
    """A 128 MiB dynamic disk (1 MiB blocks) that spans four 32 MiB blocks of a converted
    VHDX: data in the first, written zeros in the second, one byte at the end of the third,
    nothing in the fourth. Returns its virtual bytes."""
    size = 128 * MiB
    model = bytearray(size)
    create_dynamic(path, size, block_size=MiB)
    with open_disk(path, writable=True) as disk:
        for offset, data in (
            (0, random_bytes(3 * MiB, seed=4)),
            (20 * MiB + 4096, b"\x02" * 5000),  # not at a block's start
            (32 * MiB, bytes(2 * MiB)),
            (96 * MiB - 1, b"\x03"),
        ):
            disk.write(offset, data)
            model[offset : offset + len(data)] = data
        disk.flush()
    return bytes(model)


def present_blocks(path: Path) -> list[int]:
    with VhdxImage.open(path) as image:
        blocks, _, _ = image.bat.payload_states()
        return sorted(int(b) for b in blocks)


@pytest.mark.parametrize("how", ["EXDEV", "no-copy_file_range"])
@pytest.mark.parametrize("source_kind", ["vhdx", "raw"])
def test_convert_to_vhdx_is_the_same_by_kernel_copy_and_by_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], how: str,
    source_kind: str,
) -> None:
    source = tmp_path / "d.vhdx"
    model = make_wide_disk(source)
    if source_kind == "raw":  # a sparse raw image holding the same bytes
        convert_vhd(source, tmp_path / "d.raw")
        source = tmp_path / "d.raw"
    kernel_calls.clear()
    kernel_out = tmp_path / "kernel.vhdx"
    convert_vhd(source, kernel_out)
    assert sum(kernel_calls) >= 3 * MiB, "the blocks were not copied in the kernel"
    force_fallback(monkeypatch, how)
    fallback_out = tmp_path / "fallback.vhdx"
    convert_vhd(source, fallback_out)
    for out in (kernel_out, fallback_out):
        with open_disk(out) as disk:
            assert disk.read(0, disk.size) == model
        # the block of written zeros and the untouched one are left unallocated
        assert present_blocks(out) == [0, 2]
        assert [f for f in test_vhd(out) if f.severity == "error"] == []


def make_vhd_chain(folder: Path) -> tuple[Path, Path, bytes]:
    """A dynamic VHD (2 MiB blocks) and a differencing .avhd over it: the child holds whole
    blocks (a contiguous run of its file) and parts of blocks (sector runs). Returns (child,
    parent, the child's virtual bytes)."""
    size = 16 * MiB
    model = bytearray(size)
    base = create_vhd(folder / "base.vhd", size)
    child = create_vhd_differencing(folder / "base_1.avhd", base)
    for disk_path, writes in (
        (base, [(0, random_bytes(3 * MiB, seed=6)), (10 * MiB, random_bytes(MiB, seed=7))]),
        (child, [(2 * MiB, random_bytes(4 * MiB, seed=8)),  # blocks 1-2 whole
                 (MiB + 4096, b"\x04" * 8192),  # part of block 0
                 (10 * MiB + 512, b"\x05" * 1024), (14 * MiB, bytes(MiB))]),
    ):
        with open_disk(disk_path, writable=True) as disk:
            for offset, data in writes:
                disk.write(offset, data)
                model[offset : offset + len(data)] = data
            disk.flush()
    return child, base, bytes(model)


@pytest.mark.parametrize("how", ["EXDEV", "no-copy_file_range"])
@pytest.mark.parametrize("suffix", [".raw", ".vhdx"])
def test_converting_a_vhd_chain_is_the_same_by_kernel_copy_and_by_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], how: str,
    suffix: str,
) -> None:
    child, _, model = make_vhd_chain(tmp_path)
    kernel_out = tmp_path / f"kernel{suffix}"
    convert_vhd(child, kernel_out)
    assert sum(kernel_calls) >= 4 * MiB, "the child's whole blocks were not copied in the kernel"
    force_fallback(monkeypatch, how)
    fallback_out = tmp_path / f"fallback{suffix}"
    convert_vhd(child, fallback_out)
    for out in (kernel_out, fallback_out):
        if suffix == ".raw":
            assert out.read_bytes() == model
            continue
        with open_disk(out) as disk:
            assert disk.read(0, disk.size) == model


@pytest.mark.parametrize("how", ["EXDEV", "no-copy_file_range"])
def test_merging_an_avhd_is_the_same_by_kernel_copy_and_by_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_calls: list[int], how: str
) -> None:
    merged: dict[str, bytes] = {}
    for name in ("kernel", how):
        folder = tmp_path / name
        folder.mkdir()
        child, base, model = make_vhd_chain(folder)
        kernel_calls.clear()
        if name != "kernel":
            force_fallback(monkeypatch, name)
        merge_vhd(child)
        if name == "kernel":
            assert sum(kernel_calls) >= 4 * MiB, "the child's blocks were not copied in the kernel"
        assert not child.exists()
        with open_disk(base) as disk:
            merged[name] = disk.read(0, disk.size)
        assert merged[name] == model
        assert [f for f in test_vhd(base) if f.severity == "error"] == []
    assert merged["kernel"] == merged[how]
