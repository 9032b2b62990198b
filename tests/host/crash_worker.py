"""Run one host operation in a child process so a test can SIGKILL it (or cut the power of
its file system) mid-way.

Usage: python crash_worker.py HOST_DIR OPERATION [ARGUMENT]
Prints "go" (flushed) just before the operation starts, "done SECONDS" after it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hvgui.host import Host


def main() -> None:
    root, operation = Path(sys.argv[1]), sys.argv[2]
    argument = sys.argv[3] if len(sys.argv) > 3 else ""
    host = Host.open(root)
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
    print(f"done {time.monotonic() - start:.6f}", flush=True)


if __name__ == "__main__":
    main()
