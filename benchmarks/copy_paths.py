"""Ways to move a forward merge's data, timed against each other and dd: `--mib` MiB of a file
in the page cache (the merged child's fully present blocks) appended, durably, to a file that
holds 1 GiB (the parent), each way ending with the data on the disk.

Run: `python benchmarks/copy_paths.py [--mib M] [--rounds N] [--idle S] [--only WAY ...]
[--workdir DIR]`.

- `kernel`: what the merge did before O_DIRECT (copy_file_range in 32 MiB steps, the writeback
  started after each, the source's pages dropped; fsync); `kernel-falloc`: into space
  allocated first; `kernel-thread`: the two hints made by a second thread while the copy goes
  on; `kernel-keep`: the same without dropping the source's pages (freed when it is deleted);
- `direct-mmap`: what the merge does on ext4 (vhdx/direct_copy.py): O_DIRECT writes straight
  from the source mapped (its pages in the page cache: no copy in memory), two threads, 32 MiB
  writes; fdatasync; `direct-mmap1`: one thread; `direct-mmap4`: four threads, 8 MiB writes;
- `direct`: the source read into page-aligned buffers (one copy in memory), the target written
  with O_DIRECT by a second thread while the next chunk is read; fsync;
- `direct-falloc`: the same into space allocated first (fallocate);
- `direct-both`: the source read with O_DIRECT too (from the disk, not the cache);
- `dd`: `dd bs=4M conv=fsync` of the source to a new file (the merge row's reference).

The ways take turns in every round (a fresh target each time, untimed). `--idle S` waits S
seconds before each timed copy: on a virtual machine whose free memory is handed back to the
host (free page reporting), the first write to a page of such memory costs a fault in the host,
which a copy into fresh page-cache pages pays and one that reuses pages does not (README).
Prints the median wall time, the CPU (user + system, dd's process included) and the system
CPU of each way. Linux only (O_DIRECT); `kernel` and `direct-mmap` are hvgui's two paths
(off ext2/3/4 and on it); the others are what was tried beside them.
"""

from __future__ import annotations

import argparse
import mmap
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

MiB = 1 << 20
BASE = 1024 * MiB  # what the target holds before the copy
STEP = 32 * MiB  # the merge's copy and writeback step
CHUNK = 8 * MiB  # an O_DIRECT write


def _fill(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // (4 * MiB)):
            out.write(os.urandom(4 * MiB))


def kernel(src: Path, dst: Path, size: int, *, falloc: bool = False) -> None:
    s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_RDWR)
    try:
        if falloc:
            os.posix_fallocate(d, BASE, size)
        done = 0
        while done < size:
            n = os.copy_file_range(s, d, min(STEP, size - done), done, BASE + done)
            os.posix_fadvise(d, BASE + done, n, os.POSIX_FADV_DONTNEED)  # start the writeback
            os.posix_fadvise(s, done, n, os.POSIX_FADV_DONTNEED)  # the source's pages go
            done += n
        os.fsync(d)
    finally:
        os.close(s)
        os.close(d)


def kernel_threaded(src: Path, dst: Path, size: int, *, drop_source: bool = True) -> None:
    """`kernel` with the hints (the target's writeback, the source's pages dropped) made by a
    second thread while the copy goes on; without `drop_source` the source keeps its pages."""
    s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_RDWR)
    hints: queue.Queue[tuple[int, int] | None] = queue.Queue()

    def hinter() -> None:
        while (item := hints.get()) is not None:
            offset, n = item
            os.posix_fadvise(d, BASE + offset, n, os.POSIX_FADV_DONTNEED)
            if drop_source:
                os.posix_fadvise(s, offset, n, os.POSIX_FADV_DONTNEED)

    thread = threading.Thread(target=hinter)
    thread.start()
    try:
        done = 0
        while done < size:
            n = os.copy_file_range(s, d, min(STEP, size - done), done, BASE + done)
            hints.put((done, n))
            done += n
    finally:
        hints.put(None)
        thread.join()
    os.fsync(d)
    os.close(s)
    os.close(d)


def direct_mmap(src: Path, dst: Path, size: int, *, threads: int = 2, chunk: int = STEP) -> None:
    """O_DIRECT writes straight from the source's pages in the page cache (the source mapped:
    no copy in memory, no page-cache pages for the target), `threads` writes in flight; then
    fdatasync (the new blocks' extents, the disk's cache)."""
    s = os.open(src, os.O_RDONLY)
    d = os.open(dst, os.O_RDWR | os.O_DIRECT)
    mapped = mmap.mmap(s, size, prot=mmap.PROT_READ)
    view = memoryview(mapped)
    jobs: queue.Queue[int | None] = queue.Queue()
    failed: list[BaseException] = []

    def writer() -> None:
        while (offset := jobs.get()) is not None:
            try:
                n = min(chunk, size - offset)
                done = 0
                while done < n:
                    done += os.pwrite(d, view[offset + done: offset + n], BASE + offset + done)
            except OSError as exc:
                failed.append(exc)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for w in workers:
        w.start()
    try:
        for offset in range(0, size, chunk):
            jobs.put(offset)
    finally:
        for _ in workers:
            jobs.put(None)
        for w in workers:
            w.join()
    view.release()
    mapped.close()
    if failed:
        raise failed[0]
    os.fdatasync(d)
    os.close(s)
    os.close(d)


def direct(src: Path, dst: Path, size: int, *, falloc: bool = False,
           read_direct: bool = False) -> None:
    s = os.open(src, os.O_RDONLY | (os.O_DIRECT if read_direct else 0))
    d = os.open(dst, os.O_RDWR | os.O_DIRECT)
    buffers = [mmap.mmap(-1, CHUNK) for _ in range(3)]  # page-aligned, as O_DIRECT needs
    free: queue.Queue[mmap.mmap] = queue.Queue()
    full: queue.Queue[tuple[mmap.mmap, int, int] | None] = queue.Queue()
    failed: list[BaseException] = []

    def writer() -> None:
        while (item := full.get()) is not None:
            buffer, offset, n = item
            try:
                os.pwrite(d, memoryview(buffer)[:n], BASE + offset)
            except OSError as exc:
                failed.append(exc)
            free.put(buffer)

    try:
        if falloc:
            os.posix_fallocate(d, BASE, size)
        for b in buffers:
            free.put(b)
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            done = 0
            while done < size and not failed:
                buffer = free.get()
                n = os.preadv(s, [buffer], done)
                if not read_direct:
                    os.posix_fadvise(s, done, n, os.POSIX_FADV_DONTNEED)
                full.put((buffer, done, n))
                done += n
        finally:
            full.put(None)
            thread.join()
        if failed:
            raise failed[0]
        os.fsync(d)
    finally:
        os.close(s)
        os.close(d)
        for b in buffers:
            b.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=0.0,
                        help="seconds to wait before each timed copy")
    parser.add_argument("--only", nargs="+", metavar="WAY",
                        help="kernel, kernel-falloc, kernel-thread, kernel-keep, direct-mmap, "
                        "direct-mmap1, direct-mmap4, direct, direct-falloc, direct-both, dd")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    size = args.mib * MiB
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="hvgui-copy-paths-") as tmp:
        src, dst, dd_out = Path(tmp) / "child", Path(tmp) / "parent", Path(tmp) / "dd.out"
        _fill(src, size)
        ways: dict[str, Callable[[], object]] = {
            "kernel": lambda: kernel(src, dst, size),
            "kernel-falloc": lambda: kernel(src, dst, size, falloc=True),
            "kernel-thread": lambda: kernel_threaded(src, dst, size),
            "kernel-keep": lambda: kernel_threaded(src, dst, size, drop_source=False),
            "direct-mmap": lambda: direct_mmap(src, dst, size),
            "direct-mmap1": lambda: direct_mmap(src, dst, size, threads=1),
            "direct-mmap4": lambda: direct_mmap(src, dst, size, threads=4, chunk=8 * MiB),
            "direct": lambda: direct(src, dst, size),
            "direct-falloc": lambda: direct(src, dst, size, falloc=True),
            "direct-both": lambda: direct(src, dst, size, read_direct=True),
            "dd": lambda: subprocess.run(["dd", f"if={src}", f"of={dd_out}", "bs=4M",
                                          "conv=fsync", "status=none"], check=True),
        }
        ways = {k: v for k, v in ways.items() if not args.only or k in args.only}
        wall: dict[str, list[float]] = {k: [] for k in ways}
        cpu: dict[str, list[float]] = {k: [] for k in ways}
        system: dict[str, list[float]] = {k: [] for k in ways}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            for name, way in ways.items():
                dst.unlink(missing_ok=True)
                dd_out.unlink(missing_ok=True)
                if name != "dd":
                    _fill(dst, BASE)
                with open(src, "rb") as warm:  # the child is in the page cache
                    while warm.read(16 * MiB):
                        pass
                os.sync()
                time.sleep(args.idle)
                before, start = os.times(), time.perf_counter()
                way()
                wall[name].append(time.perf_counter() - start)
                after = os.times()
                spent = [b - a for a, b in zip(before, after, strict=True)]
                cpu[name].append(sum(spent[:4]))  # user, system, children's user and system
                system[name].append(spent[1] + spent[3])
                if round_ == 0 and name != "dd":
                    with open(src, "rb") as a, open(dst, "rb") as b:
                        b.seek(BASE)
                        if a.read() != b.read():
                            print(f"{name}: THE COPY DIFFERS", file=sys.stderr)
                            return 1
            loads.append(os.getloadavg()[0])
    print(f"{args.rounds} rounds of {args.mib} MiB, idle {args.idle:g} s before each, load "
          f"average {min(loads):.1f}-{max(loads):.1f}; medians in seconds (wall, CPU, system):")
    for name in ways:
        print(f"  {name:14s} {statistics.median(wall[name]):6.3f} "
              f"{statistics.median(cpu[name]):6.3f} {statistics.median(system[name]):6.3f}   "
              + " ".join(f"{v:.3f}" for v in wall[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
