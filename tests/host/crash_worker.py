"""Run one host operation in a child process so a test can SIGKILL it (or cut the power of
its file system) mid-way.

Usage: python crash_worker.py HOST_DIR OPERATION [ARGUMENT]
Prints "go" (flushed) just before the operation starts, "done SECONDS" after it.

HVGUI_KILL_AT makes the worker SIGKILL itself at a known point of the journal (the test then
knows where the kill landed, rather than guessing from a delay):
- `count`: kill nowhere; print the points as "points P1 P2 ..." before "done";
- `created:N`: after the Nth record of files about to be created (prepare: rolls back);
- `commit:N`, `<op>:N` (replace, delete, read_only, merge), `done:N`: at the Nth point of the
  journal's fault hook (`journal.action_hook`): just before the commit record, before an
  action, after the last action (counted over the whole operation, from 0);
- `merge@F`: inside the first merge, once it has reported the fraction F of its work;
- `stream@marked`, `stream@placed`, `stream@renamed`: inside a merge that streams (the
  destination is folded into the merged disk, vhdx/merge.py): just after its marker link is
  made, just before the marker is renamed over the destination (the merged disk already
  stands in its place), just after that rename.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from hvgui import vhdx
from hvgui.host import Host, journal
from hvgui.progress import Progress

points: list[str] = []


def _kill() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(spec: str) -> None:
    """Install the hooks that count the journal's points and kill at the one `spec` names."""
    target = int(spec.split(":")[1]) if ":" in spec else -1

    def reached(point: str) -> None:
        points.append(point)
        if len(points) - 1 == target and spec.startswith(f"{point}:"):
            _kill()

    journal.action_hook = reached
    real_created = journal.Transaction.created

    def created(self: journal.Transaction, *paths: Path) -> None:
        real_created(self, *paths)
        reached("created")

    journal.Transaction.created = created  # type: ignore[method-assign]
    if spec.startswith("merge@"):
        fraction, real_merge = float(spec.split("@")[1]), vhdx.merge_vhd

        def merge_vhd(child: Path, dest: Path, progress: Progress | None = None,
                      **kwargs: Any) -> Any:
            def step(done: float, phase: str) -> None:
                if progress is not None:
                    progress(done, phase)
                if done >= fraction:
                    _kill()

            return real_merge(child, dest, progress=step, **kwargs)

        vhdx.merge_vhd = merge_vhd  # type: ignore[assignment]
    if spec.startswith("stream@"):
        step = spec.split("@")[1]
        real_link, real_replace = os.link, os.replace

        def link(src: Any, dst: Any, **kwargs: Any) -> None:
            real_link(src, dst, **kwargs)
            if step == "marked" and str(dst).endswith(".hvmerge"):
                _kill()

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            marker = str(src).endswith(".hvmerge-new")  # the merged disk's name to be
            if marker and step == "placed":
                _kill()
            real_replace(src, dst, **kwargs)
            if marker and step == "renamed":
                _kill()

        os.link, os.replace = link, replace


def main() -> None:
    root, operation = Path(sys.argv[1]), sys.argv[2]
    argument = sys.argv[3] if len(sys.argv) > 3 else ""
    host = Host.open(root)
    spec = os.environ.get("HVGUI_KILL_AT")
    if spec:
        arm(spec)
    print("go", flush=True)
    start = time.monotonic()
    if operation == "checkpoint":
        host.checkpoint_vm("web01", snapshot_name=argument)
    elif operation == "apply":
        host.restore_snapshot("web01", argument)
    elif operation == "delete":
        host.remove_snapshot("web01", argument)
    elif operation == "move":
        host.move_storage("web01", Path(argument))
    elif operation == "save":  # memory written just before is durable once Saved
        host.write_memory("web01", 5 << 20, b"saved mark")
        host.save_vm("web01")
    elif operation == "rename":
        host.rename_vm("web01", argument)
    elif operation == "new-vm":
        host.new_vm(argument, memory_startup_bytes=64 << 20, new_vhd_size_bytes=16 << 20)
    else:
        raise SystemExit(f"unknown operation {operation}")
    if spec == "count":
        print("points", *points, flush=True)
    print(f"done {time.monotonic() - start:.6f}", flush=True)


if __name__ == "__main__":
    main()
