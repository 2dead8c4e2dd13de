"""Shared concepts: the words of a shipped vocabulary that both sides of a match are closest to.

The vocabulary (core/data/concepts_en.txt, about 2,000 common nouns and attributes, one lowercase
word a line) is embedded once per space and model through the space's text tower and kept on disk
(one .npy per space, model and vocabulary version), as core.relevance's RelevanceCache keeps its
fits. A word is shared when it stands out for both sides: its cosine with each side is
standardised against the whole vocabulary (z-score), and words are ranked by the smaller of the
two z-scores, so a word only one side is close to never makes the list.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmexplorer.core.phrase_vectors import PhraseVectors

VOCABULARY = Path(__file__).resolve().parent.parent / "data" / "concepts_en.txt"
MIN_Z = 1.0  # both sides must be at least this far above the vocabulary's mean
TOP = 6


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """The shipped concept words, in file order."""
    lines = VOCABULARY.read_text(encoding="utf-8").splitlines()
    return tuple(dict.fromkeys(w.strip().lower() for w in lines if w.strip() and not w.startswith("#")))


def vocabulary_version() -> str:
    return hashlib.sha256("\n".join(vocabulary()).encode()).hexdigest()[:12]


class ConceptCache(PhraseVectors):
    """The vocabulary's vectors per space and model (core.phrase_vectors: in batches, kept on disk)."""

    def __init__(self, directory: Path | None) -> None:
        super().__init__(directory, vocabulary, _file_name, what="concept vocabulary")


def _file_name(space: str, model_id: str) -> str:
    digest = hashlib.sha256(f"{space}:{model_id}:{vocabulary_version()}".encode()).hexdigest()[:16]
    return f"concepts-{space}-{digest}.npy"


def shared(matrix: np.ndarray, a: np.ndarray, b: np.ndarray, *, top: int = TOP) -> list[tuple[str, float]]:
    """(word, score) of the words both unit vectors stand out for, best first (score: the smaller z)."""
    words = vocabulary()
    za = _z(matrix @ np.asarray(a, dtype=np.float32))
    zb = _z(matrix @ np.asarray(b, dtype=np.float32))
    both = np.minimum(za, zb)
    order = np.argsort(-both)[:top]
    return [(words[i], float(both[i])) for i in order if both[i] >= MIN_Z]


def _z(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    return (s - s.mean()) / max(float(s.std()), 1e-6)
