"""Files are identified by their content, and text is read only up to a cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.inspect import (
    AVHDX,
    MISSING,
    UNKNOWN,
    VHD,
    VHDX,
    VMCX,
    VMGS,
    XML,
    identify,
    inspect_file,
    read_text_capped,
)
from hvgui.inspect.facts import HYPERV_2016_SIGNATURE


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("disk.bin", b"vhdxfile" + bytes(600), VHDX),  # content wins over the extension
        ("child.AVHDX", b"vhdxfile" + bytes(600), AVHDX),
        ("conf.dat", "\ufeff<?xml version='1.0'?><configuration/>".encode("utf-16-le"), XML),
        ("conf.xml", b"<?xml version='1.0'?><configuration/>", XML),
        ("be.xml", "<?xml version='1.0'?><configuration/>".encode("utf-16-be"), XML),
        ("u32.xml", "\ufeff<?xml version='1.0'?><configuration/>".encode("utf-32-le"), UNKNOWN),
        ("guest.vmgs", HYPERV_2016_SIGNATURE + bytes(100), VMGS),
        ("odd.name", HYPERV_2016_SIGNATURE + bytes(100), VMCX),
        ("old.vhd", bytes(1024) + b"conectix" + bytes(504), VHD),
        ("noise.vhdx", b"\x00\x01garbage" * 100, UNKNOWN),
        ("empty.xml", b"", UNKNOWN),
    ],
)
def test_identify_by_content(tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert identify(path) == kind


def test_a_missing_file(tmp_path: Path) -> None:
    assert identify(tmp_path / "gone.vhdx") == MISSING


def test_a_fake_vhdx_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "fake.vhdx"
    path.write_bytes(b"vhdxfile" + bytes(3000))
    facts = inspect_file(path)
    assert facts["kind"] == VHDX
    # the engine's dump lists the problems; nothing escapes as an exception
    problems = facts.get("error") or facts["vhdx"]["problems"]
    assert problems


def test_text_is_read_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    text = "<configuration>" + "x" * 10_000 + "</configuration>"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    shown, truncated = read_text_capped(path, limit=1000)
    assert truncated and len(shown) <= 500 and shown.startswith("<configuration>")
    shown, truncated = read_text_capped(path)
    assert not truncated and shown == text


def test_a_fifo_or_directory_is_named_never_opened(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.avhdx"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    for path, what in ((fifo, "a FIFO or device"), (tmp_path, "a directory")):
        assert identify(path) == UNKNOWN
        facts = inspect_file(path)
        assert facts["error"] == f"it is {what}, not a regular file"
        assert "note" not in facts


def test_an_empty_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in inspect_file(path)["note"]
