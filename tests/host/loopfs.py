"""Real file systems for tests: a small ext4 image, loop-mounted, to fill up or to cut the
power of (the ext4 shutdown ioctl); a folder made read-only (bind-mounted over itself).

Needs root and loop devices (or, for read-only, an unprivileged user). Where they are missing
the test skips with the reason, unless HVGUI_REQUIRE_LOOP is set (`.ci/run` sets it: there
the test must run).
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("HVGUI_REQUIRE_LOOP"):
        pytest.fail(f"HVGUI_REQUIRE_LOOP is set but {reason}")
    pytest.skip(reason)


@contextmanager
def small_filesystem(where: Path, size_mib: int) -> Iterator[Path]:
    """An empty ext4 file system of `size_mib` MiB mounted at `where/mnt` for the body."""
    image, mount = where / "fs.img", where / "mnt"
    make_image(image, size_mib)
    mount.mkdir()
    mount_image(image, mount)
    try:
        yield mount
    finally:
        unmount(mount)
        image.unlink()


def make_image(image: Path, size_mib: int) -> None:
    """A sparse file holding an empty ext4 file system (skips where that is impossible)."""
    if os.geteuid() != 0:
        _unavailable("loop-mounting a file system needs root")
    with open(image, "wb") as handle:
        handle.truncate(size_mib << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
                          capture_output=True, text=True, check=False)
    if made.returncode:
        _unavailable(f"mkfs.ext4 failed: {made.stderr.strip()}")


def mount_image(image: Path, mount: Path) -> None:
    """Loop-mount `image` at `mount`; ext4 replays its journal here after a shutdown."""
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode:
        _unavailable(f"cannot loop-mount: {mounted.stderr.strip()}")


def unmount(mount: Path) -> None:
    if subprocess.run(["umount", str(mount)], check=False).returncode:
        subprocess.run(["umount", "-l", str(mount)], check=False)


EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2  # stop now: what the journal has not committed is lost


def power_cut(mount: Path) -> None:
    """Shut the file system down as a power cut would: every write not yet committed to the
    disk (data and metadata alike) is gone, and every later I/O on it fails."""
    fd = os.open(mount, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)


@contextmanager
def read_only_view(folder: Path) -> Iterator[Path]:
    """`folder` made read-only in place, as on a read-only mount or after `chmod -R a-w`.

    Root ignores mode bits, so as root the folder is bind-mounted read-only over itself; an
    unprivileged user gets its write bits removed (given back afterwards)."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
        return
    done = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        _unavailable(f"cannot bind-mount: {done.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def free_bytes(folder: Path) -> int:
    usage = os.statvfs(folder)
    return usage.f_bavail * usage.f_frsize


def fill(folder: Path, leave: int) -> Path:
    """Take all but `leave` bytes of the file system holding `folder`; returns the filler
    (delete it to give the space back)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, max(4096, free_bytes(folder) - leave))
    finally:
        os.close(fd)
    return filler
