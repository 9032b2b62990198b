"""Benchmarks of hvgui's VHDX engine against the tools a user would compare it with.

Run: `python benchmarks/run.py [--quick] [--only NAME ...] [--workdir DIR]`.
Each benchmark times hvgui and its reference in the same run (median of several tries, warm
cache) and prints a ratio; nothing here asserts a time. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from precompile import compile_hvgui  # noqa: E402  (benchmarks/precompile.py)
from table import Row, Target, print_rows  # noqa: E402  (benchmarks/table.py)

from hvgui import vhdx  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
HVCTL = [sys.executable, "-m", "hvgui.cli.main"]


Step = tuple[Callable[[], object], Callable[[], object] | None]


def interleaved(steps: list[Step], repeat: int) -> list[float]:
    """Median wall time of each (action, untimed preparation) over `repeat` rounds, the actions
    taking turns in every round so that a busy moment of the machine hits them all alike."""
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeat):
        for i, (action, before) in enumerate(steps):
            if before is not None:
                before()
            start = time.perf_counter()
            action()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def timed(action: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
          ) -> float:
    return interleaved([(action, before)], repeat)[0]


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO)


class Writer(Protocol):
    def write(self, offset: int, data: bytes) -> object: ...


class Mirrored:
    """A disk whose every write also lands, at the same offset, in a raw file: the content
    made without hvgui reading anything, for the reference tool and for checking hvgui."""

    def __init__(self, disk: vhdx.Disk, raw: Path) -> None:
        self.disk, self.raw = disk, raw

    def write(self, offset: int, data: bytes) -> None:
        self.disk.write(offset, data)
        RawImage(self.raw).write(offset, data)


class RawImage:
    """Writes land in a raw file only (content made without hvgui)."""

    def __init__(self, raw: Path) -> None:
        self.raw = raw

    def write(self, offset: int, data: bytes) -> None:
        fd = os.open(self.raw, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)


def raw_file(path: Path, size: int) -> Path:
    """A sparse raw image of `size` zero bytes (what a new dynamic VHDX reads)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def fill_random(disk: Writer, start: int, length: int, seed: int) -> None:
    """Write pseudo-random (incompressible, never zero) data in 4 MiB pieces."""
    chunk = 4 * MiB
    pattern = os.urandom(chunk)  # one random buffer, varied per chunk so blocks differ
    offset = start
    while offset < start + length:
        size = min(chunk, start + length - offset)
        tag = (seed * 1_000_003 + offset).to_bytes(8, "little")
        disk.write(offset, tag + pattern[8:size])
        offset += size


def clean(*paths: Path) -> None:
    """Remove earlier outputs and let the kernel write back what is dirty, so that no timed
    run pays for the writeback of another's output."""
    remove(*paths)
    os.sync()


def remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def bench_convert_dynamic(work: Path, size: int, repeat: int) -> list[Row]:
    """(1) a fully written dynamic VHDX (32 MiB blocks, made by qemu-img from random bytes) to
    raw: hvctl convert-vhd vs qemu-img convert."""
    source, content = work / "full.vhdx", work / "full-content.raw"
    remove(source, content)
    fill_random(RawImage(raw_file(content, size)), 0, size, seed=1)
    run(["qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o",
         f"subformat=dynamic,block_size={32 * MiB}", str(content), str(source)])
    rows = _compare_convert(work, source, source, repeat, f"dynamic {size // MiB} MiB -> raw",
                            Target(1.0, ratio=True), content)
    remove(source, content)
    return rows


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _compare_convert(work: Path, ours_source: Path, ref_source: Path, repeat: int, name: str,
                     target: Target, expected: Path | None = None) -> list[Row]:
    """hvctl convert-vhd of `ours_source`, the same in process, and qemu-img convert of
    `ref_source`, all to raw, taking turns. hvctl's output is on the disk when it ends;
    qemu-img's is once with `-t writeback` (it then fdatasyncs), not by default ("unsafe":
    left in the page cache). One row against each, with the CPU time (user + sys) of each
    whole process beside it: the wall times of a shared machine move with its load."""
    outs = {k: work / f"{k}.raw" for k in ("ours", "inproc", "unsafe", "writeback")}
    cpu: dict[str, list[float]] = {k: [] for k in ("ours", "unsafe", "writeback")}

    def process(key: str, cmd: list[str]) -> Step:
        def action() -> None:
            before = _cpu_of_children()
            run(cmd)
            cpu[key].append(_cpu_of_children() - before)

        return action, lambda: clean(outs[key])

    qemu = ["qemu-img", "convert", "-f", "vhdx", "-O", "raw"]
    loads = [os.getloadavg()[0]]
    ours, inproc, unsafe, writeback = interleaved(
        [
            process("ours", [*HVCTL, "convert-vhd", str(ours_source), str(outs["ours"])]),
            (lambda: vhdx.convert_vhd(ours_source, outs["inproc"]),
             lambda: clean(outs["inproc"])),
            process("unsafe", [*qemu, str(ref_source), str(outs["unsafe"])]),
            process("writeback", [*qemu, "-t", "writeback", str(ref_source),
                                  str(outs["writeback"])]),
        ],
        repeat,
    )
    loads.append(os.getloadavg()[0])
    want = expected or outs["unsafe"]
    same = all(subprocess.run(["cmp", "-s", str(outs[k]), str(want)]).returncode == 0
               for k in ("ours", "unsafe", "writeback"))
    remove(*outs.values())
    name += "" if same else " (OUTPUT DIFFERS)"
    note = f"load {loads[0]:.1f}-{loads[1]:.1f}"
    return [
        Row(f"{name}, both durable", ours, writeback, "qemu-img -t writeback", target,
            in_process=inproc, note=f"{_cpu_note(cpu['ours'], cpu['writeback'])}; {note}"),
        Row(f"{name}, qemu-img not durable", ours, unsafe, "qemu-img (default: unsafe)", target,
            in_process=inproc, note=f"{_cpu_note(cpu['ours'], cpu['unsafe'])}; {note}"),
    ]


def _cpu_note(ours: list[float], reference: list[float]) -> str:
    """The CPU time (user + system) of each side, and the reference's most: a round whose
    reference wrote into fresh memory of a virtual machine that gave it back to its host pays
    for faults in the host as system time (README: "Why the references' times vary")."""
    return (f"CPU {statistics.median(ours):.2f} vs {statistics.median(reference):.2f} s "
            f"(the reference's most {max(reference):.2f})")


def bench_convert_chain(work: Path, size: int, repeat: int) -> list[Row]:
    """(2) the same content through a 4-deep chain of scattered partial blocks vs qemu-img
    converting the equivalent flat VHDX, which qemu-img makes from a raw image holding the
    same writes (never read through hvgui): the outputs compared are independent."""
    import random

    rng = random.Random(7)
    chain = [work / "c0.vhdx", work / "c1.avhdx", work / "c2.avhdx", work / "c3.avhdx"]
    flat_raw, flat = work / "flat.raw", work / "flat.vhdx"
    remove(*chain, flat_raw, flat)
    raw_file(flat_raw, size)
    vhdx.create_dynamic(chain[0], size)
    with vhdx.open_disk(chain[0], writable=True) as disk:
        fill_random(Mirrored(disk, flat_raw), 0, size, seed=2)
    for level in range(1, 4):
        vhdx.create_differencing(chain[level], chain[level - 1])
        with vhdx.open_disk(chain[level], writable=True) as disk:
            mirrored = Mirrored(disk, flat_raw)
            # ~1/8 of the disk per level, in 64 KiB pieces: most 2 MiB blocks end partial.
            for _ in range(size // (8 * 64 * 1024)):
                offset = rng.randrange(0, size // 4096) * 4096
                length = min(64 * 1024, size - offset)
                mirrored.write(offset, rng.randbytes(length))
    run(["qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic",
         str(flat_raw), str(flat)])
    rows = _compare_convert(work, chain[-1], flat, repeat, f"4-deep chain {size // MiB} MiB -> raw",
                            Target(2.0, ratio=True), flat_raw)
    remove(flat_raw, flat, *chain)
    return rows


def make_merge_files(parent: Path, child: Path, expected: Path, changed: int,
                     parent_bytes: int = 8 * MiB) -> None:
    """A parent with `parent_bytes` written and a child with `changed` bytes of fully written
    blocks elsewhere; `expected` receives the same writes. Written back, in the page cache,
    as dd's source. With the default 8 MiB the parent holds less: the merge streams it into
    the child; with more than `changed`, the child's blocks are copied forward."""
    size = 2 * max(changed, changed // 2 + parent_bytes)  # the two never overlap
    remove(parent, child)
    raw_file(expected, size)
    vhdx.create_dynamic(parent, size)
    with vhdx.open_disk(parent, writable=True) as disk:
        fill_random(Mirrored(disk, expected), 0, parent_bytes, seed=3)
    vhdx.create_differencing(child, parent)
    with vhdx.open_disk(child, writable=True) as disk:
        fill_random(Mirrored(disk, expected), size - changed - size // 4, changed, seed=4)
    os.sync()


def dd_steps(source: Path, target: Path, changed: int) -> Step:
    """dd's half of the merge row: `changed` random bytes in `source` (written now, so in the
    page cache as the merged child is), copied to a new `target` with conv=fsync."""
    with open(source, "wb") as out:
        for _ in range(changed // (4 * MiB)):
            out.write(os.urandom(4 * MiB))

    def dd() -> None:
        run(["dd", f"if={source}", f"of={target}", "bs=4M", "conv=fsync", "status=none"])

    def dd_prepare() -> None:
        remove(target)
        os.sync()

    return dd, dd_prepare


def bench_merge(work: Path, changed: int, repeat: int, parent_bytes: int = 8 * MiB) -> Row:
    """(3) merging `changed` bytes of fully written blocks durably vs dd conv=fsync; after the
    last merge, qemu-img reads the merged parent and it must hold exactly the writes made
    (kept in a raw image as they were made, never read through hvgui). The parent holds
    `parent_bytes`: less than the child (the merge streams the parent into the child, which
    takes its name) or more (the child is copied forward into the parent)."""
    parent, child, expected = work / "m.vhdx", work / "m.avhdx", work / "m.raw"
    source, target = work / "dd.in", work / "dd.out"
    dd, dd_prepare = dd_steps(source, target, changed)
    streamed: list[bool] = []

    def prepare() -> None:
        make_merge_files(parent, child, expected, changed, parent_bytes)

    cpu: dict[str, list[float]] = {"merge": [], "dd": []}

    def merge() -> None:
        before = os.times()
        streamed.append(vhdx.merge_vhd(child).streamed)
        cpu["merge"].append(sum(os.times()[:2]) - sum(before[:2]))

    def dd_timed() -> None:
        before = _cpu_of_children()
        dd()
        cpu["dd"].append(_cpu_of_children() - before)

    # In process: the merge itself, not Python's start-up, is compared with dd.
    ours, ref = interleaved([(merge, prepare), (dd_timed, dd_prepare)], repeat)
    merged = work / "merged.raw"
    run(["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(parent), str(merged)])
    same = not child.exists() and subprocess.run(["cmp", "-s", str(merged),
                                                  str(expected)]).returncode == 0
    remove(parent, child, source, target, expected, merged)
    how = ("parent streamed into the child" if all(streamed) else
           "child copied forward" if not any(streamed) else "MIXED DIRECTIONS")
    return Row(f"merge {changed // MiB} MiB of changed blocks into a parent holding "
               f"{parent_bytes // MiB} MiB ({how})"
               + ("" if same else " (MERGED BYTES DIFFER)"), ours, ref,
               "dd bs=4M conv=fsync", Target(1.0, ratio=True),
               note=_cpu_note(cpu["merge"], cpu["dd"])
               + ("; merged bytes checked by qemu-img" if same else ""))


def bench_differencing_over_huge(work: Path, repeat: int) -> Row:
    """(4) creating a differencing disk over a 64 TiB dynamic parent (must be O(1))."""
    parent, child = work / "huge.vhdx", work / "huge.avhdx"
    remove(parent, child)
    vhdx.create_dynamic(parent, 64 << 40)
    ours = timed(lambda: vhdx.create_differencing(child, parent), repeat,
                 before=lambda: remove(child))
    remove(parent, child)
    return Row("new differencing over 64 TiB", ours, None, "", Target(0.050))


def bench_startup(work: Path, repeat: int) -> list[Row]:
    """(5) hvctl's whole-process start-up, what a script calling it in a loop pays each time:
    beside bare Python and `qemu-img info`, all taking turns."""
    from hvgui.teaching.demo import build_demo_host

    script = Path(sys.executable).with_name("hvctl")  # what a user runs, not `python -m`
    hvctl = [str(script)] if script.exists() else HVCTL
    disk, lab = work / "info.vhdx", work / "demo-lab"
    remove(disk)
    vhdx.create_dynamic(disk, GiB)
    if not lab.exists():
        build_demo_host(lab)
    bare, info, get_vhd, help_, get_vm = interleaved(
        [
            (lambda: run([sys.executable, "-c", "pass"]), None),
            (lambda: run(["qemu-img", "info", str(disk)]), None),
            (lambda: run([*hvctl, "get-vhd", str(disk)]), None),
            (lambda: run([*hvctl, "--help"]), None),
            (lambda: run([*hvctl, "get-vm", "--host", str(lab)]), None),
        ],
        repeat,
    )
    remove(disk)
    return [
        Row("start-up: bare python -c pass", bare, info, "qemu-img info", None),
        Row("start-up: hvctl get-vhd FILE", get_vhd, info, "qemu-img info", Target(0.080)),
        Row("start-up: hvctl --help", help_, bare, "python -c pass", Target(0.080)),
        Row("start-up: hvctl get-vm (demo lab)", get_vm, bare, "python -c pass", Target(0.150)),
    ]


BENCHMARKS = ("convert", "chain", "merge", "merge-forward", "diff64t", "startup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one try each")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--workdir", type=Path, help="where to put the test files")
    args = parser.parse_args(argv)
    for tool in ("qemu-img", "dd", "cmp"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    compile_hvgui(REPO)  # hvctl runs from compiled modules, as after `pip install`
    size = 128 * MiB if args.quick else GiB
    changed = 64 * MiB if args.quick else 512 * MiB
    repeat = 1 if args.quick else 5
    rows: list[Row] = []
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="hvgui-bench-") as tmp:
        work = Path(tmp)
        if "convert" in args.only:
            rows.extend(bench_convert_dynamic(work, size, repeat))
        if "chain" in args.only:
            rows.extend(bench_convert_chain(work, size, repeat))
        if "merge" in args.only:
            rows.append(bench_merge(work, changed, repeat))
        if "merge-forward" in args.only:  # a parent holding twice the child's bytes
            rows.append(bench_merge(work, changed, repeat, parent_bytes=2 * changed))
        if "diff64t" in args.only:
            rows.append(bench_differencing_over_huge(work, max(repeat, 5)))
        if "startup" in args.only:
            rows.extend(bench_startup(work, 5 if args.quick else 21))
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
