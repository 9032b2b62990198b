"""The local transport's plumbing, with a stand-in for powershell.exe (a Python script that
reads the one line the transport sends, as PowerShell would, and prints records)."""

from __future__ import annotations

import sys

import pytest

from hvgui.hyperv.errors import ConnectError, ConnectionLostError
from hvgui.hyperv.local import LocalTransport
from hvgui.hyperv.records import RecordError

# Decodes the script from the line on stdin, then the parameters from the script, and
# answers with a progress record (BOM and CRLF as Windows PowerShell 5.1) and a result.
STAND_IN = r"""
import base64, json, sys
line = sys.stdin.readline()
assert sys.stdin.read() == "", "more than one line"
script = base64.b64decode(line.split("FromBase64String('")[1].split("'")[0]).decode()
parameters = json.loads(base64.b64decode(script.split("Get-HvguiParameters '")[1].split("'")[0]))
out = sys.stdout.buffer
out.write(b'\xef\xbb\xbf{"Record":"progress","Phase":"Creating","PercentComplete":50}\r\n')
out.write(json.dumps({"Record": "result", "Kind": "Echo", "Object": parameters}).encode() + b"\r\n")
out.flush()
sys.stderr.write(MORE)
sys.exit(CODE)
"""


def stand_in(more: str = "", code: int = 0) -> LocalTransport:
    source = STAND_IN.replace("MORE", repr(more)).replace("CODE", str(code))
    return LocalTransport([sys.executable, "-c", source])


def test_records_stream_from_the_process() -> None:
    records = list(stand_in().run("checkpoint_vm", {"VMId": "X", "SnapshotName": "a'b"}))
    assert [r.kind for r in records] == ["progress", "result"]
    assert records[0].data["PercentComplete"] == 50
    assert records[1].object == {"VMId": "X", "SnapshotName": "a'b"}


def test_a_failed_powershell_says_what_it_printed() -> None:
    with pytest.raises(ConnectionLostError, match=r"exit code 3 while get_vms ran: Hyper-V is"):
        list(stand_in("Hyper-V is not installed\n", 3).run("get_vms", {}))


def test_garbage_on_stdout_is_one_clear_error() -> None:
    transport = LocalTransport([sys.executable, "-c", "print('Windows PowerShell banner')"])
    with pytest.raises(RecordError, match="get_vms: output is not a JSON record"):
        list(transport.run("get_vms", {}))


def test_no_powershell_is_named() -> None:
    transport = LocalTransport(["/nonexistent/powershell.exe"])
    with pytest.raises(ConnectError, match=r"cannot start /nonexistent/powershell\.exe"):
        list(transport.run("get_vms", {}))
