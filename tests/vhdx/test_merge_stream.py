"""A merge that moves the smaller side: when the parent holds less than the child, the child
absorbs the parent and takes its name (merge.py's stream). The result is what a forward merge
leaves: the same bytes at the destination's path, the child's path gone, grandchildren
re-pointed, the destination's identity; and a kill at any step boundary loses nothing."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hvgui.progress import Cancelled, CancelToken
from hvgui.vhdx import (
    MiB,
    VhdxError,
    VhdxImage,
    create_differencing,
    create_dynamic,
    create_fixed,
    get_vhd,
    merge_vhd,
    open_disk,
    set_read_only,
    test_vhd,
)
from tests.vhdx.helpers import (
    apply,
    pyvhdi_raw,
    qemu_check,
    qemu_raw,
    random_bytes,
    run,
    scattered_writes,
    sevenzip_raw,
    tool,
    vhdiinfo,
)

REPO = Path(__file__).resolve().parents[2]
SIZE = 16 * MiB


def view(path: Path) -> bytes:
    with open_disk(path) as disk:
        return disk.read(0, disk.size)


def write(path: Path, model: bytearray, writes: list[tuple[int, bytes]]) -> None:
    with open_disk(path, writable=True) as disk:
        for offset, data in writes:
            disk.write(offset, data)
    apply(model, writes)


def errors(path: Path) -> list[str]:
    return [f.message for f in test_vhd(path) if f.severity == "error"]


def identity(path: Path) -> tuple[object, ...]:
    with VhdxImage.open(path, load_bat=False) as image:
        return (image.virtual_size, image.logical_sector_size, image.physical_sector_size,
                image.disk_identifier, image.has_parent, image.disk_type)


def make(folder: Path, parent_kind: str, *, sector: int = 512, block: int = 1 * MiB,
         child_block: int | None = None, grandchild: bool = True,
         child_writes: int = 40) -> dict[str, object]:
    """base [<- middle] <- child [<- grandchild]; the parent (base or middle) holds a few
    scattered writes, the child more (whole blocks and pieces of blocks, so that some of its
    blocks are partial over blocks the parent has). Every model is a raw image that got the
    same writes, never read through hvgui."""
    folder.mkdir(parents=True, exist_ok=True)
    model = bytearray(SIZE)
    base = folder / "base.vhdx"
    create_dynamic(base, SIZE, block_size=block, logical_sector_size=sector)
    write(base, model, scattered_writes(SIZE, 8, seed=1))
    parent = base
    if parent_kind == "differencing":
        parent = folder / "middle.avhdx"
        create_differencing(parent, base, block_size=block)
        set_read_only(base, True)
        write(parent, model, scattered_writes(SIZE, 8, seed=2))
        write(parent, model, [(3 * block, b"\x11" * block)])  # a fully present block
    parent_view = bytes(model)
    child = folder / "child.avhdx"
    create_differencing(child, parent, block_size=child_block or block)
    set_read_only(parent, True)
    writes = scattered_writes(SIZE, child_writes, seed=3)
    whole = child_block or block
    writes.append((2 * whole, random_bytes(2 * whole, seed=7)))  # whole blocks of the child
    write(child, model, writes)
    merged = bytes(model)
    out: dict[str, object] = {"base": base, "parent": parent, "child": child,
                              "merged": merged, "parent_view": parent_view}
    if grandchild:
        g = folder / "grandchild.avhdx"
        create_differencing(g, child)
        set_read_only(child, True)
        write(g, model, scattered_writes(SIZE, 6, seed=4))
        out["grandchild"], out["grandchild_view"] = g, bytes(model)
    return out


def check_merged(s: dict[str, object], *, interop: bool = True) -> None:
    """The end state of a finished merge, whichever way it went (`interop`: and what
    qemu-img, libvhdi and vhdiinfo make of it)."""
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    assert not child.exists()
    assert not [p for p in parent.parent.iterdir() if ".hvmerge" in p.name]
    assert view(parent) == s["merged"]
    assert errors(parent) == []
    if "grandchild" in s:
        g = Path(str(s["grandchild"]))
        assert view(g) == s["grandchild_view"]
        with open_disk(g) as disk:
            assert disk.chain[:2] == [g, parent]
        assert errors(g) == []
        assert get_vhd(g).parent_path == str(parent.resolve())
    if not interop:
        return
    if parent == s["base"]:
        assert "Disk type\t\t: Dynamic" in vhdiinfo(parent)
        assert pyvhdi_raw([parent]) == s["merged"]
        if identity(parent)[1] == 512:  # qemu-img reads 512-byte sectors only
            qemu_check(parent)
            assert qemu_raw(parent) == s["merged"]
    else:  # qemu-img refuses differencing VHDX; libvhdi reads it over its base
        assert "Disk type\t\t: Differential" in vhdiinfo(parent)
        assert pyvhdi_raw([parent, Path(str(s["base"]))]) == s["merged"]


@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
@pytest.mark.parametrize(("sector", "block"), [(512, 1 * MiB), (4096, 2 * MiB)])
def test_both_directions_leave_the_same_disk(
    tmp_path: Path, parent_kind: str, sector: int, block: int
) -> None:
    results = {}
    for direction in ("stream", "forward"):
        s = make(tmp_path / direction, parent_kind, sector=sector, block=block)
        parent = Path(str(s["parent"]))
        before = identity(parent)
        result = merge_vhd(Path(str(s["child"])), parent, direction=direction)
        assert result.streamed == (direction == "stream")
        assert result.destination == parent and result.merged == [s["child"]]
        assert result.repointed == [s["grandchild"]]
        check_merged(s)
        # The same disk as far as anyone can tell: size, sectors, Page 83 id, type, parent.
        assert identity(parent) == before
        results[direction] = view(parent)
    assert results["stream"] == results["forward"]


@pytest.mark.parametrize(("block", "child_block"), [(4 * MiB, 1 * MiB), (1 * MiB, 4 * MiB)])
@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_stream_across_block_sizes_keeps_the_bytes_and_the_childs_blocks(
    tmp_path: Path, parent_kind: str, block: int, child_block: int
) -> None:
    s = make(tmp_path, parent_kind, block=block, child_block=child_block)
    parent = Path(str(s["parent"]))
    before = identity(parent)
    assert merge_vhd(Path(str(s["child"])), direction="stream").streamed
    check_merged(s)
    assert identity(parent) == before
    assert get_vhd(parent).block_size == child_block


def test_a_base_parents_small_blocks_fill_the_childs_big_block_whole(tmp_path: Path) -> None:
    """A base with 1 MiB blocks under a child with 4 MiB blocks: a child block the child never
    wrote takes the base's block and the zeros around it; a base has no partial blocks."""
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    model = bytearray(SIZE)
    create_dynamic(base, SIZE, block_size=1 * MiB)
    write(base, model, [(5 * MiB + 4096, random_bytes(8192, seed=1))])
    create_differencing(child, base, block_size=4 * MiB)
    write(child, model, [(12 * MiB, random_bytes(4 * MiB, seed=2))])
    assert merge_vhd(child, direction="stream").streamed
    assert view(base) == model and errors(base) == []
    qemu_check(base)
    assert qemu_raw(base) == model


def test_the_smaller_side_moves(tmp_path: Path) -> None:
    small = make(tmp_path / "small", "base", grandchild=False)  # the parent holds less
    result = merge_vhd(Path(str(small["child"])))
    assert result.streamed
    check_merged(small)
    # A parent holding more than the child: the child's few blocks go forward.
    big = tmp_path / "big"
    big.mkdir()
    base, child = big / "base.vhdx", big / "child.avhdx"
    model = bytearray(SIZE)
    create_dynamic(base, SIZE, block_size=1 * MiB)
    write(base, model, [(0, os.urandom(12 * MiB))])
    create_differencing(child, base)
    write(child, model, scattered_writes(SIZE, 3, seed=9))
    result = merge_vhd(child)
    assert not result.streamed
    assert view(base) == model and not child.exists()


def test_a_zero_block_of_a_differencing_parent_stays_zero(tmp_path: Path) -> None:
    """A parent block in state ZERO hides the grandparent's data: the child must hide it too
    once the grandparent is its parent."""
    from hvgui.vhdx import format as F

    base, middle, child = tmp_path / "b.vhdx", tmp_path / "m.avhdx", tmp_path / "c.avhdx"
    create_dynamic(base, SIZE, block_size=1 * MiB)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"\x22" * SIZE)
    create_differencing(middle, base, block_size=1 * MiB)
    with VhdxImage.open(middle, writable=True) as image:
        image.set_bat_entry(image.geometry.payload_index(7), F.PAYLOAD_BLOCK_ZERO)
        os.fsync(image.fileno)
    create_differencing(child, middle, block_size=1 * MiB)
    with open_disk(child, writable=True) as disk:
        disk.write(0, os.urandom(4 * MiB))
    before = view(child)
    assert before[7 * MiB : 8 * MiB] == bytes(MiB) and view(base)[7 * MiB] == 0x22
    assert merge_vhd(child, direction="stream").streamed
    assert view(middle) == before
    with open_disk(middle) as disk:
        assert disk.chain == [middle, base]


def test_a_streamed_base_has_no_partial_blocks_qemu_cannot_read(tmp_path: Path) -> None:
    """A child whose block became partial with every sector present (a forward merge of its
    own child into it) absorbs a small base: the result is a base disk qemu-img reads."""
    model = bytearray(16 * MiB)
    base, child, g = tmp_path / "base.vhdx", tmp_path / "child.avhdx", tmp_path / "g.avhdx"
    create_dynamic(base, 16 * MiB, block_size=1 * MiB)
    write(base, model, [(8 * MiB, b"\x01" * 4096)])
    create_differencing(child, base, block_size=1 * MiB)
    write(child, model, [(1 * MiB, b"\x02" * 4096), (4 * MiB, random_bytes(4 * MiB, seed=9))])
    create_differencing(g, child, block_size=1 * MiB)
    write(g, model, [(1 * MiB + 4096, b"\x03" * (1 * MiB - 4096))])
    merge_vhd(g, direction="forward")  # child's block 1: partial, every sector present
    merge_vhd(child)  # the base holds less: a stream
    assert view(base) == bytes(model)
    qemu_check(base)
    assert qemu_raw(base) == bytes(model)


def test_a_streamed_base_keeps_no_trailing_space_7zip_warns_about(tmp_path: Path) -> None:
    """The child's sector bitmap block, unused once it is a base disk, does not stay at the
    file's end, where 7-Zip reports 'data after the end of archive'."""
    model = bytearray(SIZE)
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_dynamic(base, SIZE, block_size=1 * MiB)
    write(base, model, [(0, b"\x01" * 4096)])
    create_differencing(child, base, block_size=32 * MiB)
    write(child, model, [(1 * MiB, random_bytes(8 * MiB, seed=5))])  # a partial block
    assert merge_vhd(child).streamed
    listing = run(tool("7zz"), "l", base)
    assert listing.returncode == 0 and b"Warning" not in listing.stdout, listing.stdout
    assert sevenzip_raw(base) == bytes(model)


@pytest.mark.parametrize("case", ["fixed-parent", "no-hard-links", "child-has-another-name"])
def test_where_a_stream_cannot_be_the_merge_goes_forward(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    model = bytearray(SIZE)
    if case == "fixed-parent":
        create_fixed(base, SIZE, block_size=1 * MiB)
    else:
        create_dynamic(base, SIZE, block_size=1 * MiB)
    write(base, model, scattered_writes(SIZE, 4, seed=5))
    create_differencing(child, base, block_size=1 * MiB)
    write(child, model, [(0, os.urandom(8 * MiB)), *scattered_writes(SIZE, 20, seed=6)])
    if case == "no-hard-links":
        def refused(*_args: object, **_kwargs: object) -> None:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))

        monkeypatch.setattr(os, "link", refused)
    names = ["base.vhdx"]
    if case == "child-has-another-name":  # as `cp -al` makes: a stream would change it too
        (tmp_path / "lab2").mkdir()
        os.link(child, tmp_path / "lab2" / "child.avhdx")
        names.append("lab2")
    before = get_vhd(base).vhd_type
    result = merge_vhd(child, direction="stream")
    assert not result.streamed
    assert view(base) == model and not child.exists()
    assert get_vhd(base).vhd_type == before  # a fixed disk stays fixed
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_a_hard_linked_copy_beside_the_child_is_never_taken_for_a_destination(
    tmp_path: Path
) -> None:
    s = make(tmp_path, "base", grandchild=False)
    child = Path(str(s["child"]))
    os.link(child, tmp_path / "copy.avhdx")
    with pytest.raises(VhdxError, match=r"child\.avhdx: is the same file as copy\.avhdx"):
        merge_vhd(child)
    assert view(child) == s["merged"] and view(Path(str(s["parent"]))) == s["parent_view"]


def test_a_file_in_the_way_of_the_marker_stops_the_merge_before_any_change(
    tmp_path: Path
) -> None:
    s = make(tmp_path, "base", grandchild=False)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    stranger = parent.with_name(parent.name + ".hvmerge")
    stranger.write_bytes(b"not ours")
    with pytest.raises(VhdxError, match=r"base\.vhdx\.hvmerge: is in the way of the merge"):
        merge_vhd(child, direction="stream")
    assert view(child) == s["merged"] and view(parent) == s["parent_view"]
    assert stranger.read_bytes() == b"not ours"


def test_a_crafted_marker_naming_another_file_never_overwrites_it(tmp_path: Path) -> None:
    s = make(tmp_path, "base", grandchild=False)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    victim = tmp_path / "notes.txt"
    victim.write_bytes(b"precious")
    os.link(child, tmp_path / "notes.txt.hvmerge")  # "a merge into notes.txt was cut"
    with pytest.raises(VhdxError):
        merge_vhd(child)
    assert victim.read_bytes() == b"precious"
    assert view(child) == s["merged"] and view(parent) == s["parent_view"]


def test_a_crafted_marker_naming_another_disk_never_overwrites_it(tmp_path: Path) -> None:
    s = make(tmp_path, "base", grandchild=False)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    other = tmp_path / "other.vhdx"
    create_dynamic(other, 16 * MiB)
    before = other.read_bytes()
    os.link(child, tmp_path / "other.vhdx.hvmerge")
    with pytest.raises(VhdxError):
        merge_vhd(child)
    assert other.read_bytes() == before
    with pytest.raises(VhdxError):
        merge_vhd(child, other)
    assert other.read_bytes() == before
    assert view(child) == s["merged"] and view(parent) == s["parent_view"]


def test_a_crafted_marker_never_streams_where_a_stream_is_refused(tmp_path: Path) -> None:
    """A marker beside a fixed parent (a stream would make it dynamic) does not resume a
    stream the merge would never have begun: nothing changes."""
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    model = bytearray(SIZE)
    create_fixed(base, SIZE, block_size=1 * MiB)
    write(base, model, scattered_writes(SIZE, 4, seed=5))
    create_differencing(child, base, block_size=1 * MiB)
    write(child, model, [(0, random_bytes(8 * MiB, seed=6))])
    parent_view = view(base)
    os.link(child, tmp_path / "base.vhdx.hvmerge")
    with pytest.raises(VhdxError, match=r"base\.vhdx\.hvmerge: does not belong to a merge"):
        merge_vhd(child)
    assert get_vhd(base).vhd_type == "Fixed" and view(base) == parent_view
    assert view(child) == model


def test_a_symbolic_link_in_the_way_of_the_third_name_loses_nothing(tmp_path: Path) -> None:
    """A crafted '<parent>.hvmerge-new' symbolic link to the child is never renamed over the
    parent (the child's name then unlinked, the merged disk would be gone)."""
    s = make(tmp_path, "base", grandchild=False)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    (tmp_path / "base.vhdx.hvmerge-new").symlink_to(child.name)
    with pytest.raises(VhdxError, match=r"base\.vhdx\.hvmerge-new: is in the way of the merge"):
        merge_vhd(child, direction="stream")
    assert not parent.is_symlink() and view(child) == s["merged"]


def test_finishing_a_cut_stream_never_removes_a_file_that_is_not_its_marker(
    tmp_path: Path
) -> None:
    """Cut between the marker's and the child's unlink, the child and the destination are one
    file; a '<destination>.hvmerge' that is another file is not the merge's to remove."""
    s = make(tmp_path, "base", grandchild=False)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    assert merge_vhd(child, direction="stream").streamed
    os.link(parent, child)  # the state of that cut
    stranger = parent.with_name(parent.name + ".hvmerge")
    stranger.write_bytes(b"not ours")
    merge_vhd(child, parent)
    assert stranger.read_bytes() == b"not ours"
    assert not child.exists() and view(parent) == s["merged"]


def test_a_cancelled_stream_leaves_everything_as_it_was_and_a_rerun_completes(
    tmp_path: Path
) -> None:
    s = make(tmp_path, "differencing", block=1 * MiB, child_writes=60)
    parent, child = Path(str(s["parent"])), Path(str(s["child"]))
    token = CancelToken()

    def progress(fraction: float, _phase: str) -> None:
        if fraction > 0.1:
            token.cancel()

    with pytest.raises(Cancelled):
        merge_vhd(child, direction="stream", progress=progress, cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "base.vhdx", "child.avhdx", "grandchild.avhdx", "middle.avhdx"]
    assert view(child) == s["merged"] and view(parent) == s["parent_view"]
    assert view(Path(str(s["grandchild"]))) == s["grandchild_view"]
    assert errors(child) == []
    assert merge_vhd(child, direction="stream").streamed
    check_merged(s)


# --- killed at every step boundary --------------------------------------------------------

# Every call that makes something durable or changes a name is counted; the process dies
# (os._exit: no clean-up, as SIGKILL) just before call number LIMIT + 1. Writes before it
# are in the page cache, which a kill keeps. Given a mount point too, the power of that file
# system is cut first (tests/host/loopfs.py; test_merge_stream_power_cut.py).
KILL_SCRIPT = """
import os, sys
limit, count = int(sys.argv[3]), 0
mount = sys.argv[4] if len(sys.argv) > 4 else None
def counted(name):
    real = getattr(os, name)
    def call(*args, **kwargs):
        global count
        count += 1
        if count > limit:
            if mount:
                from pathlib import Path
                from tests.host.loopfs import power_cut
                power_cut(Path(mount))
            os._exit(9)
        return real(*args, **kwargs)
    setattr(os, name, call)
for name in ("fsync", "fdatasync", "link", "replace", "rename", "unlink", "chmod"):
    counted(name)
from hvgui.vhdx import merge_vhd
result = merge_vhd(sys.argv[1], sys.argv[2],
                   direction=sys.argv[5] if len(sys.argv) > 5 else "stream")
print("finished", result.streamed, flush=True)
"""


def _kill_run(child: Path, parent: Path, limit: int) -> bool:
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(child), str(parent),
                           str(limit)], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode in (0, 9), done.stderr.decode()
    if done.returncode == 0:
        assert done.stdout == b"finished True\n"
    return done.returncode == 0


@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_stream_killed_at_every_step_boundary_loses_nothing(
    tmp_path: Path, parent_kind: str
) -> None:
    import shutil

    template = tmp_path / "template"
    s = make(template, parent_kind)
    names = {k: Path(str(v)).name for k, v in s.items() if isinstance(v, Path)}
    stages: set[str] = set()
    for limit in range(200):
        run = tmp_path / f"run{limit}"
        shutil.copytree(template, run)
        here = {k: run / n for k, n in names.items()}
        parent, child, g = here["parent"], here["child"], here["grandchild"]
        if _kill_run(child, parent, limit):
            break
        marker = parent.with_name(parent.name + ".hvmerge")
        if not child.exists():
            stage = "unlinked"
        elif os.path.samefile(child, parent):
            stage = "renamed" if marker.exists() else "unmarked"
        elif marker.exists():
            with open_disk(child) as disk:
                stage = "marked" if parent in disk.chain else "placed"
        else:
            stage = "before"
        stages.add(stage)
        # Not rerun: every disk reads what it read, or the destination already holds the
        # merged view (from the rename on).
        assert view(g) == s["grandchild_view"], limit
        if child.exists():
            assert view(child) == s["merged"], limit
        assert view(parent) in (s["parent_view"], s["merged"]), limit
        # Rerun as the host's journal recovery does (and, every other time, as a user who
        # names no destination): the merge completes. (Killed after the child's name went,
        # it is complete: the journal reruns a merge only while the child exists.)
        if child.exists():
            if limit % 2:
                merge_vhd(child, parent)
            elif stage == "unmarked":
                with pytest.raises(VhdxError, match="name it as the destination"):
                    merge_vhd(child)  # the other name might be a copy: never guessed
                merge_vhd(child, parent)
            else:
                merge_vhd(child)
        check_merged({**s, **here}, interop=limit % 4 == 0)
        assert sorted(p.name for p in run.iterdir()) == sorted(
            {n for k, n in names.items() if k != "child"})
        shutil.rmtree(run)
    else:
        pytest.fail("the merge never finished")
    # Every state the protocol passes through was cut into at least once.
    assert stages == {"before", "marked", "placed", "renamed", "unmarked", "unlinked"}, stages


def test_metadata_switch_removes_an_item_and_keeps_the_others(tmp_path: Path) -> None:
    from hvgui.vhdx import format as F
    from hvgui.vhdx.metadata_switch import switch_items

    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_dynamic(base, SIZE)
    create_differencing(child, base)
    page83 = uuid.uuid4()
    with VhdxImage.open(child, writable=True) as image:
        block = image.block_size.to_bytes(4, "little")
        switch_items(image, {F.META_PARENT_LOCATOR: None, F.META_PAGE83: page83.bytes_le,
                             F.META_FILE_PARAMETERS: block + bytes(4)})
    with VhdxImage.open(child) as image:
        assert not image.has_parent and image.disk_identifier == page83
        assert len(image.metadata.entries) == 5
    qemu_check(child)


# --- metadata: the merged disk's items are the same whichever way the merge went -----------

USER_ITEM = uuid.UUID("0f3e8d2c-5a61-4b7e-9c40-7d2f11a0c3b5")


def add_user_item(path: Path, item_id: uuid.UUID, data: bytes) -> None:
    """Give the VHDX a user metadata item (as a management tool may), placed past every
    other item of its metadata region."""
    from hvgui.vhdx.structures import MetadataEntry, build_metadata_table

    with VhdxImage.open(path, writable=True, load_bat=False) as image:
        region, entries = image.metadata_region, list(image.metadata.entries)
        offset = -(-max(e.offset + e.length for e in entries) // 4096) * 4096
        os.pwrite(image.fileno, data, region.file_offset + offset)
        entries.append(MetadataEntry(item_id, offset, len(data), is_user=True,
                                     is_virtual_disk=False, is_required=False))
        os.pwrite(image.fileno, build_metadata_table(entries, len(entries)), region.file_offset)


def metadata_items(path: Path) -> dict[tuple[uuid.UUID, bool], tuple[int, bytes]]:
    """(item id, is user) -> (flags, bytes) of every item in the file's metadata table."""
    with VhdxImage.open(path, load_bat=False) as image:
        base = image.metadata_region.file_offset
        return {(e.item_id, e.is_user): (e.flags, os.pread(image.fileno, e.length,
                                                            base + e.offset))
                for e in image.metadata.entries}


@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_both_directions_leave_the_same_metadata_items(tmp_path: Path, parent_kind: str) -> None:
    """The child's own user metadata goes with the child, as in a forward merge (which
    deletes the child's file): the merged disk has the destination's items, byte for byte."""
    import shutil

    template = make(tmp_path / "template", parent_kind, grandchild=False)
    add_user_item(Path(str(template["child"])), USER_ITEM, b"the child's own note")
    items = {}
    for direction in ("stream", "forward"):
        shutil.copytree(tmp_path / "template", tmp_path / direction)
        s = {k: tmp_path / direction / v.name if isinstance(v, Path) else v
             for k, v in template.items()}
        parent, child = Path(str(s["parent"])), Path(str(s["child"]))
        assert errors(child) == [] and view(child) == s["merged"]
        assert (USER_ITEM, True) in metadata_items(child)
        before = metadata_items(parent)
        assert merge_vhd(child, parent, direction=direction).streamed == (direction == "stream")
        check_merged(s, interop=False)
        items[direction] = metadata_items(parent)
        assert items[direction] == before, direction
    assert items["stream"] == items["forward"]


def marked(child: Path, parent: Path) -> bool:
    """Whether a stream of `child` into `parent` was cut between its marker and step 3."""
    if not parent.with_name(parent.name + ".hvmerge").exists() or not child.exists():
        return False
    with open_disk(child) as disk:
        return parent in disk.chain


@pytest.mark.parametrize(("parent_kind", "child_writes"),
                         [("base", 2), ("differencing", 0)])
def test_kills_inside_the_absorb_leave_no_unused_space_behind(
    tmp_path: Path, parent_kind: str, child_writes: int
) -> None:
    """A kill between the absorb's writes and the BAT entries that make them the child's
    leaves blocks nothing points at; the rerun gives them back before it allocates, so that
    the merged disk is as big as an uninterrupted stream makes it, however often it is cut,
    and qemu-img finds nothing to say of it."""
    import shutil

    template = tmp_path / "template"
    # The parent has blocks the child lacks; with no writes but whole blocks, the child has
    # no sector bitmap yet: the absorb allocates one among its new blocks.
    s = make(template, parent_kind, child_writes=child_writes)
    names = {k: Path(str(v)).name for k, v in s.items() if isinstance(v, Path)}
    whole = tmp_path / "whole"
    shutil.copytree(template, whole)
    merge_vhd(whole / names["child"], whole / names["parent"], direction="stream")
    size = (whole / names["parent"]).stat().st_size
    inside = 0
    for limit in range(1, 200):
        run = tmp_path / f"run{limit}"
        shutil.copytree(template, run)
        child, parent = run / names["child"], run / names["parent"]
        if _kill_run(child, parent, limit):
            break
        if not marked(child, parent):
            shutil.rmtree(run)
            continue  # before the marker, or past the absorb
        inside += 1
        grew = child.stat().st_size
        _kill_run(child, parent, limit)  # cut again, as many steps into the rerun
        assert child.stat().st_size <= max(grew, size), limit
        merge_vhd(child, parent)
        check_merged({**s, **{k: run / n for k, n in names.items()}}, interop=False)
        assert parent.stat().st_size == size, limit
        if parent_kind == "base":
            qemu_check(parent)
        shutil.rmtree(run)
    else:
        pytest.fail("the merge never finished")
    assert inside >= 5
