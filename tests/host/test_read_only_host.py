"""A host on a read-only folder or mount opens read-only: listing, checking and inspecting work;
every change is refused up front with one line saying why, and nothing on disk changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.host import Host
from hvgui.host.errors import ReadOnlyHostError
from tests.conftest import REPO
from tests.host.loopfs import read_only_view

MiB = 1 << 20


@pytest.fixture
def read_only_lab(tmp_path: Path) -> Iterator[Path]:
    host = Host.open(tmp_path / "lab")
    host.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    host.checkpoint_vm("web01", snapshot_name="one")
    host.new_vm("db01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    host.start_vm("db01")
    with read_only_view(host.root) as root:
        yield root


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            st = os.stat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def test_a_read_only_host_lists_checks_and_inspects(
    read_only_lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.open(read_only_lab, create=False)
    assert "cannot be written" in host.read_only or "not writable" in host.read_only
    assert {vm.name for vm in host.list_vms()} == {"web01", "db01"}
    assert [s.name for s in host.list_snapshots("web01")] == ["one"]
    assert host.check() == []
    for argv in (["get-vm"], ["get-vmsnapshot", "web01"], ["test-host"],
                 ["inspect-checkpoint", "web01", "one"]):
        assert main([*argv, "--host", str(read_only_lab)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["checkpoint-vm", "web01"],
        ["new-vm", "web02"],
        ["start-vm", "web01"],
        ["stop-vm", "db01", "--turn-off"],
        ["rename-vm", "web01", "web99"],
        ["restore-vmsnapshot", "web01", "one"],
        ["remove-vmsnapshot", "web01", "one"],
        ["rename-vmsnapshot", "web01", "one", "two"],
        ["guest-write-file", "db01", "/a.txt", "--text", "x"],
        ["guest-note", "db01", "--set", "x"],
    ],
)
def test_every_change_is_refused_with_one_line_and_nothing_changes(
    read_only_lab: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = _tree(read_only_lab)
    assert main([*argv, "--host", str(read_only_lab)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"hvctl: error: {read_only_lab}: the host is read-only: "), err
    assert err.rstrip().endswith("nothing was changed")
    assert _tree(read_only_lab) == before


def test_the_host_refuses_in_its_operations_not_only_the_cli(read_only_lab: Path) -> None:
    host = Host.open(read_only_lab, create=False)
    with pytest.raises(ReadOnlyHostError, match="read-only"):
        host.checkpoint_vm("web01")
    with pytest.raises(ReadOnlyHostError):
        host.write_memory("db01", 0, b"x")
    with pytest.raises(ReadOnlyHostError):
        host.open_vm_disk("db01", writable=True)
    with host.open_vm_disk("db01", writable=False) as disk:
        assert len(disk.read(0, 512)) == 512


def test_a_writable_host_is_not_read_only(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "lab")
    assert host.read_only == ""
    assert Host.open(tmp_path / "lab", create=False).read_only == ""
    assert not [p for p in (tmp_path / "lab" / ".hvgui").iterdir() if "probe" in p.name]


def test_chmod_a_w_makes_a_host_read_only_for_its_user(tmp_path: Path) -> None:
    """The issue's own attack, `chmod -R a-w lab`, run by a user the mode bits bind (as root:
    without the capabilities that override them)."""
    host = Host.open(tmp_path / "lab")
    host.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: mode bits do not bind root")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    hvctl = [*prefix, sys.executable, "-m", "hvgui.cli.main"]
    subprocess.run(["chmod", "-R", "a-w", str(host.root)], check=True)
    try:
        listed = subprocess.run([*hvctl, "get-vm", "--host", str(host.root)],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        if os.geteuid() == 0 and listed.returncode != 0 and "hvctl" not in listed.stderr:
            pytest.skip(f"root cannot drop its override capabilities: {listed.stderr.strip()}")
        assert listed.returncode == 0 and "web01" in listed.stdout, listed.stderr
        refused = subprocess.run([*hvctl, "checkpoint-vm", "web01", "--host", str(host.root)],
                                 capture_output=True, text=True, cwd=REPO, timeout=120)
        assert refused.returncode == 1
        assert refused.stderr == (f"hvctl: error: {host.root}: the host is read-only: "
                                  f"{host.root} is not writable; nothing was changed\n")
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(host.root)], check=True)
    assert [s.name for s in Host.open(host.root).list_snapshots("web01")] == []


def test_adopt_host_on_a_read_only_lab_host_says_it_is_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a host is comes from the host (HostBackend.kind), not from guessing: a lab host
    that is read-only and whose Windows root record is damaged is still a lab host, not a
    Server 2016+ folder."""
    from hvgui.host.winpaths import NAMES_FILE

    host = Host.open(tmp_path / "lab")
    (host.root / ".hvgui" / NAMES_FILE).write_text("garbage")  # a torn or edited record
    with read_only_view(host.root) as root:
        assert main(["adopt-host", "--host", str(root)]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out == f"{root}: already a lab host (nothing to adopt)\n"
