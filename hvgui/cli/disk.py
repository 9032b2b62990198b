"""hvctl's disk commands: New-VHD, Get-VHD, Test-VHD, Merge-VHD, Convert-VHD, raw reads/writes.

Every command works on files only (no host needed). Output mirrors PowerShell: Format-List
without `--json`, the cmdlet's property names with it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import BinaryIO

from hvgui import vhdx
from hvgui.cli.common import add_json, parse_size, print_json, print_list, progress_bar
from hvgui.errors import HvError

# Data moves through read-vhd / write-vhd in pieces of this size, so a huge --length
# never allocates more than this at once.
_CHUNK = 4 << 20


class UsageError(HvError):
    """A request the disk cannot satisfy (range past the end, missing input)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = subparsers.add_parser(
        "new-vhd",
        help="create a VHDX (New-VHD): fixed, dynamic or differencing",
        description="Create a fixed or dynamic VHDX of --size-bytes, or a differencing disk "
        "over --parent-path.",
    )
    new.add_argument("path", metavar="PATH", type=Path)
    new.add_argument("--size-bytes", type=parse_size, metavar="SIZE",
                     help="virtual size in bytes or with a suffix (512MB, 4GB, 1.5TB)")
    kind = new.add_mutually_exclusive_group()
    kind.add_argument("--fixed", action="store_true", help="allocate every block now")
    kind.add_argument("--dynamic", action="store_true", help="allocate on write (default)")
    new.add_argument("--parent-path", type=Path, metavar="PARENT",
                     help="create a differencing disk over PARENT")
    new.add_argument("--block-size-bytes", type=parse_size, metavar="SIZE",
                     help="a power of 2 from 1MB to 256MB (default 32MB, differencing 2MB)")
    new.add_argument("--logical-sector-size-bytes", type=parse_size, metavar="{512,4096}",
                     help="default 512")
    new.add_argument("--physical-sector-size-bytes", type=parse_size, metavar="{512,4096}",
                     help="default 4096")
    new.set_defaults(func=_new_vhd, parser=new)

    get = subparsers.add_parser("get-vhd", help="show a VHDX's properties (Get-VHD)")
    get.add_argument("path", metavar="PATH", type=Path)
    add_json(get)
    get.set_defaults(func=_get_vhd)

    test = subparsers.add_parser(
        "test-vhd",
        help="check a VHDX and its whole chain (Test-VHD); exit 1 when problems are found",
    )
    test.add_argument("path", metavar="PATH", type=Path)
    add_json(test)
    test.set_defaults(func=_test_vhd)

    merge = subparsers.add_parser(
        "merge-vhd", help="fold a differencing disk into its parent or an ancestor (Merge-VHD)"
    )
    merge.add_argument("--path", required=True, type=Path, help="the child to merge")
    merge.add_argument(
        "--destination-path", type=Path, help="the ancestor to merge into (default: the parent)"
    )
    merge.set_defaults(func=_merge_vhd)

    convert = subparsers.add_parser(
        "convert-vhd",
        help="convert between VHDX and raw by extension (Convert-VHD); flattens a chain",
    )
    convert.add_argument("path", metavar="PATH", type=Path)
    convert.add_argument("destination", metavar="DESTINATION", type=Path)
    convert.set_defaults(func=_convert_vhd)

    read = subparsers.add_parser("read-vhd", help="read bytes of the virtual disk")
    read.add_argument("path", metavar="PATH", type=Path)
    read.add_argument("--offset", required=True, type=parse_size)
    read.add_argument("--length", required=True, type=parse_size)
    read.add_argument("--output", type=Path, help="write here instead of standard output")
    read.set_defaults(func=_read_vhd)

    write = subparsers.add_parser("write-vhd", help="write a file's bytes into the virtual disk")
    write.add_argument("path", metavar="PATH", type=Path)
    write.add_argument("--offset", required=True, type=parse_size)
    write.add_argument("--input", required=True, type=Path, help="the bytes to write ('-': stdin)")
    write.set_defaults(func=_write_vhd)


# New-VHD picks the format by the extension (.vhd: the legacy VHD); a differencing disk may
# also be named as a checkpoint's (.avhdx, .avhd). Any other name is refused.
_NEW_VHD_SUFFIXES = (".vhdx", ".vhd")
_DIFFERENCING_SUFFIXES = (*_NEW_VHD_SUFFIXES, ".avhdx", ".avhd")


def _new_vhd(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    suffix = args.path.suffix.lower()
    if suffix not in (_NEW_VHD_SUFFIXES if args.parent_path is None else _DIFFERENCING_SUFFIXES):
        raise vhdx.UnsupportedError(
            args.path, f"unknown format {args.path.suffix or '(no extension)'!r}: New-VHD picks "
            "the format by the extension: name the disk .vhdx (or .vhd)"
            + (", or .avhdx/.avhd for a differencing disk" if args.parent_path else ""))
    if args.parent_path is not None:
        extra = [
            name
            for name, value in (
                ("--size-bytes", args.size_bytes),
                ("--fixed", args.fixed),
                ("--dynamic", args.dynamic),
                ("--logical-sector-size-bytes", args.logical_sector_size_bytes),
                ("--physical-sector-size-bytes", args.physical_sector_size_bytes),
            )
            if value
        ]
        if extra:
            parser.error(f"{', '.join(extra)} cannot be used with --parent-path "
                         "(a differencing disk takes its size and sectors from the parent)")
        block_size = _default(args.block_size_bytes, vhdx.DEFAULT_DIFFERENCING_BLOCK)
        _check_block_size(parser, block_size)
        vhdx.create_differencing(args.path, args.parent_path, block_size=block_size)
        # As Hyper-V does for a checkpoint's parent: writing to it would break the child.
        try:
            vhdx.set_read_only(args.parent_path, True)
        except vhdx.VhdxError as exc:
            print(f"hvctl: warning: {exc}; keep the parent unchanged or the differencing disk "
                  "breaks", file=sys.stderr)
        else:
            print(f"hvctl: note: {args.parent_path} is now read-only: the differencing disk "
                  "depends on it (merge-vhd makes it writable again)", file=sys.stderr)
    elif str(args.path).lower().endswith(".vhd"):  # New-VHD: the extension picks the format
        if args.size_bytes is None:
            parser.error("--size-bytes is required (or --parent-path for a differencing disk)")
        for option, value in (("--logical-sector-size-bytes", args.logical_sector_size_bytes),
                              ("--physical-sector-size-bytes", args.physical_sector_size_bytes)):
            if value not in (None, 512):
                parser.error(f"{option} must be 512 for a VHD (only a VHDX has 4096)")
        block_size = _default(args.block_size_bytes, 2 << 20)  # Hyper-V's VHD block
        _check_block_size(parser, block_size)
        vhdx.create_vhd(args.path, args.size_bytes, fixed=args.fixed, block_size=block_size)
    else:
        if args.size_bytes is None:
            parser.error("--size-bytes is required (or --parent-path for a differencing disk)")
        block_size = _default(args.block_size_bytes, vhdx.DEFAULT_DYNAMIC_BLOCK)
        logical = _default(args.logical_sector_size_bytes, 512)
        physical = _default(args.physical_sector_size_bytes, 4096)
        _check_block_size(parser, block_size)
        for option, value in (("--logical-sector-size-bytes", logical),
                              ("--physical-sector-size-bytes", physical)):
            if value not in (512, 4096):
                parser.error(f"{option} must be 512 or 4096, not {value}")
        if args.size_bytes <= 0 or args.size_bytes % logical:
            parser.error(f"--size-bytes {args.size_bytes} must be a positive multiple of the "
                         f"{logical}-byte logical sector")
        if args.size_bytes > 64 << 40:
            parser.error(f"--size-bytes {args.size_bytes} is larger than the 64TB a VHDX holds")
        if args.fixed:
            with progress_bar() as progress:
                vhdx.create_fixed(args.path, args.size_bytes, block_size=block_size,
                                  logical_sector_size=logical, physical_sector_size=physical,
                                  progress=progress)
        else:
            vhdx.create_dynamic(args.path, args.size_bytes, block_size=block_size,
                                logical_sector_size=logical, physical_sector_size=physical)
    print_list(vhdx.get_vhd(args.path).to_json())
    return 0


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _check_block_size(parser: argparse.ArgumentParser, block_size: int) -> None:
    if block_size < 1 << 20 or block_size > 256 << 20 or block_size & (block_size - 1):
        parser.error(f"--block-size-bytes must be a power of 2 from 1MB to 256MB, "
                     f"not {block_size}")


def _get_vhd(args: argparse.Namespace) -> int:
    info = vhdx.get_vhd(args.path)
    record = info.to_json()
    if args.json:
        print_json(record, args.json)
    else:
        print_list(record)
    if info.parent_found is False:
        print(f"hvctl: warning: {args.path}: its parent disk is missing "
              f"({record['ParentPath']}); test-vhd says more", file=sys.stderr)
    errors = [p for p in info.problems if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        print(f"hvctl: warning: {args.path}: the file is damaged: {errors[0].message}{more}; "
              "test-vhd says more", file=sys.stderr)
    return 0


def _test_vhd(args: argparse.Namespace) -> int:
    findings = vhdx.test_vhd(args.path)
    problems = [f for f in findings if f.is_problem]
    if args.json:
        print_json(
            {
                "Path": str(args.path),
                "Sound": not problems,
                "Findings": [
                    {"Severity": f.severity, "Path": str(f.path), "Code": f.code,
                     "Message": f.message}
                    for f in findings
                ],
            },
            args.json,
        )
    else:
        for finding in findings:
            print(f"{finding.severity}: {finding.path}: {finding.message}")
        if not findings:
            print(f"{args.path}: no problems found")
    return 1 if problems else 0


def _merge_vhd(args: argparse.Namespace) -> int:
    with progress_bar() as progress:
        result = vhdx.merge_vhd(args.path, args.destination_path, progress=progress)
    merged = ", ".join(os.path.abspath(p) for p in result.merged)
    print(f"merged {merged} into {result.destination} ({_human(result.bytes_moved)} moved)")
    if result.streamed:  # the smaller side moved
        print(f"{result.destination.name} held less: its data was folded into "
              f"{result.merged[0].name}, which then took its name")
    for path in result.repointed:
        print(f"re-pointed {path} at {result.destination}")
    return 0


def _convert_vhd(args: argparse.Namespace) -> int:
    with progress_bar() as progress:
        vhdx.convert_vhd(args.path, args.destination, progress=progress)
    return 0


def _read_vhd(args: argparse.Namespace) -> int:
    with vhdx.open_disk(args.path) as disk:
        _check_range(args.path, disk.size, args.offset, args.length)
        if args.output is not None:
            if any(_same_file(args.output, file) for file in disk.chain):
                raise UsageError(args.output, "is a disk of the chain being read; writing the "
                                 "bytes there would destroy it")
            with open(args.output, "wb") as out:
                _copy_out(disk, args.offset, args.length, out)
        else:
            _copy_out(disk, args.offset, args.length, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    return 0


def _write_vhd(args: argparse.Namespace) -> int:
    if str(args.input) == "-":
        data_source: BinaryIO = sys.stdin.buffer
        length = None
    else:
        data_source = open(args.input, "rb")  # noqa: SIM115 - closed below
        length = os.fstat(data_source.fileno()).st_size
    try:
        with vhdx.open_disk(args.path, writable=True) as disk:
            if length is not None:
                _check_range(args.path, disk.size, args.offset, length)
            position = args.offset
            while True:
                chunk = data_source.read(_CHUNK)
                if not chunk:
                    break
                _check_range(args.path, disk.size, position, len(chunk))
                disk.write(position, chunk)
                position += len(chunk)
            disk.flush()
    finally:
        if data_source is not sys.stdin.buffer:
            data_source.close()
    return 0


def _copy_out(disk: vhdx.Disk, offset: int, length: int, out: BinaryIO) -> None:
    end = offset + length
    while offset < end:
        size = min(_CHUNK, end - offset)
        out.write(disk.read(offset, size))
        offset += size


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_range(path: Path, size: int, offset: int, length: int) -> None:
    if offset + length > size:
        raise UsageError(
            path,
            f"bytes {offset}..{offset + length} are past the end of the virtual disk "
            f"({size} bytes)",
        )


def _human(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
