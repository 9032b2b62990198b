"""The test fixtures' VMCX writer (vmcxwriter.py) writes what the decoder reads back as the tree
it was given: the real corpus file's tree round-trips exactly, and each value type keeps its
type and value."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from hvgui.host import keystore
from hvgui.host.configform import leaf
from tests.host.vmcxwriter import write_vmcx

pytestmark = pytest.mark.usefixtures("vmcx_extra")


def test_the_real_files_tree_round_trips(corpus_dir: Path, tmp_path: Path) -> None:
    real, summary = keystore.load(corpus_dir / "test.vmcx")
    back, again = keystore.load(write_vmcx(real, tmp_path / "copy.vmcx"))
    assert etree.tostring(back) == etree.tostring(real)
    assert again["keys"] == summary["keys"] == 409


def test_each_value_type_keeps_its_type_and_value(tmp_path: Path) -> None:
    root = etree.Element("configuration")
    for where, kind, text in (
        ("properties/name", "string", "Wëb 01 ✓"), ("properties/empty", "string", ""),
        ("settings/memory/bank/size", "integer", "-1"), ("a/big", "integer", str(2**62)),
        ("a/yes", "bool", "True"), ("a/no", "bool", "False"),
        ("properties/creation_time", "bytes", "p25FZp6X1wE="),
    ):
        leaf(root, where, kind, text)
    etree.SubElement(root, "nvram")  # an empty container
    back, _ = keystore.load(write_vmcx(root, tmp_path / "types.vmcx"))
    assert etree.tostring(back) == etree.tostring(root)
    assert back.find("properties/name").get("type") == "string"
    assert back.findtext("settings/memory/bank/size") == "-1"
