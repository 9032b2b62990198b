"""The MS-VHDX engine (no Qt): create, open, read and write VHDX/AVHDX files and their chains.

Modules: `format` (constants), `structures` (parse/build headers, region table, metadata,
parent locator), `bat` (BAT geometry and sparse table), `log` (log replay), `image`
(`VhdxImage`: one file, validated at open), `locator` (parent paths), `create`, `chain`
(`open_disk`, `Disk`, `BlockSource`); merge, check, info and convert build on these.
"""

from hvgui.vhdx.bat import Bat, BatGeometry
from hvgui.vhdx.chain import (
    BlockSource,
    Disk,
    DiskFile,
    check_linkage,
    open_disk,
    resolve_parent,
    set_read_only,
)
from hvgui.vhdx.create import create_differencing, create_dynamic, create_fixed
from hvgui.vhdx.errors import (
    CorruptFileError,
    ParentMismatchError,
    ParentNotFoundError,
    ReadOnlyError,
    UnsupportedError,
    VhdxError,
)
from hvgui.vhdx.format import DEFAULT_DIFFERENCING_BLOCK, DEFAULT_DYNAMIC_BLOCK, GiB, MiB, TiB
from hvgui.vhdx.image import VhdxImage

__all__ = [
    "DEFAULT_DIFFERENCING_BLOCK",
    "DEFAULT_DYNAMIC_BLOCK",
    "Bat",
    "BatGeometry",
    "BlockSource",
    "CorruptFileError",
    "Disk",
    "DiskFile",
    "GiB",
    "MiB",
    "ParentMismatchError",
    "ParentNotFoundError",
    "ReadOnlyError",
    "TiB",
    "UnsupportedError",
    "VhdxError",
    "VhdxImage",
    "check_linkage",
    "create_differencing",
    "create_dynamic",
    "create_fixed",
    "open_disk",
    "resolve_parent",
    "set_read_only",
]

# Merge-VHD, Test-VHD, Get-VHD, the inspector's dump and Convert-VHD.
from hvgui.vhdx.check import Finding, test_vhd
from hvgui.vhdx.convert import convert_vhd
from hvgui.vhdx.info import VhdInfo, dump_vhdx, get_vhd
from hvgui.vhdx.merge import MergeResult, merge_vhd

__all__ += [
    "Finding",
    "MergeResult",
    "VhdInfo",
    "convert_vhd",
    "dump_vhdx",
    "get_vhd",
    "merge_vhd",
    "test_vhd",
]
