"""File names as the file system has them, as the catalog stores them, and as a person reads them.

A POSIX file name is bytes; Python gives it as a str in which every byte that is not valid UTF-8
is a lone surrogate U+DC80..U+DCFF (PEP 383, `os.fsdecode`). Such a str opens the file, but it
cannot be encoded as UTF-8, so SQLite, JSON, a terminal or a Qt label cannot take it as is.

- `display_path(path)`: for people (CLI output, JSON, the GUI, logs): each undecodable byte shows
  as U+FFFD. Lossy: never use it to open a file.
- `to_stored(path)` / `from_stored(text)`: the catalog's lossless, reversible form (valid UTF-8).
  A name that is valid UTF-8 and has no U+FFFF in it is stored unchanged. Otherwise:
    * U+FFFF (a Unicode noncharacter, "reserved for internal use", the escape) becomes U+FFFF U+FFFF;
    * an undecodable byte 0xXX (surrogate U+DCXX) becomes U+FFFF followed by the Latin-1 letter of
      that byte (U+0080..U+00FF), so Latin-1 names stay readable in the catalog and their words
      stay searchable once the escapes are dropped (the lexical name index does that);
    * any other lone surrogate (Windows names are UTF-16 and may hold one) becomes U+FFFF "u" and
      four hex digits.
  The mapping works character by character, so `to_stored(a + b) == to_stored(a) + to_stored(b)`:
  a stored root is a prefix of every stored path under it, and prefix (LIKE) queries keep working.
"""

from __future__ import annotations

import os
import re

ESCAPE = "\uffff"
_SURROGATES = range(0xD800, 0xE000)
_BYTE_SURROGATES = range(0xDC80, 0xDD00)


def _is_clean(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """A path as a person reads it: undecodable bytes (kept as surrogates) shown as U+FFFD.

    The result is always encodable as UTF-8 (safe to print, to put in JSON or a widget). It may no
    longer name the file: keep the original str to open, reveal or remove it.
    """
    text = os.fsdecode(path)
    if _is_clean(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte (a Windows name)
        return "".join("\ufffd" if 0xD800 <= ord(c) < 0xE000 else c for c in text)


def to_stored(path: str) -> str:
    """The catalog's form of a path: valid UTF-8, reversible with `from_stored`."""
    if ESCAPE not in path and _is_clean(path):
        return path
    out: list[str] = []
    for ch in path:
        code = ord(ch)
        if ch == ESCAPE:
            out.append(ESCAPE + ESCAPE)
        elif code in _BYTE_SURROGATES:
            out.append(ESCAPE + chr(code - 0xDC00))
        elif code in _SURROGATES:
            out.append(f"{ESCAPE}u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def from_stored(text: str) -> str:
    """The path `to_stored` was given (surrogate-escaped where the name is not valid UTF-8)."""
    if ESCAPE not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != ESCAPE:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == ESCAPE:
            out.append(ESCAPE)
            i += 2
        elif nxt and 0x80 <= ord(nxt) <= 0xFF:
            out.append(chr(0xDC00 + ord(nxt)))
            i += 2
        elif nxt == "u" and i + 6 <= n:
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        else:  # not written by to_stored: keep it as it is rather than guess
            out.append(ch)
            i += 1
    return "".join(out)


def searchable_name(path: str) -> str:
    """The text the lexical name index holds for a path: each undecodable byte read as Latin-1.

    Names that are not UTF-8 mostly come from Latin-1 systems (FAT sticks, old archives), so
    "caf\\udce9.png" is indexed as "café.png" and found by "cafe", as the name index finds it.
    """
    if _is_clean(path):
        return path
    return "".join(
        chr(ord(c) - 0xDC00) if ord(c) in _BYTE_SURROGATES else "\ufffd" if ord(c) in _SURROGATES else c for c in path
    )


def file_uri(path: str | os.PathLike[str]) -> str:
    """A file:// URI that names the file's real bytes (undecodable ones percent-encoded as they are).

    Pass it on as text (QUrl.fromEncoded, `xdg-open`, `gio open`): unlike `Path.as_uri()` or
    QUrl.fromLocalFile, it works for a name that is not valid UTF-8.
    """
    from urllib.parse import quote_from_bytes

    raw = os.fsencode(os.path.abspath(os.fspath(path)))
    if os.name == "nt":  # pragma: no cover - Windows names are text: Path.as_uri handles them
        from pathlib import Path

        return Path(os.fsdecode(raw)).as_uri()
    return "file://" + quote_from_bytes(raw, safe="/")


# -- the words a person reads in a name -------------------------------------------------------------

_RUN = re.compile(r"[\w'’-]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LETTERS_DIGITS = re.compile(r"(?<=[^\W\d_]{2})(?=\d{2})|(?<=\d{2})(?=[^\W\d_]{2})")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]{2,16}")


def name_parts(name: str) -> str:
    """The words of a file name that a person reads but FTS5's unicode61 tokens run together.

    MeetingNotesQ3.md -> "Meeting Notes Q3"; IMG20230714_101530.jpg -> "IMG 20230714" (runs of two
    or more letters against two or more digits, so mp3 and Q3 stay whole); o'brien's party.png and
    e-mail.png -> "obriens obrien", "email"; 2023-07-14 -> "20230714"; a run of CJK characters (which
    unicode61 keeps as one token) -> every piece of two or more of its characters, so 東京 finds
    東京タワー. Only these extra words: the name's own tokens are in lex_names already.
    """
    stem, dot, ext = name.rpartition(".")
    text = stem if dot and stem and len(ext) <= 5 else name
    out: list[str] = []
    for run in _RUN.findall(text):
        for piece in re.split(r"[_'’-]+", run):
            split = _LETTERS_DIGITS.sub(" ", _CAMEL.sub(" ", piece))
            if split != piece:
                out.append(split)
        if any(sep in run for sep in "'’-"):
            for word in run.split("_"):
                # grandma's -> grandmas and grandma; o'brien's -> obriens and obrien
                for joined in (re.sub(r"['’-]+", "", word), re.sub(r"['’-]+", "", _POSSESSIVE.sub("", word))):
                    if joined and joined.lower() != word.lower():
                        out.append(joined)
    for run in _CJK.findall(text):
        out.extend(run[i:j] for i in range(len(run)) for j in range(i + 2, len(run) + 1) if (i, j) != (0, len(run)))
    return " ".join(dict.fromkeys(out))
