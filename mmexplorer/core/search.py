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

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import DecodeError, UsageError
from mmexplorer.core.index import VectorIndex
from mmexplorer.core.spaces import Spaces, VectorSpace
from mmexplorer.core.types import (
    Component,
    FusionWeights,
    ImageQuery,
    ItemQuery,
    Modality,
    Query,
    SearchResult,
    Space,
    TextQuery,
)

log = logging.getLogger(__name__)

REFERENCE_SIZE = 2048
MIN_SIGMA = 1e-3


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
    """Runs queries over a library's catalog and spaces; keeps per-space calibration state.

    Args:
        catalog: the library's catalog (chunks, items).
        spaces: the library's vector spaces.
        method: the calibration (see `calibrate`).
    """

    def __init__(self, catalog: cat.Catalog, spaces: Spaces, *, method: str = "robust") -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.method = method

    # -- public -----------------------------------------------------------------------------
    def search(
        self, query: Query, *, k: int, modality: Modality | None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        if isinstance(query, TextQuery):
            return self.text(query.text, k=k, modality=modality, weights=weights)
        if isinstance(query, ImageQuery):
            return self.image(query, k=k, modality=modality, weights=weights)
        if isinstance(query, ItemQuery):
            return self.similar(query.item_id, k=k, modality=modality, weights=weights)
        raise UsageError(f"unknown query {query!r}")

    def text(
        self, query: str, *, k: int, modality: Modality | None, weights: FusionWeights | None
    ) -> list[SearchResult]:
        query = query.strip()
        if not query:
            return []
        vectors = {
            space.key: space.encode_texts([query])[0]
            for space in self._reachable(modality)
            if space.takes_text and space.ntotal > 0
        }
        return self._fused(vectors, k=k, modality=modality, weights=weights)

    def image(
        self, query: ImageQuery, *, k: int, modality: Modality | None, weights: FusionWeights | None
    ) -> list[SearchResult]:
        from mmexplorer.core.media import photos

        targets = [s for s in self._reachable(modality) if s.takes_images]
        if not targets:
            return []
        # Decoded even when nothing is indexed yet, so a bad file is reported as such.
        image = _query_image(query, getattr(targets[0].encoder(), "image_size", None), photos)
        vectors = {s.key: s.encode_images([image])[0] for s in targets if s.ntotal > 0}
        return self._fused(vectors, k=k, modality=modality, weights=weights)

    def similar(
        self, item_id: int, *, k: int, modality: Modality | None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        """Neighbours of an indexed item in every space it has vectors in (itself excluded)."""
        row = self.catalog.item(item_id)
        if row is None:
            raise UsageError(f"no item with id {item_id}")
        chunk_ids = self.catalog.chunk_ids_of([item_id])
        vectors: dict[Space, np.ndarray] = {}
        for space in self._reachable(modality):
            index = space.index()
            ids = [vid for s, vid in chunk_ids if s == space.key.value]
            if index is None or not ids:
                continue
            # An item's direction in its space: the mean of its chunks, renormalised.
            v = index.reconstruct(np.asarray(ids, dtype=np.int64)).mean(axis=0)
            vectors[space.key] = v / max(float(np.linalg.norm(v)), 1e-12)
        text = self._item_text(chunk_ids)
        if text:
            # An item with text (a note) reaches the spaces it has no vectors in through their text towers.
            for space in self._reachable(modality):
                if space.key not in vectors and space.takes_text and space.ntotal > 0:
                    vectors[space.key] = space.encode_texts([text])[0]
        results = self._fused(vectors, k=k + 1, modality=modality, weights=weights, exclude=item_id)
        return results[:k]

    # -- internals --------------------------------------------------------------------------
    def _reachable(self, modality: Modality | None) -> list[VectorSpace]:
        """The spaces a query may search: all, or those holding the requested modality."""
        return [s for s in self.spaces.values() if modality is None or modality in s.modalities]

    def _item_text(self, chunk_ids: list[tuple[str, int]]) -> str:
        """An item's text as the catalog holds it (its chunks in order), without reading the file."""
        rows = sorted(
            (c for c in self.catalog.chunks(vid for _s, vid in chunk_ids).values() if c.text),
            key=lambda c: (c.space, c.ord),
        )
        return " ".join(c.text for c in rows if c.text)

    def reference(self, space: VectorSpace, index: VectorIndex) -> np.ndarray:
        """A fixed random sample of a space's vectors, refreshed when the space grew or shrank by 10%."""
        cached = space.calibration.get("reference")
        n = index.ntotal
        if cached is not None and abs(cached[0] - n) <= 0.1 * max(n, 1) and cached[0] > 0:
            return cached[1]
        ids = index.ids()
        if len(ids) > REFERENCE_SIZE:
            ids = np.random.default_rng(0).choice(ids, REFERENCE_SIZE, replace=False)
        sample = index.reconstruct(np.asarray(ids, dtype=np.int64)) if len(ids) else np.zeros((0, index.dim), np.float32)
        if space.entry.background is not None:
            # A small library's notes are few and unrelated to each other, so their spread alone
            # makes any best note look like an outlier. A fixed background of everyday sentences
            # gives the text space an honest null distribution (measured in bench_fusion.py).
            sample = np.concatenate([sample, self._background(space)])
        space.calibration["reference"] = (n, sample)
        return sample

    def _background(self, space: VectorSpace) -> np.ndarray:
        cached = space.calibration.get("background")
        if cached is None:
            assert space.entry.background is not None
            lines = space.entry.background.read_text(encoding="utf-8").splitlines()
            sentences = [line for line in lines if line.strip() and not line.startswith("#")]
            cached = space.calibration["background"] = space.encode_texts(sentences)
        return cached

    def _fused(
        self,
        vectors: dict[Space, np.ndarray],
        *,
        k: int,
        modality: Modality | None,
        weights: FusionWeights | None,
        exclude: int | None = None,
    ) -> list[SearchResult]:
        if k <= 0:
            raise UsageError("k must be at least 1")
        weights = weights or FusionWeights()
        catalog = self.catalog
        per_item: dict[int, list[Component]] = {}
        best_chunk: dict[int, int] = {}
        for key, q in vectors.items():
            space = self.spaces[key]
            index = space.index()
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
                via = "chunk" if chunk.text is not None else "pixels"
                component = Component(key.value, via, float(raw), calib(float(raw)), weights.for_space(key.value))
                per_item.setdefault(chunk.item_id, []).append(component)
                if chunk.text is not None:
                    best_chunk[chunk.item_id] = chunk.id
        rows = catalog.items(per_item)
        chunk_rows = catalog.chunks(best_chunk.values())
        results = []
        for item_id, components in per_item.items():
            row = rows.get(item_id)
            if row is None or row.status != cat.INDEXED:
                continue
            if modality is not None and row.modality != modality.value:
                continue
            score = sum(c.weight * c.relevance for c in components)
            chunk = chunk_rows.get(best_chunk.get(item_id, -1))
            results.append(
                SearchResult(
                    item_id=item_id,
                    path=row.path,
                    modality=Modality(row.modality),
                    relevance=float(score),
                    components=tuple(sorted(components, key=lambda c: c.space)),
                    chunk_text=chunk.text if chunk else None,
                    chunk_start=chunk.start if chunk else None,
                    chunk_end=chunk.end if chunk else None,
                )
            )
        results.sort(key=lambda r: (-r.relevance, r.path))
        return results[:k]


def _query_image(query: ImageQuery, side: int | None, photos: Any) -> Any:
    """The query's image, decoded like an indexed photo (from a file, or from pasted bytes)."""
    from PIL import Image

    if query.data is not None:
        try:
            with Image.open(io.BytesIO(query.data)) as img:
                img.load()
                return img.convert("RGB")
        except OSError as e:
            raise DecodeError("pasted image", f"not an image this app can read ({e})") from e
    if query.path is None:
        raise UsageError("an image query needs a file or image data")
    return photos.load_image(Path(query.path), min_side=side)
