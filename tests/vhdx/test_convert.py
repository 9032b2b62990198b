"""Convert-VHD: the bytes survive every direction, checked with qemu-img and known sha256s."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hvgui.progress import Cancelled, CancelToken
from hvgui.vhdx import (
    MiB,
    VhdxError,
    convert_vhd,
    create_differencing,
    create_fixed,
    get_vhd,
    open_disk,
)
from tests.vhdx.helpers import build_chain, qemu_check, qemu_raw, run, tool

# From /work/shared/corpus/hyperv/README.md: raw content of the Hyper-V files.
CORPUS_SHA256 = {
    "fixed.vhdx": "bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62",
    "dynamic.vhdx": "8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.mark.parametrize("name", sorted(CORPUS_SHA256))
def test_hyperv_files_to_raw_match_the_known_sha256(
    tmp_path: Path, corpus_dir: Path, name: str
) -> None:
    raw = tmp_path / "out.raw"
    convert_vhd(corpus_dir / name, raw)
    assert sha256(raw) == CORPUS_SHA256[name]
    # Zero ranges are holes: the fixed disk's 10 MiB hold far less data than that.
    assert allocated(raw) < 4 * MiB


@pytest.mark.parametrize("name", sorted(CORPUS_SHA256))
def test_hyperv_files_to_dynamic_vhdx_qemu_compares_equal(
    tmp_path: Path, corpus_dir: Path, name: str
) -> None:
    out = tmp_path / "out.vhdx"
    convert_vhd(corpus_dir / name, out)
    assert get_vhd(out).vhd_type == "Dynamic"
    qemu_check(out)
    assert hashlib.sha256(qemu_raw(out)).hexdigest() == CORPUS_SHA256[name]
    compare = run(tool("qemu-img"), "compare", "-f", "vhdx", "-F", "vhdx",
                  corpus_dir / name, out)
    assert compare.returncode == 0, compare.stdout.decode()


def test_a_chain_is_flattened_to_raw_and_to_one_vhdx(tmp_path: Path) -> None:
    chain, model = build_chain(tmp_path, 12 * MiB, [1 * MiB, 2 * MiB, 1 * MiB], seed=3)
    raw = tmp_path / "flat.img"
    convert_vhd(chain[0], raw)
    assert raw.read_bytes() == model
    flat = tmp_path / "flat.vhdx"
    convert_vhd(chain[0], flat)
    assert get_vhd(flat).parent_path is None
    assert qemu_raw(flat) == model
    # qemu-img agrees that the flat VHDX and our raw image hold the same disk.
    compare = run(tool("qemu-img"), "compare", "-f", "vhdx", "-F", "raw", flat, raw)
    assert compare.returncode == 0, compare.stdout.decode()


def test_raw_to_vhdx_skips_zero_blocks(tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    data = bytearray(64 * MiB)
    data[5 * MiB : 5 * MiB + 4096] = b"\xab" * 4096
    data[40 * MiB + 17] = 1
    raw.write_bytes(data)
    out = tmp_path / "disk.vhdx"
    convert_vhd(raw, out)
    with open_disk(out) as disk:
        assert disk.read(0, disk.size) == data
        allocated_blocks = [b for b in disk.block_sources() if b.sources[0][0] == 0]
    assert len(allocated_blocks) == 2  # two 32 MiB blocks hold data; nothing else is stored
    assert qemu_raw(out) == data
    # qemu-img converts our raw image into what it calls the same disk.
    compare = run(tool("qemu-img"), "compare", "-f", "raw", "-F", "vhdx", raw, out)
    assert compare.returncode == 0


def test_a_fresh_fixed_disk_converts_to_an_empty_sparse_raw(tmp_path: Path) -> None:
    fixed = tmp_path / "f.vhdx"
    create_fixed(fixed, 256 * MiB)
    raw = tmp_path / "f.raw"
    convert_vhd(fixed, raw)
    assert raw.stat().st_size == 256 * MiB
    assert allocated(raw) < MiB


def test_existing_destination_is_refused_and_nothing_is_left_on_failure(
    tmp_path: Path, corpus_dir: Path
) -> None:
    out = tmp_path / "exists.raw"
    out.write_bytes(b"keep me")
    with pytest.raises(VhdxError, match="already exists"):
        convert_vhd(corpus_dir / "fixed.vhdx", out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(VhdxError):
        convert_vhd(corpus_dir / "differencing.avhdx", tmp_path / "x.raw")  # parent missing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.raw"]


def test_cancel_leaves_no_file(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 8 * MiB, [1 * MiB, 1 * MiB])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        convert_vhd(chain[0], tmp_path / "out.vhdx", cancel=token)
    assert not any(p.name.startswith(".out.vhdx") or p.name == "out.vhdx"
                   for p in tmp_path.iterdir())


def test_an_unknown_destination_format_is_refused(tmp_path: Path, corpus_dir: Path) -> None:
    with pytest.raises(VhdxError, match=r"unknown format '\.qcow2'"):
        convert_vhd(corpus_dir / "fixed.vhdx", tmp_path / "out.qcow2")
    assert list(tmp_path.iterdir()) == []


def test_a_raw_file_that_is_not_whole_sectors_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "odd.img"
    raw.write_bytes(b"x" * 1000)
    with pytest.raises(VhdxError, match="512-byte sectors"):
        convert_vhd(raw, tmp_path / "odd.vhdx")


def test_differencing_destination_reads_as_source(tmp_path: Path) -> None:
    """A converted child is independent of its former parent."""
    base = tmp_path / "b.vhdx"
    create_fixed(base, 8 * MiB, block_size=1 * MiB)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"base" * 1024)
    child = tmp_path / "c.avhdx"
    create_differencing(child, base)
    with open_disk(child, writable=True) as disk:
        disk.write(4096, b"kid!" * 1024)
        expected = disk.read(0, disk.size)
    out = tmp_path / "standalone.vhdx"
    convert_vhd(child, out)
    base.unlink()
    with open_disk(out) as disk:
        assert disk.read(0, disk.size) == expected


def test_a_full_disk_is_an_error_naming_the_destination(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that refuses the output (no space, file too large: a 64 TiB raw on ext4)
    gives a VhdxError about the destination, not a bare OSError about a temporary file."""
    import errno

    def full(fd: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "ftruncate", full)
    out = tmp_path / "out.raw"
    with pytest.raises(VhdxError) as info:
        convert_vhd(corpus_dir / "fixed.vhdx", out)
    assert info.value.subject == str(out) and "No space left" in info.value.problem
    assert list(tmp_path.iterdir()) == []
