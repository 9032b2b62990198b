"""The item models: QAbstractItemModelTester, what they show, and minimal refreshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from hvgui.host import Host
from hvgui.ui.models import CheckpointTreeModel, IdRole, NowItem, ObjectRole, VmTableModel


def _models(host: Host) -> tuple[VmTableModel, CheckpointTreeModel]:
    vms = VmTableModel()
    vms.set_vms(host.list_vms())
    tree = CheckpointTreeModel()
    alpha = host.get_vm("Alpha")
    tree.set_tree(alpha, host.list_snapshots("Alpha"))
    return vms, tree


def test_vm_model_passes_the_model_tester(qtmodeltester: Any, host_dir: Path) -> None:
    vms, _ = _models(Host.open(host_dir))
    qtmodeltester.check(vms)
    vms.set_live_status(vms.vms()[0].id, "Creating Checkpoint (10%)")
    qtmodeltester.check(vms)
    # A re-sort (layout change), a VM gone and a VM back (resets), a changed row (dataChanged).
    everything = vms.vms()
    vms.sort(1, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(vms)
    vms.set_vms(everything[:1])
    qtmodeltester.check(vms)
    vms.set_vms(everything)
    Host.open(host_dir).set_vm("Beta", notes="changed")
    vms.set_vms(Host.open(host_dir).list_vms())
    qtmodeltester.check(vms)
    assert [vm.name for vm in vms.vms()] == ["Alpha", "Beta"]  # State descending: Running, Off


def test_checkpoint_model_passes_the_model_tester(qtmodeltester: Any, host_dir: Path) -> None:
    host = Host.open(host_dir)
    _, tree = _models(host)
    qtmodeltester.check(tree)
    host.checkpoint_vm("Alpha", snapshot_name="Second")
    host.restore_snapshot("Alpha", "Base")  # a branch: Base has Second and Now under it
    tree.set_tree(host.get_vm("Alpha"), host.list_snapshots("Alpha"))
    qtmodeltester.check(tree)
    tree.set_tree(None, [])
    qtmodeltester.check(tree)


def test_vm_model_shows_hyperv_columns(host_dir: Path) -> None:
    vms, _ = _models(Host.open(host_dir))
    headers = [vms.headerData(c, Qt.Orientation.Horizontal) for c in range(vms.columnCount())]
    assert headers == ["Name", "State", "CPU Usage", "Assigned Memory", "Uptime", "Status"]
    rows = {vms.index(r, 0).data(): r for r in range(vms.rowCount())}
    alpha, beta = rows["Alpha"], rows["Beta"]
    assert vms.index(alpha, 1).data() == "Running"
    assert vms.index(alpha, 3).data() == "256 MB"
    assert vms.index(beta, 1).data() == "Off"
    assert vms.index(beta, 3).data() == ""  # an Off VM has no assigned memory
    assert vms.index(alpha, 0).data(ObjectRole).name == "Alpha"
    assert not vms.index(alpha, 0).data(Qt.ItemDataRole.DecorationRole).isNull()
    vm_id = vms.index(alpha, 0).data(IdRole)
    vms.set_live_status(vm_id, "Merge in progress (42%)")
    assert vms.index(alpha, 5).data() == "Merge in progress (42%)"
    assert "Merge in progress (42%)" in vms.index(alpha, 0).data(Qt.ItemDataRole.ToolTipRole)
    vms.set_live_status(vm_id, None)
    assert "%" not in str(vms.index(alpha, 5).data())


def test_tree_ends_in_now_under_the_running_checkpoint(host_dir: Path) -> None:
    _, tree = _models(Host.open(host_dir))
    base = tree.index(0, 0)
    assert base.data() == "Base"
    now = tree.index(0, 0, base)
    assert now.data() == "Now"
    assert isinstance(now.data(ObjectRole), NowItem)
    assert tree.rowCount(now) == 0
    assert tree.parent(now) == base
    assert tree.parent(base) == QModelIndex()


def test_unchanged_refresh_does_not_reset(qtbot: Any, host_dir: Path) -> None:
    host = Host.open(host_dir)
    vms, tree = _models(host)
    resets: list[str] = []
    vms.modelReset.connect(lambda: resets.append("vms"))
    tree.modelReset.connect(lambda: resets.append("tree"))
    host.rename_snapshot("Alpha", "Base", "Renamed")
    with qtbot.waitSignal(tree.dataChanged):
        tree.set_tree(host.get_vm("Alpha"), host.list_snapshots("Alpha"))
    vms.set_vms(host.list_vms())
    assert resets == []  # a rename repaints; it does not rebuild
    assert tree.index(0, 0).data() == "Renamed"
    host.checkpoint_vm("Alpha", snapshot_name="Third")
    tree.set_tree(host.get_vm("Alpha"), host.list_snapshots("Alpha"))
    assert resets == ["tree"]


def test_sorting_by_a_column_keeps_the_selection(qtbot: Any, qtmodeltester: Any,
                                                 host_dir: Path) -> None:
    from PySide6.QtCore import QItemSelectionModel

    vms, _ = _models(Host.open(host_dir))
    qtmodeltester.check(vms)
    selection = QItemSelectionModel(vms)
    alpha = next(r for r in range(vms.rowCount()) if vms.index(r, 0).data() == "Alpha")
    selection.select(vms.index(alpha, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                     | QItemSelectionModel.SelectionFlag.Rows)
    vms.sort(0, Qt.SortOrder.DescendingOrder)
    assert [vms.index(r, 0).data() for r in range(vms.rowCount())] == ["Beta", "Alpha"]
    assert [i.data() for i in selection.selectedRows()] == ["Alpha"]
    vms.sort(1)  # by State: "Off" before "Running"
    assert [vms.index(r, 1).data() for r in range(vms.rowCount())] == ["Off", "Running"]
    assert [i.data() for i in selection.selectedRows()] == ["Alpha"]


def test_every_icon_the_window_names_exists() -> None:
    import re

    from hvgui.ui import icons

    names = set()
    for module in Path(icons.__file__).parent.glob("*.py"):
        names |= set(re.findall(r'icon\("([a-z-]+)"\)', module.read_text()))
        names |= set(re.findall(r'a\(self, "[^"]+", "\w+", "([a-z-]+)"', module.read_text()))
        names |= set(re.findall(r'_page\("[^"]+", "([a-z-]+)"\)', module.read_text()))
    names |= {"vm-running", "vm-off", "vm-saved", "vm-paused", "vm-busy", "vm-critical"}
    missing = sorted(n for n in names if not (icons.ICON_DIR / f"{n}.svg").is_file())
    assert len(names) > 20 and missing == []


def test_uptime_keeps_counting_between_reads(host_dir: Path) -> None:
    vms, _ = _models(Host.open(host_dir))
    row = next(r for r in range(vms.rowCount()) if vms.index(r, 0).data() == "Alpha")
    vm = vms.vm_at(row)
    assert vm is not None
    vms._read_at -= 3725  # as if read an hour, two minutes and five seconds ago
    hours, minutes, seconds = (int(p) for p in vms.index(row, 4).data().split(":"))
    shown = hours * 3600 + minutes * 60 + seconds
    assert 3725 <= shown - int(vm.uptime.total_seconds()) <= 3727
    off = next(r for r in range(vms.rowCount()) if vms.index(r, 0).data() == "Beta")
    assert vms.index(off, 4).data() == ""  # an Off VM has no uptime
