"""Fixed phrase lists embedded through a space's text tower: a batch at a time, in memory and on disk.

The concept vocabulary (core.explain.concepts, 1,967 words) and the alignment anchors (core.align,
about 2,000 phrases) are embedded once per space and model. Through a CLIP text tower on a laptop
CPU that takes a minute or two (8 words: 0.34 s with ViT-B-32, torch, 2 threads; every text is
77 tokens, so smaller batches cost no more per word), so it is done in batches: `fill` embeds a
few batches and keeps them, calling `between` after each one (the worker answers a waiting search
there), and the file is written once the last phrase is in. A part-embedded list lives in memory
only.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BATCH = 8  # phrases per encode: about 0.35 s through a CLIP text tower on a laptop CPU


class PhraseVectors:
    """One phrase list's vectors per (space, model id): cached, or embedded in batches.

    Args:
        directory: where the .npy files go (None: memory only).
        phrases: the phrase list (called when first needed; the same list every call).
        file_name: (space, model id) -> the file's name in `directory`; it must change with the list.
        what: what the list is, for log lines ("concept vocabulary").
    """

    BATCH = BATCH

    def __init__(
        self,
        directory: Path | None,
        phrases: Callable[[], Sequence[str]],
        file_name: Callable[[str, str], str],
        *,
        what: str,
    ) -> None:
        self.directory = directory
        self._phrases = phrases
        self._file_name = file_name
        self.what = what
        self._memory: dict[tuple[str, str], np.ndarray] = {}
        self._partial: dict[tuple[str, str], list[np.ndarray]] = {}  # batches embedded so far
        self._seconds: dict[tuple[str, str], float] = {}  # encoding time of the partial batches

    def path(self, space: str, model_id: str) -> Path | None:
        return None if self.directory is None else self.directory / self._file_name(space, model_id)

    def cached(self, space: str, model_id: str) -> np.ndarray | None:
        """The vectors if they are in memory or on disk (loaded then), else None."""
        key = (space, model_id)
        if key in self._memory:
            return self._memory[key]
        path = self.path(space, model_id)
        if path is None or not path.exists():
            return None
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            log.warning("embedding the %s again (%s): %s", self.what, path, e)
            return None
        if matrix.ndim != 2 or matrix.shape[0] != len(self._phrases()):
            log.warning("embedding the %s again (%s): it has %s rows", self.what, path, matrix.shape[:1])
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
        """Embed up to `batches` more batches (None: all that are left).

        Returns:
            The (phrases, dim) vectors once every phrase is in (then also on disk), else None.
        """
        got = self.cached(space, model_id)
        if got is not None:
            return got
        key = (space, model_id)
        phrases = self._phrases()
        done = self._partial.setdefault(key, [])
        embedded = sum(len(b) for b in done)
        steps = 0
        while embedded < len(phrases) and (batches is None or steps < batches):
            started = time.perf_counter()
            batch = np.asarray(encode_texts(list(phrases[embedded : embedded + self.BATCH])), dtype=np.float32)
            self._seconds[key] = self._seconds.get(key, 0.0) + time.perf_counter() - started
            done.append(batch)
            embedded += len(batch)
            steps += 1
            if between is not None and embedded < len(phrases):
                between()
        if embedded < len(phrases):
            return None
        matrix = np.concatenate(self._partial.pop(key), axis=0)
        log.info(
            "embedded the %s (%d phrases) in the %s space in %.1f s",
            self.what, len(phrases), space, self._seconds.pop(key, 0.0),
        )
        self._save(space, model_id, matrix)
        self._memory[key] = matrix
        return matrix

    def progress(self, space: str, model_id: str) -> tuple[int, int]:
        """(phrases embedded, phrases in the list) for a space's model."""
        total = len(self._phrases())
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
        """(phrases, dim) vectors in a space, embedded now (in batches) if not cached."""
        matrix = self.fill(space, model_id, encode_texts, between=between)
        if matrix is None:  # an unbounded fill embeds every phrase
            raise RuntimeError(f"the {self.what} of the {space} space was not embedded")
        return matrix

    def _save(self, space: str, model_id: str, matrix: np.ndarray) -> None:
        path = self.path(space, model_id)
        if path is None:
            return
        from mmexplorer.core import paths
        from mmexplorer.core.fsutil import atomic_write

        try:
            paths.private_dir(path.parent)
            buffer = io.BytesIO()
            np.save(buffer, matrix, allow_pickle=False)
            atomic_write(path, buffer.getvalue())  # mkstemp: owner-only (0600) from the start
            paths.private_file(path)
        except OSError as e:  # a full disk or a read-only data dir: kept in memory for this run
            log.warning("cannot keep the %s in %s: %s", self.what, path, e.strerror or e)
