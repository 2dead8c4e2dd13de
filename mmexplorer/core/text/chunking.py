"""Splitting text into sentence-aligned chunks that fit an encoder's token budget.

Used for notes today, and for transcripts and captions as they arrive; offsets always refer to
the full text, so a match can be shown in place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from mmexplorer.core.errors import UsageError
from mmexplorer.core.types import Chunk

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
