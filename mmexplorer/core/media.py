"""Find the user's media files, tell what they are, fingerprint them and decode them safely.

Everything here only reads: nothing is ever written beside the user's files. Bad files raise
`DecodeError` with a one-line reason the UI and `mmexplorer status` can show as is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mmexplorer.core.errors import DecodeError, UsageError
from mmexplorer.core.types import Chunk, Modality

log = logging.getLogger(__name__)

try:  # HEIC/HEIF photos (iPhones) need the libheif plugin; without it they are reported, not fatal.
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but keep core importable
    HEIF_AVAILABLE = False
else:
    register_heif_opener()
    HEIF_AVAILABLE = True


def _recording_extensions() -> frozenset[str]:
    """Audio formats we can decode here: libsndfile's, plus what PyAV (FFmpeg) adds when installed."""
    exts = {".wav", ".mp3", ".flac", ".ogg"}
    has_av = importlib.util.find_spec("av") is not None
    if has_av:
        exts |= {".m4a", ".opus"}
    else:
        try:
            import soundfile

            if "OPUS" in soundfile.available_subtypes("OGG"):
                exts.add(".opus")
        except (ImportError, OSError):  # no libsndfile: keep the formats the loader may still try
            pass
    return frozenset(exts)


PHOTO_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tiff", ".tif", ".heic", ".heif"}
)
NOTE_EXTENSIONS: frozenset[str] = frozenset({".txt", ".md", ".markdown"})
RECORDING_EXTENSIONS: frozenset[str] = _recording_extensions()

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

_HEAD_BYTES = 64
_BLOCK = 1 << 20

_FORMAT_NAMES = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WebP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tiff": "TIFF",
    ".tif": "TIFF",
    ".heic": "HEIC",
    ".heif": "HEIF",
}

_IMAGE_KINDS = frozenset({"JPEG", "PNG", "GIF", "WebP", "BMP", "TIFF", "HEIF"})
_AUDIO_KINDS = {"WAV": ".wav", "FLAC": ".flac", "Ogg": ".ogg", "MP3": ".mp3", "M4A": ".m4a"}
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


# ----------------------------------------------------------------------------------------- discovery


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


# ------------------------------------------------------------------------------------ classification


def _read_head(path: Path, n: int = _HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _sniff(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, only when the signature is unambiguous."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS and b"avif" not in head[:_HEAD_BYTES]:
            return "HEIF"
        if brand in (b"M4A ", b"M4B "):
            return "M4A"
        return None
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:3] == b"ID3":
        return "MP3"
    if _looks_like_bmp(head):
        return "BMP"
    return None


def _looks_like_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (a note may start with "BMW ..."): also require the zero reserved
    # fields and a known DIB header size.
    if len(head) < 18 or head[:2] != b"BM":
        return False
    reserved = head[6:10]
    dib_size = int.from_bytes(head[14:18], "little")
    return reserved == b"\x00\x00\x00\x00" and dib_size in (12, 40, 52, 56, 64, 108, 124)


def _describe(head: bytes) -> str:
    """A few words on what some bytes look like, for error messages."""
    if not head:
        return "empty file"
    kind = _sniff(head)
    if kind in _IMAGE_KINDS:
        return f"{kind} image"
    if kind is not None:
        return f"{kind} audio"
    if head.startswith(b"%PDF"):
        return "PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP archive"
    if head[4:8] == b"ftyp":
        return "MP4/QuickTime media"
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or _is_mostly_text(head):
        return "text"
    return "unrecognised binary data"


def _is_mostly_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3:  # the head cut a multi-byte character in half
            text = data[: e.start].decode("utf-8")
        else:
            # Latin-1 text is mostly ASCII with a few accented bytes; binary is half high bytes.
            if sum(b >= 0x80 for b in data) > 0.3 * len(data):
                return False
            text = data.decode("cp1252", errors="replace")
    return _control_ratio(text) < 0.05


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f\v") or c in "\x7f\ufffd")
    return bad / len(text)


def classify(path: str | os.PathLike[str]) -> Modality | None:
    """Tell which modality a file is, from its content and its extension.

    Content wins when it is unambiguous: a PNG named ``.txt`` is a photo, a WAV named ``.dat``
    a recording. Otherwise the extension decides, so a ``.jpg`` full of text is still a photo
    (decoding it then fails with a reason the user can read).

    Args:
        path: the file.

    Returns:
        The modality, or None for files that are not media we handle.
    """
    path = Path(path)
    ext = path.suffix.lower()
    try:
        head = _read_head(path)
    except OSError:
        head = b""  # unreadable: the extension decides, and decoding will report why
    kind = _sniff(head)
    if kind in _IMAGE_KINDS:
        return Modality.PHOTO
    if kind in _AUDIO_KINDS and _AUDIO_KINDS[kind] in RECORDING_EXTENSIONS:
        return Modality.RECORDING
    if ext in PHOTO_EXTENSIONS:
        return Modality.PHOTO
    if ext in NOTE_EXTENSIONS:
        return Modality.NOTE
    if ext in RECORDING_EXTENSIONS:
        return Modality.RECORDING
    return None


def content_hash(path: str | os.PathLike[str]) -> str:
    """Fingerprint a file's full content, to recognise it after a move or rename.

    Args:
        path: the file.

    Returns:
        The hex BLAKE2b digest (16 bytes, 32 hex characters).

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- photos


def _not_an_image(path: Path, ext: str) -> DecodeError:
    try:
        head = _read_head(path)
    except OSError as e:
        return DecodeError(path, f"cannot read file: {e.strerror or e}")
    what = _describe(head)
    if what == "HEIF image" and not HEIF_AVAILABLE:
        return DecodeError(path, "cannot decode HEIF image: pillow-heif is not installed")
    label = _FORMAT_NAMES.get(ext)
    prefix = f"not a {label} image" if label else "not an image"
    return DecodeError(path, f"{prefix}: content looks like {what}")


def _too_large(path: Path, size: tuple[int, int]) -> DecodeError:
    return DecodeError(path, f"image too large: {size[0]} x {size[1]} pixels")


def _open_image(path: Path) -> Image.Image:
    """Image.open with every failure turned into a DecodeError that says why."""
    try:
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        size = _header_size(path)
        if size is not None:
            raise _too_large(path, size) from e
        raise DecodeError(path, f"image too large: {e}") from e
    except UnidentifiedImageError as e:
        raise _not_an_image(path, path.suffix.lower()) from e
    except FileNotFoundError as e:
        raise DecodeError(path, "file not found") from e
    except (PermissionError, IsADirectoryError) as e:
        raise DecodeError(path, f"cannot read file: {e.strerror or e}") from e
    except OSError as e:  # raised by a plugin parsing a header cut short, not by the file system
        raise DecodeError(path, f"truncated or corrupt image: {e.strerror or e}") from e
    except Exception as e:  # plugins raise SyntaxError, ValueError, struct.error ... on bad headers
        raise DecodeError(path, f"corrupt image header: {e}") from e


def _header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the header, bypassing Image.open's bomb check (only to report it).

    PIL's DecompressionBombError does not carry the size, and its limit is a process-wide
    global we must not change from decoding threads; the plugin classes parse headers without
    that check.
    """
    try:
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                verdict = accept(prefix) if accept else True
                if not verdict or isinstance(verdict, str):
                    continue
                fp.seek(0)
                try:
                    im = factory(fp, os.fspath(path))
                except Exception as e:  # noqa: BLE001 - not this plugin's format: next, as Image.open does
                    log.debug("%s is not %s: %s", path, fmt, e)
                    continue
                return im.size
    except OSError:
        return None
    return None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception as e:  # noqa: BLE001 - malformed EXIF must not cost the photo: treat as upright
        log.debug("ignoring unreadable EXIF in %s: %s", getattr(img, "filename", "?"), e)
        return 1


def load_image(
    path: str | os.PathLike[str],
    *,
    min_side: int | None = None,
    max_pixels: int = 80_000_000,
) -> Image.Image:
    """Decode a photo into an upright 8-bit RGB image.

    EXIF orientation is applied, animations give their first frame, and every colour mode is
    converted properly: transparency is composited on white, CMYK converted, 16-bit and float
    images scaled (not clipped) to 8 bit.

    Args:
        path: the file.
        min_side: if given and the file is a JPEG, decode at a reduced scale (1/2, 1/4 or 1/8)
            chosen so the short side stays >= min_side; much faster for big camera photos.
            Other formats decode at full size.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A new RGB image, not tied to the file.

    Raises:
        DecodeError: the file is not a readable image; `reason` says why.
    """
    path = Path(path)
    img = _open_image(path)
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise _too_large(path, (w, h))
        if w <= 0 or h <= 0:
            raise DecodeError(path, f"corrupt image header: size {w} x {h}")
        try:
            if min_side and img.format in ("JPEG", "MPO"):  # MPO: multi-picture camera JPEGs
                img.draft("RGB", (min_side, min_side))
            img.load()
            orientation = _orientation(img)
            out = _to_rgb(img, path)
            if orientation != 1:
                out = _apply_orientation(out, orientation)
        except DecodeError:
            raise
        except (OSError, EOFError, SyntaxError) as e:
            raise DecodeError(path, f"truncated or corrupt image: {e}") from e
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _too_large(path, (w, h)) from e
        except MemoryError as e:
            raise DecodeError(path, f"not enough memory to decode {w} x {h} pixels") from e
        except Exception as e:  # PIL plugins raise ValueError, struct.error, IndexError ... on bad data
            raise DecodeError(path, f"corrupt image: {type(e).__name__}: {e}") from e
    return out


_TRANSPOSES = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    # Same table as ImageOps.exif_transpose, applied after the RGB conversion so the EXIF data
    # of the source does not need to be copied and rewritten.
    for op in _TRANSPOSES.get(orientation, ()):
        img = img.transpose(op)
    return img


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _scale_to_l(img: Image.Image, lo: float, hi: float) -> Image.Image:
    """Map [lo, hi] linearly onto 0..255 and return mode L (values outside are clamped)."""
    if hi <= lo:
        return Image.new("L", img.size, 0 if hi <= 0 else 255)
    scale = 255.0 / (hi - lo)
    f = img.convert("F").point(lambda v: (v - lo) * scale)
    return f.convert("L")


def _to_rgb(img: Image.Image, path: Path) -> Image.Image:
    mode = img.mode
    has_transparency = "transparency" in img.info
    if mode == "RGB" and not has_transparency:
        return img.copy()
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (has_transparency and mode in ("P", "L", "RGB", "1")):
        return _on_white(img)
    if mode.startswith("I;16"):
        # 16 bits per sample: keep the whole range by scaling (x / 257), never clip at 255.
        return _scale_to_l(img, 0, 65535).convert("RGB")
    if mode == "I":
        lo, hi = img.getextrema()
        if lo >= 0 and hi <= 255:
            return img.convert("L").convert("RGB")
        if lo >= 0 and hi <= 65535:
            return _scale_to_l(img, 0, 65535).convert("RGB")
        return _scale_to_l(img, lo, hi).convert("RGB")
    if mode == "F":
        lo, hi = img.getextrema()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        if lo >= 0 and hi <= 1.0:
            return _scale_to_l(img, 0.0, 1.0).convert("RGB")
        if lo >= 0 and hi <= 255:
            return _scale_to_l(img, 0.0, 255.0).convert("RGB")
        return _scale_to_l(img, lo, hi).convert("RGB")
    try:
        return img.convert("RGB")  # P, L, 1, CMYK, YCbCr, HSV
    except ValueError as e:
        raise DecodeError(path, f"unsupported colour mode {mode}") from e


def image_dimensions(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read an image's width and height from its header, as displayed (EXIF orientation applied).

    Args:
        path: the file.

    Returns:
        (width, height) in pixels.

    Raises:
        DecodeError: the file is not a readable image.
    """
    path = Path(path)
    img = _open_image(path)
    with img:
        w, h = img.size
        if _orientation(img) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


# -------------------------------------------------------------------------------------------- notes


def read_note(path: str | os.PathLike[str], *, max_bytes: int = 5_000_000) -> str:
    """Read a text note, guessing its encoding, with newlines normalised to ``\\n``.

    UTF-8 (with or without BOM) and UTF-16/32 with a BOM are recognised; anything else that is
    not valid UTF-8 is read as Windows-1252 / Latin-1, which never fails.

    Args:
        path: the file.
        max_bytes: refuse bigger files.

    Returns:
        The note's text.

    Raises:
        DecodeError: the file is binary, empty, too large or unreadable.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise DecodeError(path, f"note too large: {size / 1_000_000:.1f} MB")
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise DecodeError(path, f"cannot read file: {e.strerror or e}") from e
    if len(data) > max_bytes:  # grew while we looked
        raise DecodeError(path, f"note too large: {len(data) / 1_000_000:.1f} MB")
    text = _decode_text(path, data)
    if _control_ratio(text) > 0.05:
        raise DecodeError(path, "binary file, not text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DecodeError(path, "empty note")
    return text


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _decode_text(path: Path, data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    if b"\x00" in data:
        raise DecodeError(path, "binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: Latin-1 maps everything
        return data.decode("latin-1")


# ---------------------------------------------------------------------------------------- chunking

# A sentence ends at . ! ? (and their CJK/ellipsis forms), with closing quotes or brackets,
# when whitespace or the end follows; every newline also ends one (lists, headings, lines).
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]+[\"'\u2019\u201d)\]]*(?=\s|$)|\n")
_WORD = re.compile(r"\S+")


def approx_token_count(text: str) -> int:
    """A tokenizer-free estimate: about 1.3 subword tokens per whitespace-separated word."""
    words = len(text.split())
    return math.ceil(words * 1.3)


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append(_strip_span(text, pos, m.end()))
        pos = m.end()
    spans.append(_strip_span(text, pos, len(text)))
    return [(s, e) for s, e in spans if e > s]


def _split_long(
    text: str, start: int, end: int, max_tokens: int, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Split one over-long sentence into word runs that fit; a lone giant word by characters."""
    pieces: list[tuple[int, int]] = []
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    i = 0
    while i < len(words):
        ws, we = words[i]
        if count(text[ws:we]) > max_tokens:
            pieces.extend(_split_chars(text, ws, we, max_tokens, count))
            i += 1
            continue
        j = i + 1
        while j < len(words) and count(text[ws : words[j][1]]) <= max_tokens:
            j += 1
        pieces.append((ws, words[j - 1][1]))
        i = j
    return pieces


def _split_chars(
    text: str, start: int, end: int, max_tokens: int, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    pieces = []
    while start < end:
        lo, hi = start + 1, end  # find the longest prefix that fits (at least one character)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[start:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((start, lo))
        start = lo
    return pieces


def chunk_text(
    text: str,
    *,
    max_tokens: int,
    count_tokens: Callable[[str], int] | None = None,
    overlap: int = 1,
) -> list[Chunk]:
    """Split a note into sentence-aligned chunks that each fit an encoder's token budget.

    Sentences are packed greedily; each chunk after the first repeats the last `overlap`
    sentences of the previous one (fewer when they would not fit), so a thought that spans a
    boundary is still seen whole once. A sentence longer than the budget is split by words.

    Args:
        text: the full text; offsets refer to it.
        max_tokens: the most tokens one chunk may count.
        count_tokens: the encoder's token counter; default `approx_token_count`.
        overlap: sentences repeated at the start of the next chunk.

    Returns:
        Chunks in order, with ``chunk.text == text[chunk.start:chunk.end]`` and no leading or
        trailing whitespace; empty for blank text.

    Raises:
        UsageError: max_tokens < 1 or overlap < 0.
    """
    if max_tokens < 1:
        raise UsageError(f"max_tokens must be at least 1, not {max_tokens}")
    if overlap < 0:
        raise UsageError(f"overlap must be >= 0, not {overlap}")
    count = count_tokens or approx_token_count

    units: list[tuple[int, int]] = []
    for s, e in _sentences(text):
        if count(text[s:e]) <= max_tokens:
            units.append((s, e))
        else:
            units.extend(_split_long(text, s, e, max_tokens, count))
    if not units:
        return []

    def fits(i: int, j: int) -> bool:
        return count(text[units[i][0] : units[j][1]]) <= max_tokens

    spans: list[tuple[int, int]] = []
    i = 0
    while True:
        j = i + 1
        while j < len(units) and fits(i, j):
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Start the next chunk `overlap` units back, but always move forward, and drop overlap
        # units until the first new unit fits beside them.
        nxt = max(j - overlap, i + 1)
        while nxt < j and not fits(nxt, j):
            nxt += 1
        i = nxt
    return [Chunk(ord=k, start=s, end=e, text=text[s:e]) for k, (s, e) in enumerate(spans)]
