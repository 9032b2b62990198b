"""The MS-VHDX engine (no Qt): create, open, read and write VHDX/AVHDX files and their chains.

Modules: `format` (constants), `problems` (what a decoder reports, strict or collected),
`structures` (decode/build headers, region table, metadata, parent locator), `bat` (BAT
geometry, decoder and sparse table), `log` (log decoding and replay), `image` (`VhdxImage`: one
file, decoded strictly at open), `info` (the survey: the same decoders, problems collected),
`locator` (parent paths), `create`, `chain` (`open_disk`, `Disk`), `block_table` (`BlockTable`:
which chain file serves each block, as runs; `BlockSource`), `state_runs` (per-block
BAT states as runs); merge, check
(Test-VHD), vhdx_info (Get-VHD), dump (the inspector's) and convert build on these.

The names below are loaded on first use (PEP 562), so that `from hvgui import vhdx` costs
nothing and a command pays only for the modules it calls into (`get-vhd` never loads merge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.vhdx.bat import Bat, BatGeometry
    from hvgui.vhdx.block_table import BlockSource, BlockTable, row_chunks
    from hvgui.vhdx.chain import (
        Disk,
        DiskFile,
        check_linkage,
        open_disk,
        open_image,
        resolve_parent,
        set_read_only,
    )
    from hvgui.vhdx.check import Finding, test_vhd
    from hvgui.vhdx.convert import convert_vhd
    from hvgui.vhdx.create import create_differencing, create_dynamic, create_fixed
    from hvgui.vhdx.dump import dump_vhdx
    from hvgui.vhdx.errors import (
        CorruptFileError,
        ParentMismatchError,
        ParentNotFoundError,
        ReadOnlyError,
        UnsupportedError,
        VhdxError,
    )
    from hvgui.vhdx.format import (
        DEFAULT_DIFFERENCING_BLOCK,
        DEFAULT_DYNAMIC_BLOCK,
        GiB,
        MiB,
        TiB,
    )
    from hvgui.vhdx.image import VhdxImage
    from hvgui.vhdx.merge import (
        MergeResult,
        marked_destination,
        merge_vhd,
        stream_growth,
        stream_marker,
        stream_names,
    )
    from hvgui.vhdx.vhd import VhdImage
    from hvgui.vhdx.vhd_create import create_vhd, create_vhd_differencing
    from hvgui.vhdx.vhd_info import dump_vhd
    from hvgui.vhdx.vhdx_info import VhdInfo, get_vhd
    from hvgui.vhdx.walk import ChainLink, walk_chain

# Each public name and the module that defines it.
_HOME = {
    "Bat": "bat", "BatGeometry": "bat",
    "BlockSource": "block_table", "BlockTable": "block_table", "row_chunks": "block_table",
    "Disk": "chain", "DiskFile": "chain", "check_linkage": "chain",
    "open_disk": "chain", "open_image": "chain", "resolve_parent": "chain",
    "set_read_only": "chain",
    "create_differencing": "create", "create_dynamic": "create", "create_fixed": "create",
    "CorruptFileError": "errors", "ParentMismatchError": "errors",
    "ParentNotFoundError": "errors", "ReadOnlyError": "errors", "UnsupportedError": "errors",
    "VhdxError": "errors",
    "DEFAULT_DIFFERENCING_BLOCK": "format", "DEFAULT_DYNAMIC_BLOCK": "format",
    "GiB": "format", "MiB": "format", "TiB": "format",
    "VhdxImage": "image",
    # Merge-VHD, Test-VHD, Get-VHD, the inspector's dump and Convert-VHD.
    "Finding": "check", "test_vhd": "check",
    "convert_vhd": "convert",
    "VhdInfo": "vhdx_info", "dump_vhdx": "dump", "get_vhd": "vhdx_info",
    "MergeResult": "merge", "merge_vhd": "merge", "stream_growth": "merge",
    "stream_marker": "merge", "stream_names": "merge", "marked_destination": "merge",
    "ChainLink": "walk", "walk_chain": "walk",
    # The legacy VHD format (read, and AVHD children created and written).
    "VhdImage": "vhd", "create_vhd": "vhd_create", "create_vhd_differencing": "vhd_create",
    "dump_vhd": "vhd_info",
}

__all__ = [
    "DEFAULT_DIFFERENCING_BLOCK",
    "DEFAULT_DYNAMIC_BLOCK",
    "Bat",
    "BatGeometry",
    "BlockSource",
    "BlockTable",
    "ChainLink",
    "CorruptFileError",
    "Disk",
    "DiskFile",
    "Finding",
    "GiB",
    "MergeResult",
    "MiB",
    "ParentMismatchError",
    "ParentNotFoundError",
    "ReadOnlyError",
    "TiB",
    "UnsupportedError",
    "VhdImage",
    "VhdInfo",
    "VhdxError",
    "VhdxImage",
    "check_linkage",
    "convert_vhd",
    "create_differencing",
    "create_dynamic",
    "create_fixed",
    "create_vhd",
    "create_vhd_differencing",
    "dump_vhd",
    "dump_vhdx",
    "get_vhd",
    "marked_destination",
    "merge_vhd",
    "open_disk",
    "open_image",
    "resolve_parent",
    "row_chunks",
    "set_read_only",
    "stream_growth",
    "stream_marker",
    "stream_names",
    "test_vhd",
    "walk_chain",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
