"""Guest memory under concurrency and kills: a reader never sees half a write or an error, a
killed writer leaves the old or the new note, two writers keep each other's chunks, and a
checkpoint taken while the guest types holds a whole note."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from hvgui.guest.guest import NOTE_ADDRESS, NOTE_HEADER, NOTE_MAGIC, NOTE_MAX_BYTES, Guest
from hvgui.host import Host
from hvgui.host.savedstate import BinFile, copy_bin

from .hosthelpers import make_vm
from .memory_worker import BLOCK_LENGTH, BLOCK_SLOTS, block_offset, note_text

WORKER = Path(__file__).with_name("memory_worker.py")
MiB = 1 << 20


def start_writer(root: Path, *rounds: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(root), "web01", *rounds],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("wrote "), proc.stderr.read() if proc.stderr else ""
    return proc


def stop(proc: subprocess.Popen[str]) -> int:
    """SIGKILL the writer; the last round it reported finished."""
    proc.send_signal(signal.SIGKILL)
    # Read through proc.stdout, not communicate(): start_writer's readline may have buffered
    # later "wrote" lines already, and communicate() reads the pipe beneath that buffer.
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=30)
    proc.stdout.close()
    if proc.stderr is not None:
        proc.stderr.close()
    done = [int(line.split()[1]) for line in out.splitlines() if line.startswith("wrote ")]
    return max(done, default=1)


def note_round(text: str | None) -> int:
    """The round a note was written in, checking it is that round's whole note."""
    assert text is not None and text.startswith("note "), text
    number = int(text[5 : text.index(":")])
    assert text == note_text(number), f"note {number} is not whole ({len(text)} characters)"
    return number


def check_blocks(read: object) -> None:
    """Every block slot holds one round's bytes (or nothing yet), never a mix."""
    assert callable(read)
    for slot in range(BLOCK_SLOTS):
        data = read(block_offset(slot), BLOCK_LENGTH)
        assert data == bytes([data[0]]) * BLOCK_LENGTH, f"block {slot} mixes two writes"


def running_host(root: Path) -> Host:
    host = Host.open(root)
    make_vm(host, disk=None, running=True)
    Guest(host, "web01").set_note(note_text(0))
    return host


def test_readers_see_whole_notes_while_another_process_types(tmp_path: Path) -> None:
    host = running_host(tmp_path / "host")
    failures: list[BaseException] = []
    rounds: list[int] = []
    deadline = 0.0

    def reader() -> None:
        # Until the readers have seen several notes go by (a busy machine starts the writer
        # slowly), with a generous bound so a stuck writer fails instead of hanging.
        try:
            reader_host = Host.open(tmp_path / "host")  # its own handles, like the GUI's
            guest = Guest(reader_host, "web01")
            while len(set(rounds)) <= 6 and time.monotonic() < deadline:
                rounds.append(note_round(guest.note()))
                check_blocks(lambda o, n: reader_host.read_memory("web01", o, n))
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    proc = start_writer(tmp_path / "host")
    deadline = time.monotonic() + 60
    try:
        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        written = stop(proc)
    assert not failures, failures[0]
    assert len(set(rounds)) > 3  # the readers really ran while notes changed
    assert written > 3
    assert note_round(Guest(host, "web01").note()) >= written


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.09, 0.17])
def test_a_killed_writer_leaves_the_old_or_the_new_note(tmp_path: Path, delay: float) -> None:
    running_host(tmp_path / "host")
    proc = start_writer(tmp_path / "host")
    time.sleep(delay)
    last = stop(proc)
    host = Host.open(tmp_path / "host")
    assert note_round(Guest(host, "web01").note()) in (last, last + 1)
    with BinFile(host.memory_path("web01")) as memory:
        check_blocks(memory.read)
    assert host.check() == []


def test_checkpoints_taken_while_the_guest_types_hold_a_whole_note(tmp_path: Path) -> None:
    host = running_host(tmp_path / "host")
    proc = start_writer(tmp_path / "host")
    try:
        for n in range(3):
            host.checkpoint_vm("web01", snapshot_name=f"cp{n}")
    finally:
        stop(proc)
    seen = set()
    for snap in host.list_snapshots("web01"):
        assert snap.bin_path is not None
        with BinFile(snap.bin_path) as memory:
            frame = memory.read(NOTE_ADDRESS, NOTE_HEADER.size + NOTE_MAX_BYTES)
            check_blocks(memory.read)
        magic, length, crc = NOTE_HEADER.unpack_from(frame)
        body = frame[NOTE_HEADER.size : NOTE_HEADER.size + length]
        assert magic == NOTE_MAGIC and zlib.crc32(body) == crc
        seen.add(note_round(body.decode()))
    assert len(seen) >= 2  # the notes changed between the checkpoints
    assert host.check() == []


def test_two_writers_keep_each_others_chunks(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 64 * MiB)
    # Both opened before either writes, as the GUI and hvctl each hold their own descriptor.
    with BinFile(path, writable=True) as gui, BinFile(path, writable=True) as cli:
        for chunk in range(0, 64, 2):
            gui.write(chunk * MiB, bytes([chunk]) * 100)
            cli.write((chunk + 1) * MiB, bytes([chunk + 1]) * 100)
    with BinFile(path) as memory:
        assert memory.info().touched_chunks == 64
        assert all(memory.read(c * MiB, 100) == bytes([c]) * 100 for c in range(64))

    def hammer(memory: BinFile, first: int) -> None:
        for chunk in range(first, 64, 2):
            memory.write(chunk * MiB + 200, bytes([chunk]) * 100)

    with BinFile(path, writable=True) as a, BinFile(path, writable=True) as b:
        threads = [threading.Thread(target=hammer, args=args) for args in ((a, 0), (b, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with BinFile(path) as memory:
        assert memory.info().touched_chunks == 64
        for chunk in range(64):
            assert (
                memory.read(chunk * MiB, 300)
                == (bytes([chunk]) * 100 + bytes(100)) + bytes([chunk]) * 100
            )


# ------------------------------------------------------- a writer dead at each step of a write
RECORD_AT = 8192  # a 64 MiB guest's pending-write record: header, 8-byte bitmap, next page


def logged_only(path: Path, offset: int, data: bytes, *, apply: bool) -> None:
    """Do a write's first steps (record logged; with apply, bytes and bitmap written but the
    header not), then stop as a killed writer would."""
    with BinFile(path, writable=True) as memory, memory.locked(exclusive=True):
        memory._load()
        memory._log(offset, data)
        if apply:
            os.pwrite(memory.fileno(), data, memory.data_offset + offset)
            memory._mark(offset, data)
            os.pwrite(memory.fileno(), bytes(memory._bitmap), 4096)


@pytest.mark.parametrize("apply", [False, True])
def test_a_writer_dead_after_logging_reads_as_written(tmp_path: Path, apply: bool) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 64 * MiB)
    with BinFile(path, writable=True) as memory:
        memory.write(5 * MiB, b"old")
    logged_only(path, 9 * MiB - 2, b"new bytes", apply=apply)  # a new chunk: the bitmap changes
    assert path.read_bytes()[RECORD_AT : RECORD_AT + 8] == b"HVGUIWRT"
    with BinFile(path) as memory:
        assert memory.read(9 * MiB - 2, 9) == b"new bytes"
        assert memory.read(5 * MiB, 3) == b"old"
    assert copy_bin(path, tmp_path / "copy.bin") == 3 * MiB
    with BinFile(tmp_path / "copy.bin") as copied:
        assert copied.read(9 * MiB - 2, 9) == b"new bytes"
    with BinFile(path, writable=True) as memory:  # the next writer finishes the dead one's write
        memory.write(20 * MiB, b"next")
    with open(path, "rb") as f:
        f.seek(RECORD_AT)
        assert f.read(8) == bytes(8)  # the record is cleared, the bitmap whole again
    with BinFile(path) as memory:
        assert memory.read(9 * MiB - 2, 9) == b"new bytes"
        assert memory.info().touched_chunks == 4


def test_a_torn_record_is_a_write_that_never_happened(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    BinFile.create(path, 64 * MiB)
    with BinFile(path, writable=True) as memory:
        memory.write(3 * MiB, b"old note")
    logged_only(path, 3 * MiB, b"new note", apply=False)
    with open(path, "r+b") as f:  # the kill came before the record's last byte was written
        f.seek(RECORD_AT + 24 + 7)
        f.write(b"\0")
    with BinFile(path) as memory:
        assert memory.read(3 * MiB, 8) == b"old note"


@pytest.mark.parametrize("action", ["save", "suspend"])
def test_memory_stops_changing_once_the_vm_is_saved_or_paused(tmp_path: Path, action: str) -> None:
    host = running_host(tmp_path / "host")
    proc = start_writer(tmp_path / "host")
    getattr(host, f"{action}_vm")("web01")
    with BinFile(host.memory_path("web01")) as memory:
        at_save = memory.read(0, 64 * MiB)
    _, err = proc.communicate(timeout=30)  # the guest's next write is refused, so it stops
    assert proc.returncode != 0 and "cannot write guest memory" in err
    with BinFile(host.memory_path("web01")) as memory:
        assert memory.read(0, 64 * MiB) == at_save
        check_blocks(memory.read)
    note_round(Guest(host, "web01").note())
