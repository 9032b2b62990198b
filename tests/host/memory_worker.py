"""Type guest notes into a running VM in a loop, so a test can read or kill it meanwhile.

Usage: python memory_worker.py HOST_DIR VM [COUNT]
Each round writes note_text(i) and a block of byte i spanning a chunk boundary into a chunk
not touched before (so the BIN's bitmap changes too); prints "wrote i" (flushed) after each.
COUNT rounds, or forever when absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hvgui.guest.guest import Guest
from hvgui.host import Host

MiB = 1 << 20
BLOCKS_AT = 24 * MiB  # past the note (16 MiB + 64 KiB)
BLOCK_LENGTH = 256 * 1024  # each block straddles a chunk boundary
BLOCK_SLOTS = 32  # the VM's 64 MiB hold this many blocks after BLOCKS_AT


def note_text(i: int) -> str:
    """Round i's note: its number, then a length that changes every round."""
    return f"note {i}:" + chr(ord("a") + i % 26) * (i * 997 % 9000)


def block_offset(i: int) -> int:
    return BLOCKS_AT + (i % BLOCK_SLOTS) * MiB - BLOCK_LENGTH // 2


def main() -> None:
    root, vm = Path(sys.argv[1]), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else None
    host = Host.open(root)
    guest = Guest(host, vm)
    i = 0
    while count is None or i < count:
        i += 1
        guest.set_note(note_text(i))
        host.write_memory(vm, block_offset(i), bytes([i % 256]) * BLOCK_LENGTH)
        print(f"wrote {i}", flush=True)


if __name__ == "__main__":
    main()
