"""A copied lab is a copy: `cp -a lab lab2` gives two labs that never touch each other's files,
and hosts written before paths were stored relative still open and work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hvgui.cli.main import main
from hvgui.errors import HvError
from hvgui.host import Host, journal
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.vhdx import open_disk
from tests.host.hosthelpers import copy_lab, listing, make_vm, write_now

G = "6B29FC40-CA47-1067-B31D-00DD010662DA"


def work_in(root: Path) -> None:
    """A student's session: every kind of operation, on every demo VM."""
    host = Host.open(root)
    write_now(host, "Web01", 0, b"written in " + str(root).encode())
    host.checkpoint_vm("Web01", snapshot_name="mine")
    host.restore_snapshot("Web01", "Site update")
    host.remove_snapshot("Web01", "Baseline")  # a merge
    host.rename_snapshot("Web01", "Logs rotated", "renamed")
    host.checkpoint_vm("Archive01", snapshot_name="month")  # its own checkpoint store
    host.remove_snapshot("Archive01", "month")
    host.start_vm("SAN-Server")
    host.stop_vm("SAN-Server", turn_off=True)
    host.move_storage("Lab-Client", root / "Moved")
    host.rename_vm("Lab-Client", "Lab-Client-moved")


def chains_stay_home(root: Path) -> None:
    host = Host.open(root)
    for vm in host.list_vms():
        for drive in vm.hard_drives:
            if drive.pass_through:
                continue
            with open_disk(drive.path) as disk:  # each parent found through relative_path
                assert all(root in Path(p).parents for p in disk.chain), disk.chain


def test_a_copied_lab_is_a_copy(tmp_path: Path) -> None:
    original = tmp_path / "lab"
    assert main(["new-demo-host", str(original)]) == 0
    copy = tmp_path / "lab-copy"
    copy_lab(original, copy)  # what `cp -a lab lab-copy` does
    untouched = listing(original)
    work_in(copy)
    assert listing(original) == untouched  # bytes, modes, mtimes, names
    chains_stay_home(copy)
    copied = listing(copy)
    work_in(original)
    assert listing(copy) == copied
    chains_stay_home(original)
    assert Host.open(copy).check() == [] and Host.open(original).check() == []


def _spell_out_paths(root: Path) -> int:
    """Rewrite every configuration the way hosts were written before: absolute paths."""
    count = 0
    for xml in root.rglob("*.xml"):
        doc = ConfigDoc.load(xml)
        data = doc.to_bytes()  # without a host folder: every path spelled out in full
        assert str(root).encode("utf-16-le") in data
        xml.write_bytes(data)
        count += 1
    for pointer in (root / "Virtual Machines").glob("*.location"):
        pointer.write_text(str((pointer.parent / pointer.read_text()).resolve()))
    return count


def test_a_host_with_absolute_paths_still_opens_and_works(tmp_path: Path) -> None:
    root = tmp_path / "old-lab"
    assert main(["new-demo-host", str(root)]) == 0
    assert _spell_out_paths(root) > 10
    host = Host.open(root)
    assert host.check() == []
    work_in(root)
    assert host.check() == []
    web01 = host.get_vm("Web01").config_path.read_bytes()
    assert str(root).encode("utf-16-le") not in web01  # written back in the Windows form
    windows = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Virtual Hard Disks\\"
    assert windows.encode("utf-16-le") in web01


def test_a_lab_copied_mid_operation_finishes_it_on_its_own_files(tmp_path: Path) -> None:
    """Copied while an operation was interrupted: the copy rolls back (or completes) that
    operation on its own files; the original keeps its journal for its own next open."""
    original = tmp_path / "lab"
    host = Host.open(original)
    make_vm(host, "web01")
    make_vm(host, "db01")
    # web01: a checkpoint that died before its commit point (a half-made AVHDX)
    web01 = host.get_vm("web01")
    undone = journal.Transaction(host.layout.journal_dir, "Checkpoint", web01.id, host.boundary)
    orphan = web01.hard_drives[0].path.with_name(f"web01_{G}.avhdx")
    undone.created(orphan)
    orphan.write_bytes(b"half-made")
    # db01: a rename that died after its commit point (the staged configuration not yet in place)
    db01 = host.get_vm("db01")
    doc = ConfigDoc.load(db01.config_path)
    doc.set("properties/name", "string", "db01-renamed")
    done = journal.Transaction(host.layout.journal_dir, "Rename", db01.id, host.boundary)
    done.record["actions"] = [done.stage(doc.path, doc.to_bytes(host.root))]
    done.record["committed"] = True
    done._save()
    copy = tmp_path / "lab-copy"
    copy_lab(original, copy)
    untouched = listing(original)
    copied = Host.open(copy)
    assert listing(original) == untouched
    assert sorted(copied.recovered) == [
        "Checkpoint: rolled back after an interruption",
        f"Rename: {journal.COMPLETED}",
    ]
    assert not (copy / orphan.relative_to(original)).exists()
    assert [vm.name for vm in copied.list_vms()] == ["db01-renamed", "web01"]
    assert copied.check() == []
    reopened = Host.open(original)  # and the original finishes its own
    assert len(reopened.recovered) == 2 and not orphan.exists()
    assert [vm.name for vm in reopened.list_vms()] == ["db01-renamed", "web01"]


def test_a_hard_linked_copy_cannot_change_the_original_through_shared_files(
    tmp_path: Path,
) -> None:
    """`cp -al lab lab2` shares every file: what would be changed in place (a disk frozen,
    merged into or written by the guest, guest memory) is refused in either lab."""
    original = tmp_path / "lab"
    host = Host.open(original)
    make_vm(host, "web01", running=True)
    host.checkpoint_vm("web01", snapshot_name="one")
    copy = tmp_path / "lab-linked"
    shutil.copytree(original, copy, symlinks=True, copy_function=os.link)
    untouched = listing(original)
    linked = Host.open(copy)
    refused = []
    for call in (
        lambda: linked.checkpoint_vm("web01", snapshot_name="two"),
        lambda: linked.remove_snapshot("web01", "one"),
        lambda: write_now(linked, "web01", 0, b"through the link"),
        lambda: linked.write_memory("web01", 0, b"through the link"),
    ):
        try:
            call()
        except HvError as exc:
            refused.append(str(exc))
    assert listing(original) == untouched
    assert len(refused) == 4 and all("hard links" in line for line in refused), refused
