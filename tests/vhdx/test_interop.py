"""Our reader and writer against qemu-img/qemu-io, libvhdi (pyvhdi, vhdiinfo) and 7-Zip."""

from __future__ import annotations

import shutil
from pathlib import Path

from hvgui.vhdx import MiB, VhdxImage, create_differencing, open_disk, set_read_only
from tests.vhdx.helpers import (
    build_chain,
    pyvhdi_raw,
    qemu_raw,
    run,
    sevenzip_raw,
    tool,
    vhdiinfo,
)


def test_disks_written_by_qemu_read_identically(tmp_path: Path) -> None:
    path = tmp_path / "q.vhdx"
    assert run(tool("qemu-img"), "create", "-q", "-f", "vhdx", path, "48M").returncode == 0
    for command in ("write -P 0xab 0 1M", "write -P 0x11 9437184 12345", "write -z 2M 1M"):
        result = run(tool("qemu-io"), "-f", "vhdx", "-c", command, path)
        assert result.returncode == 0, result.stderr
    with open_disk(path) as disk:
        ours = disk.read(0, disk.size)
        assert disk.disk_type == "Dynamic"
    assert ours[:MiB] == b"\xab" * MiB
    assert ours == qemu_raw(path)


def test_qemu_fixed_disk_reads_identically(tmp_path: Path) -> None:
    path = tmp_path / "qf.vhdx"
    args = ("create", "-q", "-f", "vhdx", "-o", "subformat=fixed,block_size=1M", path, "8M")
    assert run(tool("qemu-img"), *args).returncode == 0
    assert (
        run(tool("qemu-io"), "-f", "vhdx", "-c", "write -P 0x5a 4096 70000", path).returncode == 0
    )
    with open_disk(path) as disk:
        assert disk.disk_type == "Fixed"
        assert disk.read(0, disk.size) == qemu_raw(path)


def test_qemu_can_keep_writing_a_disk_we_wrote(tmp_path: Path) -> None:
    from hvgui.vhdx import create_dynamic

    path = tmp_path / "mixed.vhdx"
    create_dynamic(path, 16 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(MiB, b"\x01" * 5000)
    assert run(tool("qemu-io"), "-f", "vhdx", "-c", "write -P 0x22 8M 4096", path).returncode == 0
    with open_disk(path) as disk:
        assert disk.read(MiB, 5000) == b"\x01" * 5000
        assert disk.read(8 * MiB, 4096) == b"\x22" * 4096
        assert disk.read(0, disk.size) == qemu_raw(path)


def test_chain_with_mixed_block_sizes_reads_the_same_in_every_tool(tmp_path: Path) -> None:
    chain, expected = build_chain(tmp_path, 24 * MiB, [8 * MiB, 2 * MiB, 1 * MiB, 4 * MiB])
    with open_disk(chain[0]) as disk:
        assert disk.chain == chain
        ours = disk.read(0, disk.size)
    assert ours == bytes(expected)
    assert pyvhdi_raw(chain) == ours
    assert sevenzip_raw(chain[0]) == ours


def test_chain_with_4096_byte_sectors_reads_the_same_in_every_tool(tmp_path: Path) -> None:
    chain, expected = build_chain(
        tmp_path, 12 * MiB, [1 * MiB, 2 * MiB, 1 * MiB], logical_sector_size=4096
    )
    with open_disk(chain[0]) as disk:
        assert disk.logical_sector_size == 4096
        ours = disk.read(0, disk.size)
    assert ours == bytes(expected)
    assert pyvhdi_raw(chain) == ours
    assert sevenzip_raw(chain[0]) == ours


def test_libvhdi_and_7zip_see_our_child_and_its_parent(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 8 * MiB, [1 * MiB, 2 * MiB])
    child, parent = chain
    info = vhdiinfo(child)
    assert "Differential" in info
    assert "base.vhdx" in info
    fields = dict(
        (k.strip(), v.strip())
        for k, v in (line.split(":", 1) for line in info.splitlines() if ":" in line)
    )
    with VhdxImage.open(parent) as p, VhdxImage.open(child) as c:
        assert fields["Parent identifier"] == str(p.data_write_guid)  # the linkage
        assert fields["Identifier"] == str(c.data_write_guid)
        assert fields["Parent filename"].endswith("\\base.vhdx")
    listing = run(tool("7zz"), "l", child).stdout.decode()
    assert "Parent = base.vhdx" in listing
    assert "Creator Application = hvgui" in listing


def test_qemu_reads_our_base_disks_and_refuses_every_avhdx(tmp_path: Path) -> None:
    """README's claim: qemu has no differencing VHDX support, so it opens base.vhdx and
    refuses child.avhdx (as it refuses real Hyper-V ones); libvhdi and 7-Zip read the chain."""
    chain, _ = build_chain(tmp_path, 8 * MiB, [1 * MiB, 2 * MiB])
    child, parent = chain
    with open_disk(parent) as disk:
        assert qemu_raw(parent) == disk.read(0, disk.size)
    refused = run(tool("qemu-img"), "info", "-f", "vhdx", child)
    assert refused.returncode == 1
    assert "Operation not supported" in refused.stderr.decode()


def test_a_moved_chain_is_found_beside_the_child(tmp_path: Path) -> None:
    """relative_path still works after the folder moves; 7-Zip follows too."""
    (tmp_path / "a").mkdir()
    chain, expected = build_chain(tmp_path / "a", 4 * MiB, [1 * MiB, 1 * MiB, 2 * MiB])
    moved = shutil.move(tmp_path / "a", tmp_path / "b")
    leaf = Path(moved) / chain[0].name
    with open_disk(leaf) as disk:
        assert disk.read(0, disk.size) == bytes(expected)
        assert disk.chain[-1].parent == Path(moved)
    assert sevenzip_raw(leaf) == bytes(expected)


def test_a_parent_renamed_in_another_case_is_found(tmp_path: Path) -> None:
    """Windows names are case-insensitive: a chain copied from Windows may spell the parent
    differently from its locator. The engine, Get-VHD and Test-VHD still find it."""
    from hvgui.vhdx import get_vhd, test_vhd

    chain, expected = build_chain(tmp_path, 4 * MiB, [1 * MiB, 1 * MiB])
    leaf, base = chain
    renamed = base.with_name("BASE.VHDX")
    base.rename(renamed)
    with open_disk(leaf) as disk:
        assert disk.chain[-1] == renamed
        assert disk.read(0, disk.size) == bytes(expected)
    assert get_vhd(leaf).parent_path == str(renamed.resolve())
    assert [f for f in test_vhd(leaf) if f.severity == "error"] == []


def test_child_written_by_us_over_a_qemu_base(tmp_path: Path) -> None:
    base = tmp_path / "qbase.vhdx"
    assert run(tool("qemu-img"), "create", "-q", "-f", "vhdx", base, "16M").returncode == 0
    assert run(tool("qemu-io"), "-f", "vhdx", "-c", "write -P 0x77 0 6M", base).returncode == 0
    child = tmp_path / "child.avhdx"
    create_differencing(child, base)
    set_read_only(base, True)
    with open_disk(child, writable=True) as disk:
        disk.write(MiB + 100, b"child data")
        flat = disk.read(0, disk.size)
    assert flat[MiB + 100 : MiB + 110] == b"child data"
    assert flat[:MiB] == b"\x77" * MiB
    assert pyvhdi_raw([child, base]) == flat
    assert sevenzip_raw(child) == flat


def test_writes_across_sector_bitmap_chunks_read_like_libvhdi(tmp_path: Path) -> None:
    """1 MiB blocks and 512-byte sectors: one sector bitmap block covers 4 GiB (a chunk).
    Writes around chunk boundaries land in different bitmap blocks and BAT interleavings."""
    import pyvhdi

    from hvgui.vhdx import GiB, create_dynamic

    parent = tmp_path / "p.vhdx"
    create_dynamic(parent, 13 * GiB, block_size=1 * MiB)
    with open_disk(parent, writable=True) as disk:
        for chunk in range(1, 4):
            disk.write(chunk * 4 * GiB - 2 * MiB, b"\x5a" * 4 * MiB)
    set_read_only(parent, True)
    child = tmp_path / "c.avhdx"
    create_differencing(child, parent, block_size=1 * MiB)
    spots = [c * 4 * GiB + d for c in range(1, 4) for d in (-MiB - 512, -700, 0, 3000)]
    with open_disk(child, writable=True) as disk:
        for i, spot in enumerate(spots):
            disk.write(spot, bytes([i + 1]) * 1500)
    reference = pyvhdi.file()
    reference.open(str(child))
    base = pyvhdi.file()
    base.open(str(parent))
    reference.set_parent(base)
    try:
        with open_disk(child) as disk:
            for spot in spots:
                window = (spot - 5000, 12000)
                assert disk.read(*window) == reference.read_buffer_at_offset(window[1], window[0])
            with VhdxImage.open(child) as image:
                g = image.geometry
                assert g.chunk_ratio == 4096
                chunks = {c for c in range(g.bitmap_blocks) if image.bat.bitmap_entry(c) & 7 == 6}
                assert chunks == {0, 1, 2, 3}
    finally:
        reference.close()
        base.close()


def test_fattools_accepts_our_block_layout(tmp_path: Path) -> None:
    """FATtools' VHDX reader refuses payload below 4 MiB, unaligned, duplicated or past-the-end
    blocks: our fixed and dynamic disks (after writes) open in it and read the same. (It returns
    nothing for unallocated blocks of a dynamic disk, so only allocated blocks are compared.)"""
    from FATtools import vhdxutils

    from hvgui.vhdx import create_dynamic, create_fixed

    for name, create in (("f.vhdx", create_fixed), ("d.vhdx", create_dynamic)):
        path = tmp_path / name
        create(path, 12 * MiB, block_size=1 * MiB)
        with open_disk(path, writable=True) as disk:
            disk.write(3 * MiB - 100, b"\x42" * 5000)
            disk.write(11 * MiB + 7, b"\x17" * 4096)
        image = vhdxutils.Image(str(path), "rb")
        try:
            with VhdxImage.open(path) as ours, open_disk(path) as disk:
                for block in range(12):
                    if ours.bat.payload_entry(block) & 7 != 6:
                        continue
                    image.seek(block * MiB)
                    assert bytes(image.read(MiB)) == disk.read(block * MiB, MiB), (name, block)
        finally:
            image.close()
