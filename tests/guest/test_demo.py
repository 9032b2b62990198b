"""The demo lab: built through the host's operations, sound, and every scenario runs on it."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from hvgui import vhdx
from hvgui.cli.main import main as hvctl
from hvgui.fat.partitioned import GuestFS
from hvgui.host import Host
from hvgui.host.readable import GUID
from hvgui.teaching import demo
from hvgui.teaching.lessons import LESSONS, run_lesson


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Host:
    root = tmp_path_factory.mktemp("demo") / "lab"
    phases: list[str] = []
    start = time.monotonic()
    host = demo.build_demo_host(root, progress=lambda f, phase: phases.append(phase))
    elapsed = time.monotonic() - start
    print(f"\ndemo lab built in {elapsed:.1f} s")
    assert elapsed < 30  # the bound: the app builds it on first start
    assert phases[-1] == "Demo lab ready"
    return host


def read_snapshot_file(snapshot_disk: Path, path: str) -> bytes | None:
    """A guest file as a checkpoint froze it (None when the checkpoint has no such file)."""
    with vhdx.open_disk(snapshot_disk) as disk, GuestFS(disk.as_file()) as fs:
        return fs.read_file(path) if fs.exists(path) else None


def test_the_lab_has_the_promised_vms(lab: Host) -> None:
    vms = {vm.name: vm for vm in lab.list_vms()}
    assert len(vms) >= 3
    states = {vm.state for vm in vms.values()}
    assert "Running" in states and "Off" in states
    assert vms[demo.WEB01].state == "Running" and vms[demo.CLIENT].state == "Off"

    san = vms[demo.SAN]
    assert any(d.pass_through for d in san.hard_drives)
    assert len(san.fibre_channel) == 1

    archive = vms[demo.ARCHIVE]
    assert archive.snapshot_file_location == lab.root / demo.CHECKPOINT_STORE
    [snap] = lab.list_snapshots(demo.ARCHIVE)
    assert snap.config_path.is_relative_to(lab.root / demo.CHECKPOINT_STORE)
    assert not snap.hard_drives[0].path.is_relative_to(lab.root / demo.CHECKPOINT_STORE)


def test_web01_has_a_chain_of_three_with_files_changing(lab: Host) -> None:
    snaps = lab.list_snapshots(demo.WEB01)
    assert [s.name for s in snaps] == ["Baseline", "Site update", "Logs rotated"]
    assert [s.parent_snapshot_id for s in snaps] == [None, snaps[0].id, snaps[1].id]
    disks = [s.hard_drives[0].path for s in snaps]
    index = [read_snapshot_file(d, "/inetpub/wwwroot/index.html") for d in disks]
    assert index == [
        b"<h1>Web01 - version 1</h1>\r\n",
        b"<h1>Web01 - version 2</h1>\r\n",
        b"<h1>Web01 - version 2</h1>\r\n",
    ]
    readme = [read_snapshot_file(d, "/README.TXT") is not None for d in disks]
    assert readme == [True, True, False]


def test_lab_client_has_a_branched_tree(lab: Host) -> None:
    snaps = {s.name: s for s in lab.list_snapshots(demo.CLIENT)}
    clean = snaps["Clean install"]
    children = [s.name for s in snaps.values() if s.parent_snapshot_id == clean.id]
    assert sorted(children) == ["App v1 installed", "App v2 installed"]
    v1 = read_snapshot_file(
        snaps["App v1 installed"].hard_drives[0].path, "/Program Files/App/app.ini"
    )
    v2 = read_snapshot_file(
        snaps["App v2 installed"].hard_drives[0].path, "/Program Files/App/app.ini"
    )
    assert v1 == b"[app]\r\nversion=1\r\n" and v2 == b"[app]\r\nversion=2\r\n"


def test_every_disk_passes_test_vhd_and_the_host_check_is_clean(lab: Host) -> None:
    disks = sorted(lab.root.rglob("*.vhdx")) + sorted(lab.root.rglob("*.avhdx"))
    assert len(disks) >= 4 + 3 + 3
    for disk in disks:
        assert vhdx.test_vhd(disk) == [], disk
    assert lab.check() == []


def test_new_demo_host_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hvctl(["new-demo-host", str(tmp_path / "lab")]) == 0
    out = capsys.readouterr().out
    assert "demo lab built" in out and demo.WEB01 in out
    assert hvctl(["new-demo-host", str(tmp_path / "lab")]) == 1  # never over an existing lab
    assert "already has VMs" in capsys.readouterr().err


def test_demo_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert hvctl(["demo", "list"]) == 0
    out = capsys.readouterr().out
    for name in LESSONS:
        assert name in out


# What each story must show, in the words it prints.
EXPECTED = {
    "everything-captured": ["plan.txt reads 'Plan A'", "reads 'Typed but never saved: call"],
    "not-a-backup": ["cannot be read any more", "every checkpoint and Now broke"],
    "avhdx-grows": ["The child is larger than its parent"],
    "settings-go-to-vm-files": ["own configuration", ": changed", "changed: 0 of 3"],
    "pass-through-not-reverted": ["attached now: False", "attached again: True", "NOT reverted"],
    "modified-parent": ["Never change any file", "was modified after"],
    "moved-checkpoint-location": ["refused", "stays beside its parent"],
    "storage-move": ["Files left behind: 0", "0 problems", "version 3"],
    "production-checkpoint": [
        "the VM is Off",
        "in memory: gone",
        "no BIN and no VSV",
        "saved to disk",
    ],
}


def test_every_scenario_has_expectations() -> None:
    assert sorted(EXPECTED) == sorted(LESSONS)


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_scenario_runs_to_its_end_on_a_fresh_lab(tmp_path: Path, name: str) -> None:
    lines: list[str] = []
    assert run_lesson(name, tmp_path / "lab", out=lines.append) == 0
    text = "\n".join(lines)
    header = f"Files to look at (in {tmp_path / 'lab'}):"
    assert header in lines, text
    listed = lines[lines.index(header) + 1 :]
    assert listed, text
    for line in listed:  # each by its whole name, to be found and inspected
        file = line.strip().split(" (")[0]
        assert (tmp_path / "lab" / file).exists() or line.endswith(", missing now)"), line
    for phrase in EXPECTED[name]:
        assert phrase in text, text
    if name in ("not-a-backup", "modified-parent"):
        assert "(the host check is clean)" not in text  # the damage is found


def test_every_note_of_the_article_has_a_lesson() -> None:
    shown = sorted(n for lesson in LESSONS.values() for n in lesson.notes)
    assert sorted(set(shown)) == list(range(1, 13))
    for lesson in LESSONS.values():
        assert lesson.steps and all(step.say for step in lesson.steps)
        assert lesson.lesson.endswith(".") and not lesson.lesson.endswith("..")


def test_lesson_output_reads_without_guids_or_lab_paths(tmp_path: Path) -> None:
    lines: list[str] = []
    root = tmp_path / "lab"
    for name in ("everything-captured", "not-a-backup", "modified-parent"):
        run_lesson(name, root, out=lines.append)
        shutil.rmtree(root)
    # The story reads without GUIDs; the files to look at after it are named whole.
    told = [line for line in lines if not line.startswith("Building the demo lab")]
    starts = [i for i, line in enumerate(told) if line.startswith("Files to look at (in ")]
    ends = [*[i for i, line in enumerate(told) if line.startswith("== ")][1:], len(told)]
    for start, end in reversed(list(zip(starts, ends, strict=True))):
        del told[start:end]
    text = "\n".join(told)
    assert str(tmp_path) not in text  # paths are relative to the lab
    assert not GUID.search(text), GUID.search(text)  # named, or cut to their first group
    assert "Snapshots/‹Everything captured›.xml" in text
    assert "(frozen by 'Baseline')" in text and "(Web01's running disk, Now)" in text
    for line in (line for line in lines if not line.endswith("...")):  # an ellipsis is fine
        # One period ends a sentence, even after a quoted one.
        assert not re.search(r"[.!?]['\"]?\.$", line) and ".." not in line.replace("...", ""), line


def test_demo_run_via_hvctl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo"
    assert hvctl(["demo", "run", "moved-checkpoint-location", "--host", str(typo)]) == 1
    assert "no such folder" in capsys.readouterr().err and not typo.exists()
    (tmp_path / "l").mkdir()  # an empty folder given to demo run: the lab is built there
    assert hvctl(["demo", "run", "moved-checkpoint-location", "--host", str(tmp_path / "l")]) == 0
    out = capsys.readouterr().out
    assert "refused" in out and demo.CHECKPOINT_STORE in out


def test_demo_run_on_a_host_that_is_not_a_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Host.open(tmp_path / "mine").new_vm("solo")
    assert hvctl(["demo", "run", "avhdx-grows", "--host", str(tmp_path / "mine")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hvctl: error: ") and "not a demo lab" in err and err.count("\n") == 1
    assert [vm.name for vm in Host.open(tmp_path / "mine").list_vms()] == ["solo"]


def test_web01_checkpoints_hold_a_note_that_applying_brings_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = demo.build_demo_host(tmp_path / "lab")
    notes = []
    for snapshot in host.list_snapshots("Web01"):
        assert snapshot.bin_path is not None and snapshot.bin_path.stat().st_blocks > 0
        assert hvctl(["restore-vmsnapshot", "Web01", snapshot.name, "--host", str(host.root)]) == 0
        capsys.readouterr()
        assert hvctl(["guest-note", "Web01", "--host", str(host.root)]) == 0
        notes.append(capsys.readouterr().out.strip())
    assert notes == [
        "Baseline: site v1 is live.",
        "To do: tell the team about news.html.",
        "Logs rotated; README.TXT removed on purpose.",
    ]
