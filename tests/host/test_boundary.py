"""The host folder is a trust boundary: a lab folder from a stranger can touch nothing outside it.

Every test here is one attack a crafted lab folder made work before the boundary existed. Each
builds an outside "victim" folder, plants the attack in the lab, opens and uses the lab the way
a student would, and asserts the victim is exactly as it was (names, bytes, modes, mtimes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.errors import HvError
from hvgui.host import Host
from hvgui.host.boundary import Boundary
from hvgui.host.fileio import norm
from hvgui.host.journal import journal_problem
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.vhdx import create_differencing, create_dynamic
from tests.host.hosthelpers import listing, make_vm, write_disk, write_now

G = "6B29FC40-CA47-1067-B31D-00DD010662DA"
G2 = "7C29FC40-CA47-1067-B31D-00DD010662DB"

@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder of someone's files beside the lab, shaped like what the host deletes."""
    folder = tmp_path / "victim"
    (folder / G).mkdir(parents=True)
    (folder / G / f"{G}.bin").write_bytes(b"memory of another VM")
    (folder / f"{G}.xml").write_bytes(b"a configuration that is not the lab's")
    (folder / "course.vhdx").write_bytes(b"a disk the lab does not own")
    (folder / "thesis.txt").write_bytes(b"years of work")
    (folder / "notes.json").write_bytes(b"{}")
    (folder / "draft.tmp").write_bytes(b"not a leftover")
    create_dynamic(folder / "base.vhdx", 8 << 20)  # a real disk: a merge could write into it
    (folder / "sub").mkdir()
    (folder / "sub" / "photo.jpg").write_bytes(b"\xff\xd8")
    return folder


def _journal(host: Host, record: object, name: str = "crafted.json") -> Path:
    path = host.layout.journal_dir / name
    path.write_text(json.dumps(record))
    return path


def _committed(*actions: dict[str, object], created: list[str] | None = None) -> dict[str, object]:
    return {
        "operation": "Delete",
        "vm_id": G,
        "committed": True,
        "created": created or [],
        "actions": list(actions),
    }


# ------------------------------------------------------------------ crafted journals
JOURNAL_ATTACKS = {
    "delete-outside-vhdx": lambda v, lab: _committed(
        {"op": "delete", "path": str(v / "course.vhdx")}
    ),
    "delete-outside-guid-folder": lambda v, lab: _committed({"op": "delete", "path": str(v / G)}),
    "delete-outside-guid-xml": lambda v, lab: _committed(
        {"op": "delete", "path": str(v / f"{G}.xml")}
    ),
    "chmod-outside-disk": lambda v, lab: _committed(
        {"op": "read_only", "path": str(v / "course.vhdx"), "value": True}
    ),
    "overwrite-outside-file": lambda v, lab: _committed(
        {"op": "replace", "src": str(v / G / f"{G}.bin"), "dst": str(v / f"{G}.xml")}
    ),
    "merge-into-outside-disk": lambda v, lab: _committed(
        {
            "op": "merge",
            "child": str(lab / "Virtual Hard Disks" / "x.avhdx"),
            "dest": str(v / "base.vhdx"),
        }
    ),
    "rollback-deletes-outside-created": lambda v, lab: {
        "operation": "Checkpoint",
        "vm_id": G,
        "committed": False,
        "created": [str(v / "course.vhdx"), str(v / G)],
        "actions": [],
    },
    "dot-dot-out-of-the-lab": lambda v, lab: _committed(
        {"op": "delete", "path": str(lab / ".." / "victim" / "course.vhdx")}
    ),
    "through-a-link-inside-the-lab": lambda v, lab: _committed(
        {"op": "delete", "path": str(lab / "Virtual Hard Disks" / "shared" / "course.vhdx")},
        {"op": "delete", "path": str(lab / "Virtual Hard Disks" / "shared" / G)},
    ),
}


@pytest.mark.parametrize("attack", sorted(JOURNAL_ATTACKS))
def test_a_crafted_journal_is_set_aside_not_run(tmp_path: Path, victim: Path, attack: str) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    child = lab / "Virtual Hard Disks" / "x.avhdx"  # a child of the outside disk, with data
    create_differencing(child, victim / "base.vhdx")
    write_disk(child, 0, b"the lab's bytes" * 100)
    os.symlink(victim, lab / "Virtual Hard Disks" / "shared")
    before = listing(victim)
    journal = _journal(host, JOURNAL_ATTACKS[attack](victim, lab))
    reopened = Host.open(lab)  # what any hvctl command (even get-vm) or the window does
    assert listing(victim) == before
    assert not journal.exists() and journal.with_suffix(".damaged").exists()
    (line,) = reopened.recovered
    assert "journal set aside, nothing done" in line and "outside the host folder" in line
    assert [vm.name for vm in reopened.list_vms()] == ["web01"]


def test_hvctl_says_a_journal_was_set_aside(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(tmp_path / "lab")
    _journal(host, JOURNAL_ATTACKS["delete-outside-vhdx"](victim, host.root))
    assert main(["get-vm", "--host", str(host.root)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("hvctl: crafted.json: journal set aside, nothing done")
    assert "outside the host folder" in err and (victim / "course.vhdx").exists()


def test_journal_paths_are_judged_with_links_followed(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    (lab / "Snapshots").mkdir(parents=True)
    os.symlink(tmp_path, lab / "Snapshots" / "up")
    boundary = Boundary(lab)
    inside = {"created": [str(lab / "Snapshots" / G)], "committed": False}
    linked = {"created": [str(lab / "Snapshots" / "up" / G)], "committed": False}
    assert journal_problem(inside, boundary) is None
    assert "a link leads to" in str(journal_problem(linked, boundary))
    assert journal_problem(linked, Boundary(lab, [tmp_path])) is None  # an allowed folder


# ------------------------------------------------------------------ linked metadata
def _link_status(lab: Path, victim: Path) -> None:
    status = lab / ".hvgui" / "status"
    shutil.rmtree(status)
    os.symlink(victim, status)


def _link_status_relatively(lab: Path, victim: Path) -> None:
    status = lab / ".hvgui" / "status"
    shutil.rmtree(status)
    os.symlink(os.path.relpath(victim, status.parent), status)  # ../../victim


def _link_journal(lab: Path, victim: Path) -> None:
    journal = lab / ".hvgui" / "journal"
    shutil.rmtree(journal)
    os.symlink(victim, journal)


def _link_meta(lab: Path, victim: Path) -> None:
    meta = lab / ".hvgui"
    os.rename(meta, lab / "old-meta")
    os.symlink(victim, meta)


def _link_events(lab: Path, victim: Path) -> None:
    (lab / "events.jsonl").unlink(missing_ok=True)
    os.symlink(victim / "thesis.txt", lab / "events.jsonl")


def _link_revision(lab: Path, victim: Path) -> None:
    (lab / ".hvgui" / "revision").unlink(missing_ok=True)
    os.symlink(victim / "thesis.txt", lab / ".hvgui" / "revision")


def _link_lock(lab: Path, victim: Path) -> None:
    (lab / ".hvgui" / "host.lock").unlink(missing_ok=True)
    os.symlink(victim / "new-file", lab / ".hvgui" / "host.lock")


METADATA_ATTACKS = {
    "status-folder-linked-out": _link_status,
    "status-folder-linked-out-relatively": _link_status_relatively,
    "journal-folder-linked-out": _link_journal,
    "hvgui-folder-linked-out": _link_meta,
    "event-log-linked-out": _link_events,
    "revision-file-linked-out": _link_revision,
    "lock-file-linked-out": _link_lock,
}


@pytest.mark.parametrize("attack", sorted(METADATA_ATTACKS))
def test_linked_host_metadata_is_refused(
    tmp_path: Path, victim: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    # leftovers that make opening clean up: a half-written journal and a dead status file
    (host.layout.journal_dir / ".x.json.1.tmp").write_bytes(b"{")
    (host.layout.status_dir / f"{G}.json").write_text('{"pid": 999999999}')
    METADATA_ATTACKS[attack](lab, victim)
    before = listing(victim)
    with pytest.raises(HvError, match="symbolic link"):
        Host.open(lab)
    assert main(["get-vm", "--host", str(lab)]) == 1
    assert main(["checkpoint-vm", "web01", "--host", str(lab)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("hvctl: error: ") for e in err)
    assert "is a symbolic link" in err[0]
    assert listing(victim) == before


def test_a_lab_opened_before_a_link_appeared_never_appends_through_it(
    tmp_path: Path, victim: Path
) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    _link_events(lab, victim)
    before = listing(victim)
    with contextlib.suppress(OSError):  # the event cannot be logged: the link is not followed
        host.checkpoint_vm("web01")
    assert listing(victim) == before


# ------------------------------------------------------------------ configuration paths
def attempt(call: Callable[[], object]) -> str:
    """Try an operation; its error message ("" when it went through)."""
    try:
        call()
    except HvError as exc:
        return str(exc)
    return ""


def _set_disk(host: Host, vm: str, path: str) -> None:
    """What a crafted configuration says: the VM's disk is `path` (written as given)."""
    doc = ConfigDoc.load(host.get_vm(vm).config_path)
    drive = next(d for d in doc.drives() if d.path)
    doc.set_drive(
        drive.controller_type, drive.controller_number, drive.controller_location, drive.kind, path
    )
    doc.path.write_bytes(doc.to_bytes())


DISK_PATHS = {
    "absolute": lambda lab, victim: str(victim / "base.vhdx"),
    "dot-dot": lambda lab, victim: str(
        lab / "Virtual Hard Disks" / ".." / ".." / "victim" / "base.vhdx"
    ),
    "link-inside-the-lab": lambda lab, victim: str(lab / "Virtual Hard Disks" / "linked.vhdx"),
    "relative-to-the-current-folder": lambda lab, victim: "base.vhdx",
}


@pytest.mark.parametrize("spelling", sorted(DISK_PATHS))
def test_a_disk_path_leading_out_is_read_never_written(
    tmp_path: Path,
    victim: Path,
    spelling: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    os.symlink(victim / "base.vhdx", lab / "Virtual Hard Disks" / "linked.vhdx")
    _set_disk(host, "web01", DISK_PATHS[spelling](lab, victim))
    monkeypatch.chdir(victim)  # a student runs hvctl from their documents folder
    before = listing(victim)
    assert main(["get-vm", "web01", "--host", str(lab)]) == 0  # shown: reading is fine
    if spelling != "relative-to-the-current-folder":  # that one is the lab's own, missing
        assert "outside-host" in {f.code for f in host.check()}  # with a warning
        health = host.chain_health.of_drives(host.get_vm("web01").hard_drives)
        assert health.short == "Warning: disk outside the host" and not health.broken
    for argv in (
        ["checkpoint-vm", "web01"],
        ["start-vm", "web01"],
        ["guest-list-files", "web01", "/"],
    ):
        main([*argv, "--host", str(lab)])
    main(["checkpoint-vm", "web01", "--host", str(lab)])  # now Running: memory too
    assert listing(victim) == before
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("hvctl: error: ") for line in err)
    if spelling == "relative-to-the-current-folder":  # taken from the configuration's folder
        disk = host.get_vm("web01").hard_drives[0].path
        assert disk == lab / "Virtual Machines" / "base.vhdx"
    else:
        assert any("outside the host folder" in line for line in err)
    assert host.list_snapshots("web01") == []


def _other_lab(victim: Path) -> Host:
    """Someone's real lab inside the victim folder: a VM with a checkpoint and data."""
    other = Host.open(victim / "otherlab")
    make_vm(other, "web01", running=True)
    write_now(other, "web01", 0, b"before" * 1000)
    other.checkpoint_vm("web01", snapshot_name="one")
    write_now(other, "web01", 0, b"after!" * 1000)
    other.stop_vm("web01", turn_off=True)
    return other


def _adopt(lab: Host, other: Host, *, pointer: bool) -> None:
    """Give the lab the other lab's VM: through a `.location` pointer to its configuration, or
    as copies of its configurations whose disk paths still name the other lab's files."""
    vm = other.get_vm("web01")
    if pointer:
        lab.layout.pointer_file(vm.id).write_text(str(vm.config_path))
        return
    for snap in [None, *other.list_snapshots("web01")]:
        source = vm.config_path if snap is None else snap.config_path
        doc = ConfigDoc.load(source)
        folder = "Virtual Machines" if snap is None else "Snapshots"
        doc.set("global_settings/data_root", "string", str(lab.root))
        doc.set("global_settings/snapshots/data_root", "string", str(lab.root))
        for drive in doc.drives():  # spelled out in full: the other lab's own files
            if drive.path:
                doc.set_drive(
                    drive.controller_type,
                    drive.controller_number,
                    drive.controller_location,
                    drive.kind,
                    str(norm(drive.path)),
                )
        (lab.root / folder / source.name).write_bytes(doc.to_bytes())


@pytest.mark.parametrize("pointer", [False, True], ids=["copied-configuration", "location-file"])
def test_a_vm_whose_files_are_elsewhere_cannot_change_them(
    tmp_path: Path, victim: Path, pointer: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _other_lab(victim)
    lab = Host.open(tmp_path / "lab")
    _adopt(lab, other, pointer=pointer)
    before = listing(victim)
    assert [v.name for v in lab.list_vms()] == ["web01"]  # shown
    codes = [
        main([*argv, "--host", str(lab.root)])
        for argv in (
            ["remove-vmsnapshot", "web01", "one"],  # would merge into the other lab's disk
            ["restore-vmsnapshot", "web01", "one"],  # would delete its current AVHDX
            ["checkpoint-vm", "web01"],
            ["remove-vm", "web01"],
            ["move-vmstorage", "web01", "--destination-storage-path", str(lab.root / "moved")],
        )
    ]
    assert listing(victim) == before
    err = capsys.readouterr().err.splitlines()
    assert codes == [1] * 5 and len(err) == 5
    assert all("outside the host folder" in line for line in err), err


@pytest.mark.parametrize("folder", ["Virtual Machines", "Snapshots"])
def test_a_linked_vm_or_checkpoint_folder_is_not_moved_out_of(
    tmp_path: Path, victim: Path, folder: str
) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    vm_id = make_vm(host, "web01")
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    state = lab / folder / (vm_id if folder == "Virtual Machines" else snap.id)
    shutil.rmtree(state, ignore_errors=True)
    os.symlink(victim / "sub", state)
    before = listing(victim)
    refused = attempt(lambda: host.move_storage("web01", lab / "moved"))
    assert listing(victim) == before
    assert "outside the host folder" in refused
    assert not (lab / "moved").exists() or not list((lab / "moved").rglob("photo.jpg"))


def test_a_checkpoint_location_outside_receives_nothing(tmp_path: Path, victim: Path) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01", running=True)
    doc = ConfigDoc.load(host.get_vm("web01").config_path)
    doc.set("global_settings/snapshots/data_root", "string", str(victim))
    doc.path.write_bytes(doc.to_bytes())
    before = listing(victim)
    refused = attempt(lambda: host.checkpoint_vm("web01", snapshot_name="one"))
    assert listing(victim) == before
    assert "outside the host folder" in refused
    assert Host.open(lab).check() == []


SECRET = b"root:$6$secret-hash:19000:0:99999:7:::\n"


@pytest.mark.parametrize("spelling", ["absolute", "relative"])
def test_saved_state_from_outside_is_never_copied_in_or_exported(
    tmp_path: Path,
    victim: Path,
    spelling: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = victim / "shadow"
    secret.write_bytes(SECRET)
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01", running=True)
    host.save_vm("web01")
    snap = host.checkpoint_vm("web01", snapshot_name="saved").snapshot
    assert snap is not None
    doc = ConfigDoc.load(snap.config_path)
    where = str(secret) if spelling == "absolute" else "shadow"
    doc.set("savedstate/vsvlocation", "string", where)
    doc.path.write_bytes(doc.to_bytes())
    monkeypatch.chdir(victim)
    refused = [
        attempt(lambda: host.restore_snapshot("web01", "saved")),
        attempt(lambda: host.export_snapshot("web01", "saved", tmp_path / "to-share")),
    ]
    everything = [*lab.rglob("*"), *tmp_path.joinpath("to-share").rglob("*")]
    copies = [p for p in everything if p.is_file() and SECRET in p.read_bytes()]
    assert copies == []
    if spelling == "absolute":  # a relative name is the lab's own (missing) file now
        assert all("outside the host folder" in line for line in refused), refused


def test_an_allowed_outside_folder_may_be_changed(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    _set_disk(host, "web01", str(victim / "base.vhdx"))
    assert main(["checkpoint-vm", "web01", "--host", str(lab)]) == 1
    assert main(["set-host", "--allow-outside-folder", str(victim), "--host", str(lab)]) == 0
    assert str(victim) in capsys.readouterr().out
    assert main(["checkpoint-vm", "web01", "--host", str(lab)]) == 0
    assert list(victim.glob("base_*.avhdx"))  # beside its parent, as the user allowed
    assert main(["set-host", "--disallow-outside-folder", str(victim), "--host", str(lab)]) == 0
    assert host.allowed_outside_folders() == []
    assert main(["checkpoint-vm", "web01", "--host", str(lab)]) == 1


def test_the_allow_setting_is_not_the_lab_folders_to_give(tmp_path: Path, victim: Path) -> None:
    """A lab that ships its own list of allowed folders gets nothing from it: the list lives in
    the user's settings, keyed by the host's real path."""
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01")
    _set_disk(host, "web01", str(victim / "base.vhdx"))
    (lab / ".hvgui" / "allowed-outside.json").write_text(json.dumps({str(lab): [str(victim)]}))
    copy = tmp_path / "copy"
    host.allow_outside_folders([victim])
    shutil.copytree(lab, copy, symlinks=True)
    assert Host.open(copy).allowed_outside_folders() == []
    with pytest.raises(HvError, match="outside the host folder"):
        Host.open(copy).checkpoint_vm("web01")


@pytest.mark.parametrize("lesson", ["pass-through-not-reverted", "modified-parent"])
def test_a_lesson_run_on_a_lab_from_elsewhere_changes_only_that_lab(
    tmp_path: Path, victim: Path, lesson: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hvctl demo run NAME --host LAB` edits a disk on purpose (to show what breaks): on a
    demo-shaped lab whose disks lead out, that edit is refused."""
    lab = tmp_path / "lab"
    assert main(["new-demo-host", str(lab)]) == 0
    host = Host.open(lab)
    if lesson == "pass-through-not-reverted":
        passed = next(d for d in host.get_vm("SAN-Server").hard_drives if d.pass_through)
        passed.path.unlink()
        os.symlink(victim / "thesis.txt", passed.path)
    else:  # Web01's frozen parent, a link to someone's disk
        parent = host.get_snapshot("Web01", "Logs rotated").hard_drives[0].path
        shutil.copyfile(parent, victim / "parent.avhdx")
        parent.chmod(0o644)
        parent.unlink()
        os.symlink(victim / "parent.avhdx", parent)
    capsys.readouterr()
    before = listing(victim)
    code = main(["demo", "run", lesson, "--host", str(lab)])
    assert listing(victim) == before
    assert code == 1
    assert "outside the host folder" in capsys.readouterr().err


def test_a_parent_locator_leading_out_is_never_moved_or_merged_into(
    tmp_path: Path, victim: Path
) -> None:
    """The VM's disk is the lab's own, but its parent (found through the AVHDX's parent
    locator) is someone else's disk: a storage move would take that parent along."""
    lab = tmp_path / "lab"
    host = Host.open(lab)
    make_vm(host, "web01", disk=None)
    child = lab / "Virtual Hard Disks" / "web01.avhdx"
    create_differencing(child, victim / "base.vhdx")
    host.add_hard_drive("web01", child)
    host.checkpoint_vm("web01", snapshot_name="one")  # freezes the lab's own child only
    before = listing(victim)
    refused = [
        attempt(lambda: host.move_storage("web01", lab / "moved")),
        attempt(lambda: host.export_snapshot("web01", "one", tmp_path / "to-share")),
    ]
    host.remove_snapshot("web01", "one")  # merges within the lab: allowed
    assert listing(victim) == before
    assert all("outside the host folder" in line for line in refused), refused
