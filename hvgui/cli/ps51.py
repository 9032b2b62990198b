"""`--json-ps51`: what Windows PowerShell 5.1's `ConvertTo-Json` prints for the same records.

`--json` is ConvertTo-Json as PowerShell 7 writes it with `-EnumsAsStrings`, dates as UTC ISO text.
Windows PowerShell 5.1 (the one on every Hyper-V host) serialises through .NET's
JavaScriptSerializer instead, and scripts written against real hosts parse that:

- enums as their numbers (Hyper-V's values: State Running = 2, Off = 3, ...);
- DateTime as `"\\/Date(<ms since 1970 UTC>)\\/"`;
- TimeSpan (Uptime) as an object: Ticks, Days, Hours, Milliseconds, Minutes, Seconds, TotalDays,
  TotalHours, TotalMilliseconds, TotalMinutes, TotalSeconds;
- the default `-Depth 2`: a value nested deeper is written as PowerShell's text for it
  (`@{Name=...; ...}` for an object, items joined by spaces for a list);
- pipeline input: no record prints nothing, one prints that record, more print an array;
- its layout: four-space indent, two spaces after the colon, nested values aligned under their
  key, `'<>&` escaped as \\u0027 \\u003c \\u003e \\u0026.

The records are the `--json` ones (same property names); which properties are enums, dates and
time spans is decided here, by name, so `--json` itself stays exactly as it is.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

# The enums' numbers (one table: the Hyper-V backend reads what this module writes).
from hvgui.backend.ps_enums import ENUMS

DATES = frozenset({"CreationTime", "Time", "LastWriteTime", "modified", "accessed", "changed"})
TIME_SPANS = frozenset({"Uptime"})
DEFAULT_DEPTH = 2  # ConvertTo-Json's -Depth

_TICKS_PER_SECOND = 10_000_000
_UPTIME = re.compile(r"^(?:(\d+)\.)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,7}))?$")


class _Enum(int):
    """An enum value: serialised as its number, shown by name in PowerShell's text."""

    name: str

    def __new__(cls, name: str, number: int) -> _Enum:
        value = super().__new__(cls, number)
        value.name = name
        return value


def _parse_time_span(text: str) -> timedelta | str:
    match = _UPTIME.match(text)
    if not match:
        return text
    days, hours, minutes, seconds, fraction = match.groups()
    ticks = int((fraction or "0").ljust(7, "0"))
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                     seconds=int(seconds), microseconds=ticks // 10)


def _parse_date(text: str) -> datetime | str:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def _typed(value: Any, key: str | None = None) -> Any:
    """The record with its enums, dates and time spans given their .NET types back."""
    if isinstance(value, dict):
        return {str(k): _typed(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_typed(v) for v in value]
    if isinstance(value, str) and key is not None:
        if key in ENUMS and value in ENUMS[key]:
            return _Enum(value, ENUMS[key][value])
        if key in DATES:
            return _parse_date(value)
        if key in TIME_SPANS:
            return _parse_time_span(value)
    if isinstance(value, timedelta) and key in TIME_SPANS:
        return value
    return value


def _ticks(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * _TICKS_PER_SECOND + span.microseconds * 10


def _time_span(span: timedelta) -> dict[str, Any]:
    """System.TimeSpan's public properties, in the order PowerShell 5.1 lists them."""
    ticks = _ticks(span)
    whole = abs(ticks) // _TICKS_PER_SECOND
    sign = -1 if ticks < 0 else 1
    return {
        "Ticks": ticks,
        "Days": sign * (whole // 86_400),
        "Hours": sign * (whole // 3600 % 24),
        "Milliseconds": sign * (abs(ticks) // 10_000 % 1000),
        "Minutes": sign * (whole // 60 % 60),
        "Seconds": sign * (whole % 60),
        # .NET multiplies by the reciprocal: the same doubles, to the last bit
        "TotalDays": ticks * (1.0 / 864_000_000_000),
        "TotalHours": ticks * (1.0 / 36_000_000_000),
        "TotalMilliseconds": ticks * (1.0 / 10_000),
        "TotalMinutes": ticks * (1.0 / 600_000_000),
        "TotalSeconds": ticks * (1.0 / _TICKS_PER_SECOND),
    }


def _ps_text(value: Any) -> str:
    """PowerShell's string conversion (invariant culture), used past the depth limit."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, _Enum):
        return value.name
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, datetime):
        moment = value.astimezone() if value.tzinfo else value
        return moment.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, timedelta):
        ticks = _ticks(value)
        whole, rest = divmod(abs(ticks), _TICKS_PER_SECOND)
        days, whole = divmod(whole, 86_400)
        text = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        text = (f"{days}." if days else "") + text + (f".{rest:07d}" if rest else "")
        return ("-" if ticks < 0 else "") + text
    if isinstance(value, dict):
        return "@{" + "; ".join(f"{k}={_ps_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return " ".join(_ps_text(v) for v in value)
    return str(value)


def _process(value: Any, depth: int) -> Any:
    """ConvertTo-Json's walk: primitives as they are, objects and lists to `-Depth`."""
    if value is None or isinstance(value, str | bool | int | float | datetime):
        return value
    if depth > DEFAULT_DEPTH:
        return _ps_text(value)
    if isinstance(value, timedelta):
        return _time_span(value)  # its properties are all numbers: no deeper walk needed
    if isinstance(value, dict):
        return {k: _process(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_process(v, depth + 1) for v in value]
    return str(value)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t"}
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\"\\\\'<>&\u0085\u2028\u2029]")


def _string(text: str) -> str:
    """JavaScriptSerializer's string: HttpUtility.JavaScriptStringEncode in quotes."""
    return '"' + _NEEDS_ESCAPE.sub(
        lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def _number(value: float) -> str:
    """A double as .NET Framework's "R" format writes it (15 digits if they round-trip)."""
    if not math.isfinite(value):
        return _string(str(value))  # no record holds one; never write invalid JSON
    text = f"{value:.15g}"
    if float(text) != value:
        text = f"{value:.17g}"
    return text.replace("e", "E")


def _date(moment: datetime) -> str:
    """`\\/Date(ms)\\/`: milliseconds since 1970 UTC, truncated; a time without a zone is local."""
    aware = moment if moment.tzinfo else moment.astimezone()
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    millis = abs(micros) // 1000 * (-1 if micros < 0 else 1)
    return f'"\\/Date({millis})\\/"'


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, datetime):
        return _date(value)
    return _string(str(value))


def _layout(value: Any, pad: str) -> str:
    """PowerShell 5.1's pretty printing: `pad` is where the enclosing bracket's line starts."""
    inner = pad + "    "
    if isinstance(value, dict):
        items = [f"{inner}{_string(k)}:  {_layout(v, inner + ' ' * (len(_string(k)) + 3))}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _layout(v, inner) for v in value) + "\n" + pad + "]"
    return _scalar(value)


def convert_to_json(record: Any) -> str:
    """One object (or one array) as `ConvertTo-Json -InputObject` writes it."""
    return _layout(_process(_typed(record), 0), "")


def pipeline_to_json(records: list[Any]) -> str | None:
    """`... | ConvertTo-Json`: None for no input, the object for one, an array for more."""
    if not records:
        return None
    return convert_to_json(records[0] if len(records) == 1 else records)
