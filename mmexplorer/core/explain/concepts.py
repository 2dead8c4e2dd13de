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
import io
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

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


class ConceptCache:
    """Embedded vocabularies on disk and in memory, keyed by space, model id and vocabulary version."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[tuple[str, str], np.ndarray] = {}

    def _path(self, space: str, model_id: str) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(f"{space}:{model_id}:{vocabulary_version()}".encode()).hexdigest()[:16]
        return self.directory / f"concepts-{space}-{digest}.npy"

    def matrix(self, space: str, model_id: str, encode_texts: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        """(words, dim) unit vectors of the vocabulary in a space, embedded now if not cached."""
        key = (space, model_id)
        if key in self._memory:
            return self._memory[key]
        path = self._path(space, model_id)
        words = vocabulary()
        matrix = None
        if path is not None and path.exists():
            try:
                matrix = np.load(path, allow_pickle=False)
                if matrix.shape[0] != len(words):
                    matrix = None
            except (OSError, ValueError) as e:
                log.warning("re-embedding the concept vocabulary %s: %s", path, e)
                matrix = None
        if matrix is None:
            matrix = np.asarray(encode_texts(list(words)), dtype=np.float32)
            if path is not None:
                from mmexplorer.core.fsutil import atomic_write

                path.parent.mkdir(parents=True, exist_ok=True)
                buffer = io.BytesIO()
                np.save(buffer, matrix, allow_pickle=False)
                atomic_write(path, buffer.getvalue())
        self._memory[key] = matrix
        return matrix


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
