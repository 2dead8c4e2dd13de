"""Telling what a file is from its first bytes, and which modality it belongs to.

Signatures are matched only when unambiguous; `classify` lets content win over the extension
when it can, and `describe` puts unrecognised content into words for error messages.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmexplorer.core.media.kinds import AUDIO_FORMATS, IMAGE_FORMATS, file_kinds
from mmexplorer.core.types import Modality

JPEG_MAGIC = b"\xff\xd8\xff"  # JPEG and MPO (multi-picture camera JPEGs)

_HEAD_BYTES = 64

_IMAGE_KINDS = IMAGE_FORMATS
_AUDIO_KINDS = AUDIO_FORMATS
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def read_head(path: Path, n: int = _HEAD_BYTES) -> bytes:
    """The first bytes of a file, enough for every signature here."""
    with open(path, "rb") as f:
        return f.read(n)


def sniff_format(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, only when the signature is unambiguous."""
    if head.startswith(JPEG_MAGIC):
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
        if brand in _AVIF_BRANDS or (brand in _HEIF_BRANDS and b"avif" in head[:_HEAD_BYTES]):
            return "AVIF"  # same container as HEIF, AV1 inside: Pillow reads it, not libheif
        if brand in _HEIF_BRANDS:
            return "HEIF"
        if brand in (b"M4A ", b"M4B "):
            return "M4A"
        return None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
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


def describe_content(head: bytes) -> str:
    """A few words on what some bytes look like, for error messages."""
    if not head:
        return "empty file"
    kind = sniff_format(head)
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
    return control_ratio(text) < 0.05


def control_ratio(text: str) -> float:
    """The share of control characters (other than whitespace) and replacement marks in text."""
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
        head = read_head(path)
    except OSError:
        head = b""  # unreadable: the extension decides, and decoding will report why
    kind = sniff_format(head)
    kinds = file_kinds()
    found = next((k for k in kinds if kind in k.formats), None) if kind is not None else None
    found = found or next((k for k in kinds if ext in k.extensions), None)
    return Modality(found.modality) if found is not None else None
