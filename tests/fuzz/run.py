"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python).

    python -m tests.fuzz.run TARGET [libFuzzer options] [NEW_INPUTS_DIR] tests/fuzz/corpus/TARGET

hvgui's modules are instrumented, so libFuzzer keeps the mutations that reach new code. A
finding (an exception other than a clear HvError, an input running past -timeout, memory
past -rss_limit_mb) stops the run with a crash-*/timeout-*/oom-* file: put that file in
tests/fuzz/corpus/TARGET/ and fix the code; test_fuzz.py then replays it in every run.
No file is ever written past MAX_FILE_WRITTEN: a write past it is a finding ("file size
exceeded": libFuzzer catches SIGXFSZ).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hvgui"]):
    # Loaded here, not on first use, so that the lazily loaded engine is instrumented too.
    import hvgui.host.check
    import hvgui.host.host
    import hvgui.host.keystore
    import hvgui.host.runtime
    import hvgui.host.savedstate
    import hvgui.host.xmlconfig
    import hvgui.inspect.chains
    import hvgui.inspect.decode
    import hvgui.vhdx.bat
    import hvgui.vhdx.chain
    import hvgui.vhdx.check
    import hvgui.vhdx.convert
    import hvgui.vhdx.image
    import hvgui.vhdx.info
    import hvgui.vhdx.locator
    import hvgui.vhdx.log
    import hvgui.vhdx.merge
    import hvgui.vhdx.structures
    import hvgui.vhdx.vhd
    import hvgui.vhdx.vhd_format
    import hvgui.vhdx.vhd_info  # noqa: F401

from tests.fuzz.targets import MAX_FILE_WRITTEN, TARGETS


def work_folder(target: str) -> Path:
    """Where the target makes its files: HVGUI_FUZZ_WORK (the test's own folder, removed by
    the test), else one folder per target in RAM when there is one. libFuzzer ends the process
    with exit(), so nothing made here would be cleaned up at the end: the folder is reused."""
    given = os.environ.get("HVGUI_FUZZ_WORK")
    if given:
        return Path(given)
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else Path(tempfile.gettempdir())) / f"hvgui-fuzz-{target}"


def main() -> None:
    name = sys.argv.pop(1)
    target = TARGETS[name]
    # tokens the mutations may insert: configuration text for both targets that take it
    words = Path(__file__).with_name(f"{'config' if name == 'host' else name}.dict")
    if words.exists() and not any(a.startswith("-dict=") for a in sys.argv):
        sys.argv.insert(1, f"-dict={words}")
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_WRITTEN, MAX_FILE_WRITTEN))
    folder = work_folder(name)

    def one_input(data: bytes) -> None:
        target(data, folder)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
