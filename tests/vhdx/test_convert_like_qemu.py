"""Reading whole disks the way `qemu-img convert` does, byte for byte the same output (both
write raw output to RAM); the times are printed beside qemu-img's, never asserted (the
speed targets are benchmarks/run.py's rows).

The default run uses small disks; `-m slow` runs the sizes of the brief: a fully written 1 GiB
dynamic disk, and a 4-deep chain of scattered partial blocks against qemu-img on the flattened
disk.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, create_differencing, create_dynamic, open_disk, set_read_only
from tests.vhdx.helpers import tool

CHUNK = 8 * MiB


def _output_dir(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path


def _ours(path: Path, out: Path) -> float:
    start = time.perf_counter()
    with open_disk(path) as disk:
        fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, disk.size)
            buf = memoryview(bytearray(CHUNK))
            for offset in range(0, disk.size, CHUNK):
                n = disk.readinto(offset, buf)
                os.pwrite(fd, buf[:n], offset)
        finally:
            os.close(fd)
    return time.perf_counter() - start


def _qemu(path: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [tool("qemu-img"), "convert", "-f", "vhdx", "-O", "raw", str(path), str(out)], check=True
    )
    return time.perf_counter() - start


def _compare(ours_path: Path, flat_path: Path, out_dir: Path, tries: int) -> tuple[float, float]:
    ours_out = out_dir / f"hvgui-speed-{os.getpid()}-ours.raw"
    qemu_out = out_dir / f"hvgui-speed-{os.getpid()}-qemu.raw"
    try:
        ours, qemu = [], []
        for _ in range(tries):
            ours.append(_ours(ours_path, ours_out))
            qemu.append(_qemu(flat_path, qemu_out))
        assert ours_out.read_bytes() == qemu_out.read_bytes()
        return statistics.median(ours), statistics.median(qemu)
    finally:
        ours_out.unlink(missing_ok=True)
        qemu_out.unlink(missing_ok=True)


def _full_disk(folder: Path, size: int) -> Path:
    path = folder / "full.vhdx"
    create_dynamic(path, size)
    with open_disk(path, writable=True) as disk:
        for offset in range(0, size, 64 * MiB):
            disk.write(offset, os.urandom(min(64 * MiB, size - offset)))
    return path


def _scattered_chain(folder: Path, size: int, writes: int) -> tuple[Path, Path]:
    """A 4-deep chain (base + 3 children, mixed block sizes) and the same content flat."""
    rng = random.Random(3)
    paths = [folder / "base.vhdx"]
    create_dynamic(paths[0], size, block_size=32 * MiB)
    with open_disk(paths[0], writable=True) as disk:
        for offset in range(0, size, 8 * MiB):
            disk.write(offset, os.urandom(4 * MiB))
    for level, block_size in enumerate([2 * MiB, 1 * MiB, 4 * MiB]):
        child = folder / f"level{level}.avhdx"
        create_differencing(child, paths[-1], block_size=block_size)
        set_read_only(paths[-1], True)
        paths.append(child)
        with open_disk(child, writable=True) as disk:
            for _ in range(writes):
                offset = rng.randrange(0, size - 70000) // 512 * 512
                disk.write(offset, rng.randbytes(rng.randrange(1, 128) * 512))
    flat = folder / "flat.vhdx"
    create_dynamic(flat, size)
    with open_disk(paths[-1]) as src, open_disk(flat, writable=True) as dst:
        for offset in range(0, size, 64 * MiB):
            dst.write(offset, src.read(offset, 64 * MiB))
        partial = [i.bat.state_counts()["PARTIALLY_PRESENT"] for i in src.images[:-1]]
    assert all(n > 0 for n in partial)
    return paths[-1], flat


def test_reading_a_full_dynamic_disk_gives_qemus_bytes(tmp_path: Path) -> None:
    path = _full_disk(tmp_path, 128 * MiB)
    ours, qemu = _compare(path, path, _output_dir(tmp_path), tries=1)
    print(f"128 MiB dynamic: hvgui {ours:.3f} s, qemu-img convert {qemu:.3f} s")


def test_reading_a_scattered_chain_gives_qemus_bytes_of_the_flat_disk(tmp_path: Path) -> None:
    leaf, flat = _scattered_chain(tmp_path, 64 * MiB, writes=400)
    ours, qemu = _compare(leaf, flat, _output_dir(tmp_path), tries=1)
    print(f"64 MiB 4-deep chain: hvgui {ours:.3f} s, qemu-img convert (flat) {qemu:.3f} s")


@pytest.mark.slow
def test_reading_1_gib_gives_qemus_bytes(tmp_path: Path) -> None:
    path = _full_disk(tmp_path, 1 << 30)
    ours, qemu = _compare(path, path, _output_dir(tmp_path), tries=5)
    print(f"1 GiB dynamic: hvgui {ours:.3f} s, qemu-img convert {qemu:.3f} s")


@pytest.mark.slow
def test_reading_a_4_deep_scattered_chain_gives_qemus_bytes_of_the_flat_disk(
    tmp_path: Path,
) -> None:
    leaf, flat = _scattered_chain(tmp_path, 256 * MiB, writes=3000)
    ours, qemu = _compare(leaf, flat, _output_dir(tmp_path), tries=5)
    print(f"256 MiB 4-deep chain: hvgui {ours:.3f} s, qemu-img convert (flat) {qemu:.3f} s")
