"""Finding the user's media files: a read-only, loop-safe walk over folders.

Nothing here opens a file; `sniff.classify` tells what each one is.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# Names that are never the user's media: OS bookkeeping, trash, NAS thumbnail folders.
_SYSTEM_NAMES = frozenset(
    {
        ".ds_store",
        "thumbs.db",
        "ehthumbs.db",
        "desktop.ini",
        "$recycle.bin",
        "system volume information",
        "@eadir",  # Synology's per-folder thumbnail cache
    }
)


def _skip_name(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_NAMES


def _is_excluded(real: str, excluded: tuple[str, ...]) -> bool:
    return any(real == ex or real.startswith(ex.rstrip(os.sep) + os.sep) for ex in excluded)


def _list_dir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as e:
        log.warning("skipping unreadable folder %s: %s", path, e.strerror or e)
        return []


def walk(
    roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    exclude: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Walk folders recursively and yield every file in them, in a stable order.

    Paths are yielded as found under their root (joined, not resolved). Directory symlinks are
    followed, but a directory already visited (same device and inode, from any root) is never
    entered twice, so symlink loops end and overlapping roots yield each file once. Hidden
    entries, OS bookkeeping files (.DS_Store, Thumbs.db, desktop.ini, $RECYCLE.BIN), broken
    symlinks and non-regular files are skipped; unreadable folders are logged and skipped.

    Args:
        roots: folders (or single files) to walk; one path is accepted as well as a list.
        exclude: paths whose contents are never yielded (the app's own data dir); compared
            after resolving symlinks.
    """
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    excluded = tuple(os.path.realpath(os.path.expanduser(os.fspath(e))) for e in exclude)
    seen: set[tuple[int, int]] = set()
    for root in roots:
        top = os.path.expanduser(os.fspath(root))
        try:
            st = os.stat(top)
        except OSError as e:
            log.warning("skipping missing or unreadable root %s: %s", top, e.strerror or e)
            continue
        top_real = os.path.realpath(top)
        if _is_excluded(top_real, excluded):
            continue
        if stat.S_ISREG(st.st_mode):
            yield Path(top)
        elif stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                yield from _walk_tree(top, top_real, excluded, seen)


def _walk_tree(
    top: str, top_real: str, excluded: tuple[str, ...], seen: set[tuple[int, int]]
) -> Iterator[Path]:
    # Depth-first, pre-order, entries sorted by name; an explicit stack so depth is not limited
    # by Python's recursion limit.
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [(top_real, iter(_list_dir(top)))]
    while stack:
        parent_real, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if _skip_name(entry.name):
            continue
        try:
            if excluded:
                real = (
                    os.path.realpath(entry.path)
                    if entry.is_symlink()
                    else os.path.join(parent_real, entry.name)
                )
                if _is_excluded(real, excluded):
                    continue
            else:
                real = os.path.join(parent_real, entry.name)
            if entry.is_dir():  # follows symlinks
                st = os.stat(entry.path)
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    log.debug("not entering %s again (symlink loop or overlapping root)", entry.path)
                    continue
                seen.add(key)
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                stack.append((real, iter(_list_dir(entry.path))))
            elif entry.is_file():  # False for broken symlinks, fifos, sockets, devices
                yield Path(entry.path)
        except OSError as e:
            log.warning("skipping %s: %s", entry.path, e.strerror or e)
