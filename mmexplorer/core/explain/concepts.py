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
    """Embedded vocabularies on disk and in memory, keyed by space, model id and vocabulary version.

    Embedding a vocabulary through a CLIP text tower takes a minute or two on a laptop CPU (1,967
    words, 77 tokens each), so it is done in batches of BATCH words: `fill` embeds a few and keeps
    them, calling `between` after each batch (the worker answers a waiting search there), and the
    file is written once the last word is in.
    """

    BATCH = 16

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[tuple[str, str], np.ndarray] = {}
        self._partial: dict[tuple[str, str], list[np.ndarray]] = {}  # batches embedded so far

    def _path(self, space: str, model_id: str) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(f"{space}:{model_id}:{vocabulary_version()}".encode()).hexdigest()[:16]
        return self.directory / f"concepts-{space}-{digest}.npy"

    def cached(self, space: str, model_id: str) -> np.ndarray | None:
        """The vocabulary's vectors if they are in memory or on disk (loaded then), else None."""
        key = (space, model_id)
        if key in self._memory:
            return self._memory[key]
        path = self._path(space, model_id)
        if path is None or not path.exists():
            return None
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            log.warning("re-embedding the concept vocabulary %s: %s", path, e)
            return None
        if matrix.ndim != 2 or matrix.shape[0] != len(vocabulary()):
            log.warning("re-embedding the concept vocabulary %s: it has %s rows", path, matrix.shape[:1])
            return None
        self._memory[key] = matrix
        return matrix

    def fill(
        self,
        space: str,
        model_id: str,
        encode_texts: Callable[[Sequence[str]], np.ndarray],
        *,
        batches: int | None = None,
        between: Callable[[], None] | None = None,
    ) -> np.ndarray | None:
        """Embed up to `batches` more batches of the vocabulary (None: all that are left).

        Returns:
            The (words, dim) unit vectors once every word is in (then also on disk), else None.
        """
        got = self.cached(space, model_id)
        if got is not None:
            return got
        key = (space, model_id)
        words = vocabulary()
        done = self._partial.setdefault(key, [])
        embedded = sum(len(b) for b in done)
        steps = 0
        while embedded < len(words) and (batches is None or steps < batches):
            batch = np.asarray(encode_texts(list(words[embedded : embedded + self.BATCH])), dtype=np.float32)
            done.append(batch)
            embedded += len(batch)
            steps += 1
            if between is not None and embedded < len(words):
                between()
        if embedded < len(words):
            return None
        matrix = np.concatenate(self._partial.pop(key), axis=0)
        self._save(space, model_id, matrix)
        self._memory[key] = matrix
        return matrix

    def progress(self, space: str, model_id: str) -> tuple[int, int]:
        """(words embedded, words in the vocabulary) for a space's model."""
        total = len(vocabulary())
        if (space, model_id) in self._memory:
            return total, total
        return sum(len(b) for b in self._partial.get((space, model_id), ())), total

    def matrix(
        self,
        space: str,
        model_id: str,
        encode_texts: Callable[[Sequence[str]], np.ndarray],
        *,
        between: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """(words, dim) unit vectors of the vocabulary in a space, embedded now if not cached."""
        matrix = self.fill(space, model_id, encode_texts, between=between)
        if matrix is None:  # an unbounded fill embeds every word
            raise RuntimeError(f"the concept vocabulary of {space} was not embedded")
        return matrix

    def _save(self, space: str, model_id: str, matrix: np.ndarray) -> None:
        path = self._path(space, model_id)
        if path is None:
            return
        from mmexplorer.core.fsutil import atomic_write

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            np.save(buffer, matrix, allow_pickle=False)
            atomic_write(path, buffer.getvalue())
        except OSError as e:  # a full disk or a read-only data dir: keep it in memory for this run
            log.warning("could not save the concept vocabulary %s: %s", path, e)


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
