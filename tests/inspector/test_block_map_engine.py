"""The block map matches the engine: every cell names the file the engine reads that block from.

A random chain is built with the engine; each file writes its own byte value (file k writes
k + 1) at random sector-aligned ranges while it is the leaf. Reading a block through the chain
then tells, byte by byte, which file served it: the map must name the same files in the same
amounts, and colour each cell by the one serving most of it.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from hvgui.inspect import block_map, read_path
from hvgui.ui.inspector.block_map import ZERO, BlockMapData, BlockMapWidget, file_colour
from hvgui.ui.inspector.vhdx_view import BlockMapPanel
from hvgui.ui.workers import Runner
from hvgui.vhdx import create_differencing, create_dynamic, open_disk

MiB = 1 << 20
SECTOR = 512


def random_chain(tmp_path: Path, seed: int) -> list[Path]:
    """A base and 1-4 differencing children, each having written its own byte value."""
    rng = random.Random(seed)
    size = rng.choice([24, 40, 64]) * MiB
    base = tmp_path / "base.vhdx"
    base_block = rng.choice([1, 2, 4, 8]) * MiB
    create_dynamic(base, size, block_size=base_block)
    files = [base]
    for depth in range(rng.randint(1, 4) + 1):
        if depth:
            child = tmp_path / f"base_{depth:02d}.avhdx"
            create_differencing(child, files[-1], block_size=rng.choice([1, 2, 4]) * MiB)
            files.append(child)
        with open_disk(files[-1], writable=True) as disk:
            for _ in range(rng.randint(2, 12)):
                if depth == 0:
                    # a dynamic disk allocates whole blocks: write whole ones, so every byte
                    # it serves carries its value
                    length = base_block * rng.randint(1, 2)
                    offset = rng.randrange(0, size // base_block - 1) * base_block
                else:  # a differencing disk serves exactly the sectors written (its bitmap)
                    length = rng.choice([SECTOR, 8 * SECTOR, 300 * SECTOR, MiB, 3 * MiB])
                    offset = rng.randrange(0, (size - length) // SECTOR) * SECTOR
                disk.write(offset, bytes([depth + 1]) * length)
    return files[::-1]  # leaf first, like Disk.chain


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_cell_names_the_file_the_engine_reads_it_from(tmp_path: Path, seed: int) -> None:
    chain = random_chain(tmp_path, seed)
    blocks = block_map(chain[0])
    assert blocks.chain == chain
    data = BlockMapData.from_table(blocks.chain, blocks.blocks)
    assert len(blocks.states) == len(chain)
    for level, file in enumerate(chain):  # each file's BAT state at each leaf block
        with open_disk(file) as own:
            image = own.images[0]
            bs, count = image.block_size, image.geometry.payload_blocks
            for block in range(len(blocks.blocks)):
                first = block * blocks.block_size // bs
                last = ((block + 1) * blocks.block_size - 1) // bs
                seen = {image.bat.payload_entry(b) & 7 if b < count else 0
                        for b in range(first, last + 1)}
                expected = -1 if first >= count else seen.pop() if len(seen) == 1 else 8
                assert blocks.states[level].at(block) == expected, (file.name, block)
    depth_of = {len(chain) - 1 - i: i + 1 for i in range(len(chain))}  # chain index -> value
    with open_disk(chain[0]) as disk:
        engine = disk.block_sources()
        assert [(b.index, b.offset, b.length, sorted(b.sources)) for b in engine] == [
            (b.index, b.offset, b.length, sorted(b.sources)) for b in blocks.blocks]
        partial_seen = 0
        owner = data.cells(0, data.count).owner
        for block in range(data.count):
            source = blocks.blocks[block]
            raw = disk.read(source.offset, source.length)
            by_value = Counter(raw)
            expected = {depth_of[i] if i >= 0 else 0: n for i, n in source.sources}
            assert dict(by_value) == expected, f"block {block}"
            main = max(source.sources, key=lambda s: s[1])[0]
            assert owner[block] == (main if main >= 0 else ZERO)
            assert data.is_partial(block) == (len(source.sources) > 1)
            partial_seen += data.is_partial(block)
            # the BAT states agree: a file serving bytes has the block; a leaf serving none lacks it
            states = dict(blocks.state_names(block))
            served_by = {chain[i] for i, n in source.sources if i >= 0 and n}
            for file in served_by:
                assert states[file] in ("FULLY_PRESENT", "PARTIALLY_PRESENT",
                                        "MIXED (its smaller blocks differ)"), (block, file)
            if chain[0] not in served_by:
                assert states[chain[0]] == "NOT_PRESENT"
            # the read path accounts for every byte, file by file, as the bytes say
            steps = read_path(blocks, block)
            served = {chain.index(s.path): s.data for s in steps if s.data}
            assert served == {i: n for i, n in source.sources if i >= 0}
            if -1 in dict(source.sources):
                assert sum(s.zeros for s in steps) + steps[-1].passed_on == dict(
                    source.sources)[-1]
    assert partial_seen > 0  # the seeds all make partial blocks: the split cells are tested


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("cell", [4, 9, 28])
def test_each_cell_is_painted_in_the_colours_of_the_files_serving_it(
    qtbot: QtBot, tmp_path: Path, seed: int, cell: int
) -> None:
    """Looked at pixel by pixel: a cell's upper-left corner has the colour of the file serving
    most of the block (the engine's sources), its lower-right corner the second file's when
    the block is split, and the gap between cells the background."""
    chain = random_chain(tmp_path, seed)
    blocks = block_map(chain[0])
    data = BlockMapData.from_table(blocks.chain, blocks.blocks)
    widget = BlockMapWidget()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    widget.set_data(data)
    widget.set_cell_size(cell)
    image = widget.viewport().grab().toImage()
    background = widget.palette().base().color().rgb()
    checked = split = 0
    for source in blocks.blocks:
        rect = widget.cell_rect(source.index)
        if rect.bottom() >= image.height():
            break
        parts = sorted(source.sources, key=lambda part: -part[1])  # ties: the engine's order
        colours = [file_colour(index, len(chain)).rgb() for index, _ in parts]
        assert image.pixel(rect.left(), rect.top() + rect.height() // 2) == colours[0]
        assert image.pixel(rect.right(), rect.bottom()) == colours[min(1, len(colours) - 1)]
        assert image.pixel(rect.right() + 1, rect.bottom() + 1) == background
        checked += 1
        split += len(colours) > 1
    assert split > 0 and checked == (data.count if cell < 28 else checked) > 0
    widget.close()


def test_the_panel_loads_the_map_off_the_gui_thread(qtbot: QtBot, tmp_path: Path) -> None:
    chain = random_chain(tmp_path, 7)
    runner = Runner()
    panel = BlockMapPanel(chain[0], runner)
    qtbot.addWidget(panel)
    panel.resize(700, 500)
    panel.show()
    qtbot.waitUntil(lambda: panel.map.data() is not None, timeout=10000)
    data = panel.map.data()
    assert data is not None and data.chain == chain
    assert chain[-1].name in panel.legend.text()
    block = int(next(i for i in range(data.count) if data.cells(i, i + 1).owner[0] == 0))
    with qtbot.waitSignal(panel.map.blockClicked):
        from PySide6.QtCore import Qt

        panel.map.select_block(block)
        qtbot.mouseClick(panel.map.viewport(), Qt.MouseButton.LeftButton,
                         pos=panel.map.cell_rect(block).center())
    qtbot.waitUntil(lambda: "1. " in panel.path_text.toPlainText(), timeout=10000)
    text = panel.path_text.toPlainText()
    assert f"Block {block:,}" in text and chain[0].name in text and "BAT" in text
    assert f"BAT state: {chain[0].name}: " in data.describe(block)
    runner.shutdown()


def test_a_missing_parent_still_maps_the_file_and_says_why(
    qtbot: QtBot, corpus_dir: Path
) -> None:
    path = corpus_dir / "differencing.avhdx"
    blocks = block_map(path)
    assert blocks.missing_parent is not None
    assert "49C4BAF3-4B25-4406-8C4B-D39E65C32385" in blocks.missing_parent
    assert len(blocks.blocks) == 8 * 1024 // 2  # 8 GiB in 2 MiB blocks
    partial = [b for b in blocks.blocks if len(b.sources) > 1]
    assert partial and all(dict(b.sources).keys() == {0, 1} for b in partial)
    steps = read_path(blocks, partial[0].index)
    assert steps[0].states == ["PARTIALLY_PRESENT"] and steps[0].data > 0
    assert "missing" in steps[1].note
    runner = Runner()
    panel = BlockMapPanel(path, runner)
    qtbot.addWidget(panel)
    panel.show()  # the map is read once the panel is shown
    qtbot.waitUntil(lambda: panel.map.data() is not None, timeout=10000)
    assert "parent is missing" in panel.summary.text()
    assert "missing parent" in panel.legend.text()
    runner.shutdown()


def test_a_127_gib_chain_maps_in_the_background_and_stays_responsive(
    qtbot: QtBot, tmp_path: Path
) -> None:
    gib = 1 << 30
    base, child = tmp_path / "big.vhdx", tmp_path / "big_1.avhdx"
    create_dynamic(base, 127 * gib)
    with open_disk(base, writable=True) as disk:
        for offset in (0, 100 * gib):  # each allocates a 32 MiB block: keep them few
            disk.write(offset, b"b" * 4096)
    create_differencing(child, base)
    with open_disk(child, writable=True) as disk:
        for offset in range(gib, 127 * gib, 5 * gib + 4096):
            disk.write(offset, b"c" * 8192)
    runner = Runner()
    panel = BlockMapPanel(child, runner)
    assert panel.map.data() is None  # the GUI thread only starts the job: no map yet
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.map.data() is not None, timeout=20000)
    data = panel.map.data()
    assert data is not None and data.count == 65024
    for _ in range(5):  # each scroll paints what is in view, never the whole map
        bar = panel.map.verticalScrollBar()
        bar.setValue(bar.value() + bar.pageStep())
        panel.map.viewport().grab()
        assert 0 < panel.map.painted_cells < data.count // 4
    runner.shutdown()


def test_a_changed_parent_still_maps_the_file_and_says_why(tmp_path: Path) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_dynamic(base, 8 * MiB, block_size=MiB)
    create_differencing(child, base)
    with open_disk(child, writable=True) as disk:
        disk.write(0, b"c" * 4096)
    with open_disk(base, writable=True) as disk:  # what Hyper-V's read-only flag prevents
        disk.write(MiB, b"b" * 4096)
    blocks = block_map(child)
    assert blocks.parent_status == "changed" and blocks.missing_parent is not None
    assert "modified after" in blocks.missing_parent
    assert [p.name for p in blocks.chain] == ["child.avhdx", "base.vhdx (changed)"]
    assert dict(blocks.blocks[0].sources)[0] == 4096  # what the child itself holds
    assert "changed since this disk was made" in read_path(blocks, 0)[-1].note
