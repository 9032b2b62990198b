"""hvctl loads only what the command needs: a disk command never loads the lab host or lxml,
listing VMs never loads the VHDX engine's numpy code, `--help` loads neither (the start-up a
script pays on every call; benchmarks/run.py --only startup times it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui import host as host_package
from hvgui import vhdx
from hvgui.host import Host

REPO = Path(__file__).resolve().parents[2]

# Run the command, then print the modules it loaded (the command's own output goes to stderr).
_PROBE = """
import json, sys
from contextlib import redirect_stdout
from hvgui.cli.main import main
with redirect_stdout(sys.stderr):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:  # --help
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*args: str | Path) -> set[str]:
    """The modules a fresh process has loaded once `hvctl ARGS` is done (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["code"] == 0, done.stderr
    return set(result["modules"])


def heavy(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_help_loads_no_host_no_engine_no_third_party_library() -> None:
    modules = loaded_by("--help")
    assert heavy(modules, "numpy", "lxml", "crc32c", "PySide6", "hvgui.host.host",
                 "hvgui.vhdx.image", "hvgui.teaching.lessons", "hvgui.host.fileio",
                 "hvgui.backend.protocol", "dataclasses", "tempfile") == []


def test_disk_command_loads_neither_the_host_nor_lxml(tmp_path: Path) -> None:
    disk = tmp_path / "d.vhdx"
    vhdx.create_dynamic(disk, 64 * vhdx.MiB)
    modules = loaded_by("get-vhd", disk)
    assert heavy(modules, "hvgui.host", "lxml", "PySide6", "hvgui.vhdx.merge",
                 "hvgui.vhdx.convert", "hvgui.vhdx.create") == []
    assert "hvgui.vhdx.info" in modules  # the probe did run the command


@pytest.mark.parametrize("command", ["new-vhd", "test-vhd", "read-vhd", "write-vhd",
                                     "convert-vhd", "merge-vhd"])
def test_every_disk_command_loads_neither_the_host_nor_lxml(
    tmp_path: Path, command: str
) -> None:
    """The disk commands (the engine alone) never pay for the lab host, lxml or Qt."""
    parent, child = tmp_path / "p.vhdx", tmp_path / "c.avhdx"
    vhdx.create_dynamic(parent, 64 * vhdx.MiB)
    vhdx.create_differencing(child, parent)
    vhdx.set_read_only(parent, True)  # as Hyper-V leaves a parent: test-vhd finds it sound
    data = tmp_path / "data"
    data.write_bytes(b"x" * 4096)
    args: list[str | Path] = {
        "new-vhd": ["new-vhd", tmp_path / "n.vhdx", "--size-bytes", "64MB", "--dynamic"],
        "test-vhd": ["test-vhd", child],
        "read-vhd": ["read-vhd", child, "--offset", "0", "--length", "16",
                     "--output", tmp_path / "out"],
        "write-vhd": ["write-vhd", child, "--offset", "0", "--input", data],
        "convert-vhd": ["convert-vhd", child, tmp_path / "flat.vhdx"],
        "merge-vhd": ["merge-vhd", "--path", child],
    }[command]
    modules = loaded_by(*args)
    assert heavy(modules, "hvgui.host", "lxml", "PySide6", "hvgui.backend.model",
                 "hvgui.inspect", "hvgui.guest", "hvgui.teaching") == []
    assert "hvgui.cli.disk" in modules and "hvgui.cli.vm" not in modules


def test_listing_vms_loads_neither_numpy_nor_the_disk_engine(tmp_path: Path) -> None:
    lab = Host.open(tmp_path / "lab")
    lab.new_vm("web01", memory_startup_bytes=64 << 20, new_vhd_size_bytes=16 << 20)
    modules = loaded_by("get-vm", "--host", tmp_path / "lab")
    assert heavy(modules, "numpy", "crc32c", "PySide6", "hvgui.vhdx.image",
                 "hvgui.vhdx.structures", "hvgui.vhdx.merge", "hvgui.guest.guest") == []
    assert "hvgui.host.host" in modules


@pytest.mark.parametrize("package", [vhdx, host_package], ids=["vhdx", "host"])
def test_every_public_name_of_a_lazy_package_loads(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert names and all(getattr(package, name) is not None for name in names)
    assert set(names) <= set(dir(package))


def test_get_vhd_of_a_written_vhdx_loads_neither_numpy_nor_the_vhd_decoders(
    tmp_path: Path,
) -> None:
    """Its BAT (allocated blocks to check) is decoded without numpy, its checksums without
    the crc32c package's version lookup (importlib.metadata), and the VHD decoders stay out."""
    disk = tmp_path / "d.vhdx"
    vhdx.create_dynamic(disk, 64 * vhdx.MiB, block_size=vhdx.MiB)
    with vhdx.open_disk(disk, writable=True) as opened:
        for block in (0, 5, 9):
            opened.write(block * vhdx.MiB, b"data" * 128)
    modules = loaded_by("get-vhd", disk)
    assert heavy(modules, "numpy", "importlib.metadata", "hvgui.vhdx.vhd",
                 "hvgui.vhdx.vhd_format") == []
    assert "hvgui.vhdx.image" in modules  # MinimumSize: the disk was opened


def test_converting_a_written_vhdx_to_raw_loads_no_numpy(tmp_path: Path) -> None:
    """numpy costs ~0.1 s of CPU to load, a third of what `qemu-img convert` takes for a
    whole 1 GiB disk: the VHDX-to-raw path (BAT, runs, kernel copy) needs none of it."""
    disk = tmp_path / "d.vhdx"
    vhdx.create_dynamic(disk, 64 * vhdx.MiB, block_size=vhdx.MiB)
    with vhdx.open_disk(disk, writable=True) as opened:
        opened.write(3 * vhdx.MiB, b"data" * 4096)
    modules = loaded_by("convert-vhd", disk, tmp_path / "d.raw")
    assert heavy(modules, "numpy") == []
    assert (tmp_path / "d.raw").read_bytes()[3 * vhdx.MiB : 3 * vhdx.MiB + 4] == b"data"


def test_a_mistyped_command_lists_them_all(capsys: pytest.CaptureFixture[str]) -> None:
    """hvctl builds the parser of the command it runs only; a word that is no command still
    gets argparse's message naming every one."""
    from hvgui.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["get-vhdx", "disk.vhdx"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'get-vhdx'" in error
    assert all(f"'{name}'" in error for name in ("get-vhd", "get-vm", "inspect"))


def test_checking_a_host_with_saved_states_loads_no_package_metadata(tmp_path: Path) -> None:
    """Saved-state checksums use the engine's CRC-32C loader: the crc32c package's own
    __init__ looks its version up through importlib.metadata (and email), ~25 ms of start-up."""
    lab = Host.open(tmp_path / "lab")
    lab.new_vm("web01", memory_startup_bytes=64 << 20, new_vhd_size_bytes=16 << 20)
    lab.start_vm("web01")
    lab.save_vm("web01")
    modules = loaded_by("test-host", "--host", tmp_path / "lab")
    assert heavy(modules, "importlib.metadata", "email") == []
    assert "hvgui.host.savedstate" in modules  # the saved state's checksums were read


def test_reading_through_a_differencing_disk_loads_no_numpy(tmp_path: Path) -> None:
    """A partly written child block's sector bitmap is read as runs in pure Python: reading
    16 bytes does not pay numpy's ~0.1 s of CPU to load."""
    parent, child = tmp_path / "p.vhdx", tmp_path / "c.avhdx"
    vhdx.create_dynamic(parent, 64 * vhdx.MiB)
    with vhdx.open_disk(parent, writable=True) as opened:
        opened.write(0, b"parent" * 1000)
    vhdx.create_differencing(child, parent)
    with vhdx.open_disk(child, writable=True) as opened:
        opened.write(4096, b"child!")  # a partly present block: a sector bitmap
    out = tmp_path / "out"
    modules = loaded_by("read-vhd", child, "--offset", "4090", "--length", "16",
                        "--output", out)
    assert heavy(modules, "numpy") == []
    model = bytearray(b"parent" * 1000)
    model[4096:4102] = b"child!"
    assert out.read_bytes() == model[4090:4106]


def test_listing_and_reading_guest_files_loads_no_numpy(tmp_path: Path) -> None:
    """Only allocating clusters (a guest write) scans the FAT with numpy: listing a folder
    and reading a file of the guest's disk (a differencing chain) need none of it."""
    from hvgui.guest.guest import Guest

    lab = Host.open(tmp_path / "lab")
    lab.new_vm("web01", memory_startup_bytes=64 << 20, new_vhd_size_bytes=64 << 20)
    lab.start_vm("web01")
    Guest(lab, "web01").write_file("/hello.txt", b"hello\r\n")
    lab.checkpoint_vm("web01", snapshot_name="base")
    for command in ("guest-list-files", "guest-read-file"):
        path = "/" if command == "guest-list-files" else "/hello.txt"
        modules = loaded_by(command, "--host", tmp_path / "lab", "web01", path)
        assert heavy(modules, "numpy") == [], command
        assert "hvgui.fat.volume" in modules
