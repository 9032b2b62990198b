"""Which format a disk file is in, told from a few of its bytes before any decoder runs (and
without loading the VHD decoders: a VHDX command never pays for them)."""

from __future__ import annotations

import os
from pathlib import Path

from hvgui import portable
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.files import open_disk_file

VHD_FOOTER_SIZE = 512
VHD_FOOTER_COOKIE = b"conectix"


def is_vhd(path: str | os.PathLike[str]) -> bool:
    """Whether the regular file ends in a VHD footer (or, damaged at its end, starts with the
    copy a dynamic disk keeps there). Never raises, never blocks on a FIFO."""
    try:
        fd = open_disk_file(Path(path))
    except VhdxError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size < VHD_FOOTER_SIZE:
            return False
        cookies = (portable.pread(fd, 8, 0), portable.pread(fd, 8, size - VHD_FOOTER_SIZE))
    except OSError:
        return False
    finally:
        os.close(fd)
    # A VHDX's last sector is guest data, which may well hold a VHD footer: its signature wins.
    return not cookies[0].startswith(b"vhdxfile") and VHD_FOOTER_COOKIE in cookies
