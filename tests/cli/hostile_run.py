"""Run every hvctl disk command on every hostile file, in one process, and print the results
as JSON (exit code, stderr lines, seconds) with the process's peak RSS. Used by
test_hostile_disks.py in a subprocess so that a hang hits a timeout and RSS is this run's own.

    python -m tests.cli.hostile_run FOLDER
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path

from hvgui.cli.main import main
from tests.vhdx import hostile


def commands(path: Path, folder: Path) -> list[list[str | Path]]:
    return [
        ["get-vhd", path],
        ["get-vhd", path, "--json"],
        ["test-vhd", path],
        ["read-vhd", path, "--offset", "0", "--length", "4096", "--output", folder / "out.bin"],
        ["convert-vhd", path, folder / "out.raw"],
        ["convert-vhd", path, folder / "out.vhdx"],
        ["merge-vhd", "--path", path],
        ["write-vhd", path, "--offset", "0", "--input", folder / "in.bin"],
        ["new-vhd", folder / "kid.avhdx", "--parent-path", path],
    ]


# No command may write a file past this, whatever a hostile file asks (a log zeroing 16 GiB
# once filled the file system): past it a write fails (EFBIG) instead of filling the disk.
MAX_FILE_WRITTEN = 1 << 30


def run(folder: Path) -> dict[str, object]:
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_WRITTEN, MAX_FILE_WRITTEN))
    (folder / "in.bin").write_bytes(b"\xab" * 1000)
    files = [make(folder) for make in hostile.ALL]
    results = []
    for path in files:
        for args in commands(path, folder):
            err, out = io.StringIO(), io.StringIO()
            start = time.monotonic()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code: object = main([str(a) for a in args])
                except SystemExit as exc:
                    code = exc.code
                except BaseException as exc:  # reported to the test as its code
                    code = f"{type(exc).__name__}: {exc}"
            for name in ("out.bin", "out.raw", "out.vhdx", "kid.avhdx"):
                (folder / name).unlink(missing_ok=True)
            results.append({"file": path.name, "command": args[0], "code": code,
                            "stderr": err.getvalue().strip().splitlines(),
                            "seconds": time.monotonic() - start})
    sizes = {p.name: p.stat().st_size for p in files if p.is_file()}
    return {"results": results, "peak_rss": peak_rss(), "sizes": sizes}


def peak_rss() -> int:
    """This process's peak RSS in bytes. VmHWM belongs to the process's own memory map; Linux
    carries ru_maxrss over fork and exec, so it would report a large parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    json.dump(run(Path(sys.argv[1])), sys.stdout)
