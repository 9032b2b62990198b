"""A writer of Hyper-V key stores (VMCX), for test fixtures only: the corpus holds one real
VMCX and no checkpoint's, so a 2016+ folder with checkpoints is built by decoding the real file
(hvgui/host/keystore.py), changing its tree, and writing it back with this writer.
test_vmcx_writer.py checks that the real file's tree, written and decoded again, is the same.

What it writes is the layout the decoder (dissect.hypervisor) reads, version 0x400:

```
0x0000, 0x1000   two file headers (signature 0x01282014, sequence 1 and 2, alignment 0x1000,
                 the replay log's offset and size)
0x2000           the object table (signature 0x01110001): one allocated KeyTable entry
0x3000           the key table (signature 0x0002, index 1): keys in tree order, each a 21-byte
                 header (type | size | parent table index | parent offset | checksum |
                 insertion sequence | data offset), its name in UTF-8 with a NUL, then its
                 value; zeros end it
after it         the replay log (signature 0x01110003, no entries)
```

Values: a container is a Node (12 bytes), `integer` an Int (8), `bool` a Bool (4), `string`
a String (length, UTF-16 LE), `bytes` an Array (length, bytes). Checksums are left zero and
no value is stored in a file object: the decoder checks neither, Hyper-V would refuse such a
file. It is test input for hvgui's reader, never a file to give Hyper-V.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from lxml import etree

ALIGN = 0x1000
_FILE_HEADER = struct.Struct("<IIHIQIQQI")
_LOG_HEADER = struct.Struct("<IIIBIIIIIB")
_OBJECT_TABLE = struct.Struct("<II")
_OBJECT = struct.Struct("<BIQIB")
_KEY_TABLE = struct.Struct("<HHHI")
_KEY = struct.Struct("<HIHIIIB")
OBJECT_TABLE_OFFSET = 0x2000
KEY_TABLE_OFFSET = 0x3000
KEY_TABLE, NODE, INT, STRING, ARRAY, BOOL = 2, 9, 3, 6, 7, 8


def _value(element: etree._Element) -> tuple[int, bytes]:
    kind = element.get("type")
    text = element.text or ""
    if kind is None:
        return NODE, bytes(12)
    if kind == "integer":
        return INT, struct.pack("<q", int(text))
    if kind == "bool":
        return BOOL, struct.pack("<I", text == "True")
    if kind == "string":
        data = text.encode("utf-16-le")
        return STRING, struct.pack("<I", len(data)) + data
    if kind == "bytes":
        data = base64.b64decode(text)
        return ARRAY, struct.pack("<I", len(data)) + data
    raise ValueError(f"{element.tag}: a value of type {kind!r} cannot be written")


def _keys(root: etree._Element) -> bytes:
    """The key table's bytes after its header: every element of `root` (and `root`) as a key,
    parents before children."""
    out = bytearray()
    offsets: dict[etree._Element, int] = {}
    for sequence, element in enumerate(root.iter(), 1):
        name = (element.get("name") or str(element.tag)).encode("utf-8") + b"\0"
        kind, value = _value(element)
        parent = element.getparent()
        offset = _KEY_TABLE.size + len(out)  # where the decoder finds it in the table
        offsets[element] = offset
        size = _KEY.size + len(name) + len(value)
        parent_at = offsets[parent] if parent is not None else 0
        out += _KEY.pack(kind, size, 1 if parent is not None else 0, parent_at, 0, sequence,
                         len(name))
        out += name + value
    return bytes(out)


def _aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def write_vmcx(root: etree._Element, path: Path) -> Path:
    """Write the element tree `root` (as keystore.load gives it) as a key store at `path`."""
    keys = _keys(root)
    table_size = _aligned(_KEY_TABLE.size + len(keys) + _KEY.size)  # zeros end the keys
    log_offset = KEY_TABLE_OFFSET + table_size
    data = bytearray(log_offset + ALIGN)
    for sequence, at in ((1, 0), (2, ALIGN)):
        _FILE_HEADER.pack_into(data, at, 0x01282014, 0, sequence, 0x400, 0, ALIGN, log_offset,
                               ALIGN, ALIGN)
    _OBJECT_TABLE.pack_into(data, OBJECT_TABLE_OFFSET, 0x01110001, 1)
    _OBJECT.pack_into(data, OBJECT_TABLE_OFFSET + _OBJECT_TABLE.size, KEY_TABLE, 0,
                      KEY_TABLE_OFFSET, table_size, 1)
    _KEY_TABLE.pack_into(data, KEY_TABLE_OFFSET, 0x0002, 1, 1, 0)
    data[KEY_TABLE_OFFSET + _KEY_TABLE.size:KEY_TABLE_OFFSET + _KEY_TABLE.size + len(keys)] = keys
    _LOG_HEADER.pack_into(data, log_offset, 0x01110003, 0, 0, 0, 145, 0, 0, 0, 0, 0)
    path.write_bytes(bytes(data))
    return path
