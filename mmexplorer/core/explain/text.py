"""Which words of a note's matched chunk carry the match: occlusion over words.

Each word of the chunk is left out in turn and the shortened chunk re-encoded (one batch); a
word's weight is how much the similarity to the other side drops without it (negative drops count
as 0), normalised to sum to 1. Chunks of more than MAX_WORDS words are occluded a sentence at a
time instead, so a long note costs at most MAX_WORDS encodings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from mmexplorer.core.types import Segment, Span, TimedWeight

MAX_WORDS = 160
_WORD = re.compile(r"\w[\w'’-]*", re.UNICODE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*", re.UNICODE)


def units(text: str, *, max_words: int = MAX_WORDS) -> list[tuple[int, int]]:
    """(start, end) of the chunk's words, or of its sentences when it has more than max_words words."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if len(words) <= max_words:
        return words
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group(0).strip()]
    return sentences[:max_words]


def word_spans(
    encode_texts: Callable[[Sequence[str]], np.ndarray],
    text: str,
    target: np.ndarray,
    *,
    offset: int = 0,
    max_words: int = MAX_WORDS,
) -> tuple[Span, ...]:
    """Spans of `text` (its words, or sentences) with weights >= 0 summing to 1.

    Args:
        encode_texts: texts -> unit vectors in the space the match was made in.
        text: the matched chunk.
        target: the other side's unit vector in that space.
        offset: where the chunk starts in the note, so span offsets index the whole note.
        max_words: above this many words, sentences are occluded instead.
    """
    pieces = units(text, max_words=max_words)
    if not pieces:
        return ()
    variants = [text] + [(text[:s] + text[e:]).strip() or " " for s, e in pieces]
    vecs = np.asarray(encode_texts(variants), dtype=np.float32)
    sims = vecs @ np.asarray(target, dtype=np.float32)
    drop = np.clip(sims[0] - sims[1:], 0.0, None).astype(np.float64)
    total = float(drop.sum())
    weights = drop / total if total > 0 else np.full(len(pieces), 1.0 / len(pieces))
    return tuple(
        Span(start=offset + s, end=offset + e, text=text[s:e], weight=float(w))
        for (s, e), w in zip(pieces, weights, strict=True)
    )


def segment_weights(
    encode_texts: Callable[[Sequence[str]], np.ndarray],
    segments: Sequence[Segment],
    target: np.ndarray,
) -> tuple[TimedWeight, ...]:
    """Transcript segments weighted by occlusion: the drop of the similarity when one is left out."""
    segs = [s for s in segments if (s.text or "").strip()]
    if not segs:
        return ()
    if len(segs) == 1:
        s = segs[0]
        return (TimedWeight(s.start_s, s.end_s, s.text, 1.0),)
    texts = [(s.text or "").strip() for s in segs]
    variants = [" ".join(texts)] + [" ".join(texts[:i] + texts[i + 1 :]) for i in range(len(texts))]
    sims = np.asarray(encode_texts(variants), dtype=np.float32) @ np.asarray(target, dtype=np.float32)
    drop = np.clip(sims[0] - sims[1:], 0.0, None).astype(np.float64)
    total = float(drop.sum())
    weights = drop / total if total > 0 else np.full(len(segs), 1.0 / len(segs))
    return tuple(TimedWeight(s.start_s, s.end_s, s.text, float(w)) for s, w in zip(segs, weights, strict=True))
