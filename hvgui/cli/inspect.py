"""hvctl's inspector commands: the facts the GUI inspector shows, on the command line.

    hvctl inspect FILE [--json]                      # any VHDX, AVHDX, XML, BIN, VSV, VMCX...
    hvctl inspect-checkpoint NAME [SNAPSHOT] [--json] [--delete-preview [--include-children]]
                             [--host DIR]

`inspect` exits 1 when the file cannot be decoded (the problem is printed), 0 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hvgui.cli.common import add_json, open_host, print_json, print_list, print_table

# Text output shows this many items of a list (the JSON output shows all).
_LIST_LIMIT = 12


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    one = subparsers.add_parser(
        "inspect",
        help="what a VHDX, AVHDX, XML, BIN, VSV (or VMCX/VMRS) file holds",
        description="Identify a file by its content and decode it: VHDX headers, region table, "
        "metadata, parent locator, BAT counts and Test-VHD findings; configuration summary; "
        "BIN/VSV header and sections; Server 2016+ VMCX/VMRS key trees with the optional "
        "extra hvgui[vmcx] (recognised only, without it).",
    )
    one.add_argument("path", metavar="FILE", type=Path)
    add_json(one)
    one.set_defaults(func=_inspect)

    files = subparsers.add_parser(
        "inspect-checkpoint",
        help="list a checkpoint's files (or the VM's current ones) and what each is for",
    )
    files.add_argument("name", metavar="NAME", help="the VM's name or Id")
    files.add_argument("snapshot", metavar="SNAPSHOT", nargs="?",
                       help="the checkpoint's name or Id (omit for the VM as it is now)")
    files.add_argument("--delete-preview", action="store_true",
                       help="say what deleting the checkpoint would do, without doing it")
    files.add_argument("--include-children", action="store_true",
                       help="with --delete-preview: the checkpoint and its whole subtree "
                       "(Delete Checkpoint Subtree)")
    files.add_argument("--host", metavar="DIR", help="the lab host directory (or HVGUI_HOST)")
    add_json(files)
    files.set_defaults(func=_inspect_checkpoint, parser=files)


def _print_tree(value: Any, indent: int = 0) -> None:
    """A nested dict/list as indented `key : value` lines, long lists shortened."""
    pad = "  " * indent
    if isinstance(value, dict):
        width = max((len(str(k)) for k in value), default=0)
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                print(f"{pad}{str(key).ljust(width)} :")
                _print_tree(item, indent + 1)
            else:
                shown = "" if item is None or item == [] or item == {} else item
                print(f"{pad}{str(key).ljust(width)} : {shown}")
    elif isinstance(value, list):
        for number, item in enumerate(value[:_LIST_LIMIT]):
            if isinstance(item, dict | list):
                print(f"{pad}- [{number}]")
                _print_tree(item, indent + 1)
            else:
                print(f"{pad}- {item}")
        if len(value) > _LIST_LIMIT:
            print(f"{pad}  ... {len(value) - _LIST_LIMIT} more (see --json)")
    else:
        print(f"{pad}{value}")


def _vhdx_summary(dump: dict[str, Any]) -> dict[str, Any]:
    """The few facts people look for first, Get-VHD style, before the full structure."""
    disk = dump.get("disk") or {}
    headers = dump.get("headers") or []
    current = next((h for h in headers if h.get("current")), None)
    locator = dump.get("parent_locator")
    bat = dump.get("bat") or {}
    out: dict[str, Any] = {
        "VhdType": disk.get("type"),
        "Size": disk.get("virtual_size"),
        "BlockSize": disk.get("block_size"),
        "Creator": (dump.get("file_type") or {}).get("creator"),
        "CurrentHeader": (f"slot {current['slot']}, sequence {current['sequence']}"
                          if current else "none valid"),
    }
    if locator:
        entries = locator.get("entries") or {}
        out["ParentLocator"] = entries.get("relative_path") or entries.get("absolute_win32_path")
        out["ParentFound"] = locator.get("resolved") or "MISSING"
        out["ParentLinkage"] = {True: "matches", False: "MISMATCH (the parent changed)",
                                None: "not checked"}[locator.get("linkage_ok")]
    counts = bat.get("counts") or {}
    out["BlockStates"] = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    out["Log"] = (dump.get("log") or {}).get("state")
    return out


def _inspect(args: argparse.Namespace) -> int:
    from hvgui.inspect import inspect_file

    facts = inspect_file(args.path)
    if args.json:
        print_json(facts, args.json)
    else:
        print_list({
            "Path": facts["path"],
            "Kind": facts["label"],
            "Decoded": "yes" if facts["decoded"] else "no",
            "FileSize": facts["file"]["size"],
            "SizeOnDisk": facts["file"]["size_on_disk"],
            "ReadOnly": facts["file"]["read_only"],
            "Modified": facts["file"]["modified"],
        })
        if facts.get("note"):
            print(f"\n{facts['note']}")
        if facts.get("vhdx"):
            print()
            print_list(_vhdx_summary(facts["vhdx"]))
        for key in ("vhdx", "vhd", "xml", "saved_state", "vmcx", "vmcx_tree"):
            if facts.get(key):
                print()
                _print_tree(facts[key])
        findings = facts.get("findings")
        if findings is not None:
            print(f"\nTest-VHD: {len(findings)} finding(s)")
            for finding in findings:
                print(f"  {finding['severity']:<7} {finding['message']}")
        if facts.get("error"):
            print(f"\nProblem: {facts['error']}")
    return 1 if facts.get("error") else 0


def _inspect_checkpoint(args: argparse.Namespace) -> int:
    from hvgui.backend.formats import file_name
    from hvgui.inspect import checkpoint_files, delete_preview

    host = open_host(args)
    if args.delete_preview:
        if not args.snapshot:
            args.parser.error("--delete-preview needs a SNAPSHOT")
        preview = delete_preview(host, args.name, args.snapshot,
                                 include_children=args.include_children)
        if args.json:
            print_json(preview.to_json(), args.json)
            return 0
        rows = [{"Action": f.action.capitalize(), "File": file_name(f.path),
                 "Into": file_name(f.into) if f.into else "", "Size": f.size,
                 "BytesMoved": f.bytes_moved or "", "Why": f.reason} for f in preview.files]
        print_table(rows, ["Action", "File", "Into", "Size", "BytesMoved", "Why"])
        print()
        shown = preview.to_json()  # a real host's free space: unknown here
        print_list({"Summary": preview.summary(),
                    **{k: "unknown" if shown[k] is None else shown[k] for k in (
                        "BytesMoved", "FreeSpaceNeeded", "FreeSpaceAvailable", "EnoughSpace")}})
        for warning in preview.warnings:
            print(f"WARNING: {warning}")
        return 0
    files = checkpoint_files(host, args.name, args.snapshot)
    if args.json:
        print_json([f.to_json() for f in files], args.json)
        return 0
    rows = [{"File": f"{'  ' * (f.depth or 0)}{f.path.name}", "Kind": f.label,
             "Drive": f.drive or "", "SizeOnDisk": f.size_on_disk if f.exists else "missing",
             "ReadOnly": f.read_only, "Role": f.role} for f in files]
    print_table(rows, ["File", "Kind", "Drive", "SizeOnDisk", "ReadOnly", "Role"])
    problems = [f for f in files if f.problem]
    for facts in problems:
        print(f"PROBLEM: {facts.path}: {facts.problem}")
    return 1 if problems else 0
