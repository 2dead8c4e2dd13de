"""Reading notes: plain text in whatever encoding it was saved, newlines normalised."""

from __future__ import annotations

import os
from pathlib import Path

from mmexplorer.core.errors import DecodeError
from mmexplorer.core.media.sniff import control_ratio


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
    if control_ratio(text) > 0.05:
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
