"""Queries (text, image, item) across every space they can reach, calibrated per query and fused.

Raw cosines are not comparable across spaces (a CLIP text-image match scores ~0.3, a sentence
text-text match ~0.7). So for each query and space we score a fixed reference sample of that space's
vectors, and turn each hit's cosine into a robust z-score against that sample:
`z = (s - median) / (1.4826 * MAD)`. A true match stands far out of its space's bulk; the best of a
space with nothing relevant stays near the bulk's tail. Fused score = sum over the spaces an item
matched in of `weight[space] * z`.

Measured with tests/bench/bench_fusion.py (72 shape photos + 12 notes, 50 labelled queries, aligned
test model + all-MiniLM-L6-v2): top-1 0.80 with raw cosines, 1.00 with mean/std and 1.00 with
median/MAD, once the text space's reference includes a fixed background of everyday sentences
(without it, photo queries fell to 0.39 top-1 in a 36-photo library). median/MAD is kept because
it is not dragged by the very matches it is meant to spot when a library holds many near-duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import UsageError
from mmexplorer.core.types import FusionWeights, Modality, SearchResult, SpaceScore

if TYPE_CHECKING:
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.index import VectorIndex

log = logging.getLogger(__name__)

REFERENCE_SIZE = 2048
BACKGROUND_FILE = Path(__file__).parent / "data" / "background_en.txt"
MIN_SIGMA = 1e-3
SPACES_FOR = {None: ("image", "text"), Modality.PHOTO: ("image",), Modality.NOTE: ("text",), Modality.RECORDING: ()}


@dataclass(frozen=True)
class Calibration:
    """Per-query statistics of one space's scores over its reference sample."""

    center: float
    scale: float

    def __call__(self, raw: float) -> float:
        return (raw - self.center) / self.scale


def calibrate(reference_scores: np.ndarray, *, method: str = "robust") -> Calibration:
    """Fit a query's score distribution over a reference sample.

    Args:
        reference_scores: the query's cosine with each reference vector of one space.
        method: "robust" (median / MAD), "standard" (mean / std), or "raw" (no calibration: the
            cosine itself; kept to measure what calibration buys).
    """
    if method == "raw" or reference_scores.size < 2:
        return Calibration(0.0, 1.0)
    if method == "robust":
        center = float(np.median(reference_scores))
        scale = 1.4826 * float(np.median(np.abs(reference_scores - center)))
        if scale < MIN_SIGMA:  # over half the sample ties: fall back to the spread of the rest
            scale = float(np.std(reference_scores))
    elif method == "standard":
        center = float(np.mean(reference_scores))
        scale = float(np.std(reference_scores))
    else:
        raise UsageError(f"unknown calibration method {method!r}")
    return Calibration(center, max(scale, MIN_SIGMA))


class Searcher:
    """Runs queries for an Engine; keeps each space's reference sample between queries."""

    def __init__(self, engine: Engine, *, method: str = "robust") -> None:
        self.engine = engine
        self.method = method
        self._reference: dict[str, tuple[int, np.ndarray]] = {}
        self._background: np.ndarray | None = None

    # -- public -----------------------------------------------------------------------------
    def text(
        self, query: str, *, k: int, modality: Modality | None, weights: FusionWeights | None
    ) -> list[SearchResult]:
        query = query.strip()
        if not query:
            return []
        vectors: dict[str, np.ndarray] = {}
        spaces = SPACES_FOR[modality]
        if "image" in spaces and self._has("image"):
            vectors["image"] = self.engine.image_encoder().encode_texts([query])[0]
        if "text" in spaces and self._has("text"):
            vectors["text"] = self.engine.text_encoder().encode([query])[0]
        return self._fused(vectors, k=k, modality=modality, weights=weights)

    def image(
        self, image: Any, *, k: int, modality: Modality | None, weights: FusionWeights | None
    ) -> list[SearchResult]:
        from PIL import Image

        from mmexplorer.core import media

        encoder = self.engine.image_encoder()
        if not isinstance(image, Image.Image):
            image = media.load_image(Path(image), min_side=encoder.image_size)
        vectors = {}
        if "image" in SPACES_FOR[modality] and self._has("image"):
            vectors["image"] = encoder.encode_images([image])[0]
        return self._fused(vectors, k=k, modality=modality, weights=weights)

    def similar(self, item_id: int, *, k: int, modality: Modality | None) -> list[SearchResult]:
        """Neighbours of an indexed item in every space it has vectors in (itself excluded)."""
        row = self.engine.catalog.item(item_id)
        if row is None:
            raise UsageError(f"no item with id {item_id}")
        vectors: dict[str, np.ndarray] = {}
        for space in SPACES_FOR[modality]:
            index = self.engine.space_index(space)
            ids = [vid for s, vid in self.engine.catalog.chunk_ids_of([item_id]) if s == space]
            if index is None or not ids:
                continue
            # A note's direction in its space: the mean of its chunks, renormalised.
            v = index.reconstruct(np.asarray(ids, dtype=np.int64)).mean(axis=0)
            vectors[space] = v / max(float(np.linalg.norm(v)), 1e-12)
        if row.modality == Modality.NOTE.value and "image" in SPACES_FOR[modality] and self._has("image"):
            # A note reaches the image space through the image model's text tower.
            detail = self.engine.item(item_id)
            if detail.text:
                vectors["image"] = self.engine.image_encoder().encode_texts([detail.text[:300]])[0]
        results = self._fused(vectors, k=k + 1, modality=modality, weights=None, exclude=item_id)
        return results[:k]

    # -- internals --------------------------------------------------------------------------
    def _has(self, space: str) -> bool:
        index = self.engine.space_index(space)
        return index is not None and index.ntotal > 0

    def reference(self, space: str, index: VectorIndex) -> np.ndarray:
        """A fixed random sample of a space's vectors, refreshed when the space grew or shrank by 10%."""
        cached = self._reference.get(space)
        n = index.ntotal
        if cached is not None and abs(cached[0] - n) <= 0.1 * max(n, 1) and cached[0] > 0:
            return cached[1]
        ids = index.ids()
        if len(ids) > REFERENCE_SIZE:
            ids = np.random.default_rng(0).choice(ids, REFERENCE_SIZE, replace=False)
        sample = index.reconstruct(np.asarray(ids, dtype=np.int64)) if len(ids) else np.zeros((0, index.dim), np.float32)
        if space == "text":
            # A small library's notes are few and unrelated to each other, so their spread alone
            # makes any best note look like an outlier. A fixed background of everyday sentences
            # gives the text space an honest null distribution (measured in bench_fusion.py).
            sample = np.concatenate([sample, self._text_background()])
        self._reference[space] = (n, sample)
        return sample

    def _text_background(self) -> np.ndarray:
        if self._background is None:
            lines = BACKGROUND_FILE.read_text(encoding="utf-8").splitlines()
            sentences = [line for line in lines if line.strip() and not line.startswith("#")]
            self._background = self.engine.text_encoder().encode(sentences)
        return self._background

    def _fused(
        self,
        vectors: dict[str, np.ndarray],
        *,
        k: int,
        modality: Modality | None,
        weights: FusionWeights | None,
        exclude: int | None = None,
    ) -> list[SearchResult]:
        if k <= 0:
            raise UsageError("k must be at least 1")
        weights = weights or FusionWeights()
        catalog = self.engine.catalog
        per_item: dict[int, list[SpaceScore]] = {}
        best_chunk: dict[int, int] = {}
        for space, q in vectors.items():
            index = self.engine.space_index(space)
            if index is None or index.ntotal == 0:
                continue
            q = np.asarray(q, dtype=np.float32)
            calib = calibrate(self.reference(space, index) @ q, method=self.method)
            depth = min(index.ntotal, k * 4 + 32)
            scores, ids = index.search(q[None, :], depth)
            chunks = catalog.chunks(int(i) for i in ids[0] if i >= 0)
            seen: set[int] = set()
            for raw, vid in zip(scores[0], ids[0]):
                chunk = chunks.get(int(vid))
                if chunk is None or chunk.item_id in seen or chunk.item_id == exclude:
                    continue  # hits are sorted: the first of an item is its best chunk
                seen.add(chunk.item_id)
                per_item.setdefault(chunk.item_id, []).append(SpaceScore(space, float(raw), calib(float(raw))))
                if chunk.text is not None:
                    best_chunk[chunk.item_id] = chunk.id
        rows = catalog.items(per_item)
        chunk_rows = catalog.chunks(best_chunk.values())
        results = []
        for item_id, matches in per_item.items():
            row = rows.get(item_id)
            if row is None or row.status != cat.INDEXED:
                continue
            if modality is not None and row.modality != modality.value:
                continue
            score = sum(weights.for_space(m.space) * m.calibrated for m in matches)
            chunk = chunk_rows.get(best_chunk.get(item_id, -1))
            results.append(
                SearchResult(
                    item_id=item_id,
                    path=row.path,
                    modality=Modality(row.modality),
                    score=float(score),
                    matches=tuple(sorted(matches, key=lambda m: m.space)),
                    chunk_text=chunk.text if chunk else None,
                    chunk_start=chunk.start if chunk else None,
                    chunk_end=chunk.end if chunk else None,
                )
            )
        results.sort(key=lambda r: (-r.score, r.path))
        return results[:k]
