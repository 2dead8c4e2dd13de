"""Thumbnails cached in the data dir, keyed by the source file's path, mtime and size.

Never written beside the user's files. Pure PIL (no Qt, no torch): the GUI calls `make_thumbnail`
from a thread pool and turns the cached file into a QImage there; a CLI or test can call it too.
A recording's thumbnail is its waveform: `waveform` decodes it once (at a low sample rate, so an
hour-long memo stays in bounded memory), keeps the peaks in the cache, and `make_thumbnail` draws
them with PIL into a PNG whose alpha is the waveform (the GUI tints it) and whose text chunk
"duration" carries the recording's length.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from mmexplorer.core import paths
from mmexplorer.core.errors import DecodeError
from mmexplorer.core.fsutil import atomic_write

log = logging.getLogger(__name__)

DEFAULT_SIDE = 256
_JPEG_QUALITY = 85

#: Peaks kept per recording (the detail pane's waveform is drawn from them, the card from fewer).
WAVEFORM_BINS = 1200
#: The sample rate a waveform is decoded at: its envelope needs no more, and 48 minutes are 46 MB.
WAVEFORM_RATE = 4000
#: A waveform thumbnail is this much wider than tall (the cards' preview area is 4:3, the band wide).
_WAVE_ASPECT = 3.0
#: The PNG text key of a waveform thumbnail that holds the recording's duration in seconds.
DURATION_KEY = "duration"
_CACHE_SUFFIXES = ("*/*.jpg", "*/*.png", "*/*.npz")


@dataclass(frozen=True)
class Waveform:
    """A recording's envelope: `peaks[i]` is the loudest |sample| of bin i, scaled so the loudest is 1.

    duration_s: the recording's length. level: the loudest |sample| before scaling (0: silent).
    """

    duration_s: float
    peaks: np.ndarray
    level: float = 1.0


def _is_recording(path: str | os.PathLike[str]) -> bool:
    """Whether the file's kind draws its thumbnail as a waveform (a recording's file kind)."""
    from mmexplorer.core.media.kinds import kind_by_extension

    kind = kind_by_extension(Path(path).name)
    return kind is not None and kind.thumbnail == "waveform"


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

    A photo's is a JPEG; a recording's (its waveform) a PNG.

    Raises:
        DecodeError: the source file cannot be stat'ed (gone, unreadable).
    """
    return _cached_path(cache_dir, path, side=side, suffix=".png" if _is_recording(path) else ".jpg")


def _cached_path(cache_dir: Path, path: str | os.PathLike[str], *, side: int, suffix: str) -> Path:
    src = Path(path).absolute()
    try:
        st = src.stat()
    except OSError as e:
        raise DecodeError(src, f"cannot read file: {e.strerror or e}") from e
    key = cache_key(src, mtime_ns=st.st_mtime_ns, size=st.st_size, side=side)
    return Path(cache_dir) / key[:2] / f"{key}{suffix}"


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

    A recording's thumbnail is its waveform (see `make_waveform_thumbnail`).

    Raises:
        DecodeError: the file is gone or is not a decodable image (or recording).
    """
    if _is_recording(path):
        return make_waveform_thumbnail(path, cache_dir, side=side)
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


def waveform(path: str | os.PathLike[str], cache_dir: Path, *, bins: int = WAVEFORM_BINS) -> Waveform:
    """A recording's peaks (`bins` of them over its whole length) and duration, cached in `cache_dir`.

    Decoded once, block by block (core.media.recordings.stream_audio) at WAVEFORM_RATE; keyed like a
    thumbnail (path, mtime, size), so an edited recording gets new peaks. Safe from several threads.

    Raises:
        DecodeError: the file is gone or cannot be decoded as audio.
    """
    target = _cached_path(cache_dir, path, side=-bins, suffix=".npz")
    if target.exists():
        try:
            with np.load(target) as z:
                return Waveform(float(z["duration_s"]), z["peaks"].astype(np.float32), float(z["level"]))
        except (OSError, ValueError, KeyError):
            log.warning("unreadable waveform cache %s: making it again", target)
    wave = _decode_waveform(Path(path), bins=bins)
    paths.private_dir(target.parent)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, duration_s=wave.duration_s, peaks=wave.peaks, level=wave.level)

    atomic_write(target, write, fsync=False)
    return wave


def _decode_waveform(path: Path, *, bins: int) -> Waveform:
    """Peaks of a recording decoded block by block: memory holds one block and a 10 ms envelope."""
    from mmexplorer.core.media import recordings

    stream = getattr(recordings, "stream_audio", None)
    if stream is not None:
        blocks = stream(path, sample_rate=WAVEFORM_RATE)
    else:  # a decoder that only gives the whole recording
        blocks = iter([recordings.decode_audio(path, sample_rate=WAVEFORM_RATE)])
    hop = WAVEFORM_RATE // 100
    envelope: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    total = 0
    for block in blocks:
        block = np.abs(np.nan_to_num(np.asarray(block, dtype=np.float32).reshape(-1)))
        total += len(block)
        block = np.concatenate([carry, block]) if len(carry) else block
        whole = len(block) // hop * hop
        if whole:
            envelope.append(block[:whole].reshape(-1, hop).max(axis=1))
        carry = block[whole:]
    if len(carry):
        envelope.append(np.array([carry.max()], np.float32))
    env = np.concatenate(envelope) if envelope else np.zeros(0, np.float32)
    wave = peaks_of(env, 100, bins=bins)
    return Waveform(total / WAVEFORM_RATE, wave.peaks, wave.level)


def peaks_of(audio: np.ndarray, sample_rate: int, *, bins: int = WAVEFORM_BINS) -> Waveform:
    """The envelope of mono samples: the loudest |sample| in each of `bins` equal stretches.

    A recording shorter than `bins` samples gets one bin per sample. Silence gives zeros.
    """
    audio = np.abs(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)))
    duration = len(audio) / float(sample_rate) if sample_rate > 0 else 0.0
    if len(audio) == 0:
        return Waveform(0.0, np.zeros(0, np.float32), 0.0)
    n = min(bins, len(audio))
    edges = np.linspace(0, len(audio), n + 1).astype(np.int64)
    peaks = np.maximum.reduceat(audio, edges[:-1]).astype(np.float32)
    level = float(peaks.max())
    if level > 1e-6:
        peaks /= level
    else:
        peaks[:] = 0.0
    return Waveform(duration, peaks, level)


def resample_peaks(peaks: np.ndarray, n: int) -> np.ndarray:
    """`peaks` in `n` bins (each the loudest of the bins it covers; stretched when there are fewer)."""
    peaks = np.asarray(peaks, dtype=np.float32)
    if n <= 0 or len(peaks) == 0:
        return np.zeros(max(0, n), np.float32)
    if len(peaks) >= n:
        edges = np.linspace(0, len(peaks), n + 1).astype(np.int64)
        return np.maximum.reduceat(peaks, edges[:-1])
    return peaks[np.minimum((np.arange(n) * len(peaks)) // n, len(peaks) - 1)]


def make_waveform_thumbnail(path: str | os.PathLike[str], cache_dir: Path, *, side: int = DEFAULT_SIDE) -> Path:
    """The cached waveform thumbnail of a recording: a PNG `side` wide, a third as tall.

    The waveform is drawn as rounded bars, mirrored about the middle, in the alpha channel (white
    ink), so the GUI can tint it for its theme. Its text chunk "duration" holds the length in
    seconds. A silent recording draws a flat line.

    Raises:
        DecodeError: the file is gone or cannot be decoded as audio.
    """
    target = thumbnail_path(cache_dir, path, side=side)
    if target.exists():
        return target
    wave = waveform(path, cache_dir)
    scale = 2  # drawn at twice the size and shrunk: smooth bar ends without a vector renderer
    w, h = side * scale, max(8, round(side / _WAVE_ASPECT)) * scale
    img = Image.new("LA", (w, h), (255, 0))
    draw = ImageDraw.Draw(img)
    bar, gap = 3 * scale, 2 * scale
    n = max(1, (w + gap) // (bar + gap))
    heights = resample_peaks(wave.peaks, n)
    mid = h / 2
    for i, peak in enumerate(heights):
        half = max(scale, peak * (h / 2 - scale))
        x = i * (bar + gap)
        draw.rounded_rectangle((x, mid - half, x + bar - 1, mid + half), radius=bar // 2, fill=(255, 255))
    img = img.resize((w // scale, h // scale), Image.Resampling.LANCZOS)
    info = PngInfo()
    info.add_text(DURATION_KEY, f"{wave.duration_s:.3f}")
    paths.private_dir(target.parent)
    atomic_write(target, lambda tmp: img.save(tmp, "PNG", pnginfo=info), fsync=False)
    return target


def prune(cache_dir: Path, *, max_bytes: int) -> int:
    """Delete the least recently used thumbnails (and waveform peaks) until the cache is under `max_bytes`.

    Returns:
        The number of files deleted.
    """
    entries = []
    for p in (p for pattern in _CACHE_SUFFIXES for p in Path(cache_dir).glob(pattern)):
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
