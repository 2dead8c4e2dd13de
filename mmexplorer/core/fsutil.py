"""File-system helpers shared by core: the one atomic write.

Everything the app writes into its data dir (FAISS files and their sidecars, thumbnails,
settings) goes through `atomic_write`, so a crash or a full disk leaves either the old file or
the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# What a writer callable gets: the temp file's path (it exists and is empty); it fills it.
Writer = Callable[[Path], None]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry (a rename into it) to disk; a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str | Writer,
    *,
    encoding: str = "utf-8",
    fsync: bool = True,
) -> Path:
    """Replace `path` with new content atomically: temp file in the same folder, fsync, os.replace.

    The temp file is named `.<name>.tmp-<random>` beside the target, so a process that died
    mid-write leaves a stray a later open can recognise and delete (see VectorIndex.open). On any
    failure the temp file is removed, the target is untouched, and the original exception is
    raised for the caller to translate.

    Args:
        path: the file to write; its folder must exist.
        data: the new content as bytes, as text (encoded with `encoding`), or a callable that
            writes the content to the path it is given (for writers that only take a file name,
            such as `faiss.write_index` or `PIL.Image.save`).
        encoding: the encoding of text `data`.
        fsync: flush the file and the folder entry to disk before returning. A cache that is
            cheap to rebuild (thumbnails) may skip it; the rename is atomic either way.

    Returns:
        `path`, as a Path.
    """
    target = Path(path)
    if callable(data):
        writer, raw = data, b""
    else:
        writer, raw = None, data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    tmp = Path(name)
    try:
        if writer is not None:
            os.close(fd)
            writer(tmp)
            if fsync:
                _fsync_file(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                if fsync:
                    os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(target.parent)
    return target
