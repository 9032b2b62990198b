"""The child process of an isolated lab host (hvgui/host/isolated.py, childproc.py) in the
world it really starts in: the window's working folder, a Python that prints at start-up, a
terminal's Ctrl-C, a window without stderr, a child whose answer is garbled or cannot be
rebuilt. Each ends as the operation run in the window's own process would, or as one
HostError naming the host; never as another program's code, a hang or a huge allocation."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

import hvgui
from hvgui.connect import new_lab_host
from hvgui.host import Host, HostError, childproc
from hvgui.host.isolated import IsolatedHost

MiB = 1 << 20
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and fds")


def _host(root: Path) -> IsolatedHost:
    host = new_lab_host(root, isolated=True)
    assert isinstance(host, IsolatedHost)
    return host


def _new_vm(host: IsolatedHost) -> None:
    host.new_vm("A", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)


def _clean(root: Path) -> None:
    host = Host.open(root, create=False)
    assert [f for f in host.check() if f.is_problem] == []
    assert list(host.layout.journal_dir.iterdir()) == []


def _site(folder: Path, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`code` runs at the start of every Python the test starts (a site's sitecustomize)."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(code))
    monkeypatch.setenv("PYTHONPATH", str(folder))


def test_a_package_in_the_windows_working_folder_is_not_what_the_child_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`python -m` puts the working folder first on sys.path: an older hvgui checkout (or any
    module of that name) there would run instead of the window's own code."""
    work = tmp_path / "work"
    (work / "hvgui").mkdir(parents=True)
    _decoy(work / "hvgui" / "__init__.py", tmp_path / "ran")
    host = _host(tmp_path / "host")
    monkeypatch.chdir(work)
    _new_vm(host)
    assert [vm.name for vm in host.list_vms()] == ["A"]
    assert not (tmp_path / "ran").exists()


def _decoy(module: Path, ran: Path) -> None:
    """A module that must not run in the child: it would leave `ran` and exit."""
    module.write_text(f"open({str(ran)!r}, 'w').close()\nraise SystemExit(7)\n")


def test_an_installed_hvgui_does_not_put_its_folder_before_pythons_own_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hvgui installed (not editable) lives in site-packages beside other distributions'
    modules, some with a standard module's name (PyPI's 2014 `pathlib`): the child must
    find hvgui there, and Python's own modules first, as the window does."""
    lib = tmp_path / "site-packages"
    shutil.copytree(Path(hvgui.__file__).parent, lib / "hvgui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _decoy(lib / "json.py", tmp_path / "ran")
    host = _host(tmp_path / "host")
    monkeypatch.setattr(hvgui, "__file__", str(lib / "hvgui" / "__init__.py"))
    made = host.new_vm("A", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    assert made.vm_id == host.get_vm("A").id
    assert not (tmp_path / "ran").exists()


def test_a_print_at_the_childs_start_up_does_not_garble_its_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A site's start-up code printing a banner on stdout (before the child's own code can
    move stdout aside): the operation's answer still arrives, it is not taken for a frame
    of 1.4 GB ("Welc...") and the operation is not reported failed when it succeeded."""
    host = _host(tmp_path / "host")
    _site(tmp_path / "site", 'print("Welcome to the lab machine")\n', monkeypatch)
    made = host.new_vm("A", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    assert made.operation == "New" and made.vm_id == host.get_vm("A").id


def _interpreter(folder: Path, shell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """sys.executable becomes a program running `shell` (a frozen app's own executable,
    a wrapper): what it writes is all the window gets."""
    folder.mkdir()
    program = folder / "python"
    program.write_text(f"#!/bin/sh\n{shell}\n")
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(program))


def _failed_new_vm(host: IsolatedHost) -> tuple[HostError, int]:
    """The HostError of a new_vm whose child fails, and the most memory the window took."""
    tracemalloc.start()
    try:
        with pytest.raises(HostError) as failed:
            _new_vm(host)
        return failed.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@POSIX_ONLY
def test_a_child_that_is_not_ours_is_one_error_without_a_huge_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sys.executable runs something else (a frozen app printing its usage): its "usag" is
    not the length of a 1.97 GB answer to allocate and wait for."""
    host = _host(tmp_path / "host")
    _interpreter(tmp_path / "bin", "head -c 1 >/dev/null; echo 'usage: hvgui [-h] [--host F]'",
                 monkeypatch)
    failed, peak = _failed_new_vm(host)
    assert str(failed).startswith(f"{host.root}: the process running new_vm")
    assert "ended with exit code 0 before it answered" in str(failed)
    assert peak < 64 * MiB, peak


@POSIX_ONLY
@pytest.mark.parametrize(("frame", "said"), [
    (struct.pack(">I", 0xFFFFFFF0), "sent a message of 4294967280 bytes (at most "),
    (struct.pack(">I", 5) + b"hello", "sent a message that cannot be read (Unpickling"),
], ids=["huge", "garbled"])
def test_a_broken_childs_message_is_one_error_without_a_huge_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frame: bytes, said: str,
) -> None:
    host = _host(tmp_path / "host")
    (tmp_path / "answer").write_bytes(childproc.SYNC + frame)
    # After its broken message it would answer no more: it is killed, not waited for.
    _interpreter(tmp_path / "bin",
                 f"head -c 1 >/dev/null; cat {tmp_path / 'answer'}; exec sleep 60", monkeypatch)
    failed, peak = _failed_new_vm(host)
    assert str(failed).startswith(f"{host.root}: the process running new_vm (pid ")
    assert said in str(failed)
    assert peak < 64 * MiB, peak


def test_an_interpreter_that_cannot_be_started_is_one_error_naming_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = _host(tmp_path / "host")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "gone" / "python"))
    with pytest.raises(HostError, match=r"^.*host: cannot start a process to run new_vm \("):
        _new_vm(host)


def test_an_error_the_window_cannot_rebuild_arrives_as_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception that pickles but cannot be unpickled (its __init__ takes other arguments
    than its args, as many libraries' do) is one HostError with its words, not a TypeError
    about __init__ raised in the window."""
    host = _host(tmp_path / "host")
    _new_vm(host)
    _site(tmp_path / "site", """\
        from hvgui.host import checkpoint_ops
        class ParseError(Exception):
            def __init__(self, path, why):
                super().__init__(f"{path}: {why}")
        def checkpoint_vm(*args, **kwargs):
            raise ParseError("/lab/A.xml", "line 3: unexpected end")
        checkpoint_ops.checkpoint_vm = checkpoint_vm
        """, monkeypatch)
    with pytest.raises(HostError, match=r"ParseError: /lab/A\.xml: line 3: unexpected end$"):
        host.checkpoint_vm("A", snapshot_name="one")


_WINDOW = """\
import os, signal, sys
from hvgui.host.isolated import IsolatedHost
{before}
host = IsolatedHost.open(sys.argv[1], create=False)
{during}
host.export_vm("A", sys.argv[2], progress=progress)
print("exported", flush=True)
"""


def _window(tmp_path: Path, before: str, during: str, **popen: object) -> str:
    """Run an export from another process standing for the window; its stdout."""
    script = _WINDOW.format(before=textwrap.dedent(before), during=textwrap.dedent(during))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "host"), str(tmp_path / "out")],
        capture_output=True, timeout=120, check=False, **popen)
    return done.stdout.decode() + done.stderr.decode()


def _exportable(root: Path) -> None:
    host = _host(root)
    _new_vm(host)


@POSIX_ONLY
def test_ctrl_c_in_the_windows_terminal_does_not_kill_the_operation_midway(
    tmp_path: Path,
) -> None:
    """Ctrl-C in a terminal reaches its whole foreground process group. The window may catch
    it and go on; the child must not die mid-export with a traceback (if the window goes
    away, its pipe closing cancels the child at a safe point)."""
    _exportable(tmp_path / "host")
    said = _window(tmp_path, """\
        signal.signal(signal.SIGINT, lambda *_: print("Ctrl-C", flush=True))  # lives on
        """, """\
        sent = []
        def progress(fraction, phase):
            if not sent:
                sent.append(phase)
                os.killpg(0, signal.SIGINT)  # as the terminal does
        """, start_new_session=True)
    assert said == "Ctrl-C\nexported\n", said
    assert (tmp_path / "out" / "A").is_dir()
    _clean(tmp_path / "host")


@POSIX_ONLY
def test_a_window_without_stderr_runs_operations(tmp_path: Path) -> None:
    """A GUI started without a terminal may have no stderr (pythonw on Windows, a desktop
    launcher that closed it): its children still run, and a stray write cannot land in the
    pipe that carries their answers."""
    _exportable(tmp_path / "host")
    said = _window(tmp_path, """\
        os.close(2)
        sys.stderr = sys.__stderr__ = None
        """, """\
        def progress(fraction, phase):
            pass
        """)
    assert said == "exported\n", said
    assert (tmp_path / "out" / "A").is_dir()
    _clean(tmp_path / "host")
