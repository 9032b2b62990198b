"""FAT file names: 8.3 short names, their checksum, and the long-name (VFAT/LFN) entries.

Every file gets an 8.3 entry; a name that is not already a plain upper-case 8.3 name also gets
LFN entries, as Windows writes them, so mtools and Windows show the same long name.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

ATTR_LONG_NAME = 0x0F
LFN_CHARS_PER_ENTRY = 13
MAX_LONG_NAME = 255

# Characters allowed in a short name besides A-Z and 0-9 (fatgen103).
_SHORT_EXTRA = set("!#$%&'()-@^_`{}~")
# Characters never allowed in a long name.
_LONG_FORBIDDEN = set('"*/:<>?\\|')


def validate_long_name(name: str) -> str | None:
    """The reason `name` cannot be a FAT file name, or None when it can."""
    if not name or name in (".", ".."):
        return "a file name cannot be empty, '.' or '..'"
    if len(name) > MAX_LONG_NAME:
        return f"a file name is at most {MAX_LONG_NAME} characters"
    bad = sorted({c for c in name if c in _LONG_FORBIDDEN or ord(c) < 32})
    if bad:
        return f"a file name cannot contain {''.join(bad)!r}"
    if name.endswith((" ", ".")):
        return "a file name cannot end with a space or a dot"
    if any(ord(c) > 0xFFFF for c in name):
        return "a file name must use characters of the Basic Multilingual Plane"
    return None


def _short_char_ok(c: str) -> bool:
    return ("A" <= c <= "Z") or ("0" <= c <= "9") or c in _SHORT_EXTRA


def exact_short_name(name: str) -> bytes | None:
    """The 11-byte 8.3 name when `name` is already a valid upper-case 8.3 name, else None."""
    if name.count(".") > 1:
        return None
    base, _, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or (name.endswith(".") and not ext):
        return None
    if not all(_short_char_ok(c) for c in base + ext):
        return None
    return base.ljust(8).encode("ascii") + ext.ljust(3).encode("ascii")


def _squeeze(text: str) -> str:
    """Upper-case `text` keeping only characters a short name allows ('_' for the rest)."""
    out = []
    for c in text.upper():
        if c in " .":
            continue
        out.append(c if _short_char_ok(c) else "_")
    return "".join(out)


def make_short_name(name: str, taken: Iterable[bytes]) -> bytes:
    """A unique 11-byte short name for long name `name` (BASENA~N.EXT), avoiding `taken`."""
    exact = exact_short_name(name)
    used = set(taken)
    if exact is not None and exact not in used:
        return exact
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip(". "):
        stem, ext = name, ""
    base = _squeeze(stem) or "FILE"
    ext3 = _squeeze(ext)[:3]
    for n in range(1, 1_000_000):
        tail = f"~{n}"
        candidate = (base[: 8 - len(tail)] + tail).ljust(8) + ext3.ljust(3)
        raw = candidate.encode("ascii")
        if raw not in used:
            return raw
    raise ValueError(f"no free short name for {name!r}")  # pragma: no cover - a million files


def short_name_text(raw: bytes) -> str:
    """The readable form of an 11-byte short name: `NAME.EXT` or `NAME`."""
    first = b"\xe5" if raw[:1] == b"\x05" else raw[:1]
    raw = first + raw[1:]
    base = raw[:8].decode("cp437").rstrip()
    ext = raw[8:11].decode("cp437").rstrip()
    return f"{base}.{ext}" if ext else base


def short_name_with_case(raw: bytes, nt_flags: int) -> str:
    """The short name as Windows shows it, honouring the lower-case flags in byte 12."""
    base = short_name_text(raw[:8] + b"   ")
    ext = short_name_text(b"        " + raw[8:11])
    if nt_flags & 0x08:
        base = base.lower()
    if nt_flags & 0x10:
        ext = ext.lower()
    return f"{base}{ext}" if ext else base


def checksum(raw: bytes) -> int:
    """The LFN checksum of an 11-byte short name."""
    total = 0
    for byte in raw[:11]:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def needs_long_name(name: str) -> bool:
    return exact_short_name(name) is None


def lfn_entries(name: str, short: bytes) -> list[bytes]:
    """The LFN directory entries for `name`, in on-disk order (last part first)."""
    units = list(name.encode("utf-16-le"))
    chars = [units[i] | (units[i + 1] << 8) for i in range(0, len(units), 2)]
    if len(chars) % LFN_CHARS_PER_ENTRY:
        chars.append(0x0000)
    while len(chars) % LFN_CHARS_PER_ENTRY:
        chars.append(0xFFFF)
    count = len(chars) // LFN_CHARS_PER_ENTRY
    check = checksum(short)
    entries = []
    for i in range(count):
        part = chars[i * LFN_CHARS_PER_ENTRY : (i + 1) * LFN_CHARS_PER_ENTRY]
        order = i + 1 if i + 1 < count else (i + 1) | 0x40
        entry = (
            struct.pack("<B5H", order, *part[0:5])
            + struct.pack("<BBB", ATTR_LONG_NAME, 0, check)
            + struct.pack("<6H", *part[5:11])
            + b"\x00\x00"
            + struct.pack("<2H", *part[11:13])
        )
        entries.append(entry)
    entries.reverse()
    return entries


def lfn_part(entry: bytes) -> tuple[int, int, str]:
    """(order, checksum, characters) of one LFN entry; characters stop at the terminator."""
    order = entry[0]
    check = entry[13]
    units = struct.unpack("<5H", entry[1:11]) + struct.unpack("<6H", entry[14:26])
    units += struct.unpack("<2H", entry[28:32])
    kept = []
    for unit in units:
        if unit in (0x0000, 0xFFFF):
            break
        kept.append(unit)
    text = struct.pack(f"<{len(kept)}H", *kept).decode("utf-16-le", errors="replace")
    return order, check, text
