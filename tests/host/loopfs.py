"""Real file systems for tests: a small ext4 image, loop-mounted, to fill up; a folder made
read-only (bind-mounted read-only over itself).

Needs root and loop devices (or, for read-only, an unprivileged user). Where they are missing
the test skips with the reason, unless HVGUI_REQUIRE_LOOP is set (`.ci/run` sets it: there
the test must run).
"""

from __future__ import annotations

import os
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
    if os.geteuid() != 0:
        _unavailable("loop-mounting a file system needs root")
    image, mount = where / "fs.img", where / "mnt"
    with open(image, "wb") as handle:
        handle.truncate(size_mib << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
                          capture_output=True, text=True, check=False)
    if made.returncode:
        _unavailable(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mount.mkdir()
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode:
        _unavailable(f"cannot loop-mount: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        image.unlink()


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
