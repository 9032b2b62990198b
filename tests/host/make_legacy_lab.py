"""Build the lab in `data/legacy-lab.tar.xz` with the code of the commit named there.

It was run once, at main 5cfe5f3 (before configurations were written as Hyper-V writes them),
so that test_legacy_lab.py proves a host made then still opens and works. Re-running it with
today's code makes a host of today's layout, which is not what that test needs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hvgui.host import Host

MiB = 1 << 20


def build(root: Path) -> None:
    host = Host.open(root)
    host.new_vm("gen1", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB, generation=1)
    with host.open_vm_disk("gen1", writable=False):
        pass
    host.start_vm("gen1")
    with host.open_vm_disk("gen1") as disk:
        disk.write(0, b"base data".ljust(512, b"."))
        disk.flush()
    host.checkpoint_vm("gen1", snapshot_name="running one")  # BIN + VSV
    with host.open_vm_disk("gen1") as disk:
        disk.write(512, b"after one".ljust(512, b"."))
        disk.flush()
    host.stop_vm("gen1", turn_off=True)
    host.checkpoint_vm("gen1", snapshot_name="off two")
    host.new_vm("gen2", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB, generation=2)
    host.set_vm("gen2", checkpoint_type="Production", notes="production checkpoints")
    host.checkpoint_vm("gen2", snapshot_name="prod")
    host.start_vm("gen2")
    host.save_vm("gen2")  # a Saved VM: its BIN and VSV under global_settings/savedstate


def main(out: Path, work: Path) -> None:
    build(work / "lab")
    # GNU sparse members: the memory files are 64 MiB of mostly holes
    subprocess.run(
        ["tar", "--sparse", "--format=gnu", "--owner=0", "--group=0", "--numeric-owner",
         "-cJf", str(out.resolve()), "lab"],
        cwd=work, check=True,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
