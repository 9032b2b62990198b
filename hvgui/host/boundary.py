"""The host folder is a trust boundary: what a lab folder says can touch only the lab folder.

A lab folder may come from anywhere (a course site, a colleague's zip), so every path read
from it (journals, configurations, saved-state locations, pointer files) is input. Before a
host writes, creates, renames, chmods, merges into, deletes or copies from a path, the path is
resolved with every symbolic link followed and must lie inside the host folder, or inside a
folder the user allowed for this host on this machine. Reading (showing a disk's properties,
the guest's files) is allowed anywhere and shown with a warning.

The allowed folders are kept OUTSIDE the lab (in the user's settings, keyed by the host's
real path): a list inside the lab folder would be the lab's own say, which is what the
boundary exists to distrust.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import platformdirs

from hvgui.host.errors import HostError
from hvgui.host.fileio import atomic_write, norm, parse_json, read_bounded

ALLOW_COMMAND = "hvctl set-host --allow-outside-folder DIR"
ALLOWED_FILE = "allowed-outside.json"
MAX_SETTINGS_BYTES = 1 << 20


def real(path: str | os.PathLike[str]) -> Path:
    """`path` with every symbolic link followed (the part that does not exist yet kept)."""
    return Path(os.path.realpath(norm(path)))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class Boundary:
    """Answers "is this path inside the host (or an allowed folder)?" for one host."""

    def __init__(self, root: Path, allowed: Iterable[Path] = ()) -> None:
        self.root = norm(root)
        self._real_root = real(root)
        self.allowed = tuple(real(folder) for folder in allowed)

    def inside(self, path: str | os.PathLike[str]) -> bool:
        where = real(path)
        return _within(where, self._real_root) or any(_within(where, a) for a in self.allowed)

    def problem(self, path: str | os.PathLike[str]) -> str | None:
        """Why `path` is out of this host's reach, or None when it is inside."""
        if self.inside(path):
            return None
        where = real(path)
        via = f" (a link leads to {where})" if where != norm(path) else ""
        return f"outside the host folder {self.root}{via}"

    def require(self, path: str | os.PathLike[str], doing: str) -> None:
        """Raise unless the host may change `path` (`doing` says how: "create a disk here")."""
        why = self.problem(path)
        if why is not None:
            raise HostError(
                path,
                f"refusing to {doing}: it is {why}; a lab may change only its own folder "
                f"(`{ALLOW_COMMAND}` lets this host reach a folder you name)",
            )

    def require_own(self, path: str | os.PathLike[str], doing: str) -> None:
        """`require`, and for a file whose content is changed in place (a disk written, merged
        into or made read-only, guest memory): no other name shares it, since a hard link
        (`cp -al lab lab2`) would carry the change to the other lab."""
        self.require(path, doing)
        why = shared_file(path)
        if why:
            raise HostError(path, f"refusing to {doing}: {why}")

    def require_source(self, path: str | os.PathLike[str], what: str) -> None:
        """Raise unless `path` is a regular file the host may copy from: copying a file from
        outside into the lab (or into an export someone shares) would leak it."""
        self.require(path, f"copy the {what} from it")
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise HostError(path, f"cannot read the {what}: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            raise HostError(path, f"not a regular file, which a {what} must be")


def shared_file(
    path: str | os.PathLike[str], own_names: Iterable[str | os.PathLike[str]] = ()
) -> str | None:
    """Why changing the file at `path` in place would change another file too, or None.
    `own_names`: other names the host's own operation gave it (an interrupted streamed merge:
    the merged disk took the destination's name and still has its own and its marker's,
    vhdx/merge.py)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    ours = sum(1 for name in own_names if same_file(path, name))
    if stat.S_ISREG(st.st_mode) and st.st_nlink - ours > 1:
        return (
            f"it has {st.st_nlink - 1} other name(s) (hard links, as `cp -al` makes), which "
            "would change with it; copy the lab with `cp -a`"
        )
    return None


def refuse_linked_metadata(paths: Iterable[Path]) -> None:
    """The host's own bookkeeping (`.hvgui` and what it holds, the event log) is cleaned up,
    renamed and appended to without a second look: a link there would lead that outside."""
    for path in paths:
        if path.is_symlink():
            raise HostError(
                path,
                "is a symbolic link, but a host's own files must be real files inside its "
                "folder (refusing to open the host; remove the link)",
            )


# ---------------------------------------------------------------------- the allow setting
def settings_dir() -> Path:
    """The user's hvgui settings folder (`HVGUI_CONFIG_DIR` overrides it)."""
    env = os.environ.get("HVGUI_CONFIG_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_config_dir("hvgui"))


_READ: dict[Path, tuple[tuple[int, int, int], dict[str, list[str]]]] = {}


def _read_allowed() -> dict[str, list[str]]:
    """The settings file, read again only when it changed (the window asks on every refresh)."""
    path = settings_dir() / ALLOWED_FILE
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise HostError(path, f"cannot read the allowed outside folders: {exc.strerror}") from None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _READ.get(path)
    if cached is not None and cached[0] == stamp:
        return dict(cached[1])
    try:
        data = parse_json(read_bounded(path, MAX_SETTINGS_BYTES))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, HostError) as exc:
        raise HostError(path, f"cannot read the allowed outside folders: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(f, str) for f in v) for v in data.values()
    ):
        raise HostError(path, "not a list of allowed folders per host")
    _READ[path] = (stamp, dict(data))
    return data


def allowed_outside(root: Path) -> list[Path]:
    """The folders outside `root` the user allowed this host to change."""
    return [Path(f) for f in _read_allowed().get(str(real(root)), [])]


def set_allowed_outside(root: Path, folders: Iterable[Path]) -> list[Path]:
    """Replace the folders this host may reach outside itself; returns them (real paths)."""
    data = _read_allowed()
    chosen = list(dict.fromkeys(real(f) for f in folders))
    for folder in chosen:
        if not folder.is_dir():
            raise HostError(folder, "not a folder")
        if folder == Path(folder.anchor):
            raise HostError(folder, "a whole file system cannot be allowed: name a folder")
    key = str(real(root))
    if chosen:
        data[key] = [str(f) for f in chosen]
    else:
        data.pop(key, None)
    path = settings_dir() / ALLOWED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1).encode())
    return chosen


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
