"""Configuration XML: the 2012 R2 format, and hostile or malformed files refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.host import Host, HostError
from hvgui.host.xmlconfig import ConfigDoc

from .hosthelpers import make_vm


def config_of(host: Host, vm: str) -> Path:
    return host.get_vm(vm).config_path


def test_written_like_hyperv_2012_r2(host: Host) -> None:
    make_vm(host, "web01", generation=1)
    data = config_of(host, "web01").read_bytes()
    assert data.startswith(b"\xff\xfe")  # UTF-16 LE with a byte-order mark
    text = data.decode("utf-16")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16" standalone="yes"?>\r\n')
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert '<name type="string">web01</name>' in text
    assert '<version type="integer">1280</version>' in text
    assert "<_83f8638b-8dca-4152-9eda-2ca8b33039b4_>" in text  # the IDE controller section
    assert '<type type="string">VHD</type>' in text
    assert '<type type="string">ISO</type>' in text  # the empty DVD drive at IDE 1:0
    vm = host.get_vm("web01")
    assert [
        (d.controller_type, d.controller_number, d.controller_location) for d in vm.hard_drives
    ] == [("IDE", 0, 0)]


def test_unknown_elements_survive_a_change(host: Host) -> None:
    make_vm(host)
    path = config_of(host, "web01")
    doc = ConfigDoc.load(path)
    doc.set("settings/vendor_extension/flag", "bool", True)
    path.write_bytes(doc.to_bytes())
    host.set_vm("web01", processor_count=2)
    again = ConfigDoc.load(path)
    assert again.get_bool("settings/vendor_extension/flag") is True
    assert again.processor_count == 2


HOSTILE = {
    "entity": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE c [<!ENTITY x SYSTEM '
    '"file:///etc/passwd">]><configuration><properties><name type="string">&x;</name>'
    "</properties></configuration>",
    "billion laughs": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">' for i in range(1, 10)
    )
    + "]><configuration>&lol9;</configuration>",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_xml_is_refused_naming_the_file(host: Host, kind: str) -> None:
    make_vm(host)
    path = config_of(host, "web01")
    path.write_bytes(b"\xff\xfe" + HOSTILE[kind].encode("utf-16-le"))
    with pytest.raises(HostError) as info:
        host.get_vm("web01")
    assert str(path) in str(info.value)
    assert "DOCTYPE" in str(info.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?><configuration/>', "UTF-16"),
        (b"\xff\xfe" + b"\x00\xd8<\x00", "not valid UTF-16"),
        (b"\xff\xfe" + "<configuration><properties>".encode("utf-16-le"), "not well-formed"),
        (b"\xff\xfe" + "<vm/>".encode("utf-16-le"), "not <configuration>"),
        (
            b"\xff\xfe" + "<configuration><properties/></configuration>".encode("utf-16-le"),
            "missing element configuration/properties/global_id",
        ),
    ],
    ids=["utf-8", "bad utf-16", "truncated", "wrong root", "missing element"],
)
def test_malformed_xml_gives_a_clear_error(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(HostError) as info:
        doc = ConfigDoc.load(path)
        _ = doc.id, doc.name
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_wrong_value_type_names_the_element(host: Host) -> None:
    make_vm(host)
    path = config_of(host, "web01")
    text = (
        path.read_bytes()
        .decode("utf-16")
        .replace('<count type="integer">1</count>', '<count type="integer">many</count>')
    )
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    with pytest.raises(HostError, match="settings/processors/count is not an integer: 'many'"):
        host.get_vm("web01")


def test_oversized_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    path.write_bytes(b"\xff\xfe" + b"<\x00" * (5 << 20))
    with pytest.raises(HostError, match="larger than"):
        ConfigDoc.load(path)


def test_host_check_and_cli_report_a_damaged_configuration(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    make_vm(host)
    path = config_of(host, "web01")
    path.write_bytes(b"garbage")
    findings = host.check()
    assert [f.code for f in findings] == ["config-unreadable"]
    assert findings[0].path == path
    assert main(["test-host", "--host", str(host.root)]) == 1
    make_vm(host, "db01")
    capsys.readouterr()
    assert main(["get-vm", "--host", str(host.root)]) == 1  # the readable VMs are still listed
    out, err = capsys.readouterr()
    assert f"hvctl: error: {path}: not a Hyper-V configuration" in err
    assert "db01" in out
