"""Server 2016+ VMCX/VMRS through the optional decoder (hvgui[vmcx]): the key tree in the same
text, tree and diff views as an XML configuration, from the real files of the corpus; hostile
files get one clear line."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from hvgui.inspect import (
    VMCX,
    VMRS,
    InspectError,
    configurations_near,
    identify,
    inspect_file,
    settings_diff,
    vmcx,
)
from hvgui.ui.inspector.window import InspectorWindow
from hvgui.ui.inspector.xml_view import XmlView

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ["HVGUI_SHOTS"]) if os.environ.get("HVGUI_SHOTS") else None
IDE = "_83f8638b-8dca-4152-9eda-2ca8b33039b4_"  # the emulated IDE controllers' device
DRIVE = f"{IDE}/controller0/drive0/pathname"
REAL_DISK = r"C:\Users\Public\Documents\Hyper-V\Virtual Hard Disks\Other Location.vhdx"

pytestmark = pytest.mark.usefixtures("vmcx_extra")


def renamed_disk(corpus_dir: Path, tmp_path: Path) -> Path:
    """The real VMCX with one value changed in place (its drive's file name), as a checkpoint's
    configuration differs from the VM's."""
    copy = tmp_path / "checkpoint.vmcx"
    shutil.copy(corpus_dir / "test.vmcx", copy)
    data = bytearray(copy.read_bytes())
    old = "Other Location.vhdx".encode("utf-16-le")
    at = data.index(old)
    data[at:at + len(old)] = "Other Lxcation.vhdx".encode("utf-16-le")
    copy.write_bytes(bytes(data))
    return copy


def test_a_real_vmcx_decodes_to_its_key_tree(corpus_dir: Path) -> None:
    path = corpus_dir / "test.vmcx"
    facts = inspect_file(path)
    assert (facts["kind"], facts["decoded"], facts["error"]) == (VMCX, True, None)
    assert facts["vmcx"]["version"] == 1024 and facts["vmcx"]["keys"] > 300
    drive = facts["vmcx_tree"][IDE]["controller0"]["drive0"]
    assert drive["type"] == "VHD" and drive["pathname"] == REAL_DISK
    root = vmcx.load(path)[0]
    assert root.tag == "configuration"
    assert root.find(f"{IDE}/controller0/drive0/pathname").get("type") == "string"
    assert root.find(f"{IDE}/VDEVVersion").get("type") == "integer"


def test_a_real_vmrs_shows_what_it_holds(corpus_dir: Path) -> None:
    facts = inspect_file(corpus_dir / "test.VMRS")
    assert (facts["kind"], facts["decoded"], facts["error"]) == (VMRS, True, None)
    tree = facts["vmcx_tree"]
    assert tree["properties"]["version"] == "2304"
    assert tree["global_settings"]["metrics"]["devicetype"]["guid"] == IDE.strip("_").upper()


def test_a_checkpoints_vmcx_diffs_against_the_vms(corpus_dir: Path, tmp_path: Path) -> None:
    vm, checkpoint = corpus_dir / "test.vmcx", renamed_disk(corpus_dir, tmp_path)
    assert settings_diff(vm, vm) == []
    (change,) = settings_diff(checkpoint, vm)
    assert change.path == DRIVE
    assert change.left is not None and change.left.endswith("Other Lxcation.vhdx")
    assert change.right == REAL_DISK


def test_the_inspector_shows_a_checkpoints_vmcx_as_a_configuration_diffed_with_the_vms(
    qtbot: QtBot, corpus_dir: Path, tmp_path: Path
) -> None:
    """A folder copied from a 2016+ host: the VM's VMCX in `Virtual Machines`, a checkpoint's
    in `Snapshots` (differing in its drive's path); the checkpoint's opens on its own."""
    machines, snapshots = tmp_path / "Virtual Machines", tmp_path / "Snapshots"
    machines.mkdir()
    vm = machines / "test.vmcx"
    shutil.copy(corpus_dir / "test.vmcx", vm)
    path = renamed_disk(corpus_dir, tmp_path)
    snapshots.mkdir()
    path = path.rename(snapshots / path.name)
    assert configurations_near(path) == [("test.vmcx (Virtual Machines)", vm)]
    window = InspectorWindow(path=path)
    qtbot.addWidget(window)
    window.resize(1100, 700)
    window.show()
    window.file_table.selectRow(0)
    qtbot.waitUntil(lambda: isinstance(window.view_of(path), XmlView), timeout=10000)
    view = window.view_of(path)
    assert isinstance(view, XmlView)
    qtbot.waitUntil(lambda: view.loaded and view.diff_done(), timeout=10000)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == [
        "Summary", "Text", "Tree", "Diff"]
    summary = view.summary_model  # summed up as a configuration, and the store's own facts
    rows = {summary.index(r, 0).data(): summary.index(r, 1).data()
            for r in range(summary.rowCount())}
    assert rows["name"] == "Other Location" and rows["kind"] == "checkpoint configuration"
    assert "key_store" in rows
    window.grab().save(str((SHOTS or tmp_path) / "vmcx-summary.png"))
    assert "<configuration>" in view.text.toPlainText()
    assert "Other Lxcation.vhdx" in view.text.toPlainText()
    assert view.tree_model is not None
    root = view.tree_model.index(0, 0)
    assert root.data() == "configuration"
    names = {view.tree_model.index(r, 0, root).data()
             for r in range(view.tree_model.rowCount(root))}
    assert IDE in names
    assert view.diff_model.rowCount() == 1  # against the VM's configuration
    assert view.diff_model.index(0, 0).data() == DRIVE
    assert view.diff_model.index(0, 2).data() == REAL_DISK
    assert view.diff_status.text() == "1 setting differs from test.vmcx (Virtual Machines)."
    view.tabs.setCurrentIndex(2)
    view.tree.expandAll()
    window.grab().save(str(tmp_path / "vmcx-tree.png"))
    view.tabs.setCurrentIndex(3)
    window.grab().save(str(tmp_path / "vmcx-diff.png"))
    window.close()


def test_hvctl_inspect_prints_the_key_tree(corpus_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect", str(corpus_dir / "test.vmcx")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Hyper-V key-value store (VMCX/VMRS)" in result.stdout
    assert REAL_DISK in result.stdout


def test_hostile_key_stores_get_one_clear_line(corpus_dir: Path, tmp_path: Path) -> None:
    """Truncated, zeroed and randomly damaged copies of the real files: each decodes or says
    what is wrong, in words (never a traceback, a hang or an exception from the decoder)."""
    real = (corpus_dir / "test.vmcx").read_bytes()
    cases = {"truncated.vmcx": real[:4096], "half.vmcx": real[: len(real) // 2],
             "header-only.vmcx": real[:64], "zeroed.vmcx": real[:8] + bytes(len(real) - 8)}
    rng = random.Random(10)
    for n in range(60):
        damaged = bytearray(rng.choice([real, (corpus_dir / "test.VMRS").read_bytes()]))
        for _ in range(rng.randint(1, 40)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cases[f"damaged{n}.vmcx"] = bytes(damaged)
    errors = 0
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert identify(path) == VMCX
        facts = inspect_file(path)  # never raises
        if facts["error"] is not None:
            errors += 1
            assert "\n" not in facts["error"] and facts["decoded"] is False
            with pytest.raises(InspectError):
                vmcx.load(path)
        else:
            assert facts["decoded"] is True
    assert errors >= 4  # the truncated and zeroed ones at least
    code = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect", str(tmp_path / "truncated.vmcx")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert code.returncode == 1 and "Traceback" not in code.stderr + code.stdout
    assert "Problem: not a readable VMCX/VMRS key store" in code.stdout
    # In words: the truncated copies are said to be cut short, never a bare "EOFError: ".
    for name in ("truncated.vmcx", "half.vmcx"):
        error = inspect_file(tmp_path / name)["error"]
        assert error.endswith("(the file is cut short)") and "EOFError" not in error, error


def test_a_2016_configuration_is_summed_up_with_its_derived_parent(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """A VMCX of a VM or a checkpoint is summed up as an XML configuration is: name, id,
    drives, and the parent checkpoint its disks say (no 2016+ file names one)."""
    from hvgui.inspect.decode import DERIVED
    from tests.host.vmcxfiles import CHECKPOINTS, VM_ID, vmcx_folder_with_checkpoints

    folder = vmcx_folder_with_checkpoints(corpus_dir, tmp_path / "WithCheckpoints")
    (before, _, _), (after, _, _) = CHECKPOINTS
    facts = inspect_file(folder / "Snapshots" / f"{after}.vmcx")
    assert (facts["error"], facts["xml"]["kind"], facts["xml"]["name"]) == (
        None, "checkpoint configuration", "After")
    assert facts["xml"]["checkpoint"]["vm_id"] == VM_ID
    assert facts["xml"]["checkpoint"]["parent_checkpoint_id"] == before
    assert facts["xml"]["checkpoint"]["parent_from"] == DERIVED
    assert facts["vmcx"]["keys"] > 400  # and the key store's own facts
    vm = inspect_file(folder / "Virtual Machines" / f"{VM_ID}.vmcx")["xml"]
    assert (vm["kind"], vm["parent_checkpoint_id"], vm["checkpoints"]) == (
        "VM configuration", after, [before, after])
