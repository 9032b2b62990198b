"""The block map's core: which chain file serves each block, each file's BAT state there, and
the read path of one block down the chain."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hvgui.vhdx import (
    ParentMismatchError,
    ParentNotFoundError,
    VhdImage,
    VhdxError,
    VhdxImage,
    open_disk,
)
from hvgui.vhdx.block_table import BlockTable, served_arrays
from hvgui.vhdx.image import DATA, PARENT
from hvgui.vhdx.locator import parent_file_name
from hvgui.vhdx.sniff import is_vhd
from hvgui.vhdx.state_runs import StateRuns


@dataclass(frozen=True)
class BlockMap:
    """Which file of the chain serves each block, as seen from `chain[0]`.

    When the chain cannot be opened because a parent is missing, the map is built from the
    file alone: `chain[1]` is then a placeholder named after the missing parent and
    `missing_parent` says so in words."""

    chain: list[Path]
    block_size: int
    size: int
    blocks: BlockTable  # the engine's block sources, as arrays (a BlockSource per item)
    missing_parent: str | None = None
    # Why chain[1] cannot be read: "missing" (not found) or "changed" (found, but modified
    # after this disk was made: its DataWriteGuid no longer matches the parent linkage).
    parent_status: str = "missing"
    # Per chain file: the BAT state (0-7) of its block covering each leaf block, as runs; -1
    # where the file could not be read (a missing parent). Empty when not computed.
    states: list[StateRuns] = field(default_factory=list)

    def state_names(self, block: int) -> list[tuple[Path, str]]:
        """(file, BAT state name) down the chain for leaf block `block`."""
        return [(file, STATE_NAMES.get(states.at(block), "unreadable"))
                for file, states in zip(self.chain, self.states, strict=False)]


def block_map(path: str | os.PathLike[str]) -> BlockMap:
    """The engine's block sources for the chain ending at `path` (opened read-only)."""
    try:
        with open_disk(Path(path)) as disk:
            blocks = BlockMap(list(disk.chain), disk.block_size, disk.size,
                              disk.block_table())
            # from the files open here: each open decodes (and checks) the file's BAT again
            return replace(blocks, states=_bat_states(blocks, disk.images))
    except ParentNotFoundError as exc:
        name = parent_file_name(exc.locator) or "parent"
        blocks = _single_file_map(Path(path), exc.problem, f"{name} (missing)", "missing")
    except ParentMismatchError as exc:
        if Path(exc.subject) != Path(path):
            raise  # the break is further down the chain: this disk's own map says nothing
        with _open(Path(path)) as image:
            name = parent_file_name(image.parent_locator) or "parent"
        blocks = _single_file_map(Path(path), exc.problem, f"{name} (changed)", "changed")
    try:
        with _open(Path(path)) as image:
            return replace(blocks, states=_bat_states(blocks, [image]))
    except VhdxError:
        return replace(blocks, states=_bat_states(blocks, []))


def _open(file: Path) -> VhdxImage | VhdImage:
    """One file of a chain, VHDX or legacy VHD (both map ranges and name their parent)."""
    return VhdImage.open(file) if is_vhd(file) else VhdxImage.open(file)


def _own_states(image: VhdxImage | VhdImage) -> StateRuns:
    """The state of each of the file's own blocks: a VHDX's BAT states; a VHD's block
    allocation and sector bitmap, in the VHD_* states."""
    if isinstance(image, VhdxImage):
        return image.bat.payload_state_runs()
    count = -(-image.virtual_size // image.block_size)
    if image.header is None:
        return StateRuns.from_pieces(count, [(0, [VHD_FIXED])])
    allocated = image.sectors >= 0  # a VHD has at most ~1 M blocks: a byte each is little
    states = np.where(allocated, VHD_ALL, VHD_UNALLOCATED).astype(np.int8)
    if image.has_parent:  # a differencing disk's sectors are its own only where marked
        for block in np.flatnonzero(allocated).tolist():
            if not image.block_bitmap(block).all():
                states[block] = VHD_SOME
    return StateRuns.from_pieces(count, [(0, states)])


def _state_of(image: VhdxImage | VhdImage, block: int) -> int:
    """The state of one of the file's own blocks (as _own_states, for a single block)."""
    if isinstance(image, VhdxImage):
        return image.bat.payload_entry(block) & 7
    if image.header is None:
        return VHD_FIXED
    if image.sectors[block] < 0:
        return VHD_UNALLOCATED
    return VHD_SOME if image.has_parent and not image.block_bitmap(block).all() else VHD_ALL


def _bat_states(blocks: BlockMap, images: Sequence[VhdxImage | VhdImage]) -> list[StateRuns]:
    """For each chain file, its BAT state at every leaf block, as runs, from `images` (the
    chain's files opened, leaf first; those past the last cannot be read)."""
    count = len(blocks.blocks)
    unreadable = StateRuns.from_runs(count, [0], [-1])
    return [_leaf_states(_own_states(images[level]), count, blocks.block_size,
                         images[level].block_size) if level < len(images) else unreadable
            for level in range(len(blocks.chain))]


def _leaf_states(own: StateRuns, count: int, leaf_size: int, own_size: int) -> StateRuns:
    """The states of one file's blocks (`own`, blocks of `own_size`) at the `count` leaf
    blocks (of `leaf_size`; both powers of two): -1 past the file's end, MIXED_STATE where a
    leaf block covers several of the file's blocks that differ. Worked out from the runs'
    edges alone: a 64 TiB disk's leaf blocks are never visited one by one."""
    if own_size >= leaf_size:  # each leaf block inside one of the file's blocks
        ratio = own_size // leaf_size
        return StateRuns.from_runs(count, np.append(own.starts * ratio, own.count * ratio),
                                   np.append(own.values, np.int8(-1)))
    ratio = leaf_size // own_size  # several of the file's blocks per leaf block
    # past the file's end its blocks count as NOT_PRESENT (0)
    runs = StateRuns.from_runs(own.count + ratio, np.append(own.starts, own.count),
                               np.append(own.values, np.int8(0)))
    inside = runs.starts % ratio != 0  # a run starting inside a leaf block: it is mixed
    mixed = runs.starts[inside] // ratio
    firsts = np.unique(np.concatenate(([0], -(-runs.starts // ratio), mixed, mixed + 1)))
    firsts = firsts[firsts < count]
    values = runs.at_blocks(firsts * ratio)
    values[np.isin(firsts, mixed)] = MIXED_STATE
    return StateRuns.from_runs(count, firsts, values)


def _single_file_map(path: Path, problem: str, placeholder: str, status: str) -> BlockMap:
    """The map of `path` alone: what it does not decide is the (unreadable) parent's."""
    with _open(path) as image:
        size, bs = image.virtual_size, image.block_size
        assigned, undecided = served_arrays([image], size)
    parents = np.column_stack([undecided, np.ones(len(undecided), dtype=np.int64)])
    return BlockMap([path, Path(placeholder)], bs, size,
                    BlockTable.from_ranges(np.concatenate([assigned, parents]), 2, bs, size),
                    missing_parent=problem, parent_status=status)


# A leaf block covering several smaller blocks of a parent in different states.
MIXED_STATE = 8
# A legacy VHD has no BAT states: a block is allocated or not (BAT entry 0xFFFFFFFF), and in a
# differencing VHD its sector bitmap says which sectors are its own.
VHD_UNALLOCATED, VHD_ALL, VHD_SOME, VHD_FIXED = 9, 10, 11, 12
STATE_NAMES = {0: "NOT_PRESENT", 1: "UNDEFINED", 2: "ZERO", 3: "UNMAPPED", 6: "FULLY_PRESENT",
               7: "PARTIALLY_PRESENT", MIXED_STATE: "MIXED (its smaller blocks differ)",
               VHD_UNALLOCATED: "unallocated", VHD_ALL: "allocated",
               VHD_SOME: "allocated, some sectors marked", VHD_FIXED: "fixed"}
_HOLDS_DATA = ("FULLY_PRESENT", "PARTIALLY_PRESENT", "allocated",
               "allocated, some sectors marked", "fixed")


@dataclass(frozen=True)
class ReadStep:
    """One file visited when reading a block: its BAT state there and what it provides."""
    path: Path
    states: list[str]  # BAT state of this file's block(s) covering the range
    data: int  # bytes read from this file
    zeros: int  # bytes this file says read as zeros
    passed_on: int  # bytes left for the parent
    file_offsets: list[int]  # where in this file the data bytes start (first few runs)
    note: str


def read_path(blocks: BlockMap, block: int) -> list[ReadStep]:
    """The files a read of `block` visits, leaf first: each file's BAT state for the range and
    how many bytes it serves, returns as zeros, or passes on to its parent."""

    source = blocks.blocks[block]
    pending = [(source.offset, source.length)]
    steps: list[ReadStep] = []
    for level, file in enumerate(blocks.chain):
        if not pending:
            break
        left = sum(n for _, n in pending)
        if level > 0 and blocks.missing_parent is not None:
            note = (f"missing: the remaining {left:,} bytes of this block cannot be read"
                    if blocks.parent_status == "missing" else
                    f"changed since this disk was made: the remaining {left:,} bytes would be "
                    "read from a parent that no longer holds what this disk expects")
            steps.append(ReadStep(file, [], 0, 0, 0, [], note))
            break
        try:
            image = _open(file)
        except VhdxError as exc:
            steps.append(ReadStep(file, [], 0, 0, left, [], f"cannot be read: {exc.problem}"))
            break
        with image:
            bs = image.block_size
            states = sorted({
                STATE_NAMES.get(_state_of(image, b), "?")
                for start, n in pending
                for b in range(start // bs, (start + n - 1) // bs + 1)
                if start < image.virtual_size
            })
            data = zeros = 0
            offsets: list[int] = []
            next_pending: list[tuple[int, int]] = []
            for start, n in pending:
                for run in image.map_range(start, n):
                    if run.kind == DATA:
                        data += run.length
                        if len(offsets) < 4:
                            offsets.append(run.file_offset)
                    elif run.kind == PARENT:
                        next_pending.append((run.offset, run.length))
                    else:
                        zeros += run.length
        passed = sum(n for _, n in next_pending)
        if data and not passed:
            note = "serves the rest of the block"
        elif data:
            note = "serves some sectors (its sector bitmap marks them); the rest is read below"
        elif zeros and not passed:
            note = "the block reads as zeros here"
        elif any(state in _HOLDS_DATA for state in states):
            note = "holds none of the sectors still needed: they go on to its parent"
        else:
            note = "holds nothing of this block: the read goes on to its parent"
        steps.append(ReadStep(file, states, data, zeros, passed, offsets, note))
        pending = next_pending
    return steps
