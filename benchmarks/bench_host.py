"""Lab host benchmarks: the speed targets of issue 3, printed as the table every benchmark
prints (benchmarks/table.py: ratio beside target; no asserts).

    python benchmarks/bench_host.py [--workdir DIR] [--quick]

- checkpoint-off-127g: checkpoint of an Off VM whose disk is 127 GiB (target < 100 ms in
  process: nothing may be proportional to the disk's size);
- checkpoint-running-4g: checkpoint of a running VM with 4 GiB of memory of which 256 MiB was
  touched, against `cp` of a 256 MiB file on the same file system (target <= 1.5 x);
- get-vm-200x20: the whole `hvctl get-vm` command (a fresh process) on a host of 200 VMs with 20
  checkpoints each (target < 1 s; get-vm must not open any disk).

`big_host(vms, checkpoints)` builds the big host through the host's real operations (New-VM,
then Checkpoint-VM 20 times per VM: real files in the 2012 R2 layout, as a user's) and keeps
it between runs in a cache folder (`$HVGUI_BENCH_CACHE`, else ~/.cache/hvgui-bench), named
with HOST_FORM: raise it when what the host's operations write changes (a user's host made by
an older hvgui stays too, and is read the same way), and the next run builds it again and
drops the old one. bench_gui.py uses it too. Building 200 x 20 takes ~100 s of CPU (several
minutes on a busy machine: about 17 fsyncs per checkpoint); an interrupted build goes on
where it stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from table import Row, Target, print_rows  # noqa: E402  (benchmarks/table.py)

from hvgui.host import Host  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30


def build_big_host(root: Path, *, vms: int = 200, checkpoints: int = 20) -> None:
    """`vms` Off VMs, each with a 1 GiB dynamic disk and a chain of `checkpoints` checkpoints,
    made by the real operations (no disk content written)."""
    marker = root / ".complete"
    if marker.exists():
        return
    host = Host.open(root)
    existing = {vm.name: vm.id for vm in host.list_vms()}
    for i in range(vms):
        name = f"vm{i:03d}"
        vm_id = existing.get(name) or host.new_vm(
            name, memory_startup_bytes=512 * MiB, new_vhd_size_bytes=GiB).vm_id
        have = len(host.list_snapshots(vm_id))
        for c in range(have, checkpoints):  # by Id, as the window names a VM to its host
            host.checkpoint_vm(vm_id, snapshot_name=f"{name} checkpoint {c + 1}")
        if i % 20 == 19:
            print(f"  built {i + 1}/{vms} VMs", file=sys.stderr, flush=True)
    marker.write_text("ok\n")


HOST_FORM = 1  # the form of the files the cached big host holds (module doc)


def big_host(vms: int = 200, checkpoints: int = 20) -> Path:
    """The big host, built once per version of the code that writes hosts (module doc)."""
    cache = Path(os.environ.get("HVGUI_BENCH_CACHE") or Path.home() / ".cache" / "hvgui-bench")
    prefix = f"host-{vms}x{checkpoints}-"
    root = cache / f"{prefix}form{HOST_FORM}"
    if not (root / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob(f"{prefix}*"):
            if stale != root:
                shutil.rmtree(stale)
        start = time.perf_counter()
        build_big_host(root, vms=vms, checkpoints=checkpoints)
        print(f"  (host {vms}x{checkpoints} built in {time.perf_counter() - start:.0f} s: "
              f"{root})", file=sys.stderr)
    return root


def _timed(call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - start


def bench_checkpoint_off(workdir: Path, runs: int) -> Row:
    host = Host.open(workdir / "off-host")
    times = []
    for i in range(runs):
        name = f"big{i}-{os.getpid()}"
        host.new_vm(name, new_vhd_size_bytes=127 * GiB)
        times.append(_timed(lambda n=name: host.checkpoint_vm(n)))
    return Row("checkpoint of an Off VM, 127 GiB disk", statistics.median(times), None, "",
               Target(0.100), note=f"max {max(times):.3f} s, {runs} runs")


def bench_checkpoint_running(workdir: Path, runs: int) -> Row:
    host = Host.open(workdir / "mem-host")
    reference = workdir / "cp-source.bin"
    with open(reference, "wb") as f:
        for _ in range(16):
            f.write(os.urandom(16 * MiB))
    cp_times, ck_times = [], []
    for i in range(runs):
        name = f"mem{i}-{os.getpid()}"
        host.new_vm(name, memory_startup_bytes=4 * GiB)
        host.start_vm(name)
        for offset in range(0, 256 * MiB, 16 * MiB):  # touch 256 MiB spread over the 4 GiB
            host.write_memory(name, offset * 15, os.urandom(16 * MiB))
        target = workdir / f"cp-copy-{i}.bin"
        cp_times.append(_timed(lambda t=target: subprocess.run(["cp", str(reference), str(t)],
                                                                check=True)))
        target.unlink()
        ck_times.append(_timed(lambda n=name: host.checkpoint_vm(n)))
        host.stop_vm(name, turn_off=True)
    return Row("checkpoint of a running VM, 4 GiB memory, 256 MiB touched",
               statistics.median(ck_times), statistics.median(cp_times), "cp of 256 MiB",
               Target(1.5, ratio=True), note=f"{runs} runs")


def bench_get_vm(vms: int, checkpoints: int, runs: int) -> Row:
    root = big_host(vms, checkpoints)
    command = [sys.executable, "-m", "hvgui.cli.main", "get-vm", "--host", str(root)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - start)
    rows = len(done.stdout.splitlines()) - 2
    return Row(f"hvctl get-vm, {vms} VMs x {checkpoints} checkpoints",
               statistics.median(times), None, "", Target(1.0),
               note=f"{rows} rows, {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="where hosts are built (and cached)")
    parser.add_argument("--quick", action="store_true", help="fewer runs, a 50 x 20 host")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hvgui-bench-host-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = 3 if args.quick else 7
    rows = [
        bench_checkpoint_off(workdir, runs),
        bench_checkpoint_running(workdir, 2 if args.quick else 3),
        bench_get_vm(50 if args.quick else 200, 20, runs),
    ]
    print_rows(rows)


if __name__ == "__main__":
    main()
