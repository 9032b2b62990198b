"""A conversion that reported success survives a power cut: its destination holds every byte
(the data reaches the disk before the rename that makes the name visible), in each direction.

The conversion runs on a loop-mounted ext4 that is then shut down as a power cut would
(tests/host/loopfs.py: needs root and loop devices, else it skips with the reason; `.ci/run`
makes it run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, convert_vhd, create_dynamic, open_disk
from tests.host.loopfs import make_image, mount_image, power_cut, unmount
from tests.vhdx.helpers import random_bytes

SIZE = 16 * MiB
WRITES = ((MiB, 5 * MiB), (9 * MiB + 4096, 3 * MiB))  # (offset, length): data, then holes


def make_source(path: Path) -> bytes:
    """A VHDX (1 MiB blocks) or sparse raw disk holding WRITES; returns its virtual bytes."""
    model = bytearray(SIZE)
    for seed, (offset, length) in enumerate(WRITES):
        model[offset : offset + length] = random_bytes(length, seed=seed + 7)
    if path.suffix == ".raw":
        with open(path, "wb") as raw:
            raw.truncate(SIZE)
            for offset, length in WRITES:
                raw.seek(offset)
                raw.write(model[offset : offset + length])
    else:
        create_dynamic(path, SIZE, block_size=MiB)
        with open_disk(path, writable=True) as disk:
            for offset, length in WRITES:
                disk.write(offset, bytes(model[offset : offset + length]))
    return bytes(model)


def virtual_bytes(path: Path) -> bytes:
    if path.suffix == ".raw":
        return path.read_bytes()
    with open_disk(path) as disk:
        return disk.read(0, disk.size)


@pytest.mark.parametrize(("source_name", "output_name"), [
    ("in.vhdx", "out.raw"),
    ("in.vhdx", "out.vhdx"),
    ("in.raw", "out.vhdx"),
])
def test_a_power_cut_just_after_a_conversion_keeps_every_converted_byte(
    tmp_path: Path, source_name: str, output_name: str
) -> None:
    image, mount = tmp_path / "fs.img", tmp_path / "mnt"
    make_image(image, 96)
    mount.mkdir()
    mount_image(image, mount)
    try:
        source, output = mount / source_name, mount / output_name
        model = make_source(source)
        os.sync()  # the source is safe: only what the conversion wrote is at stake
        convert_vhd(source, output)
        power_cut(mount)  # at once: the kernel has not written back anything on its own
    finally:
        unmount(mount)
    mount_image(image, mount)  # replays the journal, as after a reboot
    try:
        assert virtual_bytes(output) == model
    finally:
        unmount(mount)
        image.unlink()
