"""hvctl's entry point: builds the parser from the command modules and maps errors to exits.

Exit codes: 0 done, 1 the operation failed or a check found problems, 2 bad usage.
Errors are one line on stderr: `hvctl: error: <file>: <what is wrong>`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hvgui import __version__, portable
from hvgui.cli.common import PS51
from hvgui.errors import HvError
from hvgui.progress import Cancelled

# Each module defines `register(subparsers)`, adding commands whose `func(args) -> int` runs them
# (when the command to run is known, only its parser is really built: see _Commands).
# Disk commands come first: they need neither the host nor its dependencies.
COMMAND_MODULES = ("disk", "vm", "guest", "inspect")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, modules are imported only until one defines it, so that
    `hvctl get-vhd` does not pay for (or depend on) the host's modules."""
    parser = argparse.ArgumentParser(
        prog="hvctl",
        description="Hyper-V cmdlets for hvgui's lab host and VHDX files.",
    )
    parser.add_argument("--version", action="version", version=f"hvctl {__version__}")
    # Before the command as `git -C` and `virsh -c` take it; other dests than the commands'
    # own options, which would overwrite them with their defaults (see _global_options).
    parser.add_argument("--host", dest="global_host", metavar="DIR", type=_not_empty("--host"),
                        help="the lab host folder, for every command that takes --host")
    remote = parser.add_argument_group(
        "a real Hyper-V host (PowerShell Remoting: pip install 'hvgui[remote]')")
    remote.add_argument("--computer-name", metavar="HOST", type=_not_empty("--computer-name"),
                        help="run the host commands on this Hyper-V host instead of a lab host "
                        "(HTTPS, port 5986; HTTP with encrypted messages on port 5985)")
    remote.add_argument("--port", type=int, metavar="N", help="WinRM's port on the host")
    remote.add_argument("--credential", metavar="USER",
                        help="connect as USER (DOMAIN\\user or user@domain); the password is "
                        "asked for, or read from HVGUI_PASSWORD in scripts (never an option)")
    forms = parser.add_mutually_exclusive_group()
    forms.add_argument("--json", dest="global_json", action="store_true",
                       help="JSON output, for every command that takes --json")
    forms.add_argument("--json-ps51", dest="global_json", action="store_const", const=PS51,
                       help="Windows PowerShell 5.1's JSON, for every command that takes --json")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       action=_Commands, parser_class=_CommandParser)
    assert isinstance(subparsers, _Commands)
    subparsers.only = command
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"hvgui.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hvgui.cli.{name}":
                raise
            continue
        module.register(subparsers)
        if command is not None and command in subparsers.choices:
            break
    if command is not None and command not in subparsers.choices:
        return build_parser()  # not a command: argparse says so, listing them all
    return parser


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # not subscriptable at run time
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """The command table. With `only` (the command being run), the other commands' parsers
    are not built: argparse spends about a millisecond on each, and hvctl has forty."""

    only: str | None = None

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if self.only is not None and name != self.only:
            return cast(argparse.ArgumentParser, _Unbuilt())
        # `hvctl COMMAND --help` says what the command does, as `hvctl --help` lists it.
        kwargs.setdefault("description", kwargs.get("help"))
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser


class _EmptyArgument(Exception):
    """An argument given as an empty word ('' in a script whose variable was unset)."""


def _not_empty(name: str, convert: Callable[[str], Any] | None = None) -> Callable[[str], Any]:
    """`convert`, refusing an empty word for the argument `name`: '' names no VM, checkpoint
    or file (Path('') would even be the current folder)."""

    def check(word: str) -> Any:
        if not word:
            raise _EmptyArgument(name)
        return word if convert is None else convert(word)

    check.__name__ = getattr(convert, "__name__", "str")  # argparse's "invalid <type> value"
    return check


# New names, judged by the host's name rules (`a VM name cannot be blank`, with the VM's name).
_NEW_NAMES = ("NEWNAME", "SNAPSHOT_NAME")


class _CommandParser(argparse.ArgumentParser):
    """A command's parser: what a command works on (its positional arguments: a VM, a
    checkpoint, a file; --host and the options naming a file) cannot be an empty word."""

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        if names and isinstance(names[0], str) and kwargs.get("action") in (None, "store") and (
                (not names[0].startswith("-") and kwargs.get("metavar") not in _NEW_NAMES)
                or names[0] == "--host" or kwargs.get("type") is Path):
            name = names[0] if names[0].startswith("-") else kwargs.get("metavar", names[0])
            kwargs["type"] = _not_empty(name, kwargs.get("type"))
        return super().add_argument(*names, **kwargs)


class _Unbuilt:
    """Stands in for the parser of a command that is not run: whatever its module does with
    it (add_argument, groups, set_defaults) is accepted and ignored."""

    def __getattr__(self, name: str) -> Callable[..., _Unbuilt]:
        return self._ignore

    def _ignore(self, *args: object, **kwargs: object) -> _Unbuilt:
        return self


def _command_name(arguments: Sequence[str]) -> str | None:
    """The command's name: the first word that is neither an option nor a global option's
    value."""
    words = iter(arguments)
    for word in words:
        if word in ("--host", "--computer-name", "--port", "--credential"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Hand --host/--json/--json-ps51 given before the command to the command, which must
    take them."""
    for option in ("host", "json"):
        value = getattr(args, f"global_{option}")
        delattr(args, f"global_{option}")
        if not value:
            continue
        spelled = "json-ps51" if value == PS51 else option
        if not hasattr(args, option):
            parser.error(f"{args.command} does not take --{spelled}")
        own = getattr(args, option)
        if option == "json" and own and own != value:
            parser.error("--json and --json-ps51 both given: choose one")
        if own and own != value and not (option == "host" and _same_folder(own, value)):
            parser.error(f"--{option} given twice: {value} before the command, {own} after it")
        setattr(args, option, value)


def _same_folder(a: str, b: str) -> bool:
    """Two spellings of one folder (a link to it, a trailing slash), as the lab host's lock
    and the window take them."""
    from hvgui.connect import lab_real_location

    return lab_real_location(a) == lab_real_location(b)


def _remote_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--computer-name (with --port, --credential) stands for --host on the host commands."""
    if args.computer_name is None:
        for option in ("port", "credential"):
            if getattr(args, option) is not None:
                parser.error(f"--{option} is for --computer-name: give the host too")
        return
    if not hasattr(args, "host"):
        parser.error(f"{args.command} does not take --computer-name: it works on local files")
    if args.host:
        parser.error("--host and --computer-name both given: choose one host")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_name(arguments))
    try:
        args = parser.parse_args(arguments)
    except _EmptyArgument as exc:
        print(f"hvctl: error: {exc}: cannot be empty", file=sys.stderr)
        return 2
    _global_options(parser, args)
    _remote_options(parser, args)
    try:
        return int(args.func(args))
    except HvError as exc:
        print(f"hvctl: error: {exc}", file=sys.stderr)
        return 1
    except Cancelled:
        print("hvctl: error: cancelled", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`hvctl get-vm --json | head`): nothing left to say to it
        os.dup2(portable.open_fd(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("hvctl: error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        where = exc.filename if exc.filename else "hvctl"
        print(f"hvctl: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
