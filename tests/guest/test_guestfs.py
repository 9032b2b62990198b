"""The guest file system on plain files: what we write, mtools reads, and the reverse."""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvgui.fat.partitioned import GUEST_PARTITION_OFFSET, GuestFS, format_guest_disk, read_partition
from hvgui.fat.volume import FatError
from tests.conftest import need_tool

MiB = 1 << 20


def mtools(tool: str, image: Path, *args: str) -> str:
    """Run an mtools command on the guest partition of `image` and return its output."""
    done = subprocess.run(
        [need_tool(tool), "-i", f"{image}@@{GUEST_PARTITION_OFFSET}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_bytes(listing: str) -> int:
    """The `NNN bytes free` figure of an mdir listing."""
    line = next(line for line in listing.splitlines() if "bytes free" in line)
    return int(line.replace("bytes free", "").replace(" ", ""))


def blank_disk(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize(("size", "fat"), [(64 * MiB, 16), (1024 * MiB, 32)])
def test_files_we_write_are_listed_and_read_by_mtools(tmp_path: Path, size: int, fat: int) -> None:
    image = blank_disk(tmp_path / "disk.raw", size)
    with open(image, "r+b") as f:
        partition = format_guest_disk(f, size, label="LAB")
        assert partition.offset == GUEST_PARTITION_OFFSET
        with GuestFS(f, writable=True) as guest:
            assert guest.volume.fat_type == fat
            guest.write_file("/README.TXT", b"plain 8.3 name\n")
            guest.write_file("/Documents/Quarterly Report 2026.txt", b"long name\n")
            guest.write_file("/Documents/Deep/Deeper/x.txt", b"nested\n")
    listing = mtools("mdir", image, "::/")
    assert "README" in listing and "Documents" in listing and "LAB" in listing
    assert "Quarterly Report 2026.txt" in mtools("mdir", image, "::/Documents")
    assert mtools("mtype", image, "::/README.TXT") == "plain 8.3 name\n"
    assert mtools("mtype", image, "::/Documents/Quarterly Report 2026.txt") == "long name\n"
    assert mtools("mtype", image, "::/Documents/Deep/Deeper/x.txt") == "nested\n"


def test_files_mtools_writes_are_read_by_us(tmp_path: Path) -> None:
    image = blank_disk(tmp_path / "disk.raw", 64 * MiB)
    with open(image, "r+b") as f:
        format_guest_disk(f, 64 * MiB)
    source = tmp_path / "src.txt"
    source.write_bytes(b"written by mcopy\n" * 1000)
    mtools("mmd", image, "::/From Tools")
    mtools("mcopy", image, str(source), "::/From Tools/A Long Name.txt")
    with open(image, "rb") as f, GuestFS(f) as guest:
        assert [e.name for e in guest.list_dir("/")] == ["From Tools"]
        entry = guest.stat("/from tools/a long name.TXT")  # case-insensitive, as on Windows
        assert entry.size == 17000 and not entry.is_dir
        assert guest.read_file("/From Tools/A Long Name.txt") == source.read_bytes()


def test_overwrite_and_remove_free_the_space(tmp_path: Path) -> None:
    image = blank_disk(tmp_path / "disk.raw", 64 * MiB)
    with open(image, "r+b") as f:
        format_guest_disk(f, 64 * MiB)
        with GuestFS(f, writable=True) as guest:
            guest.write_file("/big.bin", b"a" * (5 * MiB))
            guest.write_file("/big.bin", b"b" * 100)  # replaces, does not append
            guest.write_file("/keep.txt", b"keep")
            assert guest.read_file("/big.bin") == b"b" * 100
    assert mtools("mtype", image, "::/big.bin") == "b" * 100
    free_before = free_bytes(mtools("mdir", image, "::/"))
    assert free_before > 60 * MiB  # the replaced 5 MiB were given back
    with open(image, "r+b") as f, GuestFS(f, writable=True) as guest:
        guest.remove_file("/big.bin")
        assert [e.name for e in guest.list_dir("/")] == ["keep.txt"]
        with pytest.raises(FatError, match="no such file"):
            guest.read_file("/big.bin")
    listing = mtools("mdir", image, "::/")
    assert "big.bin" not in listing and "keep.txt" in listing
    assert free_bytes(listing) == free_before + 2048  # mtools sees big.bin's cluster freed


def test_a_directory_grows_past_one_cluster(tmp_path: Path) -> None:
    image = blank_disk(tmp_path / "disk.raw", 64 * MiB)
    names = [f"A rather long file name number {i:03d}.txt" for i in range(120)]
    with open(image, "r+b") as f:
        format_guest_disk(f, 64 * MiB)
        with GuestFS(f, writable=True) as guest:
            for name in names:
                guest.write_file(f"/many/{name}", name.encode())
            guest.remove_file(f"/many/{names[7]}")
            listed = [e.name for e in guest.list_dir("/many")]
    assert listed == names[:7] + names[8:]
    listing = mtools("mdir", image, "::/many")
    assert names[119] in listing and names[7] not in listing
    assert mtools("mtype", image, f"::/many/{names[119]}") == names[119]


def test_works_on_bytesio_and_streams_chunks() -> None:
    disk = io.BytesIO(bytes(32 * MiB))
    format_guest_disk(disk, 32 * MiB)
    guest = GuestFS(disk, writable=True)
    chunks = [bytes([i]) * 70_000 for i in range(10)]
    assert guest.write_file("/stream.bin", iter(chunks)) == 700_000
    guest.close()
    assert GuestFS(disk).read_file("/stream.bin") == b"".join(chunks)


def test_full_disk_is_a_clear_error_and_keeps_the_volume_sound(tmp_path: Path) -> None:
    disk = io.BytesIO(bytes(20 * MiB))
    format_guest_disk(disk, 20 * MiB)
    with GuestFS(disk, writable=True) as guest:
        with pytest.raises(FatError, match="full"):
            guest.write_file("/huge.bin", b"x" * (40 * MiB))
        assert guest.list_dir("/") == []
        guest.write_file("/small.txt", b"still works")  # the failed write's clusters were freed
        assert guest.read_file("/small.txt") == b"still works"


def test_bad_names_and_misuse_are_refused() -> None:
    disk = io.BytesIO(bytes(32 * MiB))
    format_guest_disk(disk, 32 * MiB)
    with GuestFS(disk, writable=True) as guest:
        for bad in ("/a:b.txt", "/what?.txt", "/trailing. "):
            with pytest.raises(FatError, match="cannot"):
                guest.write_file(bad, b"x")
        guest.write_file("/dir/file.txt", b"x")
        with pytest.raises(FatError, match="not empty"):
            guest.remove_file("/dir")
        with pytest.raises(FatError, match="is a directory"):
            guest.read_file("/dir")
        with pytest.raises(FatError, match="not a directory"):
            guest.list_dir("/dir/file.txt")
    with pytest.raises(FatError, match="read-only"):
        GuestFS(disk).write_file("/new.txt", b"x")


def test_an_unformatted_disk_is_a_clear_error() -> None:
    with pytest.raises(FatError, match="no partition table"):
        GuestFS(io.BytesIO(bytes(4 * MiB)), subject="blank.vhdx")


def test_a_hostile_boot_sector_is_a_clear_error() -> None:
    disk = io.BytesIO(bytes(32 * MiB))
    format_guest_disk(disk, 32 * MiB)
    boot = bytearray(disk.getvalue()[MiB : MiB + 512])
    struct.pack_into("<B", boot, 13, 3)  # sectors per cluster not a power of two
    disk.seek(MiB)
    disk.write(bytes(boot))
    with pytest.raises(FatError, match="sectors per cluster"):
        GuestFS(disk, subject="evil.vhdx")


def test_a_looping_cluster_chain_is_an_error_not_a_hang() -> None:
    disk = io.BytesIO(bytes(32 * MiB))
    format_guest_disk(disk, 32 * MiB)
    with GuestFS(disk, writable=True) as guest:
        guest.write_file("/loop.bin", b"z" * 10_000)
        first = guest.volume.chain(guest.volume._records(guest.volume._root())[0][0].cluster)
    # Point the file's last cluster back at its first, in both FATs.
    partition = read_partition(disk)
    boot = disk.getvalue()[partition.offset : partition.offset + 512]
    reserved, fat_sectors = (
        struct.unpack_from("<H", boot, 14)[0],
        struct.unpack_from("<H", boot, 22)[0],
    )
    for copy in range(2):
        at = partition.offset + (reserved + copy * fat_sectors) * 512 + first[-1] * 2
        disk.seek(at)
        disk.write(struct.pack("<H", first[0]))
    with pytest.raises(FatError, match="loops"):
        GuestFS(disk).read_file("/loop.bin")


def test_partition_table_is_standard(tmp_path: Path) -> None:
    disk = io.BytesIO(bytes(1024 * MiB // 16))
    partition = format_guest_disk(disk, 64 * MiB)
    mbr = disk.getvalue()[:512]
    assert mbr[510:] == b"\x55\xaa"
    start, count = struct.unpack_from("<II", mbr, 446 + 8)
    assert start * 512 == GUEST_PARTITION_OFFSET == partition.offset
    assert (start + count) * 512 == 64 * MiB
    assert mbr[446 + 4] == 0x0E  # FAT16 (LBA)


FILES = [
    "a.txt",
    "Long File Name.txt",
    "UPPER.TXT",
    "Data/b.bin",
    "Data/Nested Dir/c.txt",
    "Data/Nested Dir/Another rather long name.bin",
]
DIRS = ["Data/Nested Dir", "Data"]
_op = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FILES), st.integers(0, 9000), st.booleans()),
    st.tuples(st.just("remove"), st.sampled_from(FILES + DIRS), st.just(0), st.booleans()),
)


@pytest.mark.parametrize("size", [24 * MiB, 600 * MiB])
@settings(max_examples=25, deadline=None)
@given(ops=st.lists(_op, max_size=25), seed=st.integers(0, 255))
def test_random_operations_match_a_model_and_mtools(
    size: int, ops: list[tuple[str, str, int, bool]], seed: int
) -> None:
    """Any sequence of writes and removes leaves exactly the files a dict model predicts,
    as read by us after remounting and by mtools."""
    model: dict[str, bytes] = {}
    dirs: set[str] = set()  # directories exist from a write below them until removed
    with tempfile.TemporaryDirectory() as tmp:
        image = blank_disk(Path(tmp) / "disk.raw", size)
        with open(image, "r+b") as f:
            format_guest_disk(f, size)
            with GuestFS(f, writable=True) as guest:
                for i, (kind, path, length, shout) in enumerate(ops):
                    asked = "/" + (path.upper() if shout else path)  # names are case-insensitive
                    if kind == "write":
                        data = bytes([(seed + i) % 256]) * length
                        guest.write_file(asked, data)
                        model[path] = data
                        parts = path.split("/")[:-1]
                        dirs.update("/".join(parts[: n + 1]) for n in range(len(parts)))
                    elif path in model:
                        guest.remove_file(asked)
                        del model[path]
                    elif path in dirs:
                        inside = [p for p in [*model, *dirs] if p.startswith(path + "/")]
                        if inside:
                            with pytest.raises(FatError, match="not empty"):
                                guest.remove_file(asked)
                        else:
                            guest.remove_file(asked)
                            dirs.discard(path)
                    else:
                        with pytest.raises(FatError, match="no such"):
                            guest.remove_file(asked)
        with open(image, "rb") as f, GuestFS(f) as guest:
            for path, data in model.items():
                assert guest.read_file("/" + path) == data
            top = {e.name.casefold() for e in guest.list_dir("/") if not e.is_dir}
            assert top == {p.casefold() for p in model if "/" not in p}
        done = subprocess.run(
            [need_tool("mdir"), "-i", f"{image}@@{GUEST_PARTITION_OFFSET}", "-/", "-b", "::"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0 or "not found" in done.stderr  # mdir -b fails when empty
        lines = done.stdout.splitlines()
        seen = {line[3:].casefold() for line in lines if line and not line.endswith("/")}
        assert seen == {p.casefold() for p in model}
        seen_dirs = {line[3:-1].casefold() for line in lines if line.endswith("/")}
        assert seen_dirs == {d.casefold() for d in dirs}
        for path, data in model.items():
            done = subprocess.run(
                [need_tool("mtype"), "-i", f"{image}@@{GUEST_PARTITION_OFFSET}", f"::/{path}"],
                capture_output=True,
                check=True,
            )
            assert done.stdout == data


def _populated_volume() -> bytes:
    disk = io.BytesIO(bytes(24 * MiB))
    format_guest_disk(disk, 24 * MiB)
    with GuestFS(disk, writable=True) as guest:
        guest.write_file("/A Long Directory/file one.txt", b"1" * 5000)
        guest.write_file("/A Long Directory/Sub/two.bin", b"2" * 70000)
        guest.write_file("/THREE.TXT", b"3")
    return disk.getvalue()


_VOLUME = _populated_volume()
# The partition's metadata: boot sector, both FATs, the root directory and the first clusters.
_METADATA = range(MiB, MiB + 200 * 1024)


@settings(max_examples=100, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.sampled_from(_METADATA), st.integers(0, 255)), min_size=1, max_size=40
    )
)
def test_corrupted_volumes_give_clear_errors_never_crashes(flips: list[tuple[int, int]]) -> None:
    """Damage anywhere in the metadata: reading everything, then writing, either works or
    raises FatError."""
    image = bytearray(_VOLUME)
    for at, value in flips:
        image[at] = value
    disk = io.BytesIO(bytes(image))

    def walk(guest: GuestFS, path: str, depth: int) -> None:
        for entry in guest.list_dir(path):
            child = f"{path.rstrip('/')}/{entry.name}"
            if entry.is_dir and depth < 4:  # a corrupted tree may loop back on itself
                walk(guest, child, depth + 1)
            elif not entry.is_dir:
                assert len(guest.read_file(child)) == entry.size

    try:
        with GuestFS(disk) as guest:
            walk(guest, "/", 0)
    except FatError:
        pass
    try:  # and writing to the damaged volume
        with GuestFS(disk, writable=True) as guest:
            guest.write_file("/A Long Directory/new file.txt", b"n" * 9000)
            guest.remove_file("/THREE.TXT")
    except FatError:
        pass
