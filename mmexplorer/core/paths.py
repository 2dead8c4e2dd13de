"""Every location the app writes to. Nothing is ever written beside the user's files.

The data dir holds thumbnails of private photos, note text and transcripts, so it and everything
in it is the owner's only: folders 0700, files 0600, set explicitly (whatever the umask) when made,
and tightened when an existing data dir is opened (`prepare_data_dir`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "mmexplorer"
ENV_DATA_DIR = "MMEXPLORER_DATA_DIR"

_dirs = PlatformDirs(APP_NAME, appauthor=False)

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_POSIX = os.name == "posix"  # elsewhere the user's profile folder already keeps others out


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The library's data dir: --data-dir, else $MMEXPLORER_DATA_DIR, else the platform's user data dir."""
    chosen = override or os.environ.get(ENV_DATA_DIR) or _dirs.user_data_dir
    return Path(chosen).expanduser().resolve()


def catalog_path(root: Path) -> Path:
    return root / "catalog.sqlite3"


def index_dir(root: Path) -> Path:
    return root / "index"


def thumbnails_dir(root: Path) -> Path:
    return root / "thumbnails"


def log_dir(root: Path) -> Path:
    return root / "logs"


def calibration_dir(root: Path) -> Path:
    return root / "calibration"


def lock_path(root: Path) -> Path:
    """The library's write lock (core.lock): one writer per data dir."""
    return root / "write.lock"


# -- privacy --------------------------------------------------------------------------------
def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make a folder (and any missing parents) readable by the owner only (0700), whatever the umask.

    An existing folder is left as it is (`tighten` narrows those). Returns the folder.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made by another thread or process meanwhile: theirs to set
        if _POSIX:
            os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is cut by the umask; this is not
    return path


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """`os.open` a file that is owner-only (0600) whatever the umask, and return its descriptor."""
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    if _POSIX:
        try:
            os.chmod(path, PRIVATE_FILE_MODE)  # the mode given to os.open is cut by the umask
        except BaseException:
            os.close(fd)
            raise
    return fd


def private_file(path: str | os.PathLike[str]) -> None:
    """Narrow an existing file to the owner (0600) if it is wider; a missing file is fine."""
    if not _POSIX:
        return
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, (mode & 0o700) | PRIVATE_FILE_MODE)


def tighten(root: str | os.PathLike[str]) -> int:
    """Take group and other access away from a data dir and everything in it; return how many changed.

    Symbolic links are neither followed nor changed. A thumbnail subfolder that is already
    owner-only is not listed: thumbnails are always written 0600, so only an old, wider folder can
    hold wider files (a cache of many thousand files is not walked at every open).
    """
    if not _POSIX:
        return 0
    root = os.fspath(root)
    thumbs = os.fspath(thumbnails_dir(Path(root)))
    changed = 0

    def narrow(path: str, st: os.stat_result) -> bool:
        nonlocal changed
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o077:
            return False
        wanted = PRIVATE_DIR_MODE if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE_MODE
        try:
            os.chmod(path, (mode & 0o700) | wanted)
        except OSError as e:
            log.warning("cannot make %s owner-only: %s", path, e.strerror or e)
            return False
        changed += 1
        return True

    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(top.st_mode):
        return 0
    narrow(root, top)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as e:
            log.warning("cannot list %s to make it owner-only: %s", folder, e.strerror or e)
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            was_wide = narrow(entry.path, st)
            if stat.S_ISDIR(st.st_mode) and (was_wide or folder != thumbs):
                stack.append(entry.path)
    return changed


def prepare_data_dir(root: str | os.PathLike[str]) -> Path:
    """Create the data dir and its folders owner-only, and tighten what an older version left wider.

    Logs one line when anything was tightened. Returns the data dir.
    """
    root = Path(root)
    private_dir(root)
    for folder in (index_dir(root), thumbnails_dir(root), log_dir(root), calibration_dir(root)):
        try:
            private_dir(folder)
        except OSError as e:  # a read-only library can still be searched; its writers will say why
            log.warning("cannot create %s: %s", folder, e.strerror or e)
    changed = tighten(root)
    if changed:
        log.info("made the data dir %s owner-only: %d entries were readable by others", root, changed)
    return root


def settings_path() -> Path:
    """User settings live in the config dir, shared by every library."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser().resolve() / "settings.json"
    return Path(_dirs.user_config_dir) / "settings.json"


def model_cache_dir() -> Path | None:
    """Where open_clip and the hub cache weights: None means the standard Hugging Face cache."""
    value = os.environ.get("MMEXPLORER_MODEL_CACHE")
    return Path(value).expanduser() if value else None
