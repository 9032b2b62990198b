"""Hold the VM's running disk open for writing (the host lock) until stdin closes.

Usage: python lock_worker.py HOST_DIR VM
"""

from __future__ import annotations

import sys
from pathlib import Path

from hvgui.host import Host


def main() -> None:
    host = Host.open(Path(sys.argv[1]))
    with host.open_vm_disk(sys.argv[2], writable=True) as disk:
        disk.write(0, b"held")
        print("holding", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
