"""Hyper-V's rule for the disks a checkpoint delete leaves unreferenced: the one planner behind
the lab host's deletes (host/checkpoints.py) and the delete preview of any backend.

A frozen disk nothing references any more ("pending") is
- merged with its single child: the child's blocks are folded into it, it keeps its own file
  and takes the child's place (whatever referenced the child now references it),
- deleted when no disk depends on it,
- kept (merge pending) while several children depend on it, until only one is left.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Disk = TypeVar("Disk", bound=Hashable)


def subtree(parents: Mapping[str, str | None], root: str, include_children: bool) -> list[str]:
    """The checkpoints a delete removes, by Id: `root`, and with `include_children` every one
    below it (`parents`: each checkpoint's parent checkpoint)."""
    doomed = [root]
    frontier = [root] if include_children else []
    while frontier:
        parent = frontier.pop()
        kids = [i for i, p in parents.items() if p == parent]
        doomed += kids
        frontier += kids
    return doomed


@dataclass
class MergePlan(Generic[Disk]):
    """What resolving the pending disks does, in the order it must happen."""

    merged: list[tuple[Disk, Disk]] = field(default_factory=list)  # (child, folded into)
    deleted: list[Disk] = field(default_factory=list)
    targets: list[Disk] = field(default_factory=list)  # disks that received a merge, once each


def plan_merges(parents: dict[Disk, Disk | None], pending: list[Disk]) -> MergePlan[Disk]:
    """Plan the merges and deletes of `pending` disks given each disk's parent (None: a base
    disk). Edits both in place: afterwards `parents` is the disk tree after the delete and
    `pending` the disks still kept because several children depend on them."""
    plan: MergePlan[Disk] = MergePlan()
    changed = True
    while changed:
        changed = False
        for disk in list(pending):
            if disk not in pending:  # merged away earlier in this pass
                continue
            kids = [d for d, p in parents.items() if p == disk]
            if not kids:
                plan.deleted.append(disk)
                pending.remove(disk)
                parents.pop(disk, None)
                changed = True
            elif len(kids) == 1:
                child = kids[0]
                plan.merged.append((child, disk))
                for d, p in list(parents.items()):
                    if p == child:
                        parents[d] = disk
                parents.pop(child, None)
                if child in pending:
                    pending.remove(child)  # the merged disk inherits its children: still pending
                else:
                    pending.remove(disk)
                if disk not in plan.targets:
                    plan.targets.append(disk)
                changed = True
    return plan
