"""Thumbnails cached in the data dir, keyed by the source file's path, mtime and size.

Never written beside the user's files. Pure PIL (no Qt, no torch): the GUI calls `make_thumbnail`
from a thread pool and turns the cached file into a QImage there; a CLI or test can call it too.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PIL import Image

from mmexplorer.core import paths
from mmexplorer.core.errors import DecodeError
from mmexplorer.core.fsutil import atomic_write

log = logging.getLogger(__name__)

DEFAULT_SIDE = 256
_JPEG_QUALITY = 85


def cache_key(path: str | os.PathLike[str], *, mtime_ns: int, size: int, side: int) -> str:
    """A stable hex key: any change to the file (mtime or size) or the requested side gives a new key."""
    text = f"{os.fspath(path)}\0{mtime_ns}\0{size}\0{side}"
    try:  # a name that is not valid UTF-8 is keyed by its real bytes
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (a Windows name)
        raw = text.encode("utf-8", "surrogatepass")
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()


def thumbnail_path(cache_dir: Path, path: str | os.PathLike[str], *, side: int = DEFAULT_SIDE) -> Path:
    """Where the thumbnail of `path` at `side` lives (or would live) in `cache_dir`.

    Raises:
        DecodeError: the source file cannot be stat'ed (gone, unreadable).
    """
    src = Path(path).absolute()
    try:
        st = src.stat()
    except OSError as e:
        raise DecodeError(src, f"cannot read file: {e.strerror or e}") from e
    key = cache_key(src, mtime_ns=st.st_mtime_ns, size=st.st_size, side=side)
    return Path(cache_dir) / key[:2] / f"{key}.jpg"


def _load(path: Path, side: int) -> Image.Image:
    # core.media owns safe decoding (EXIF, first frame, pixel limits, HEIF); keep a plain PIL path
    # only for when it is not importable, so thumbnails never depend on import order.
    try:
        from mmexplorer.core.media import load_image
    except ImportError:  # pragma: no cover - media is part of core
        load_image = None
    if load_image is not None:
        return load_image(path, min_side=side)
    from PIL import ImageOps

    try:
        with Image.open(path) as im:
            im.draft("RGB", (side, side))
            return ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DecodeError(path, f"cannot decode image: {e}") from e


def make_thumbnail(path: str | os.PathLike[str], cache_dir: Path, *, side: int = DEFAULT_SIDE) -> Path:
    """Return the cached thumbnail of an image file, making it first if needed.

    The thumbnail fits in a `side` x `side` box, keeps the aspect ratio and is a JPEG.
    Safe to call from several threads: each writes a temp file and renames it into place.

    Args:
        path: the image file (read only).
        cache_dir: the data dir's thumbnails folder (paths.thumbnails_dir).
        side: the longest side of the thumbnail, in pixels.

    Raises:
        DecodeError: the file is gone or is not a decodable image.
    """
    target = thumbnail_path(cache_dir, path, side=side)
    if target.exists():
        return target
    img = _load(Path(path), side)
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.thumbnail((side, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    paths.private_dir(target.parent)  # thumbnails of private photos: 0700 folders, 0600 files (atomic_write)
    # A cache: a thumbnail lost to a crash is simply made again, so it is not worth an fsync.
    atomic_write(target, lambda tmp: img.save(tmp, "JPEG", quality=_JPEG_QUALITY), fsync=False)
    return target


def prune(cache_dir: Path, *, max_bytes: int) -> int:
    """Delete the least recently used thumbnails until the cache is under `max_bytes`.

    Returns:
        The number of files deleted.
    """
    entries = []
    for p in Path(cache_dir).glob("*/*.jpg"):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_atime, st.st_size, p))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, p in sorted(entries):
        if total <= max_bytes:
            break
        try:
            p.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
