"""The host folder is a trust boundary: a lab folder from a stranger can touch nothing outside it.

Every test here is one attack a crafted lab folder made work before the boundary existed. Each
builds an outside "victim" folder, plants the attack in the lab, opens and uses the lab the way
a student would, and asserts the victim is exactly as it was (names, bytes, modes, mtimes).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.errors import HvError
from hvgui.host import Host
from hvgui.host.boundary import Boundary
from hvgui.host.journal import journal_problem
from hvgui.vhdx import create_differencing, create_dynamic
from tests.host.hosthelpers import make_vm, write_disk

G = "6B29FC40-CA47-1067-B31D-00DD010662DA"
G2 = "7C29FC40-CA47-1067-B31D-00DD010662DB"

Listing = dict[str, tuple[bytes, int, int]]


def listing(folder: Path) -> Listing:
    """Every entry below `folder`: content (files), mode and mtime: what an attack would change."""
    out: Listing = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(folder))] = (data, st.st_mode, st.st_mtime_ns)
    return out


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
    with pytest.raises(OSError):
        host.checkpoint_vm("web01")
    assert listing(victim) == before
