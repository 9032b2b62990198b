"""Write the fuzzers' seed inputs into tests/fuzz/corpus/<target>/ (run once; the files are
committed). Seeds are real files hvgui writes, plus the hostile VHDX files of
tests/vhdx/hostile.py that fit in a small input.

    python -m tests.fuzz.make_corpus
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path

from hvgui.host import Host, savedstate
from hvgui.vhdx import (
    MiB,
    VhdxImage,
    create_differencing,
    create_dynamic,
    create_fixed,
    create_vhd,
    create_vhd_differencing,
    open_disk,
)
from hvgui.vhdx.log import LogWrite, build_entry
from tests.fuzz.targets import CORPUS, VMCX_VM, encode_chain, encode_sparse, lab_host
from tests.vhdx import hostile
from tests.vhdx.helpers import rewrite_headers

MAX_SEED = 64 << 10


def _save(target: str, name: str, data: bytes) -> None:
    if len(data) > MAX_SEED:
        return
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (folder / f"seed-{name}-{digest}").write_bytes(data)


def vhdx_seeds(work: Path) -> None:
    base = work / "base.vhdx"
    create_dynamic(base, 16 * MiB, block_size=MiB)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"\x5a" * 8192)
        disk.write(5 * MiB, b"data" * 1024)
    child = work / "child.avhdx"
    create_differencing(child, base, block_size=MiB)
    with open_disk(child, writable=True) as disk:
        disk.write(4096, b"\x77" * 4096)
    fixed = work / "fixed.vhdx"
    create_fixed(fixed, 2 * MiB)
    for path in (base, child, fixed):
        _save("vhdx", path.stem, encode_sparse(path.read_bytes()))
    vhd = create_vhd(work / "dynamic.vhd", 16 * MiB)  # legacy VHD: dynamic, fixed, a child
    with open_disk(vhd, writable=True) as disk:
        disk.write(0, b"\x5a" * 8192)
    vhd_child = create_vhd_differencing(work / "child.vhd", vhd)
    with open_disk(vhd_child, writable=True) as disk:
        disk.write(2 * MiB + 512, b"\x77" * 1024)
    for path in (vhd, create_vhd(work / "fixed.vhd", MiB, fixed=True), vhd_child):
        _save("vhdx", f"vhd-{path.stem}", encode_sparse(path.read_bytes()))
    logged = work / "logged.vhdx"  # a log to replay: the first data sector rewritten, one zeroed
    logged.write_bytes(base.read_bytes())
    with VhdxImage.open(logged) as image:
        block = image.bat.payload_entry(0) & ~0xFFFFF
        size, log_offset = image.file_size, image.header.log_offset
    guid = uuid.uuid4()
    entry = build_entry(log_guid=guid, sequence_number=3, tail=0,
                        writes=[LogWrite(block, 4096, b"\x6c" * 4096),
                                LogWrite(block + 4096, 4096, None)],
                        flushed_file_offset=size, last_file_offset=size)
    with open(logged, "r+b") as handle:
        handle.seek(log_offset)
        handle.write(entry)
    rewrite_headers(logged, log_guid=guid)
    _save("vhdx", "logged", encode_sparse(logged.read_bytes()))
    for make in hostile.ALL:
        folder = work / make.__name__
        folder.mkdir()
        path = make(folder)
        if path.is_file() and path.stat().st_size <= 64 * MiB:
            _save("vhdx", make.__name__, encode_sparse(path.read_bytes(), fix_checksums=False))


def chain_seeds(work: Path) -> None:
    """Parent and child named as the chain target writes them; block sizes equal or not."""
    for parent_block, child_block in ((MiB, MiB), (2 * MiB, MiB), (MiB, 4 * MiB)):
        folder = work / f"{parent_block >> 20}-{child_block >> 20}"
        folder.mkdir(parents=True)
        parent, child = folder / "parent.vhdx", folder / "child.avhdx"
        create_dynamic(parent, 16 * MiB, block_size=parent_block)
        with open_disk(parent, writable=True) as disk:
            disk.write(0, b"\x5a" * 8192)
            disk.write(6 * MiB, b"parent" * 1000)
        create_differencing(child, parent, block_size=child_block)
        with open_disk(child, writable=True) as disk:
            disk.write(512, b"\x77" * 1024)  # a partial block: sector bitmap
            disk.write(9 * MiB, b"child" * 2000)
        _save("chain", folder.name, encode_chain(parent.read_bytes(), child.read_bytes()))


def host_seeds(work: Path) -> None:
    host = Host.open(work / "host")
    host.new_vm("gen2", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    host.new_vm("gen1", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB,
                generation=1)
    host.add_fibre_channel("gen2", san_name="san0")
    host.start_vm("gen2")
    host.write_memory("gen2", 3 * MiB, b"memory" * 100)
    host.checkpoint_vm("gen2", snapshot_name="one")
    host.save_vm("gen2")
    vm = host.get_vm("gen2")
    snap = host.get_snapshot("gen2", "one")
    for name, path in (("vm-gen2", vm.config_path), ("vm-gen1", host.get_vm("gen1").config_path),
                       ("checkpoint", snap.config_path)):
        _save("config", name, b"\x00" + path.read_bytes())
        _save("config", f"{name}-text", b"\x01" + path.read_bytes().decode("utf-16").encode())
    saved = vm.config_path.parent / vm.id
    for path in (saved / f"{vm.id}.bin", snap.bin_path):
        assert path is not None
        _save("bin", path.parent.name[:8], encode_sparse(path.read_bytes()))
    for path in (saved / f"{vm.id}.vsv", snap.vsv_path):
        assert path is not None
        _save("vsv", path.parent.name[:8], b"\x01" + path.read_bytes())
    small = work / "small.bin"
    savedstate.BinFile.create(small, 4 * MiB)
    with savedstate.BinFile(small, writable=True) as memory:
        memory.write(MiB - 3, b"across a chunk boundary")
    _save("bin", "small", encode_sparse(small.read_bytes()))


def lab_seeds(work: Path) -> None:
    """The host target's seed: web01's configuration with its ids and folder as placeholders."""
    _, names = lab_host(work)
    text = Path(names["{CONFIG}"]).read_bytes().decode("utf-16")
    for placeholder, value in names.items():
        text = text.replace(value, placeholder)
    _save("host", "web01", text.encode())


def vmcx_seeds(work: Path) -> None:
    """Key stores of configurations shaped like 2012 R2's (tests/host/realfiles.py), written by
    the tests' VMCX writer: a VM with a checkpoint list and one checkpoint (no bytes of the
    real corpus, which is not ours to commit)."""
    from hvgui.host.xmlconfig import ConfigDoc
    from tests.host.realfiles import config_2012r2
    from tests.host.vmcxwriter import write_vmcx

    work.mkdir()
    for name, data in (
        ("vm", config_2012r2(vm_id=VMCX_VM, name="web01", ide=[(0, 0, "VHD", "C:\\a.vhdx")],
                             snapshots=["8B2D47A3-1D4C-4F54-9F7C-7A1D8E2C3B02"])),
        ("checkpoint", config_2012r2(vm_id="8B2D47A3-1D4C-4F54-9F7C-7A1D8E2C3B02", name="one",
                                     snapshot_of=(VMCX_VM, None, "Off"))),
    ):
        root = ConfigDoc.from_bytes(data, work / f"{name}.xml").root
        path = write_vmcx(root, work / f"{name}.vmcx")
        _save("vmcx", name, encode_sparse(path.read_bytes(), fix_checksums=False))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        vmcx_seeds(Path(tmp) / "vmcx")
        vhdx_seeds(Path(tmp))
        chain_seeds(Path(tmp) / "chain")
        host_seeds(Path(tmp))
        lab_seeds(Path(tmp) / "lab")
    for target in sorted(p.name for p in CORPUS.iterdir()):
        files = list((CORPUS / target).iterdir())
        print(target, len(files), sum(f.stat().st_size for f in files))
