"""Configuration XML: the 2012 R2 format, and hostile or malformed files refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.host import Host, HostError
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.inspect import XML, inspect_file, read_text_capped

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
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><configuration/>', "'ISO-8859-1'"),
        (b'<?xml version="1.0" encoding="UTF-16"?><c>\xe9</c>', "not valid UTF-8 text (byte 42)"),
        (b"\xff\xfe\x00\x00" + "<c/>".encode("utf-32-le"), "UTF-32 content"),
        (b"\x00\x00\x00\x01binary", "binary content"),
        ("configuration".encode("utf-16-be"), "UTF-16 BE without byte-order mark text that is"),
        (b"\xff\xfe" + b"\x00\xd8<\x00", "not valid UTF-16"),
        (b"\xff\xfe" + "<configuration><properties>".encode("utf-16-le"), "not well-formed"),
        (b"\xff\xfe" + "<vm/>".encode("utf-16-le"), "not <configuration>"),
        (
            b"\xff\xfe" + "<configuration><properties/></configuration>".encode("utf-16-le"),
            "missing element configuration/properties/global_id",
        ),
    ],
    ids=[
        "latin-1", "bad utf-8", "utf-32", "binary", "not xml", "bad utf-16",
        "truncated", "wrong root", "missing element",
    ],
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


# Hyper-V's file re-encoded the ways copies arrive: (how, encode the text, what the host says).
BOM = "with byte-order mark"
NO_BOM = "without byte-order mark"
ENCODINGS = {
    "utf-16-le-bom": (lambda t: b"\xff\xfe" + t.encode("utf-16-le"), f"UTF-16 LE {BOM}"),
    "utf-16-be-bom": (lambda t: b"\xfe\xff" + t.encode("utf-16-be"), f"UTF-16 BE {BOM}"),
    "utf-16-le": (lambda t: t.encode("utf-16-le"), f"UTF-16 LE {NO_BOM}"),
    "utf-16-be": (lambda t: t.encode("utf-16-be"), f"UTF-16 BE {NO_BOM}"),
    "utf-8-declared-utf-16": (lambda t: t.encode("utf-8"), "UTF-8 (declared UTF-16)"),
    "utf-8-bom-declared-utf-16": (
        lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"), f"UTF-8 {BOM} (declared UTF-16)"
    ),
    "ascii-lf-only": (
        lambda t: t.replace("\r\n", "\n").encode("ascii"), "UTF-8 (declared UTF-16)"
    ),
    "utf-8-declared-utf-8": (
        lambda t: t.replace('encoding="UTF-16"', 'encoding="utf-8"').encode("utf-8"), "UTF-8"
    ),
}


@pytest.mark.parametrize("how", sorted(ENCODINGS))
def test_a_configuration_re_encoded_in_transit_still_opens(
    host: Host, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_vm(host, "web01", generation=1)
    host.set_vm("web01", notes="Prüfung – naïve")  # not ASCII: the text must survive
    path = config_of(host, "web01")
    text = path.read_bytes().decode("utf-16")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"')
    encode, words = ENCODINGS[how]
    if how == "ascii-lf-only":
        host.set_vm("web01", notes="plain")
        text = path.read_bytes().decode("utf-16")
    path.write_bytes(encode(text))

    vm = host.get_vm("web01")
    assert vm.notes == ("plain" if how == "ascii-lf-only" else "Prüfung – naïve")
    assert [d.controller_type for d in vm.hard_drives] == ["IDE"]
    assert ConfigDoc.load(path).encoding == words
    # the inspector names the encoding it found, in the GUI's facts and on the command line
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["xml"]["encoding"] == words
    assert inspect_file(path)["kind"] == XML
    shown, _ = read_text_capped(path)
    assert "<configuration>" in shown and "encoding=" in shown
    # the next change writes it back as Hyper-V does, nothing lost
    host.set_vm("web01", processor_count=2)
    data = path.read_bytes()
    assert data.startswith(b"\xff\xfe<\x00?\x00x\x00m\x00l\x00")
    assert ConfigDoc.load(path).encoding == "UTF-16 LE with byte-order mark"
    again = host.get_vm("web01")
    assert (again.notes, again.processor_count) == (vm.notes, 2)


@pytest.mark.parametrize("how", ["utf-16-be", "utf-8-declared-utf-16", "utf-16-le"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_xml_in_any_readable_encoding_is_still_refused(
    host: Host, how: str, kind: str
) -> None:
    make_vm(host)
    path = config_of(host, "web01")
    path.write_bytes(ENCODINGS[how][0](HOSTILE[kind]))
    with pytest.raises(HostError) as info:
        host.get_vm("web01")
    assert str(info.value).startswith(f"{path}: ")
    assert "DOCTYPE" in str(info.value)
