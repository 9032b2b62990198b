"""Thin Qt adapters over the host's immutable snapshots: the VM table and the checkpoint tree.

Both expose the domain object through `ObjectRole`. Refreshes are minimal: when the rows (or the
tree's shape) are unchanged only `dataChanged` is emitted, so views keep selection and scroll.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from hvgui.backend import SOUND, VM, Health, Snapshot
from hvgui.backend.states import VMState
from hvgui.ui import formatting
from hvgui.ui.icons import icon, vm_state_icon

Index = QModelIndex | QPersistentModelIndex


class Role(enum.IntEnum):
    ObjectRole = Qt.ItemDataRole.UserRole + 1   # the VM / Snapshot / NowItem itself
    IdRole = Qt.ItemDataRole.UserRole + 2       # a stable key: VM id, snapshot id or "now:<vm id>"


ObjectRole = Role.ObjectRole
IdRole = Role.IdRole

VM_COLUMNS = ("Name", "State", "CPU Usage", "Assigned Memory", "Uptime", "Status")
_STATES_WITH_USAGE = frozenset(VMState) - {VMState.OFF, VMState.SAVED}


class VmTableModel(QAbstractTableModel):
    """The Virtual Machines list. `live_status` overrides Status while this window runs an op.

    Signals: rename_requested(str vm_id, str name): the user typed a new name in place.
    """

    rename_requested = Signal(str, str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._vms: list[VM] = []
        self._live: dict[str, str] = {}
        self._health: dict[str, Health] = {}  # vm id -> its disk chain's verdict
        self._read_at = time.monotonic()  # when the VMs shown were read
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    # ---- updates (GUI thread) ----
    def set_vms(self, vms: Sequence[VM]) -> None:
        self._read_at = time.monotonic()
        new = self._sorted(vms)
        if {vm.id for vm in new} == {vm.id for vm in self._vms} and len(new) == len(self._vms):
            if [vm.id for vm in new] != [vm.id for vm in self._vms]:
                self._relayout(new)  # same VMs, new order (sorted by a changing column)
            old, self._vms = self._vms, new
            last = len(VM_COLUMNS) - 1
            for row, (a, b) in enumerate(zip(old, new, strict=True)):
                if a != b:
                    # The Name cell (text, state icon) only when it changed: a dataChanged also
                    # rewrites an open in-place editor, and CPU and uptime change every second.
                    first = 0 if (a.name, a.state) != (b.name, b.state) else 1
                    self.dataChanged.emit(self.index(row, first), self.index(row, last))
            return
        self.beginResetModel()
        self._vms = new
        self.endResetModel()

    def _sort_key(self, vm: VM) -> tuple[Any, ...]:
        column = self._sort_column
        name = (vm.name.casefold(), vm.id)
        if column == 1:
            return (vm.state, *name)
        if column == 2:
            return (vm.cpu_usage, *name)
        if column == 3:
            return (vm.memory_assigned, *name)
        if column == 4:
            return (vm.uptime, *name)
        if column == 5:
            return (self._live.get(vm.id) or vm.status, *name)
        return name

    def _sorted(self, vms: Sequence[VM]) -> list[VM]:
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        return sorted(vms, key=self._sort_key, reverse=descending)

    def _relayout(self, new: list[VM]) -> None:
        """Reorder rows keeping persistent indexes (selection, current row) on their VMs."""
        self.layoutAboutToBeChanged.emit()
        old_ids = [vm.id for vm in self._vms]
        rows = {vm.id: row for row, vm in enumerate(new)}
        persistent = self.persistentIndexList()
        moved = [
            self.createIndex(rows[old_ids[p.row()]], p.column()) if p.isValid() else QModelIndex()
            for p in persistent
        ]
        self._vms = list(new)
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Clicking a column header (QTableView with sorting enabled) sorts by it."""
        self._sort_column, self._sort_order = column, order
        new = self._sorted(self._vms)
        if [vm.id for vm in new] != [vm.id for vm in self._vms]:
            self._relayout(new)

    def tick(self) -> None:
        """Repaint the Uptime of running VMs (a timer calls this every second)."""
        rows = [r for r, vm in enumerate(self._vms) if vm.state in _STATES_WITH_USAGE]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 4), self.index(max(rows), 4),
                                  [Qt.ItemDataRole.DisplayRole])

    def set_live_status(self, vm_id: str, text: str | None) -> None:
        was_busy = vm_id in self._live
        if text is None:
            if self._live.pop(vm_id, None) is None:
                return
        else:
            if self._live.get(vm_id) == text:
                return
            self._live[vm_id] = text
        row = self.row_of(vm_id)
        if row is not None:
            # An operation's start and end change the row (its icon); each percentage only
            # the Status cell, the one cell to repaint at every step of a long operation.
            first = 0 if was_busy != (text is not None) else len(VM_COLUMNS) - 1
            self.dataChanged.emit(self.index(row, first), self.index(row, len(VM_COLUMNS) - 1))

    def set_health(self, health: dict[str, Health]) -> None:
        """The chains' verdicts (read in the background): shown in Status when idle."""
        changed = {i for i in set(health) | set(self._health)
                   if health.get(i, SOUND) != self._health.get(i, SOUND)}
        self._health = dict(health)
        for vm_id in changed:
            row = self.row_of(vm_id)
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(VM_COLUMNS) - 1))

    def health(self, vm_id: str) -> Health:
        return self._health.get(vm_id, SOUND)

    def live_status(self, vm_id: str) -> str | None:
        return self._live.get(vm_id)

    def shows_outside_status(self) -> bool:
        """True while a row's Status comes from another process's operation (or from a read
        made while one of ours ran): re-read until it clears, since a process that dies
        without clearing its status file changes no revision."""
        return any(vm.status and vm.id not in self._live for vm in self._vms)

    # ---- lookups ----
    def vms(self) -> list[VM]:
        return list(self._vms)

    def row_of(self, vm_id: str) -> int | None:
        for row, vm in enumerate(self._vms):
            if vm.id == vm_id:
                return row
        return None

    def vm_at(self, row: int) -> VM | None:
        return self._vms[row] if 0 <= row < len(self._vms) else None

    # ---- QAbstractItemModel ----
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._vms)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(VM_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(VM_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return VM_COLUMNS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            return base | Qt.ItemFlag.ItemIsEditable  # renamed in place (F2)
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """An inline rename is a request: the host renames, the next refresh shows it."""
        vm = self.vm_at(index.row()) if index.isValid() else None
        if vm is None or index.column() != 0 or role != Qt.ItemDataRole.EditRole:
            return False
        if str(value) != vm.name:
            self.rename_requested.emit(vm.id, str(value))
        return False

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._vms):
            return None
        vm = self._vms[index.row()]
        column = index.column()
        live = self._live.get(vm.id)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(vm, column, live)
        if role == Qt.ItemDataRole.EditRole and column == 0:
            return vm.name
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return vm_state_icon(vm.state, busy=bool(live))
        if role == Qt.ItemDataRole.ToolTipRole:
            status = live or vm.status
            lines = [f"{vm.name}: {vm.state}"]
            if status:
                lines.append(status)
            if not self.health(vm.id).sound:
                lines.append(self.health(vm.id).text)
            if vm.parent_snapshot_name:
                lines.append(f"Running from checkpoint \"{vm.parent_snapshot_name}\"")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ForegroundRole and column == 5 and live:
            return QColor("#1a5276")
        if role == Qt.ItemDataRole.ForegroundRole and column == 5 and not vm.status and (
                self.health(vm.id).broken):
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{vm.name}, {vm.state}" + (f", {live}" if live else "")
        if role == ObjectRole:
            return vm
        if role == IdRole:
            return vm.id
        return None

    def _display(self, vm: VM, column: int, live: str | None) -> str:
        active = vm.state in _STATES_WITH_USAGE
        if column == 0:
            return vm.name
        if column == 1:
            return vm.state
        if column == 2:
            return f"{vm.cpu_usage} %" if active else ""
        if column == 3:
            return formatting.memory_mb(vm.memory_assigned) if active and vm.memory_assigned else ""
        if column == 4:
            # The host is re-read only when it changes; the clock keeps counting in between.
            since_read = timedelta(seconds=time.monotonic() - self._read_at)
            return formatting.uptime(vm.uptime + since_read) if active else ""
        if column == 5:
            return live or vm.status or self.health(vm.id).short
        return ""


@dataclass(frozen=True)
class NowItem:
    """The tree's last item: the VM's running state, under the checkpoint it runs from."""

    vm: VM


@dataclass(eq=False)
class _Node:
    key: int
    obj: Snapshot | NowItem | None
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    row: int = 0

    @property
    def ident(self) -> str:
        if isinstance(self.obj, Snapshot):
            return self.obj.id
        if isinstance(self.obj, NowItem):
            return f"now:{self.obj.vm.id}"
        return ""


class CheckpointTreeModel(QAbstractItemModel):
    """The Checkpoints tree of one VM, ending in "Now" under the checkpoint the VM runs from.

    Signals: rename_requested(str snapshot_id, str name): the user typed a new name in place.
    """

    rename_requested = Signal(str, str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._root = _Node(0, None, None)
        self._nodes: dict[int, _Node] = {0: self._root}
        self._by_ident: dict[str, _Node] = {}
        self._shape: tuple[object, ...] = ()
        self.vm: VM | None = None
        self._health: dict[str, Health] = {}  # checkpoint id (and "now:<vm id>") -> verdict

    # ---- updates (GUI thread) ----
    def set_tree(self, vm: VM | None, snapshots: Sequence[Snapshot]) -> None:
        shape = self._shape_of(vm, snapshots)
        if shape == self._shape:
            # Same checkpoints in the same places: swap the objects and repaint only the rows
            # that changed (a dataChanged also rewrites an open in-place editor).
            self.vm = vm
            fresh: dict[str, Snapshot | NowItem] = {s.id: s for s in snapshots}
            if vm is not None:
                fresh[f"now:{vm.id}"] = NowItem(vm)
            for ident, node in self._by_ident.items():
                if node.obj != fresh[ident]:
                    node.obj = fresh[ident]
                    index = self._index_of(node)
                    self.dataChanged.emit(index, index)
            return
        self.beginResetModel()
        self._build(vm, snapshots)
        self._shape = shape
        self.endResetModel()

    def set_health(self, health: dict[str, Health]) -> None:
        """Chain verdicts by item id: an item whose disk chain is broken shows a warning."""
        changed = {i for i in set(health) | set(self._health)
                   if health.get(i, SOUND) != self._health.get(i, SOUND)}
        self._health = dict(health)
        for ident in changed:
            node = self._by_ident.get(ident)
            if node is not None:
                index = self._index_of(node)
                self.dataChanged.emit(index, index)

    def health(self, ident: str) -> Health:
        return self._health.get(ident, SOUND)

    @staticmethod
    def _shape_of(vm: VM | None, snapshots: Sequence[Snapshot]) -> tuple[object, ...]:
        if vm is None:
            return ()
        return (vm.id, vm.parent_snapshot_id, *((s.id, s.parent_snapshot_id) for s in snapshots))

    def _build(self, vm: VM | None, snapshots: Sequence[Snapshot]) -> None:
        self.vm = vm
        self._root = _Node(0, None, None)
        self._nodes = {0: self._root}
        self._by_ident = {}
        if vm is None or not snapshots:
            return  # as in Hyper-V Manager: no checkpoints, no tree (and no Now)
        by_id: dict[str, _Node] = {}
        for snap in snapshots:  # tree order: parents first
            parent = by_id.get(snap.parent_snapshot_id or "", self._root)
            by_id[snap.id] = self._add(snap, parent)
        now_parent = by_id.get(vm.parent_snapshot_id or "", self._root)
        self._add(NowItem(vm), now_parent)

    def _add(self, obj: Snapshot | NowItem, parent: _Node) -> _Node:
        node = _Node(len(self._nodes), obj, parent, row=len(parent.children))
        parent.children.append(node)
        self._nodes[node.key] = node
        self._by_ident[node.ident] = node
        return node

    # ---- lookups ----
    def index_of_ident(self, ident: str) -> QModelIndex:
        node = self._by_ident.get(ident)
        return self._index_of(node) if node is not None else QModelIndex()

    def now_index(self) -> QModelIndex:
        return self.index_of_ident(f"now:{self.vm.id}") if self.vm else QModelIndex()

    def snapshots(self) -> list[Snapshot]:
        return [n.obj for n in self._nodes.values() if isinstance(n.obj, Snapshot)]

    def _index_of(self, node: _Node) -> QModelIndex:
        if node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node.key)

    def _node(self, index: Index) -> _Node:
        if not index.isValid():
            return self._root
        return self._nodes[index.internalId()]

    # ---- QAbstractItemModel ----
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column != 0 or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        node = self._node(parent)
        if row >= len(node.children):
            return QModelIndex()
        return self.createIndex(row, 0, node.children[row].key)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        node = self._nodes.get(index.internalId())
        if node is None or node.parent is None:
            return QModelIndex()
        return self._index_of(node.parent)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        node = self._nodes.get(index.internalId())
        if node is not None and isinstance(node.obj, Snapshot):
            return base | Qt.ItemFlag.ItemIsEditable  # renamed in place (F2)
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """An inline rename is a request: the host renames, the next refresh shows it."""
        node = self._nodes.get(index.internalId()) if index.isValid() else None
        if node is None or not isinstance(node.obj, Snapshot) or role != Qt.ItemDataRole.EditRole:
            return False
        if str(value) != node.obj.name:
            self.rename_requested.emit(node.obj.id, str(value))
        return False

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if section == 0 and horizontal and role == Qt.ItemDataRole.DisplayRole:
            return "Checkpoints"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._nodes.get(index.internalId())
        if node is None:
            return None
        obj = node.obj
        if role == ObjectRole:
            return obj
        if role == IdRole:
            return node.ident
        if isinstance(obj, NowItem):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                return "Now"
            health = self.health(node.ident)
            if role == Qt.ItemDataRole.DecorationRole:
                return icon("checkpoint-warning" if not health.sound else "now")
            if role == Qt.ItemDataRole.ToolTipRole:
                where = obj.vm.parent_snapshot_name
                return f"The current state of {obj.vm.name}" + (
                    f", running from \"{where}\"" if where else ""
                ) + (f"\n{health.text}" if not health.sound else "")
            return None
        if isinstance(obj, Snapshot):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
                return obj.name
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return f"Checkpoint {obj.name}"
            health = self.health(obj.id)
            if role == Qt.ItemDataRole.DecorationRole:
                if not health.sound:
                    return icon("checkpoint-warning")
                return icon("checkpoint-running" if obj.bin_path else "checkpoint")
            if role == Qt.ItemDataRole.ToolTipRole:
                memory = "with memory" if obj.bin_path else "disk only"
                return (
                    f"{obj.name}\n{obj.snapshot_type} checkpoint ({memory}), "
                    f"taken {formatting.hyperv_time(obj.creation_time)} while {obj.state}"
                ) + (f"\n{health.text}" if not health.sound else "")
        return None
