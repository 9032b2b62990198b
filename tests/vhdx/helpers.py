"""Shared helpers for VHDX tests: independent readers (qemu-img, 7-Zip, libvhdi) and builders."""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, create_differencing, create_dynamic, open_disk, set_read_only


def tool(name: str) -> str:
    """The path of an external tool; CI installs every tool the tests use, so fail if absent."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], capture_output=True, check=False, timeout=120)


def qemu_check(path: Path) -> str:
    """`qemu-img check` output; fails the test when qemu finds an error."""
    result = run(tool("qemu-img"), "check", "-f", "vhdx", path)
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, out
    return out


def qemu_raw(path: Path, fmt: str = "vhdx") -> bytes:
    """The virtual disk's bytes as qemu-img converts them (base VHDX only; `fmt` "vpc" for a
    fixed or dynamic VHD)."""
    raw = path.with_name(path.name + ".qemu.raw")
    result = run(tool("qemu-img"), "convert", "-f", fmt, "-O", "raw", path, raw)
    assert result.returncode == 0, result.stderr.decode()
    try:
        return raw.read_bytes()
    finally:
        raw.unlink()


def sevenzip_raw(path: Path) -> bytes:
    """The flattened virtual disk as `7zz e -so` extracts it (parents found beside the file)."""
    result = run(tool("7zz"), "e", "-so", path)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def pyvhdi_raw(chain: list[Path]) -> bytes:
    """The virtual disk read by libvhdi, with each parent attached by hand (leaf first)."""
    import pyvhdi

    files = []
    for p in chain:
        f = pyvhdi.file()
        f.open(str(p))
        files.append(f)
    for child, parent in itertools.pairwise(files):
        child.set_parent(parent)
    try:
        return bytes(files[0].read_buffer_at_offset(files[0].get_media_size(), 0))
    finally:
        for f in files:
            f.close()


def vhdiinfo(path: Path) -> str:
    result = run(tool("vhdiinfo"), path)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def scattered_writes(
    size: int, count: int, seed: int, max_len: int = 96 * 1024
) -> list[tuple[int, bytes]]:
    """`count` writes of random bytes at random (not always aligned) offsets inside `size`."""
    rng = random.Random(seed)
    writes = []
    for i in range(count):
        length = rng.randrange(1, max_len)
        offset = rng.randrange(0, size - length)
        writes.append((offset, rng.randbytes(length) if i % 3 else bytes([i % 255 + 1]) * length))
    return writes


def apply(model: bytearray, writes: list[tuple[int, bytes]]) -> None:
    for offset, data in writes:
        model[offset : offset + len(data)] = data


def build_chain(
    folder: Path,
    size: int,
    block_sizes: list[int],
    writes_per_level: int = 12,
    seed: int = 1,
    logical_sector_size: int = 512,
) -> tuple[list[Path], bytearray]:
    """A base dynamic disk and differencing children (one per extra block size), each written
    with scattered writes; parents are made read-only as Hyper-V does.

    Returns the chain (leaf first) and the expected virtual content.
    """
    model = bytearray(size)
    base = folder / "base.vhdx"
    create_dynamic(base, size, block_size=block_sizes[0], logical_sector_size=logical_sector_size)
    paths = [base]
    for level, bs in enumerate(block_sizes):
        if level:
            child = folder / f"level{level}.avhdx"
            create_differencing(child, paths[-1], block_size=bs)
            set_read_only(paths[-1], True)
            paths.append(child)
        writes = scattered_writes(size, writes_per_level, seed * 100 + level)
        with open_disk(paths[-1], writable=True) as disk:
            for offset, data in writes:
                disk.write(offset, data)
        apply(model, writes)
    return paths[::-1], model


def fill_disk(path: Path, seed: int = 7, chunk: int = 4 * MiB) -> bytes:
    """Write random bytes over the whole disk; returns what was written."""
    with open_disk(path, writable=True) as disk:
        data = random_bytes(disk.size, seed)
        for offset in range(0, disk.size, chunk):
            disk.write(offset, data[offset : offset + chunk])
    return data


# --- surgery on files, for corruption tests --------------------------------------------------


def patch(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place (the file's write bits are ignored: tests own their files)."""
    import os

    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def metadata_item_offset(path: Path, item: object) -> int:
    """The file offset of a metadata item (by GUID) of a currently valid file."""
    from hvgui.vhdx import VhdxImage

    with VhdxImage.open(path, load_bat=False) as image:
        for entry in image.metadata.entries:
            if entry.item_id == item:
                return image.metadata_region.file_offset + entry.offset
    raise KeyError(item)


def metadata_table_offset(path: Path) -> int:
    from hvgui.vhdx import VhdxImage

    with VhdxImage.open(path, load_bat=False) as image:
        return image.metadata_region.file_offset


def bat_offset(path: Path) -> int:
    from hvgui.vhdx import VhdxImage

    with VhdxImage.open(path, load_bat=False) as image:
        return image.bat_region.file_offset


def rewrite_headers(path: Path, **changes: object) -> None:
    """Rewrite both headers with `changes` (Header fields), keeping valid checksums."""
    from dataclasses import replace

    from hvgui.vhdx import VhdxImage
    from hvgui.vhdx.format import HEADER_OFFSETS
    from hvgui.vhdx.structures import build_header

    with VhdxImage.open(path, load_bat=False) as image:
        headers = list(image.headers)
    for slot, header in enumerate(headers):
        if header is not None:
            patch(path, HEADER_OFFSETS[slot], build_header(replace(header, **changes)))  # type: ignore[arg-type]


def rewrite_locator(path: Path, locator: dict[str, str]) -> None:
    """Replace a differencing file's parent locator (metadata rewritten in place)."""
    from hvgui.vhdx import VhdxImage
    from hvgui.vhdx.structures import build_metadata_region

    with VhdxImage.open(path, load_bat=False) as image:
        m = image.metadata
        region = image.metadata_region
    data = build_metadata_region(
        block_size=m.block_size,
        leave_block_allocated=m.leave_block_allocated,
        virtual_size=m.virtual_size,
        logical_sector_size=m.logical_sector_size,
        physical_sector_size=m.physical_sector_size,
        page83=m.page83,
        parent_locator=locator,
        region_length=region.length,
    )
    patch(path, region.file_offset, data)
