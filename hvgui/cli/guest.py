"""hvctl's guest and demo commands: the simulated guest's files, note and workload; demo labs.

```
hvctl guest-list-files NAME [PATH] [--json]
hvctl guest-read-file NAME PATH [--output FILE]
hvctl guest-write-file NAME PATH (--text T | --input FILE)
hvctl guest-remove-file NAME PATH
hvctl guest-note NAME [--set TEXT]
hvctl guest-workload NAME --bytes N [--rate BYTES_PER_S]
hvctl new-demo-host DIR
hvctl demo list | demo run NAME [--host DIR]
```
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui.backend import HostError
from hvgui.backend.formats import ps_datetime
from hvgui.cli.common import (
    add_host_option,
    add_json,
    open_host,
    parse_size,
    print_json,
    print_table,
    progress_bar,
)

if TYPE_CHECKING:
    from hvgui.guest.guest import Guest

# The guest, the demo lab and its lessons load the whole host: each command imports them
# when it runs, so that `hvctl --help` stays quick.


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = subparsers.add_parser("guest-list-files", help="list a folder of the guest's disk")
    ls.add_argument("name", metavar="NAME")
    ls.add_argument("path", metavar="PATH", nargs="?", default="/")
    add_json(ls)
    add_host_option(ls)
    ls.set_defaults(func=_list_files)

    read = subparsers.add_parser("guest-read-file", help="print a file of the guest's disk")
    read.add_argument("name", metavar="NAME")
    read.add_argument("path", metavar="PATH")
    read.add_argument("--output", type=Path, help="write the file here instead of stdout")
    add_host_option(read)
    read.set_defaults(func=_read_file)

    write = subparsers.add_parser(
        "guest-write-file", help="have the running guest create or replace a file"
    )
    write.add_argument("name", metavar="NAME")
    write.add_argument("path", metavar="PATH")
    source = write.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the file's text (UTF-8)")
    source.add_argument("--input", type=Path, help="copy this host file into the guest")
    add_host_option(write)
    write.set_defaults(func=_write_file)

    remove = subparsers.add_parser("guest-remove-file", help="have the running guest delete a file")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("path", metavar="PATH")
    add_host_option(remove)
    remove.set_defaults(func=_remove_file)

    note = subparsers.add_parser(
        "guest-note", help="print (or type, with --set) the note held only in the guest's memory"
    )
    note.add_argument("name", metavar="NAME")
    note.add_argument("--set", dest="text", metavar="TEXT", help="type this note into the guest")
    add_host_option(note)
    note.set_defaults(func=_note)

    load = subparsers.add_parser(
        "guest-workload", help="have the running guest write N bytes of new data to its disk"
    )
    load.add_argument("name", metavar="NAME")
    load.add_argument("--bytes", dest="nbytes", required=True, type=parse_size, metavar="N")
    load.add_argument("--rate", type=parse_size, metavar="BYTES_PER_S", help="bytes per second")
    add_host_option(load)
    load.set_defaults(func=_workload)

    demo_host = subparsers.add_parser(
        "new-demo-host", help="build the demo lab in DIR through the host's real operations"
    )
    demo_host.add_argument("dir", metavar="DIR", type=Path)
    demo_host.set_defaults(func=_new_demo_host)

    demo = subparsers.add_parser(
        "demo", help="lessons: every note of the checkpoint article, taught on a demo lab"
    )
    actions = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    demo_list = actions.add_parser("list", help="list the lessons",
                                   description="list the lessons")
    demo_list.set_defaults(func=_demo_list)
    demo_run = actions.add_parser("run", help="run every step of a lesson on a fresh demo lab",
                                  description="run every step of a lesson on a fresh demo lab")
    demo_run.add_argument("scenario", metavar="NAME", help="a name that `demo list` shows")
    demo_run.add_argument(
        "--host",
        metavar="DIR",
        help="run on this lab (built here when DIR is empty); default: a fresh temporary lab",
    )
    demo_run.set_defaults(func=_demo_run, parser=demo_run)


def _guest(args: argparse.Namespace) -> Guest:
    """The guest of the VM `args.name` on the lab host the command names (a host that is not
    a lab host has none: refused with why)."""
    from hvgui.connect import lab_host
    from hvgui.guest.guest import Guest

    return Guest(lab_host(open_host(args)), args.name)


def _list_files(args: argparse.Namespace) -> int:
    entries = _guest(args).list_files(args.path)
    if args.json:
        print_json([e.to_json() for e in entries], args.json)
        return 0
    rows = [
        {
            "Mode": "d----" if e.is_dir else "-a---",
            "LastWriteTime": ps_datetime(e.modified, seconds=False) if e.modified else "",
            "Length": "" if e.is_dir else e.size,
            "Name": e.name,
        }
        for e in entries
    ]
    print_table(rows, ["Mode", "LastWriteTime", "Length", "Name"])
    return 0


def _read_file(args: argparse.Namespace) -> int:
    data = _guest(args).read_file(args.path)
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


MAX_FAT_FILE = (4 << 30) - 1  # FAT stores a file's size in 32 bits


def _write_file(args: argparse.Namespace) -> int:
    if args.text is not None:
        data = args.text.encode("utf-8")
    else:  # never read /dev/zero or a FIFO into memory: a regular file that FAT can hold
        from hvgui.host.fileio import read_bounded

        data = read_bounded(args.input, MAX_FAT_FILE)
        if len(data) > MAX_FAT_FILE:
            raise HostError(args.input, "larger than a FAT file can be (4 GiB - 1 byte)")
    written = _guest(args).write_file(args.path, data)
    print(f"{args.name}: wrote {args.path} ({written} bytes)")
    return 0


def _remove_file(args: argparse.Namespace) -> int:
    _guest(args).remove_file(args.path)
    print(f"{args.name}: deleted {args.path}")
    return 0


def _note(args: argparse.Namespace) -> int:
    guest = _guest(args)
    if args.text is not None:
        guest.set_note(args.text)
    text = guest.note()
    if text is None:
        print(f"{args.name}: no note in memory", file=sys.stderr)
        return 1
    print(text)
    return 0


def _workload(args: argparse.Namespace) -> int:
    guest = _guest(args)
    with progress_bar() as progress:
        result = guest.run_workload(args.nbytes, rate=args.rate, progress=progress)
    print(
        f"{args.name}: wrote {result.bytes_written} bytes to {result.path} in "
        f"{result.seconds:.1f} s; {result.disk.name} grew by {result.disk_growth} bytes"
    )
    return 0


def _new_demo_host(args: argparse.Namespace) -> int:
    from hvgui.teaching.demo import build_demo_host

    start = time.monotonic()
    with progress_bar() as progress:
        host = build_demo_host(args.dir, progress=progress)
    vms = host.list_vms()
    print(f"demo lab built in {args.dir} in {time.monotonic() - start:.1f} s:")
    for vm in vms:
        count = len(host.list_snapshots(vm.id))
        print(f"  {vm.name:<12} {vm.state:<8} {count} checkpoint{'' if count == 1 else 's'}")
    return 0


def _demo_list(args: argparse.Namespace) -> int:
    from hvgui.teaching.lessons import LESSONS

    rows = [{"Name": s.name, "Note": s.note, "Story": s.title} for s in LESSONS.values()]
    print_table(rows, ["Name", "Note", "Story"])
    return 0


def _demo_run(args: argparse.Namespace) -> int:
    from hvgui.connect import FOLDER_PROBLEMS, MISSING, folder_kind
    from hvgui.teaching.lessons import LESSONS, run_lesson

    if args.scenario not in LESSONS:
        args.parser.error(f"argument NAME: invalid choice: {args.scenario!r} "
                          f"(choose from {', '.join(sorted(LESSONS))})")
    if args.host:
        root = Path(args.host)
        if folder_kind(root) == MISSING:  # a typo: nothing is made (an empty folder is asked)
            raise HostError(root, f"{FOLDER_PROBLEMS[MISSING]}; `hvctl new-demo-host {root}` "
                            "builds the demo lab there")
        return run_lesson(args.scenario, root, out=print)
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="hvgui-demo-")) / "lab"
    print(f"(a fresh demo lab in {root}: it stays there for you to look at)")
    return run_lesson(args.scenario, root, out=print)
