"""Hostile or damaged files inside a host folder: one clear error or finding, never a traceback,
and never an action on files the host did not make."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.errors import HvError
from hvgui.host import Host, savedstate
from hvgui.host.boundary import Boundary
from hvgui.host.fileio import copy_sparse
from hvgui.host.journal import journal_problem
from hvgui.host.savedstate import describe_bin, read_vsv
from tests.host.hosthelpers import make_vm


def _journal(host: Host, record: object) -> Path:
    path = host.layout.journal_dir / "crafted.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("committed", [False, True])
def test_a_crafted_journal_cannot_touch_files_outside_the_host(
    tmp_path: Path, committed: bool
) -> None:
    host = Host.open(tmp_path / "host")
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "thesis.xml").write_text("keep me too")  # .xml, but not a <GUID>.xml
    disk_like = tmp_path / "B1C2D3E4-0000-1111-2222-333344445555.txt"
    disk_like.write_text("keep me three")
    record = {
        "operation": "Checkpoint",
        "vm_id": "X",
        "committed": committed,
        "created": [str(victim), str(folder)],
        "actions": [
            {"op": "delete", "path": str(victim)},
            {"op": "replace", "src": str(folder / "thesis.xml"), "dst": str(victim)},
            {"op": "delete", "path": str(disk_like)},
        ],
    }
    journal = _journal(host, record)
    reopened = Host.open(host.root)
    assert victim.read_text() == "keep me"
    assert (folder / "thesis.xml").read_text() == "keep me too"
    assert disk_like.read_text() == "keep me three"
    assert not journal.exists() and journal.with_suffix(".damaged").exists()
    assert any("set aside, nothing done" in line for line in reopened.recovered)


@pytest.mark.parametrize(
    "record",
    [
        [1, 2],
        {"created": "nope"},
        {"created": [], "committed": True, "actions": [{"op": "merge"}]},
        {"created": [], "committed": True, "actions": [{"op": "format-disk", "path": "/"}]},
        {"created": [], "committed": True, "actions": [{"op": "read_only", "path": "/a.vhdx"}]},
        {"created": [], "committed": True, "actions": "delete everything"},
        {"created": ["relative.avhdx"]},
    ],
)
def test_a_malformed_journal_is_set_aside(tmp_path: Path, record: object) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    journal = _journal(host, record)
    reopened = Host.open(host.root)
    assert journal.with_suffix(".damaged").exists()
    assert [vm.name for vm in reopened.list_vms()] == ["web01"]


def test_a_real_interrupted_checkpoint_is_still_rolled_back(tmp_path: Path) -> None:
    """The path check must not refuse what the host itself journals."""
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    disk = host.get_vm("web01").hard_drives[0].path
    orphan = disk.parent / "web01_6B29FC40-CA47-1067-B31D-00DD010662DA.avhdx"
    orphan.write_bytes(b"half-made")
    state = host.root / "Snapshots" / "6B29FC40-CA47-1067-B31D-00DD010662DA"
    state.mkdir(parents=True)
    (state / "6B29FC40-CA47-1067-B31D-00DD010662DA.bin").write_bytes(b"x")
    _journal(
        host,
        {
            "operation": "Checkpoint",
            "vm_id": "X",
            "committed": False,
            "created": [str(orphan), str(state)],
            "actions": [],
        },
    )
    reopened = Host.open(host.root)
    assert not orphan.exists() and not state.exists()
    assert reopened.check() == []


def test_a_damaged_event_log_is_read_around(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    with open(host.layout.events_file, "ab") as log:
        log.write(b'\x00garbage\n[1, 2]\n{"Time": 5}\n{"Time": "2026-01-01T00:00:00",')
        log.write(b' "Action": "created", "Path": "/x"}\n' + b"y" * (200 << 10) + b"\n")
    events = host.events()
    assert events and all(e.time.tzinfo is not None for e in events)
    assert main(["get-vmevent", "--host", str(host.root)]) == 0
    assert "created" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes(range(256)) * 20, "location file is damaged"),
        (b"", "location file is damaged"),
        (b"elsewhere/vm.xml", "Virtual Machines/elsewhere/vm.xml, but its configuration"),
    ],
)
def test_a_damaged_vm_location_file_is_a_finding_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    host.layout.pointer_file("6B29FC40-CA47-1067-B31D-00DD010662DA").write_bytes(content)
    main(["get-vm", "--host", str(host.root)])
    out, err = capsys.readouterr()
    assert "web01" in out and "Traceback" not in err
    assert main(["test-host", "--host", str(host.root)]) == 1
    assert words in capsys.readouterr().out


def test_a_set_aside_journal_is_a_host_check_finding(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    _journal(host, {"created": [str(tmp_path / "notes.txt")], "committed": False})
    findings = Host.open(host.root).check()
    assert [f.code for f in findings] == ["damaged-journal"]
    assert "set aside without running it" in findings[0].message


def test_fifos_in_a_host_folder_never_hang_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01", running=True)
    host.checkpoint_vm("web01", snapshot_name="one")
    snap = host.get_snapshot("web01", "one")
    vm = host.get_vm("web01")
    assert snap.bin_path is not None and snap.vsv_path is not None
    for path in (vm.config_path, snap.bin_path, snap.vsv_path, host.layout.events_file):
        path.unlink()
        os.mkfifo(path)
    os.mkfifo(host.layout.status_file("6B29FC40-CA47-1067-B31D-00DD010662DA"))
    os.mkfifo(host.layout.journal_dir / "fifo.json")
    os.mkfifo(host.layout.pointer_file("7B29FC40-CA47-1067-B31D-00DD010662DA"))
    root = str(host.root)
    assert main(["get-vm", "web01", "--host", root]) == 1
    assert f"{vm.config_path}: not a regular file" in capsys.readouterr().err
    assert main(["test-host", "--host", root]) == 1
    assert main(["get-vmevent", "--host", root]) == 0
    capsys.readouterr()
    with pytest.raises(HvError, match="not a regular file"):
        describe_bin(snap.bin_path)
    with pytest.raises(HvError, match="not a regular file"):
        read_vsv(snap.vsv_path)


def test_a_vm_name_never_places_files_outside_their_folder(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "lab")
    name = "../../escaped"
    host.new_vm(name, new_vhd_size_bytes=64 << 20, path=tmp_path / "lab" / "vms")
    host.checkpoint_vm(name, snapshot_name="one")
    host.export_snapshot(name, "one", tmp_path / "lab" / "export")
    disk = host.get_vm(name).hard_drives[0].path
    assert disk.is_relative_to(tmp_path / "lab" / "vms")
    assert [p.name for p in (tmp_path / "lab" / "export").iterdir()] == [".._.._escaped"]
    assert not list(tmp_path.glob("escaped*")) and not list((tmp_path / "lab").glob("escaped*"))
    assert host.get_vm(name).name == name  # the name itself is kept, as Hyper-V keeps it


def test_a_host_is_never_made_inside_a_folder_of_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "thesis.odt").write_text("mine")
    assert main(["get-vm", "--host", str(folder)]) == 1
    assert "not a lab host" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["thesis.odt"]
    assert main(["new-host", str(folder)]) == 1  # not even when asked
    assert [p.name for p in folder.iterdir()] == ["thesis.odt"]


DEEP = b"[" * 5000 + b"]" * 5000  # json.loads raises RecursionError, not ValueError, for this


def test_deeply_nested_json_anywhere_is_just_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    with open(host.layout.events_file, "ab") as log:
        log.write(DEEP + b"\n")
    host.layout.status_file("6B29FC40-CA47-1067-B31D-00DD010662DA").write_bytes(DEEP[:4000])
    journal = _journal(host, [])
    journal.write_bytes(DEEP)
    root = str(host.root)
    assert main(["get-vm", "--host", root]) == 0
    assert main(["get-vmevent", "--host", root]) == 0
    assert journal.with_suffix(".damaged").exists()
    capsys.readouterr()
    vsv = tmp_path / "deep.vsv"
    monkeypatch.setattr(savedstate.json, "dumps", lambda *a, **k: DEEP.decode())
    savedstate.write_vsv(vsv, savedstate.DeviceState([], {}))
    monkeypatch.undo()
    with pytest.raises(HvError, match="devices section is not valid JSON"):
        savedstate.read_vsv(vsv)


def test_ids_in_a_configuration_must_be_guids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids become file and folder names (Snapshots/<ID>/ is deleted with its checkpoint), so a
    crafted id like `../../VICTIM` must never reach a path."""
    host = Host.open(tmp_path / "lab" / "host")
    make_vm(host, "web01", running=True)
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    host.stop_vm("web01", turn_off=True)  # Remove-VM needs an Off (or Saved) VM
    victim = tmp_path / "VICTIM"  # upper case: ids are read upper-cased
    (victim / "keep").mkdir(parents=True)
    (tmp_path / "VICTIM.xml").write_bytes(snap.config_path.read_bytes())
    config = host.get_vm("web01").config_path
    text = config.read_bytes().decode("utf-16")
    assert text.count(snap.id) >= 1
    config.write_bytes(
        "\ufeff".encode("utf-16-le") + text.replace(snap.id, "../../../VICTIM").encode("utf-16-le")
    )
    for argv in (["remove-vm", "web01"], ["get-vmsnapshot", "web01"], ["get-vm", "web01"]):
        assert main([*argv, "--host", str(host.root)]) == 1
        err = capsys.readouterr().err
        assert f"hvctl: error: {config}: " in err and "is not a GUID" in err
    assert (victim / "keep").is_dir()


G = "B1C2D3E4-0000-1111-2222-333344445555"


@pytest.mark.parametrize(
    ("path", "trusted"),
    [
        (f"/h/Snapshots/{G}.xml", True),
        (f"/h/Virtual Machines/{G}.xml.hvnew", True),
        (f"/h/Virtual Machines/{G}.location.hvnew", True),
        (f"/h/Virtual Machines/{G}/{G}.bin.hvnew", True),
        (f"/h/Snapshots/{G}", True),
        ("/h/Virtual Hard Disks/web01_x.avhdx", True),
        ("/home/me/notes.xml", False),
        ("/home/me/report.bin", False),
        ("/home/me/web01.vhdx.hvnew", False),
        ("/home/me", False),
        ("relative.avhdx", False),
    ],
)
def test_which_journal_paths_recovery_trusts(path: str, trusted: bool) -> None:
    problem = journal_problem({"created": [path], "committed": False}, Boundary(Path("/h")))
    assert (problem is None) == trusted, problem


def test_absurd_memory_or_processor_settings_are_refused_not_allocated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    config = host.get_vm("web01").config_path
    text = config.read_bytes().decode("utf-16")
    for container, element, value in (
        ("processors", "count", "1000000000"),
        ("bank", "size", "1000000000000"),
    ):
        pattern = rf'(<{container}>.*?<{element} type="integer">)\d+(</{element}>)'
        crafted = re.sub(pattern, rf"\g<1>{value}\2", text, count=1, flags=re.S)
        assert crafted != text
        config.write_bytes("\ufeff".encode("utf-16-le") + crafted.encode("utf-16-le"))
        for argv in (["start-vm", "web01"], ["get-vm", "web01"]):
            assert main([*argv, "--host", str(host.root)]) == 1
            assert "is out of range" in capsys.readouterr().err
        assert [f.code for f in host.check()] == ["config-unreadable"]
    config.write_bytes("\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))
    assert host.check() == []


def test_times_past_what_a_date_holds_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01", running=True)
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    for path, element, kind, value in (  # a checkpoint's own time: an 8-byte FILETIME
        (snap.config_path, "creation_time", "bytes", "//////////8="),
        (host.get_vm("web01").config_path, "last_powered_on_time", "integer", str(2**64 - 1)),
    ):
        text = path.read_bytes().decode("utf-16")
        pattern = rf'(<{element} type="{kind}">)[^<]+(</{element}>)'
        crafted = re.sub(pattern, rf"\g<1>{value}\2", text, count=1)
        assert crafted != text
        path.write_bytes("\ufeff".encode("utf-16-le") + crafted.encode("utf-16-le"))
        for argv in (["get-vmsnapshot", "web01"], ["get-vm"]):
            main([*argv, "--host", str(host.root)])
            err = capsys.readouterr().err
            assert "Traceback" not in err
        assert any("is not a valid time" in f.message for f in host.check())
        path.write_bytes("\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))


def test_an_absurd_saved_uptime_is_ignored(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01", running=True)
    host.save_vm("web01")
    vsv = host.get_vm("web01").config_path.parent / host.get_vm("web01").id
    vsv = vsv / f"{host.get_vm('web01').id}.vsv"
    state = savedstate.read_vsv(vsv)
    vsv.unlink()
    savedstate.write_vsv(
        vsv, savedstate.DeviceState(state.processors, {**state.devices, "uptime_seconds": 10**20})
    )
    host.start_vm("web01")  # a date cannot hold 10^20 s: the uptime starts again from zero
    assert host.get_vm("web01").uptime.total_seconds() < 60


def _craft(config: Path, old: str, new: str) -> bytes:
    """Rewrite `config` with its first `old` replaced by `new`; returns the crafted bytes."""
    text = config.read_bytes().decode("utf-16")
    assert old in text
    data = "\ufeff".encode("utf-16-le") + text.replace(old, new, 1).encode("utf-16-le")
    config.write_bytes(data)
    return data


def test_forty_thousand_checkpoint_ids_are_refused_before_parsing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """6 MB listing 40,000 ids (Hyper-V allows 50 checkpoints): each command once said
    nothing for half a minute (quadratic parsing); now one line names the file at once."""
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    config = host.get_vm("web01").config_path
    ids = "".join(f'<guid{i} type="string">{G}</guid{i}>' for i in range(40_000))
    _craft(config, '<size type="integer">0</size>', f'<size type="integer">40000</size>{ids}')
    words = "snapshots/list lists 40000 checkpoints; at most 1000"
    for argv in (["get-vm", "web01"], ["get-vmsnapshot", "web01"]):
        assert main([*argv, "--host", str(host.root)]) == 1
        err = capsys.readouterr().err
        assert f"hvctl: error: {config}: " in err and words in err, err
    assert main(["test-host", "--host", str(host.root)]) == 1
    assert words in capsys.readouterr().out
    assert main(["inspect", str(config)]) == 1
    assert f"Problem: configuration/global_settings/{words}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("<x/>" * 300_000, "holds more than 50000 elements"),
        ("<manifest>" + "<vdev9/>" * 300 + "</manifest>", "more than 256 devices"),
        # 2.5 M '>' are 5 MiB read, but 20 MiB written back (each becomes &gt;)
        ("<x>" + ">" * (5 << 19) + "</x>", "bytes written out; at most 8 MiB"),
    ],
    ids=["300k-empty-elements", "300-devices", "grows-when-written"],
)
def test_a_configuration_hvgui_could_not_write_back_is_refused_on_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: str, words: str
) -> None:
    """Once, such a file was accepted and Start-VM rewrote it past 8 MiB: the VM was refused
    from then on. Now the file is refused as it is, and nothing rewrites it."""
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    config = host.get_vm("web01").config_path
    crafted = _craft(config, "<global_settings>", payload + "<global_settings>")
    for argv in (["start-vm", "web01"], ["get-vm", "web01"]):
        assert main([*argv, "--host", str(host.root)]) == 1
        err = capsys.readouterr().err
        assert f"hvctl: error: {config}: " in err and words in err, err
    assert config.read_bytes() == crafted


def test_a_change_that_would_grow_a_configuration_past_the_limit_writes_nothing(
    tmp_path: Path,
) -> None:
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    config = host.get_vm("web01").config_path
    before = config.read_bytes()
    with pytest.raises(HvError, match=r"would be .* bytes written out; at most 8 MiB"):
        host.set_vm("web01", notes="n" * (5 << 20))
    assert config.read_bytes() == before
    host.start_vm("web01")  # still a VM like any other
    assert host.get_vm("web01").state == "Running"


def _all_touched_bin(path: Path, memory: int) -> None:
    """Replace `path` with a BIN of `memory` bytes whose every chunk is marked touched but
    whose data is all holes: a few KiB on disk that a plain copy turns into `memory` bytes.
    Layout and checksums as docs/formats.md gives them."""
    import struct

    import crc32c

    path.unlink()
    savedstate.BinFile.create(path, memory)
    with open(path, "r+b") as handle:
        header = bytearray(handle.read(savedstate.BIN_HEADER_SIZE))
        (bitmap_length,) = struct.unpack_from("<I", header, 40)
        bitmap = b"\xff" * bitmap_length
        handle.seek(savedstate.BIN_HEADER_SIZE)
        handle.write(bitmap)
        struct.pack_into("<I", header, 44, crc32c.crc32c(bitmap))
        struct.pack_into("<I", header, 56, 0)
        struct.pack_into("<I", header, 56, crc32c.crc32c(bytes(header)))
        handle.seek(0)
        handle.write(header)


def _on_disk(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_a_sparse_all_touched_memory_file_is_copied_as_the_holes_it_is(tmp_path: Path) -> None:
    """A "4 GiB, all touched" BIN that is all holes: a checkpoint, an apply and an export
    once wrote 4 GiB of zeros each (until the disk was full); now they copy what is there."""
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01", running=True)
    vm = host.get_vm("web01")
    runtime_bin = vm.config_path.parent / vm.id / f"{vm.id}.bin"
    _all_touched_bin(runtime_bin, 4 << 30)
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None and snap.bin_path is not None
    assert savedstate.describe_bin(snap.bin_path).touched_bytes == 4 << 30
    assert _on_disk(snap.bin_path) < 16 << 20
    host.restore_snapshot("web01", "one")
    assert _on_disk(runtime_bin) < 16 << 20
    host.export_snapshot("web01", "one", tmp_path / "export")
    exported = list((tmp_path / "export").rglob("*.bin"))
    assert exported and sum(_on_disk(p) for p in exported) < 16 << 20
    with savedstate.BinFile(snap.bin_path) as memory:
        assert memory.read((4 << 30) - 4096, 4096) == bytes(4096)


def test_a_copy_the_file_system_has_no_room_for_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, destination = tmp_path / "disk.vhdx", tmp_path / "copy" / "disk.vhdx"
    source.write_bytes(b"\x42" * (8 << 20))
    destination.parent.mkdir()
    monkeypatch.setattr("hvgui.host.freespace.free_bytes", lambda path: 4 << 20)
    with pytest.raises(HvError, match=r"disk\.vhdx: not enough space: copying it needs 9\.0 MiB, "
                       r"4\.0 MiB free on .*copy$"):
        copy_sparse(source, destination)
    assert not destination.exists()


@pytest.fixture
def small_file_limit() -> Iterator[None]:
    """No file written past 256 MiB while the test runs (a write past it fails with EFBIG;
    Python ignores SIGXFSZ): a copy that would stream forever fails instead of filling the
    disk."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)


@pytest.mark.parametrize("kind", ["device", "huge"])
@pytest.mark.usefixtures("small_file_limit")
def test_a_device_or_huge_file_as_saved_state_is_refused_not_streamed(
    tmp_path: Path, kind: str
) -> None:
    """A VSV that is /dev/zero (a device node inside the host folder) was copied until the
    disk was full by Checkpoint, Apply and Export; a VSV is at most 16 MiB, a regular file."""
    import stat

    host = Host.open(tmp_path / "host")
    make_vm(host, "web01", running=True)
    host.checkpoint_vm("web01", snapshot_name="before")
    host.save_vm("web01")
    vm = host.get_vm("web01")
    vsv = vm.config_path.parent / vm.id / f"{vm.id}.vsv"
    vsv.unlink()
    if kind == "device":
        if os.getuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(vsv, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # what /dev/zero is
        words = f"{vsv}: not a regular file"
    else:
        with open(vsv, "wb") as handle:
            handle.truncate(100 << 20)  # sparse: nothing on disk, 100 MiB when streamed
        words = f"{vsv}: device state (VSV) file is implausibly large"
    with pytest.raises(HvError) as refused:
        host.checkpoint_vm("web01", snapshot_name="after")
    assert words in str(refused.value)
    with pytest.raises(HvError) as refused:
        host.export_vm("web01", tmp_path / "export")
    assert words in str(refused.value)
    assert [s.name for s in host.list_snapshots("web01")] == ["before"]


def test_a_huge_event_log_costs_a_bounded_read_of_its_newest_lines(tmp_path: Path) -> None:
    """64 MiB of events (a crafted lab, or decades of use): Get-VMEvent once built a list of
    every one; now it reads the newest 8 MiB, the newest event included."""
    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    line = host.layout.events_file.read_bytes().splitlines(keepends=True)[-1]
    with open(host.layout.events_file, "ab") as log:
        log.write(line * ((64 << 20) // len(line)))
    host.checkpoint_vm("web01", snapshot_name="newest")
    events = host.events()
    assert len(events) <= (8 << 20) // len(line) + 10
    assert any("newest" in e.detail for e in events[-5:])


def test_more_drives_than_hyperv_allows_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each drive of a VM may become a new file (a checkpoint makes one AVHDX per disk):
    320 drives on five SCSI controllers is past Hyper-V's 260 and refused at once."""
    from hvgui.host.xmlconfig import ConfigDoc

    host = Host.open(tmp_path / "host")
    make_vm(host, "web01")
    vm = host.get_vm("web01")
    doc = ConfigDoc.load(vm.config_path)
    for _ in range(5):
        number = doc.add_scsi_controller()
        for location in range(64):
            doc.set_drive("SCSI", number, location, "VHD", str(vm.hard_drives[0].path))
    crafted = doc.to_bytes()
    vm.config_path.write_bytes(crafted)
    for argv in (["get-vm", "web01"], ["checkpoint-vm", "web01"]):
        assert main([*argv, "--host", str(host.root)]) == 1
        err = capsys.readouterr().err
        assert f"hvctl: error: {vm.config_path}: lists more than 260 drives" in err, err
    assert vm.config_path.read_bytes() == crafted
    assert not list(vm.hard_drives[0].path.parent.glob("*.avhdx"))
