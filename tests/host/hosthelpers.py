"""Helpers for the lab host tests: small VMs, disk writes, disk contents."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hvgui.host import Host
from hvgui.host.fileio import copy_sparse
from hvgui.vhdx import open_disk

MiB = 1 << 20
DISK = 16 * MiB
MEMORY = 64 * MiB


def make_vm(
    host: Host,
    name: str = "web01",
    *,
    disk: int | None = DISK,
    generation: int = 2,
    running: bool = False,
) -> str:
    host.new_vm(name, memory_startup_bytes=MEMORY, new_vhd_size_bytes=disk, generation=generation)
    if running:
        host.start_vm(name)
    return host.get_vm(name).id


def write_now(host: Host, vm: str, offset: int, data: bytes) -> None:
    """Write through the VM's running disk the way the guest does (the VM must run)."""
    with host.open_vm_disk(vm) as disk:
        disk.write(offset, data)
        disk.flush()


def write_disk(path: Path, offset: int, data: bytes) -> None:
    """Write a disk file directly (for an Off VM's running disk)."""
    with open_disk(path, writable=True) as disk:
        disk.write(offset, data)
        disk.flush()


def digest(path: Path) -> str:
    """SHA-256 of a disk's whole virtual content, read through its chain."""
    h = hashlib.sha256()
    with open_disk(path) as disk:
        for offset in range(0, disk.size, 4 * MiB):
            h.update(disk.read(offset, min(4 * MiB, disk.size - offset)))
    return h.hexdigest()


def now_disk(host: Host, vm: str) -> Path:
    return host.get_vm(vm).hard_drives[0].path


def contents(host: Host, vm: str) -> dict[str, str]:
    """What every checkpoint and Now read: checkpoint name (or 'Now') -> digest."""
    out = {"Now": digest(now_disk(host, vm))}
    for snap in host.list_snapshots(vm):
        out[snap.name] = digest(snap.hard_drives[0].path)
    return out


MARK = 3 * MiB  # a guest memory address written before the operation under test


def build_chain(root: Path, disk: int = DISK) -> None:
    """Running VM, checkpoints c1 -> c2, then Now written (as in test_crash)."""
    host = Host.open(root)
    make_vm(host, disk=disk, running=True)
    write_now(host, "web01", 0, b"first" * 1000)
    host.write_memory("web01", MARK, b"memory mark")
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 1 * MiB, b"second" * 1000)
    host.checkpoint_vm("web01", snapshot_name="c2")
    write_now(host, "web01", 2 * MiB, b"now" * 3000)


Listing = dict[str, tuple[str, int, int]]


def _content(path: Path) -> str:
    """A digest of a file's size and data regions (holes skipped, so a sparse 512 MiB memory
    file costs what it holds)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(size.to_bytes(8, "little"))
        offset = 0
        while offset < size:
            try:
                start = os.lseek(f.fileno(), offset, os.SEEK_DATA)
                end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            except OSError:  # only a hole is left
                break
            h.update(start.to_bytes(8, "little"))
            h.update(os.pread(f.fileno(), end - start, start))
            offset = end
    return h.hexdigest()


def listing(folder: Path) -> Listing:
    """Every entry below `folder`: content (files), mode and mtime: what a change would touch."""
    out: Listing = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        data = _content(path) if path.is_file() and not path.is_symlink() else ""
        out[str(path.relative_to(folder))] = (data, st.st_mode, st.st_mtime_ns)
    return out


def copy_lab(source: Path, destination: Path) -> None:
    """`cp -a source destination`: links kept as links, holes as holes, modes and times kept."""

    def copy(src: str, dst: str) -> None:
        copy_sparse(Path(src), Path(dst))
        shutil.copystat(src, dst)

    shutil.copytree(source, destination, symlinks=True, copy_function=copy)
