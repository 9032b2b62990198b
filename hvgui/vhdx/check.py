"""Test-VHD: every structural problem of a disk and of its whole parent chain, as findings.

Each file is surveyed (info.survey), then the links between files are checked: the parent can
be found, it is the same disk the child was made from (DataWriteGuid = parent_linkage), sizes
agree, the chain has no loop, a parent with children is read-only. Finally the engine itself
opens the chain, so that anything it refuses is reported even if the survey missed it.
Nothing here raises for a malformed file: every problem becomes a Finding.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hvgui.errors import Finding
from hvgui.vhdx.info import Survey, linkage_matches, locator_candidates, resolve_parent, survey
from hvgui.vhdx.locator import looked_for

MAX_CHAIN_DEPTH = 256
MAX_SCANNED_FILES = 10_000
DISK_SUFFIXES = (".vhdx", ".avhdx")


def test_vhd(path: str | os.PathLike[str]) -> list[Finding]:
    """Test-VHD over the whole chain from `path` to its base; [] means the chain is sound."""
    from hvgui.vhdx.sniff import is_vhd

    if is_vhd(path):
        from hvgui.vhdx.vhd_info import legacy_findings

        return legacy_findings(Path(path))
    findings: list[Finding] = []
    current = Path(path)
    seen: list[Path] = []
    s = survey(current)
    while True:
        findings += [Finding(p.severity, current, p.message, p.code) for p in s.problems]
        seen.append(current.resolve())
        if not s.has_parent or s.locator is None:
            break
        parent = resolve_parent(current, s.locator)
        if parent is None:
            looked = looked_for(current, s.locator)
            findings.append(Finding(
                "error", current,
                f"its parent disk is missing: looked for {looked or 'nothing (no path)'}",
                "parent-missing"))
            break
        if parent.resolve() in seen:
            findings.append(Finding(
                "error", current,
                f"the chain loops: its parent {parent} is already one of its descendants",
                "chain-loop"))
            break
        if len(seen) >= MAX_CHAIN_DEPTH:
            findings.append(Finding(
                "error", current, f"the chain is more than {MAX_CHAIN_DEPTH} disks deep",
                "chain-too-deep"))
            break
        if is_vhd(parent):
            findings.append(Finding(
                "error", current,
                f"its parent {parent} is a VHD: Hyper-V does not mix VHD and VHDX in one chain",
                "chain-mixes-formats"))
            break
        parent_survey = survey(parent)
        findings += _link_findings(current, s, parent, parent_survey)
        current, s = parent, parent_survey  # each file of the chain decoded once
    findings += _children_findings(Path(path))
    if not any(f.severity == "error" for f in findings):
        findings += _engine_findings(Path(path))
    return findings


def _children_findings(path: Path) -> list[Finding]:
    """What the disks beside `path` that were made from it say about it: it should be
    read-only, and each of them should still match it."""
    children = _children_beside(path)
    if not children:
        return []
    out: list[Finding] = []
    names = ", ".join(c.name for c, _ in children)
    if _writable(path):
        out.append(Finding(
            "warning", path,
            f"it is the parent of {names} but is not read-only: writing to it would break "
            "their chains (Hyper-V marks parent disks read-only)",
            "parent-writable"))
    for child, linked in children:
        if not linked:
            out.append(Finding(
                "warning", path,
                f"{child.name} was made from this disk, but this disk was modified since: "
                f"the chain of {child.name} is broken",
                "child-broken"))
    return out


def _children_beside(path: Path) -> list[tuple[Path, bool]]:
    """Differencing disks in the same folder whose parent locator leads to `path`, each with
    whether its linkage still matches."""
    from hvgui.vhdx.errors import VhdxError
    from hvgui.vhdx.image import VhdxImage

    parent = survey_header(path)
    if parent is None:
        return []
    found: list[tuple[Path, bool]] = []
    try:
        entries = sorted(path.parent.iterdir())[:MAX_SCANNED_FILES]
    except OSError:
        return []
    for entry in entries:
        if entry.suffix.lower() not in DISK_SUFFIXES or _same_file(entry, path):
            continue
        try:
            with VhdxImage.open(entry, load_bat=False) as image:
                if not image.has_parent:
                    continue
                locator = image.parent_locator
        except (VhdxError, OSError, ValueError):
            continue
        resolved = resolve_parent(entry, locator)
        if resolved is not None and _same_file(resolved, path):
            found.append((entry, bool(linkage_matches(locator, parent))))
    return found


def survey_header(path: Path) -> Survey | None:
    s = survey(path, bat=False)
    return s if s.header is not None else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _link_findings(child: Path, cs: Survey, parent: Path, ps: Survey) -> list[Finding]:
    out: list[Finding] = []
    assert cs.locator is not None
    relative = cs.locator.get("relative_path")
    candidates = locator_candidates(child, cs.locator)
    if relative and candidates and candidates[0] != parent:
        out.append(Finding(
            "info", child,
            f"its parent was found at {parent}, not where relative_path {relative!r} points",
            "locator-stale"))
    if linkage_matches(cs.locator, ps) and not linkage_matches(
            {"parent_linkage": cs.locator.get("parent_linkage", "")}, ps):
        out.append(Finding(
            "info", child,
            "it is bound to its parent through parent_linkage2 only, the sign of an "
            "interrupted merge into the parent (the chain still reads correctly; merging this "
            "disk again completes it)",
            "merge-interrupted"))
    if linkage_matches(cs.locator, ps) is False:
        assert ps.header is not None
        out.append(Finding(
            "error", child,
            f"the parent was modified after this disk was created; the chain is broken "
            f"({parent.name} has DataWriteGuid {{{ps.header.data_write_guid}}}, this disk "
            f"expects {cs.locator.get('parent_linkage')})",
            "linkage-mismatch"))
    if ps.virtual_size is not None and cs.virtual_size is not None \
            and ps.virtual_size != cs.virtual_size:
        out.append(Finding(
            "error", child,
            f"its size ({cs.virtual_size} bytes) differs from its parent's ({ps.virtual_size})",
            "size-mismatch"))
    if ps.logical_sector_size and cs.logical_sector_size \
            and ps.logical_sector_size != cs.logical_sector_size:
        out.append(Finding(
            "error", child,
            f"its logical sector size ({cs.logical_sector_size}) differs from its parent's "
            f"({ps.logical_sector_size})",
            "sector-mismatch"))
    if _writable(parent):
        out.append(Finding(
            "warning", parent,
            f"it is the parent of {child.name} but is not read-only: writing to it would break "
            "the chain (Hyper-V marks parent disks read-only)",
            "parent-writable"))
    return out


def _writable(path: Path) -> bool:
    try:
        return bool(os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        return False


def _engine_findings(path: Path) -> list[Finding]:
    """What the engine refuses when it opens the chain (the survey may miss subtle cases)."""
    from hvgui.vhdx import open_disk
    from hvgui.vhdx.errors import VhdxError

    try:
        with open_disk(path):
            return []
    except VhdxError as exc:
        return [Finding("error", Path(exc.subject), exc.problem, "engine-refuses")]
    except OSError as exc:
        return [Finding("error", path, f"the file cannot be read: {exc.strerror or exc}",
                        "unreadable")]
    except (ValueError, IndexError, OverflowError) as exc:
        return [Finding("error", path, f"the engine cannot read the chain ({exc})",
                        "engine-refuses")]


# pytest would otherwise collect the imported function as a test.
test_vhd.__test__ = False  # type: ignore[attr-defined]
