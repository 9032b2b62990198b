"""Each output line is one record; anything else is one clear error naming the script."""

from __future__ import annotations

import base64
import json

import pytest

from hvgui.hyperv.records import MAX_LINE, RecordError, parse_line
from hvgui.hyperv.transport import invocation, one_line


def test_windows_powershell_output_is_read_bom_crlf_and_all() -> None:
    line = '\ufeff{"Record":"progress","Phase":"Creating Checkpoint","PercentComplete":5}\r\n'
    record = parse_line("checkpoint_vm", line.encode("utf-8"))
    assert record is not None and record.kind == "progress"
    assert record.data["PercentComplete"] == 5
    assert parse_line("get_vms", b"\r\n") is None


@pytest.mark.parametrize(("line", "problem"), [
    ("WARNING: something", "not a JSON record"),
    ("[1, 2]", "must be a JSON object"),
    ('{"Record": "chatter"}', "must be progress, result or error"),
    ('{"Kind": "VM"}', "must be progress, result or error"),
    ("[" * 100000 + "]" * 100000, "not a JSON record"),
])
def test_what_is_not_a_record_is_refused_in_one_line(line: str, problem: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_line("get_vms", line)
    assert str(caught.value).startswith("get_vms: ") and problem in str(caught.value)


def test_a_line_past_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(RecordError, match="longer than allowed"):
        parse_line("read_file", b"{" + b" " * MAX_LINE + b"}")
    with pytest.raises(RecordError, match="not UTF-8"):
        parse_line("get_vms", b'{"Record": "\xff"}')


def test_parameters_travel_as_data_never_as_code() -> None:
    name = "it's a \u2019quote\u2019 $(Remove-Item C:\\) `n"
    text = invocation("rename_snapshot", {"VMId": "X", "SnapshotId": "Y", "NewName": name})
    assert name not in text and "Remove-Item" not in text
    payload = text.split("Get-HvguiParameters '", 1)[1].split("'", 1)[0]
    assert json.loads(base64.b64decode(payload))["NewName"] == name
    assert "Rename-VMSnapshot" in text and text.rstrip().endswith("} catch { Write-HvguiError $_ }")


def test_the_local_transport_sends_one_line() -> None:
    text = invocation("get_vms", {})
    line = one_line(text)
    assert "\n" not in line
    encoded = line.split("FromBase64String('", 1)[1].split("'", 1)[0]
    assert base64.b64decode(encoded).decode("utf-8") == text
