"""What the fuzzer runs: each target turns an input into a file and puts it through every
reader of its kind. A clear refusal (HvError: one line naming the file) is a right answer;
any other exception is a finding, and so is a hang or a large allocation (run.py bounds both).

The targets need no atheris: test_fuzz.py replays every corpus file through them in the
default run, so a finding, once its input is in the corpus, stays a regression test.

Disk images and BIN files are mostly zeros at fixed offsets (a minimal VHDX is megabytes),
so their inputs are *sparse images*: a small header, then (offset, length, bytes) records
written into an empty file. A flag asks the target to fix the checksums first, so that
mutations reach the code behind them instead of stopping at a CRC mismatch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import crc32c

from hvgui.errors import HvError
from hvgui.host import Host, keystore, savedstate
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.inspect.blocks import block_map, read_path
from hvgui.inspect.chains import checkpoint_files
from hvgui.inspect.decode import inspect_file, xml_settings
from hvgui.vhdx import convert_vhd, dump_vhdx, merge_vhd, open_disk, test_vhd

MAX_FILE = 64 << 20  # a sparse image is at most this large (the offsets wrap)
# No target may make a file larger than this, whatever the input (run.py makes the kernel
# refuse it; test_fuzz.py checks it after each replay).
MAX_FILE_WRITTEN = 256 << 20
_HEAD = struct.Struct("<IB")  # file size in KiB (in 512-byte sectors with SECTORS), flags
_RECORD = struct.Struct("<IH")  # offset, length; the bytes follow
FIX_CHECKSUMS = 1
SECTORS = 2  # a legacy VHD ends in its 512-byte footer: its size need not be whole KiB


# --------------------------------------------------------------------------- sparse images
def encode_sparse(data: bytes, *, fix_checksums: bool = True, granule: int = 64) -> bytes:
    """The sparse image of `data`: its non-zero `granule`-byte runs as records."""
    flags = FIX_CHECKSUMS if fix_checksums else 0
    unit = 1024 if len(data) % 1024 == 0 else 512
    out = bytearray(_HEAD.pack(-(-len(data) // unit), flags | (SECTORS if unit == 512 else 0)))
    at = 0
    while at < len(data):
        if not any(data[at : at + granule]):
            at += granule
            continue
        end = at
        while end < len(data) and any(data[end : end + granule]) and end - at < 0xFFFF - granule:
            end += granule
        chunk = data[at:end].rstrip(b"\0")
        out += _RECORD.pack(at, len(chunk)) + chunk
        at = end
    return bytes(out)


def write_sparse(data: bytes, path: Path) -> int:
    """Write the sparse image `data` to `path`; returns its flags."""
    if len(data) < _HEAD.size:
        path.write_bytes(data)
        return 0
    size, flags = _HEAD.unpack_from(data)
    at = _HEAD.size
    with open(path, "wb") as handle:
        handle.truncate((size * (512 if flags & SECTORS else 1024)) % MAX_FILE)
        while at + _RECORD.size <= len(data):
            offset, length = _RECORD.unpack_from(data, at)
            at += _RECORD.size
            chunk = data[at : at + length]
            at += length
            handle.seek(offset % MAX_FILE)
            handle.write(chunk)
    return int(flags)


def _fix_crc(path: Path, offset: int, length: int, field: int) -> None:
    """Set the CRC-32C at `offset + field` over `length` bytes (with the field zeroed)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        block = bytearray(handle.read(length))
        if len(block) < field + 4:
            return
        struct.pack_into("<I", block, field, 0)
        struct.pack_into("<I", block, field, crc32c.crc32c(bytes(block)))
        handle.seek(offset)
        handle.write(block)


def _fix_vhdx_checksums(path: Path) -> None:
    """Valid CRCs for the log entries (in the log each header names), headers, region tables."""
    heads = []
    with open(path, "rb") as handle:
        for offset in (64 << 10, 128 << 10):
            handle.seek(offset)
            heads.append(handle.read(4096))
    for head in heads:
        if len(head) < 80:
            continue
        log_length, log_offset = struct.unpack_from("<IQ", head, 68)
        if log_length > 8 << 20 or log_offset > MAX_FILE:
            continue
        with open(path, "rb") as handle:
            handle.seek(log_offset)
            log = handle.read(log_length)
        for at in range(0, len(log) - 64, 4096):
            (length,) = struct.unpack_from("<I", log, at + 8)
            if log[at : at + 4] == b"loge" and 0 < length <= len(log) - at:
                _fix_crc(path, log_offset + at, length, 4)
    for offset in (64 << 10, 128 << 10):  # the headers
        _fix_crc(path, offset, 4096, 4)
    for offset in (192 << 10, 256 << 10):  # the region tables
        _fix_crc(path, offset, 64 << 10, 4)


def _fix_vhd_checksums(path: Path) -> bool:
    """A legacy VHD (a `conectix` footer at its end): valid one's-complement checksums for the
    footer, its copy at the start and the dynamic header. False when it is not one."""
    size = path.stat().st_size
    if size < 512:
        return False
    with open(path, "r+b") as handle:
        handle.seek(size - 512)
        if handle.read(8) != b"conectix":
            return False
        handle.seek(size - 512 + 16)
        (header,) = struct.unpack(">Q", handle.read(8))
        places = [(size - 512, 512, 64, b"conectix"), (0, 512, 64, b"conectix")]
        if header + 1024 <= size:
            places.append((header, 1024, 36, b"cxsparse"))
        for offset, length, field, cookie in places:
            handle.seek(offset)
            block = bytearray(handle.read(length))
            if not block.startswith(cookie):  # a fixed disk's first sector is guest data
                continue
            struct.pack_into(">I", block, field, 0)
            struct.pack_into(">I", block, field, ~sum(block) & 0xFFFFFFFF)
            handle.seek(offset)
            handle.write(block)
    return True


def _fix_disk_checksums(path: Path) -> None:
    if not _fix_vhd_checksums(path):
        _fix_vhdx_checksums(path)


def _expected(call: Callable[[], object]) -> None:
    """Run `call`; a clear refusal is a right answer."""
    with contextlib.suppress(HvError):
        call()


def _fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


# --------------------------------------------------------------------------- the targets
def vhdx(data: bytes, folder: Path) -> None:
    """Open, read, survey, test, inspect and write a VHDX built from a sparse image."""
    _fresh(folder)
    path = folder / "fuzz.vhdx"
    if write_sparse(data, path) & FIX_CHECKSUMS:
        _fix_disk_checksums(path)

    def read() -> None:
        with open_disk(path) as disk:
            disk.read(0, min(disk.size, 1 << 20))
            disk.read(max(0, disk.size - 4096), min(disk.size, 4096))

    def write() -> None:
        with open_disk(path, writable=True) as disk:
            if disk.size >= 4096:
                disk.write(0, b"\xab" * 4096)

    def convert() -> None:
        for name in ("flat.raw", "flat.vhdx"):
            (folder / name).unlink(missing_ok=True)
            convert_vhd(path, folder / name)

    for call in (read, lambda: dump_vhdx(path), lambda: test_vhd(path), lambda: _map(path),
                 convert, write, read):
        _expected(call)
    inspect_file(path)  # never raises for a file that exists: problems are in its answer


def _map(leaf: Path) -> None:
    """The inspector's block map: the table, its counts over the disk, a view's worth of rows
    (the first and last 4096 blocks), the BAT states, and the read path of the first block."""
    blocks = block_map(leaf)
    count = len(blocks.blocks)
    firsts, counts = blocks.blocks.stretches()
    blocks.blocks.rows_at(firsts[:4096])
    assert int(counts.sum()) == count
    for first in (0, max(0, count - 4096)):
        blocks.blocks.rows(first, min(count, first + 4096))
    if count:
        blocks.state_names(count - 1)
        read_path(blocks, 0)


def encode_chain(parent: bytes, child: bytes) -> bytes:
    """A chain input: the parent's and the child's sparse images, the first one's length first."""
    first = encode_sparse(parent)
    return struct.pack("<I", len(first)) + first + encode_sparse(child)


def chain(data: bytes, folder: Path) -> None:
    """A differencing disk and its parent (`parent.vhdx`, `child.avhdx`): read through the
    chain, Test-VHD, flatten, then merge the child into its parent."""
    _fresh(folder)
    parent, child = folder / "parent.vhdx", folder / "child.avhdx"
    (split,) = struct.unpack_from("<I", data) if len(data) >= 4 else (0,)
    for path, part in ((parent, data[4 : 4 + split]), (child, data[4 + split :])):
        if write_sparse(part, path) & FIX_CHECKSUMS:
            _fix_disk_checksums(path)

    def read() -> None:
        with open_disk(child) as disk:
            for offset in range(0, min(disk.size, 8 << 20), 1 << 20):
                disk.read(offset, 4096)

    def flatten() -> None:
        (folder / "flat.raw").unlink(missing_ok=True)
        convert_vhd(child, folder / "flat.raw")

    for call in (read, lambda: test_vhd(child), lambda: _map(child), flatten,
                 lambda: merge_vhd(child), read):
        _expected(call)
    if parent.exists():
        _expected(lambda: test_vhd(parent))


def config(data: bytes, folder: Path) -> None:
    """Parse a configuration and read everything the host reads from one. An input whose
    first byte is odd is UTF-8 text, written as the UTF-16 a configuration is (mutations
    of text reach the parser far more often than mutations of UTF-16); else the file."""
    _fresh(folder)
    path = folder / "6B29FC40-CA47-1067-B31D-00DD010662DA.xml"
    text, body = (data[0] & 1, data[1:]) if data else (0, b"")
    if text:
        body = "\ufeff".encode("utf-16-le") + body.decode("utf-8", "replace").encode("utf-16-le")
    path.write_bytes(body)

    def read() -> None:
        doc = ConfigDoc.load(path)
        for name in ("id", "name", "notes", "generation", "version", "creation_time",
                     "memory_mb", "processor_count", "data_root", "snapshot_data_root",
                     "checkpoint_type", "parent_snapshot_id", "state", "last_powered_on",
                     "merge_pending", "snapshot_ids", "pending_merges", "is_snapshot"):
            _expected(lambda name=name: getattr(doc, name))
        if doc.is_snapshot:
            for name in ("snapshot_parent_id", "snapshot_type", "snapshot_creation_time",
                         "snapshot_vm_id", "snapshot_vm_state"):
                _expected(lambda name=name: getattr(doc, name))
        _expected(doc.drives)
        _expected(doc.fibre_channel)
        doc.set("properties/notes", "string", "fuzzed")  # a change, written back
        doc.to_bytes()

    _expected(read)
    _expected(lambda: xml_settings(path))  # the inspector's settings view
    inspect_file(path)


_HOSTS: dict[Path, tuple[Host, dict[str, str]]] = {}


def lab_host(folder: Path) -> tuple[Host, dict[str, str]]:
    """A lab host with VM web01 (running) and its checkpoint "one", made once per folder,
    and what the host target's placeholders stand for in it."""
    if folder not in _HOSTS:
        _fresh(folder)
        lab = Host.open(folder / "host")
        lab.new_vm("web01", memory_startup_bytes=32 << 20, new_vhd_size_bytes=4 << 20)
        lab.start_vm("web01")
        snap = lab.checkpoint_vm("web01", snapshot_name="one").snapshot
        assert snap is not None
        vm = lab.get_vm("web01")
        _HOSTS[folder] = (lab, {"{DISK}": vm.hard_drives[0].path.name, "{VM}": vm.id,
                                "{SNAP}": snap.id, "{ROOT}": str(lab.root),
                                "{CONFIG}": str(vm.config_path)})
    return _HOSTS[folder]


def host(data: bytes, folder: Path) -> None:
    """VM web01's configuration in a lab host with a checkpoint: what the host, Test-Host and
    the inspector make of it. The input is UTF-8 text in which {DISK}, {VM}, {SNAP} and {ROOT}
    stand for the lab's running disk, ids and folder. The readers here only read: the host
    stays as it was but for this one file."""
    lab, names = lab_host(folder)
    text = data.decode("utf-8", "replace")
    for placeholder, value in names.items():
        text = text.replace(placeholder, value)
    Path(names["{CONFIG}"]).write_bytes("\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))
    lab.list_vms(errors=[])
    for call in (lambda: lab.get_vm("web01"), lambda: lab.list_snapshots("web01"),
                 lambda: checkpoint_files(lab, "web01", None),
                 lambda: checkpoint_files(lab, "web01", "one")):
        _expected(call)
    lab.check()


def bin_file(data: bytes, folder: Path) -> None:
    """Open a BIN built from a sparse image: header, sections, reads, a write and a copy."""
    _fresh(folder)
    path = folder / "memory.bin"
    if write_sparse(data, path) & FIX_CHECKSUMS:
        with open(path, "rb") as handle:
            header = handle.read(savedstate.BIN_HEADER_SIZE)
        if len(header) >= 48:
            (bitmap_length,) = struct.unpack_from("<I", header, 40)
            with open(path, "r+b") as handle:
                handle.seek(savedstate.BIN_HEADER_SIZE)
                bitmap = handle.read(min(bitmap_length, 1 << 20))
                handle.seek(44)
                handle.write(struct.pack("<I", crc32c.crc32c(bitmap)))
            _fix_crc(path, 0, savedstate.BIN_HEADER_SIZE, 56)

    def read() -> None:
        with savedstate.BinFile(path) as memory:
            memory.info()
            memory.sections()
            memory.pending_write()
            memory.read(0, min(memory.memory_size, 64 << 10))
            memory.read(memory.memory_size - 1, 1)

    def write() -> None:
        with savedstate.BinFile(path, writable=True) as memory:
            memory.write(0, b"\xcd" * min(memory.memory_size, 4096))

    def copy() -> None:
        savedstate.copy_bin(path, folder / "copy.bin")

    for call in (read, lambda: savedstate.stored_size(path), copy, write, read):
        _expected(call)
    inspect_file(path)


def vsv_file(data: bytes, folder: Path) -> None:
    """Read a VSV (the file is the input, checksums fixed when its first byte is odd)."""
    _fresh(folder)
    path = folder / "state.vsv"
    fix, body = (data[0] & 1, data[1:]) if data else (0, b"")
    path.write_bytes(body)
    if fix and len(body) >= 64:
        count = min(struct.unpack_from("<I", body, 16)[0], 64)
        table = 64 + 32 * count
        for i in range(count):
            at = 64 + 32 * i
            if at + 32 > len(body):
                break
            offset, length = struct.unpack_from("<QQ", body, at + 8)
            if offset + length <= len(body):
                with open(path, "r+b") as handle:
                    handle.seek(at + 24)
                    handle.write(struct.pack("<I", crc32c.crc32c(body[offset : offset + length])))
        with open(path, "r+b") as handle:
            handle.seek(64)
            crc = crc32c.crc32c(handle.read(table - 64))
            handle.seek(32)
            handle.write(struct.pack("<I", crc))
        _fix_crc(path, 0, 64, 36)
    _expected(lambda: savedstate.read_vsv(path))
    _expected(lambda: savedstate.vsv_sections(path))
    _expected(lambda: savedstate.copy_vsv(path, folder / "copy.vsv"))
    inspect_file(path)


VMCX_VM = "282874FC-59D6-4F30-BC04-5FDD909C82E0"


def vmcx_file(data: bytes, folder: Path) -> None:
    """A Server 2016+ configuration (VMCX, built from a sparse image) in a copied host's folder:
    the key store's reader, the VM list, its checkpoints and files, Test-Host and the inspector.
    Without the extra hvgui[vmcx] every input is refused in one line (CI installs it)."""
    _fresh(folder)
    path = folder / "Virtual Machines" / f"{VMCX_VM}.vmcx"
    path.parent.mkdir()
    write_sparse(data, path)
    _expected(lambda: keystore.load(path))
    copied = Host.open(folder, create=False)
    copied.list_vms(errors=[])
    for call in (lambda: copied.list_snapshots(VMCX_VM),
                 lambda: checkpoint_files(copied, VMCX_VM, None)):
        _expected(call)
    copied.check()
    inspect_file(path)


TARGETS: dict[str, Callable[[bytes, Path], None]] = {
    "vhdx": vhdx,
    "chain": chain,
    "config": config,
    "host": host,
    "bin": bin_file,
    "vsv": vsv_file,
    "vmcx": vmcx_file,
}
CORPUS = Path(__file__).parent / "corpus"


def corpus_files() -> list[tuple[str, Path]]:
    return sorted(
        (target, path)
        for target in TARGETS
        for path in (CORPUS / target).iterdir()
        if path.is_file()
    )


if __name__ == "__main__":  # python -m tests.fuzz.targets TARGET FILE: replay one input
    import sys

    target, file = sys.argv[1], Path(sys.argv[2])
    TARGETS[target](file.read_bytes(), Path(os.environ.get("TMPDIR", "/tmp")) / "fuzz-replay")
    print("clear answer")
