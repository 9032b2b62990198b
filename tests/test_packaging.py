"""hvgui as users install it: `python -m build` makes an sdist and a wheel (built from the
sdist), the wheel installs into a fresh venv with its dependencies, and the installed commands
work there: hvctl on a new demo lab, hvgui offscreen up to its first paint, with its icons and
no Qt warnings. Slow (a build and a venv): .ci/run runs it explicitly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run(*argv: str | Path, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=600)
    assert result.returncode == 0, f"{argv}: exit {result.returncode}\n{result.stderr}"
    return result


def source_copy(dest: Path) -> Path:
    """The files git knows (committed or not ignored): what a clone has, without the venv or
    egg-info that a build would otherwise pick up or leave behind in the working tree."""
    listed = run("git", "-C", REPO, "ls-files", "-z", "--cached", "--others",
                 "--exclude-standard").stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def qt_noise() -> list[str]:
    """The offscreen plugin's messages the GUI tests ignore too (pyproject.toml)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(config["tool"]["pytest"]["ini_options"]["qt_log_ignore"])


def test_the_built_wheel_installs_and_runs(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, source)
    [sdist] = dist.glob("hvgui-*.tar.gz")
    [wheel] = dist.glob("hvgui-*-py3-none-any.whl")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "LICENSE", "resources/hvgui.desktop", "resources/icons/hvgui.svg",
            "hvgui/cli/main.py"} <= in_sdist
    with zipfile.ZipFile(wheel) as archive:
        data = {n.split(".data/data/", 1)[1] for n in archive.namelist() if ".data/data/" in n}
        shipped = set(archive.namelist())
    # The PowerShell each Hyper-V operation runs (package data, read with importlib.resources).
    scripts = {f"hvgui/hyperv/scripts/{p.name}" for p in (REPO / "hvgui/hyperv/scripts").iterdir()}
    assert "hvgui/hyperv/scripts/get_vms.ps1" in scripts and scripts <= shipped
    # The tests' doubles stay with the tests: no Hyper-V host answered by a lab ships.
    assert not any("lab_transport" in name or name.startswith("tests/") for name in shipped)
    assert scripts <= in_sdist
    assert {"share/applications/hvgui.desktop",
            "share/icons/hicolor/scalable/apps/hvgui.svg",
            "share/hvgui/icons/checkpoint.svg"} <= data

    venv = tmp_path / "venv"
    try:
        run(sys.executable, "-m", "venv", venv)
        # The dependencies come from pip's cache or index, as for any user.
        run(venv / "bin" / "pip", "install", "-q", wheel)
        bindir = venv / "bin"
        # Where desktops look, below the install's prefix (~/.local with pip --user).
        assert (venv / "share/applications/hvgui.desktop").read_text() == (
            REPO / "resources/hvgui.desktop").read_text()
        assert (venv / "share/icons/hicolor/scalable/apps/hvgui.svg").is_file()

        home = tmp_path / "home"  # the app's settings and data go here, not the tester's
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HVGUI_", "PYTHON"))}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local/share"), QT_QPA_PLATFORM="offscreen")
        lab = tmp_path / "lab"
        outside = tmp_path  # not the repository: nothing may be imported from the source tree
        run(bindir / "hvctl", "new-demo-host", lab, env=env, cwd=outside)
        vms = json.loads(run(bindir / "hvctl", "--host", lab, "get-vm", "--json",
                             env=env, cwd=outside).stdout)
        assert sorted(vm["Name"] for vm in vms) == [
            "Archive01", "Lab-Client", "SAN-Server", "Web01"]
        run(bindir / "hvctl", "test-host", "--host", lab, env=env, cwd=outside)
        assert run(bindir / "hvgui", "--version", env=env).stdout.startswith("hvgui ")

        shot = tmp_path / "first-paint.png"
        result = run(bindir / "python", REPO / "tests" / "first_paint.py", lab, shot,
                     env=env, cwd=outside)
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["exit"] == 0 and report["painted"]
        assert Path(report["package"]).is_relative_to(venv)
        assert Path(report["icon_dir"]) == (venv / "share/hvgui/icons").resolve()
        assert len(report["icons"]) >= 30 and report["null_icons"] == []
        assert not report["window_icon_null"]
        assert report["vms"] == ["Archive01", "Lab-Client", "SAN-Server", "Web01"]
        noise = qt_noise()
        warnings = [m for m in report["messages"]
                    if not m.startswith(("QtDebugMsg", "QtInfoMsg"))
                    and not any(n in m for n in noise)]
        assert warnings == []
        assert shot.stat().st_size > 10_000
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # 350 MB of PySide6
