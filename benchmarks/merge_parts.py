"""Where a merge's time goes: run.py's merge row (512 MiB of fully written child blocks,
durable, against `dd bs=4M conv=fsync`) with the merge's wall time split by system call.

Run: `python benchmarks/merge_parts.py [--rounds N] [--mib M] [--parent-mib P] [--workdir DIR]`.
The merge and dd take turns in every round, as in run.py; each round also notes the load
average. The split counts the time spent inside copy_file_range, posix_fadvise, fsync,
unlink (the deletion of the merged file: only a name when the merge streamed), link and
replace (a streamed merge's marker, and its rename over the parent, which frees the
parent's data), and the longest fsync (the data's, before the BAT entries); "other" is the
rest (Python, small writes). The CPU columns are the process's own
user and system time over the merge, which a busy machine stretches far less than wall
time. To compare two versions, run the script from each checkout in turn (copy it into an
older one): it imports hvgui from the checkout it lives in (run.py puts that first on the
path, so it is imported before hvgui).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from run import MiB, dd_steps, make_merge_files, remove  # benchmarks/run.py

from hvgui import vhdx

PARTS = ("copy_file_range", "posix_fadvise", "fsync", "unlink", "link", "replace")


def _timing(spent: collections.Counter[str], name: str) -> Callable[..., Any]:
    real = getattr(os, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            took = time.perf_counter() - start
            spent[name] += took
            spent[f"longest {name}"] = max(spent[f"longest {name}"], took)

    return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--mib", type=int, default=512, help="changed bytes to merge, MiB")
    parser.add_argument("--parent-mib", type=int, default=8,
                        help="bytes the parent holds, MiB (more than --mib: a forward merge)")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    changed = args.mib * MiB
    columns: dict[str, list[float]] = collections.defaultdict(list)
    spent: collections.Counter[str] = collections.Counter()
    streamed: set[bool] = set()
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="hvgui-merge-parts-") as tmp:
        work = Path(tmp)
        parent, child, expected = work / "m.vhdx", work / "m.avhdx", work / "m.raw"
        dd, dd_prepare = dd_steps(work / "dd.in", work / "dd.out", changed)
        vhdx.merge_vhd  # noqa: B018  (loads the merge's modules before anything is timed)
        real = {name: getattr(os, name) for name in PARTS}
        try:
            for name in PARTS:
                setattr(os, name, _timing(spent, name))
            for _ in range(args.rounds):
                make_merge_files(parent, child, expected, changed, args.parent_mib * MiB)
                spent.clear()
                before, start = os.times(), time.perf_counter()
                streamed.add(vhdx.merge_vhd(child).streamed)
                wall, after = time.perf_counter() - start, os.times()
                columns["merge"].append(wall)
                for name in PARTS:
                    columns[name].append(spent[name])
                columns["longest fsync"].append(spent["longest fsync"])
                columns["other"].append(wall - sum(spent[name] for name in PARTS))
                columns["user"].append(after.user - before.user)
                columns["system"].append(after.system - before.system)
                if dd_prepare is not None:
                    dd_prepare()
                start = time.perf_counter()
                dd()
                columns["dd"].append(time.perf_counter() - start)
                columns["load"].append(os.getloadavg()[0])
        finally:
            for name, function in real.items():
                setattr(os, name, function)
            remove(parent, child, expected)
    how = {frozenset({True}): "streamed into the child", frozenset({False}): "copied forward"}
    print(f"{args.rounds} rounds of {args.mib} MiB, parent holding {args.parent_mib} MiB "
          f"({how.get(frozenset(streamed), 'both directions')}), load average "
          f"{min(columns['load']):.1f}-{max(columns['load']):.1f}; medians in seconds:")
    for name in ("merge", *PARTS, "longest fsync", "other", "user", "system", "dd"):
        values = columns[name]
        print(f"  {name:16s} {statistics.median(values):7.3f}   "
              + " ".join(f"{v:.3f}" for v in values))
    ratios = [m / d for m, d in zip(columns["merge"], columns["dd"], strict=True)]
    of_medians = statistics.median(columns["merge"]) / statistics.median(columns["dd"])
    print(f"  merge / dd: median of rounds {statistics.median(ratios):.2f}, "
          f"of the medians {of_medians:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
