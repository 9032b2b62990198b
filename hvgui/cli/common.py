"""What every hvctl command shares: sizes, JSON output, the progress bar, the host option."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgui.progress import Progress

if TYPE_CHECKING:  # imported when used: disk commands must not load the host
    from hvgui.backend import HostBackend

_SUFFIXES = {
    "": 1,
    "B": 1,
    "KB": 1 << 10,
    "MB": 1 << 20,
    "GB": 1 << 30,
    "TB": 1 << 40,
    "PB": 1 << 50,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "T": 1 << 40,
    "KIB": 1 << 10,
    "MIB": 1 << 20,
    "GIB": 1 << 30,
    "TIB": 1 << 40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """Parse `4GB`, `512MB`, `1.5GB`, `1048576`: PowerShell's suffixes are binary multiples;
    a fraction must come out as whole bytes."""
    match = _SIZE.match(text)
    if not match or match.group(2).upper() not in _SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a suffix like 512MB, 4GB, 1TB"
        )
    whole, _, fraction = match.group(1).partition(".")
    scaled = int(whole + fraction) * _SUFFIXES[match.group(2).upper()]
    value, remainder = divmod(scaled, 10 ** len(fraction))
    if remainder:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: not a whole number of bytes")
    return value


PS51 = "ps51"  # args.json: False, True (--json) or PS51 (--json-ps51)


def add_json(parser: argparse.ArgumentParser) -> None:
    """`--json` and `--json-ps51`: the two JSON forms (docs/cli.md, "JSON output")."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true",
                       help="print JSON: ConvertTo-Json's property names, enums as strings, "
                       "dates as UTC ISO 8601 text")
    group.add_argument("--json-ps51", dest="json", action="store_const", const=PS51,
                       help="print what Windows PowerShell 5.1's ConvertTo-Json prints: enums "
                       "as numbers, \\/Date(ms)\\/ dates, TimeSpan objects, -Depth 2")


def print_json(value: Any, mode: object) -> None:
    """`value` as --json prints it, or (mode PS51) as PowerShell 5.1 would; a list is a
    pipeline there: one item prints as that item, none prints nothing."""
    if mode == PS51:
        from hvgui.cli.ps51 import convert_to_json, pipeline_to_json

        text = pipeline_to_json(value) if isinstance(value, list) else convert_to_json(value)
        if text is not None:
            sys.stdout.write(text + "\n")
        return
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows like PowerShell's Format-Table: a header, a rule, aligned columns."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def print_list(record: dict[str, Any]) -> None:
    """Print one record like PowerShell's Format-List: `Name : value` lines."""
    width = max((len(k) for k in record), default=0)
    for key, value in record.items():
        print(f"{key.ljust(width)} : {'' if value is None else value}")


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress | None]:
    """A progress callback drawing a one-line bar on a terminal's stderr, or None elsewhere."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    last = [-1]

    def draw(fraction: float, phase: str) -> None:
        percent = int(fraction * 100)
        if percent == last[0]:
            return
        last[0] = percent
        filled = percent * 30 // 100
        sys.stderr.write(f"\r{phase[:40]:<40} [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%")
        sys.stderr.flush()

    try:
        yield draw
    finally:
        if last[0] >= 0:
            sys.stderr.write("\n")


def host_dir(args: argparse.Namespace) -> str | None:
    """The host directory named by --host or HVGUI_HOST, or None for the default one."""
    value = getattr(args, "host", None) or os.environ.get("HVGUI_HOST")
    return value or None


def add_host_option(parser: argparse.ArgumentParser) -> None:
    """`--host DIR`: every lab host command takes it."""
    parser.add_argument(
        "--host",
        metavar="DIR",
        help="the lab host folder (default: HVGUI_HOST or the user's data folder); it must be "
        "a lab host already: `hvctl new-host DIR` makes a new one",
    )


def open_host(args: argparse.Namespace) -> HostBackend:
    """The real Hyper-V host named by --computer-name; else the lab host named by --host or
    HVGUI_HOST, which must be one already (a mistyped path creates nothing), or the default
    one in the user's data folder (ours: made on first use)."""
    from hvgui.backend import HostError
    from hvgui.connect import EMPTY, FOLDER_PROBLEMS, MISSING, folder_kind, open_backend

    if getattr(args, "computer_name", None):
        return open_server(args)
    where = host_dir(args)
    if where is None:
        host = open_backend(None)
    else:
        path = Path(where)
        kind = folder_kind(path)
        if kind in (MISSING, EMPTY):
            raise HostError(
                path, f"{FOLDER_PROBLEMS[kind]}; `hvctl new-host {path}` makes a new one"
            )
        host = open_backend(path)
    for line in host.recovered:  # an interrupted operation finished, or a journal set aside
        print(f"hvctl: {line}", file=sys.stderr)
    return host


def open_server(args: argparse.Namespace) -> HostBackend:
    """The Hyper-V host of --computer-name [--port] [--credential]. The password is never an
    option (it would show in the process list and the shell's history): HVGUI_PASSWORD, else
    asked for on the terminal."""
    from hvgui.connect import connect_to_server
    from hvgui.hyperv import settings as remoting

    password = None
    if args.credential:
        password = os.environ.get("HVGUI_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                from hvgui.backend import HostError

                raise HostError(args.computer_name, f"a password for {args.credential} is "
                                "needed: set HVGUI_PASSWORD, or run hvctl on a terminal")
            import getpass

            password = getpass.getpass(f"Password for {args.credential} on "
                                       f"{args.computer_name}: ")
    settings = remoting.ConnectionSettings(
        args.computer_name, user=args.credential, password=password, port=args.port,
        use_https=args.port != remoting.HTTP_PORT, connect_timeout=remoting.CONNECT_TIMEOUT)
    return connect_to_server(settings)
