"""The spec's layout rules hold for every file the engine writes, not only fresh ones: after
partial writes in a child (sector bitmaps), a merge into a differencing parent, a conversion and
a log replay. Rules: both headers valid, region tables identical, every payload and sector
bitmap block 1 MiB aligned, at or above 4 MiB, inside the file and apart from each other and the
regions, file size a multiple of 1 MiB."""

from __future__ import annotations

import itertools
from pathlib import Path

from hvgui.vhdx import MiB, VhdxImage, convert_vhd, create_differencing, merge_vhd, open_disk
from hvgui.vhdx import format as F
from tests.vhdx.helpers import build_chain


def assert_layout(path: Path) -> None:
    raw_tables = path.read_bytes()[192 * 1024 : 320 * 1024]
    assert raw_tables[: 64 * 1024] == raw_tables[64 * 1024 :], f"{path}: region tables differ"
    with VhdxImage.open(path) as image:
        assert all(h is not None for h in image.headers), f"{path}: a header is invalid"
        assert image.file_size % MiB == 0, f"{path}: size {image.file_size}"
        spans = [(r.file_offset, r.length) for r in image.region_table.entries]
        spans.append((image.header.log_offset, image.header.log_length))
        index, values = image.bat.nonzero()
        ratio = image.geometry.chunk_ratio
        for i, value in zip(index, values, strict=True):
            state, offset = value & 7, value & F.BAT_OFFSET_MASK
            bitmap = i % (ratio + 1) == ratio
            if state not in ((6,) if bitmap else (6, 7)):
                continue
            length = MiB if bitmap else image.block_size
            assert offset % MiB == 0 and offset >= 4 * MiB, f"{path}: entry {i} at {offset}"
            assert offset + min(length, MiB) <= image.file_size, f"{path}: entry {i} past end"
            spans.append((offset, length))
        spans.sort()
        for (a, la), (b, _) in itertools.pairwise(spans):
            assert a + la <= b, f"{path}: blocks at {a} and {b} overlap"


def test_layout_after_child_writes_merge_and_convert(tmp_path: Path) -> None:
    chain, expected = build_chain(tmp_path, 24 * MiB, [4 * MiB, 1 * MiB, 2 * MiB])
    for path in chain:
        assert_layout(path)
    leaf, middle, base = chain
    with VhdxImage.open(leaf) as image:
        assert image.bat.state_counts()["PARTIALLY_PRESENT"] > 0  # sector bitmaps in use
    merge_vhd(leaf)  # into the differencing `middle`: its bitmaps grow
    assert_layout(middle)
    with open_disk(middle) as disk:
        assert disk.read(0, disk.size) == bytes(expected)
    out = tmp_path / "flat.vhdx"
    convert_vhd(middle, out)
    assert_layout(out)
    child = tmp_path / "late.avhdx"
    create_differencing(child, out)
    with open_disk(child, writable=True) as disk:
        disk.write(3 * MiB + 512, b"\x01" * 1024)  # a partial block: a new bitmap block
    assert_layout(child)
    assert base.exists()
