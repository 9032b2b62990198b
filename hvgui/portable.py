"""Every operating-system call that is not the same on Linux, macOS and Windows, in one place.

Each function uses the POSIX call where the platform has it and a fallback where it does not;
the capability is looked up at call time (`getattr(os, ...)`), so a test can hide a POSIX-only
feature and exercise the fallback on Linux (tests/test_portable_simulation.py). No other
module may use fcntl, msvcrt, os.pread/pwrite/preadv, SEEK_DATA/SEEK_HOLE, O_NONBLOCK,
fdatasync, copy_file_range or os.open (tests/test_portable_scan.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import threading
import time
from types import ModuleType

fcntl: ModuleType | None
msvcrt: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt  # type: ignore[no-redef,unused-ignore]
except ImportError:  # everything but Windows
    msvcrt = None

WINDOWS = os.name == "nt"

# Positional I/O without pread/pwrite is a seek and a read: one at a time in this process.
_SEEK_LOCK = threading.RLock()

# --------------------------------------------------------------------------------- opening


def open_fd(path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
    """`os.open`, binary on Windows (its default text mode would rewrite line ends) and never
    inherited by child processes."""
    extra = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0)
    return os.open(path, flags | extra, mode)


def no_follow() -> int:
    """The flag that refuses a symbolic link as the last path component, where there is one
    (Windows has none; a link there needs a privilege users rarely have)."""
    return getattr(os, "O_NOFOLLOW", 0)


def open_without_blocking(path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
    """Open without waiting: a FIFO opened for reading blocks until a writer comes. Where
    there is no O_NONBLOCK (Windows) there are no FIFOs in the file system either."""
    return open_fd(path, flags | getattr(os, "O_NONBLOCK", 0), mode)


def make_blocking(fd: int) -> None:
    """Undo open_without_blocking's mode once the file is known to be a regular file."""
    if getattr(os, "O_NONBLOCK", None) is not None and hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)


# ------------------------------------------------------------------------- positional I/O


def pread(fd: int, length: int, offset: int) -> bytes:
    """Up to `length` bytes at `offset` (fewer at the end of the file), without moving the
    position other threads rely on."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)


def preadinto(fd: int, buffer: memoryview, offset: int) -> int:
    """Read into `buffer` at `offset`; the byte count (short at the end of the file)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    data = pread(fd, len(buffer), offset)
    buffer[: len(data)] = data
    return len(data)


def pwrite(fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
    """Write at `offset` (may write less than given: see vhdx.files.pwrite_all)."""
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)


# copy_file_range's failures that mean "not here" (another OS, two file systems, an old kernel,
# a file system without it), not "the copy failed": the bytes then go through pread/pwrite.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP,
                   errno.EBADF, errno.EPERM}


def kernel_copy(src: int, dst: int, length: int, src_offset: int, dst_offset: int) -> int | None:
    """Copy up to `length` bytes between files in the kernel (os.copy_file_range, Linux): the
    count copied, or None where that cannot be done here and the caller copies through memory.
    Other errors (EIO, ENOSPC) raise."""
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return None
    try:
        return int(copy(src, dst, length, src_offset, dst_offset))
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
        return None


# Local disk file systems whose copy_file_range is a copy through memory (no shared blocks as
# on XFS/Btrfs, no copy on the server as on NFS): writing there with O_DIRECT from the
# source's cached pages moves the same bytes without that copy (vhdx/direct_copy.py).
_DIRECT_FILE_SYSTEMS = {"ext2", "ext3", "ext4"}


def file_system_type(fd: int) -> str | None:
    """The type of the file system holding `fd` ("ext4", "xfs"...), from the mount table
    (Linux: /proc/self/mountinfo, by device number); None where it cannot be told."""
    try:
        dev = os.fstat(fd).st_dev
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 2 and fields[2] == f"{os.major(dev)}:{os.minor(dev)}":
                    after = line.split(" - ", 1)
                    if len(after) == 2 and after[1].split():
                        return after[1].split()[0]
    except (OSError, ValueError):
        return None
    return None


def direct_writer(fd: int) -> int | None:
    """A second descriptor on the open file `fd`, writing with O_DIRECT (the bytes go from the
    caller's memory to the disk, bypassing the page cache), where that is worth it: Linux, a
    local ext2/3/4 file system, O_DIRECT accepted. None elsewhere: copy with kernel_copy."""
    flag = getattr(os, "O_DIRECT", None)
    if flag is None or file_system_type(fd) not in _DIRECT_FILE_SYSTEMS:
        return None
    try:  # the same open file, not whatever now has its name
        return open_fd(f"/proc/self/fd/{fd}", os.O_WRONLY | flag)
    except OSError:
        return None


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing these bytes to the disk now, without waiting for it, so
    that the disk works while the copy goes on and the fsync that follows waits less (Linux:
    POSIX_FADV_DONTNEED starts the writeback of dirty pages). A hint: does nothing elsewhere."""
    advise = getattr(os, "posix_fadvise", None)
    if length > 0 and advise is not None:  # (a length of 0 means "to the end")
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def forget_cached(fd: int, offset: int, length: int) -> None:
    """Drop these bytes' clean pages from the page cache (POSIX_FADV_DONTNEED), for a file
    about to be deleted: its deletion then has no cached pages left to free. A hint: does
    nothing elsewhere."""
    start_writeback(fd, offset, length)  # the same call: it writes dirty pages, drops clean ones


# ------------------------------------------------------------------------------------ holes


def next_data(fd: int, offset: int) -> int | None:
    """The first offset >= `offset` holding data, or None when only a hole (or the end of
    the file) follows. Where holes cannot be seen (no SEEK_DATA, or the file system does not
    say) the whole file is data."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is not None:
        try:
            return os.lseek(fd, offset, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
    return offset if offset < os.fstat(fd).st_size else None


def next_hole(fd: int, offset: int) -> int:
    """The end of the data at `offset`: the next hole, else the end of the file."""
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_hole is not None:
        try:
            return os.lseek(fd, offset, seek_hole)
        except OSError:
            pass
    return os.fstat(fd).st_size


# ------------------------------------------------------------------------------- durability


def sync_data(fd: int) -> None:
    """The file's data on the disk: fdatasync where there is one; F_FULLFSYNC on macOS,
    whose fsync leaves it in the drive's cache; fsync elsewhere."""
    if sys.platform == "darwin" and fcntl is not None and hasattr(fcntl, "F_FULLFSYNC"):
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass  # not supported by this file system: fsync below
    sync = getattr(os, "fdatasync", None) or os.fsync
    sync(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename, creation or unlink in `folder` durable (durable.py says when). A file
    system that cannot fsync a folder says so with one of _FSYNC_UNSUPPORTED: nothing more can
    be done there; any other error (EIO) is raised, as the change may not be on the disk.
    Skipped on Windows, which cannot open a folder as a file and whose NTFS journals its
    metadata itself."""
    if WINDOWS:
        return
    fd = open_fd(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EISDIR}


# ---------------------------------------------------------------------------------- locking

# msvcrt locks byte ranges, and a locked range cannot be read by others on Windows: lock one
# byte far past the end of any file we keep, so that the lock never covers content (the UCRT's
# _locking takes the 64-bit file position: its locking.cpp uses _lseeki64 and OffsetHigh).
_MSVCRT_LOCK_OFFSET = 1 << 40


def lock(fd: int, *, exclusive: bool = True, wait: bool = True) -> bool:
    """Lock the open file `fd` against other processes (advisory on POSIX: every party goes
    through here). Shared locks exist only with fcntl; msvcrt's are all exclusive. Without
    `wait`, False when another process holds it. Closing `fd` releases the lock."""
    if fcntl is not None:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flags | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
    if msvcrt is not None:
        while True:
            with _SEEK_LOCK:
                os.lseek(fd, _MSVCRT_LOCK_OFFSET, os.SEEK_SET)
                try:
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    return True
                except OSError:
                    pass
            if not wait:
                return False
            time.sleep(0.05)  # LK_LOCK would give up after ten seconds
    raise OSError(errno.ENOSYS, "no file locking on this system (neither fcntl nor msvcrt)")


def unlock(fd: int) -> None:
    """Release lock()'s lock while keeping `fd` open."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:
        with _SEEK_LOCK:
            os.lseek(fd, _MSVCRT_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def free_space(path: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer may still use on the file system holding `path` (an
    existing file or folder): statvfs's f_bavail on POSIX, GetDiskFreeSpaceEx on Windows."""
    return shutil.disk_usage(path).free


# ---------------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs. Not os.kill(pid, 0) on Windows: that terminates it."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


if sys.platform == "win32":

    def _windows_pid_alive(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
