"""Why two things matched: the fused relevance and its components, where in a photo, which words.

`Explainer(catalog, spaces, searcher).explain(a, b)` answers for a pair: A is a query text, an item
id or a file, B an item id or a file (an unindexed file is decoded and encoded on the fly). It
reports what `search` would: the fused relevance and each component, scored by the Searcher's own
code (`Searcher.pair`), plus
- `heatmap` (a photo B) and `heatmap_a` (a photo A): where in the photo the match is, over the whole
  photo as displayed (core.explain.heatmap);
- `spans` (a note B): the matched chunk's words weighted by occlusion (core.explain.text);
- `segments` (a recording B): the matched stretch's transcript segments, weighted by occlusion;
- `shared_concepts`: vocabulary words both sides stand out for, in the spaces both reach
  (core.explain.concepts).

Heatmap method, chosen by measurement (tests/bench/bench_explain.py; generated scenes with seeds
training never saw, 25 scenes per layout, mass = share of the heatmap on the named object's half
(pairs) or quadrant (quads); follows = both queries of a pair put most mass on their own half;
peak = peak cell in the named quadrant; "shifted": the same scenes pasted at random offsets into
wider canvases, so objects no longer sit on the grid's halves and quadrants), aligned-v3 test model
(64 px, torch; its ONNX int8 graph within 0.01):

    method                                   pair mass follows quad mass peak | shifted: pair  follows quad  peak | encodes
    coarse to fine (chosen): 4x4-cell        0.947     1.00    0.895     1.00 |          0.795 0.96    0.760 0.99 | 14 (4:3: 17)
      windows 3 cells apart, then the 4
      2x2 windows the coarse map rates highest
    coarse pass alone                        0.893     1.00    0.790     1.00 |          0.657 0.80    0.570 0.83 | 10
    exhaustive 3x3-cell windows (before)     0.914     1.00    0.819     1.00 |          0.735 0.88    0.649 1.00 | 37 (4:3: 55)
    3x3-cell windows 2 cells apart           0.886     1.00    0.771     1.00 |          0.739 0.88    0.625 0.96 | 17
    exhaustive 2x2-cell windows              0.896     1.00    0.776     0.99 |          0.807 0.96    0.697 1.00 | 50
    RISE, 64 random masks (p=0.5)            0.612     1.00    0.433     0.98 |          0.506 0.32    0.361 0.96 | 64
    gradient x (input - fill)                0.566     0.40    0.318     0.45 |          0.590 0.56    0.343 0.65 | 1 fwd + 1 bwd
    earlier, aligned-v2 (32 px, single shapes): exhaustive 3x3 0.821 / 0.80 / 0.594 / 0.70;
    issue's baseline (aligned-v1, grey 56 px windows): 0.76 / 0.96 / 0.51 / 0.72

Occlusion paints windows with the photo's median colour (its background, for most photos) rather
than grey: a grey square is itself an object to a model. The fine pass sharpens the map where the
coarse one found the match and leaves the coarse pass half the mass everywhere else; off the grid
it beats the exhaustive map it replaced with 14-17 encodes instead of 37-55. RISE needs many more
masks than the budget allows to be smooth; input gradients of this small ResNet are noise.

Speed (bench_explain, ViT-B-32 with random weights, on this 2-core machine while other jobs kept
the load at 5-7, so wall seconds are inflated and torch's two OpenMP threads mostly spin; a
process's CPU seconds at one thread are about what the same call takes alone on one idle core).
Masked copies are made in tensor space from one preprocessed canvas and go through
`encode_image_tensors` in one batch per pass (core.explain.heatmap.Masker); the query's vector
comes from the Searcher's LRU; a photo A's own heatmap is made only when asked (`with_heatmap_a`:
off for the window's detail pane, on for Compare and the CLI).

    seconds: wall 2 threads, wall 1 thread, CPU 1 thread   torch             ONNX fp32         ONNX int8
    one image encode                                       2.61  0.26  0.17  0.23  0.18  0.12  0.11  0.06  0.06
    heatmap, square photo (14 encodes)                     4.53  2.39  1.58  2.67  2.27  1.51  1.31  0.90  0.83
    same, exhaustive 3x3 windows (37, before)              8.85  6.19  4.06  6.63  6.54  4.32  3.74  3.79  2.33
    explain: text vs a 4:3 photo (17 encodes)              5.31  2.80  1.85  2.57  2.67  1.77  1.87  1.51  1.03
    explain: photo vs photo, both heatmaps                 9.86  5.16  3.43  5.51  4.85  3.21  2.99  2.95  1.86
    same, detail pane (B's heatmap only)                   5.39  2.87  1.91  2.98  2.23  1.76  1.79  1.54  1.02

So an explanation of a photo is its heatmap's encodes and little else: about 1.0 CPU second on
ONNX int8 (estimated from it: <= 1 s on one idle core, about 0.6 s on two), 1.8 on fp32 or
torch; measured wall time under this load 1.5-1.9 s (int8). int8 is what random weights get when
forced; for real weights the export's recall rule decides, else fp32. Engine.explain with the
aligned model: 0.04 s text vs photo, 0.09 s text vs note.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import modalities
from mmexplorer.core.errors import UsageError
from mmexplorer.core.explain import concepts as concept_words
from mmexplorer.core.explain.heatmap import photo_heatmap
from mmexplorer.core.explain.text import segment_weights, word_spans
from mmexplorer.core.search import Searcher
from mmexplorer.core.spaces import Spaces, VectorSpace
from mmexplorer.core.types import (
    Explanation,
    FusionWeights,
    Heatmap,
    Modality,
    Space,
    Span,
    TimedWeight,
    Transcript,
)

log = logging.getLogger(__name__)

HEATMAP_METHOD = "occlusion"
HEATMAP_OPTIONS: dict[str, Any] = {"window": 4, "stride": 3, "refine": 4, "refine_window": 2}
CONCEPTS = 6

Probe = tuple[VectorSpace, np.ndarray, str]


@dataclass
class _Rows:
    """An item's vectors in one space, and what each row is."""

    vectors: np.ndarray
    vias: list[str]
    texts: list[str | None]
    starts: list[int | None]
    times: list[tuple[float | None, float | None]]


@dataclass
class _Side:
    item_id: int | None = None
    path: str | None = None
    modality: Modality | None = None  # None: a query text
    text: str | None = None  # a query's words, or a note's whole text
    image: Any = None  # a photo, upright
    rows: dict[str, _Rows] = field(default_factory=dict)

    def mean(self, space: str) -> np.ndarray | None:
        got = self.rows.get(space)
        if got is None or len(got.vectors) == 0:
            return None
        v = got.vectors.mean(axis=0)
        return v / max(float(np.linalg.norm(v)), 1e-12)


class Explainer:
    """Explains pairs in one library.

    Args:
        catalog, spaces, searcher: the library's parts (the Engine's).
        concepts: where embedded vocabularies are kept (default: in memory only).
        transcript: item id -> its Transcript or None (recordings), when the library has them.
        heatmap_method: "occlusion", "rise" or "gradient" (see the table above).
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        spaces: Spaces,
        searcher: Searcher,
        *,
        concepts: concept_words.ConceptCache | None = None,
        transcript: Callable[[int], Transcript | None] | None = None,
        heatmap_method: str = HEATMAP_METHOD,
        heatmap_options: dict[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.searcher = searcher
        self.concepts = concepts or concept_words.ConceptCache(None)
        self.transcript = transcript
        self.heatmap_method = heatmap_method
        self.heatmap_options = dict(HEATMAP_OPTIONS if heatmap_options is None else heatmap_options)

    # -- public -----------------------------------------------------------------------------
    def explain(
        self,
        a: str | os.PathLike[str] | int,
        b: str | os.PathLike[str] | int,
        *,
        weights: FusionWeights | None = None,
        with_heatmap_a: bool = True,
        between: Callable[[], None] | None = None,
    ) -> Explanation:
        """Why A matched B (see the module docstring).

        Args:
            a: a query text, an item id, or a file (an existing path; anything else is text).
            b: an item id or a file (indexed or not).
            weights: fusion weights (default: equal).
            with_heatmap_a: also map a photo A (where it carries the match); a view that shows only B's
                heatmap passes False and saves a second heatmap's encodes.
            between: called between batches of a long step (the first embedding of the concept
                vocabulary), where the caller may answer other requests.

        Raises:
            UsageError: B is not an item or an existing file, or is not media this app reads.
            DecodeError: a file could not be read.
        """
        weights = weights or FusionWeights()
        side_b = self._side(b, query_ok=False)
        side_a = self._side(a, query_ok=True)
        # Only the spaces B is in matter (a space B has no vectors in adds no component, and loading
        # its model, CLAP for a photo, would cost time or fail offline); photo A also needs the image space.
        wanted = set(side_b.rows)
        probes = self._probes(side_a, wanted)
        targets = {k: (r.vectors, r.vias) for k, r in side_b.rows.items()}
        lexical = side_a.text if side_a.modality is None else None
        relevance, components, best = self.searcher.pair(
            probes, targets, weights=weights, lexical=lexical, item_id=side_b.item_id
        )
        by_space = {p[0].key.value: p for p in probes}
        heatmap = heatmap_a = None
        image_key = Space.IMAGE.value
        if side_b.image is not None and image_key in by_space:
            space, q, _kind = by_space[image_key]
            heatmap = self._heatmap(space, side_b.image, q)
        if with_heatmap_a and side_a.image is not None and image_key in self.spaces:
            space = self.spaces[image_key]
            target = self._image_target(space, side_b)
            if target is not None:
                heatmap_a = self._heatmap(space, side_a.image, target)
        locate = modalities.entry_of(side_b.modality).locate if side_b.modality is not None else None
        spans = self._spans(side_b, by_space, best) if locate == modalities.LOCATE_CHUNK else ()
        segments = self._segments(side_b, by_space, best) if locate == modalities.LOCATE_SEGMENT else ()
        return Explanation(
            relevance=relevance,
            components=tuple(components),
            heatmap=heatmap,
            heatmap_a=heatmap_a,
            spans=spans,
            segments=segments,
            shared_concepts=self._shared(by_space, side_b, between),
            a_path=side_a.path,
            a_text=side_a.text if side_a.modality is None else None,
            b_path=side_b.path or "",
            b_modality=side_b.modality,
        )

    # -- sides ------------------------------------------------------------------------------
    def _side(self, value: str | os.PathLike[str] | int, *, query_ok: bool) -> _Side:
        if isinstance(value, bool):
            raise UsageError(f"not an item or a file: {value!r}")
        if isinstance(value, int):
            row = self.catalog.item(value)
            if row is None:
                raise UsageError(f"no item with id {value}")
            return self._indexed(row)
        text = os.fspath(value)
        path = Path(text).expanduser()
        if not path.is_file():
            if query_ok:
                if not text.strip():
                    raise UsageError("the query is empty")
                return _Side(text=text.strip())
            raise UsageError(f"not a file: {text}")
        row = self.catalog.item_by_path(os.path.abspath(path))
        if row is not None and row.status == cat.INDEXED:
            return self._indexed(row)
        return self._unindexed(path)

    def _indexed(self, row: cat.ItemRow) -> _Side:
        modality = Modality(row.modality)
        side = _Side(item_id=row.id, path=row.path, modality=modality)
        chunk_ids = self.catalog.chunk_ids_of([row.id])
        chunks = self.catalog.chunks(vid for _s, vid in chunk_ids)
        for space in self.spaces.values():
            index = space.index()
            ids = [vid for s, vid in chunk_ids if s == space.key.value and vid in chunks]
            if index is None or not ids:
                continue
            rows = sorted((chunks[i] for i in ids), key=lambda c: c.ord)
            vectors = index.reconstruct(np.asarray([c.id for c in rows], dtype=np.int64))
            side.rows[space.key.value] = _Rows(
                vectors=np.asarray(vectors, dtype=np.float32),
                vias=[_via(modality, c.text, c.start_s) for c in rows],
                texts=[c.text for c in rows],
                starts=[c.start for c in rows],
                times=[(c.start_s, c.end_s) for c in rows],
            )
        self._load_content(side, Path(row.path))
        return side

    def _unindexed(self, path: Path) -> _Side:
        from mmexplorer.core.media.sniff import classify

        modality = classify(path)
        if modality is None:
            raise UsageError(f"not a {modalities.in_words()} this app reads: {path}")
        side = _Side(path=os.path.abspath(path), modality=modality)
        self._load_content(side, path)
        entry = modalities.entry_of(modality)
        if side.image is not None:
            for space in self.spaces.values():
                if space.takes_images and "pixels" in entry.vias(space.key):
                    v = np.asarray(space.encode_images([side.image]), dtype=np.float32)
                    side.rows[space.key.value] = _Rows(v, ["pixels"], [None], [None], [(None, None)])
        elif side.text:
            from mmexplorer.core.text.chunking import chunk_text

            for space in self.spaces.values():
                if "chunk" not in entry.vias(space.key):
                    continue
                encoder = space.encoder()
                chunks = chunk_text(
                    side.text,
                    max_tokens=getattr(encoder, "max_tokens", 256),
                    count_tokens=getattr(encoder, "count_tokens", None),
                )
                if not chunks:
                    continue
                v = np.asarray(space.encode_texts([c.text for c in chunks]), dtype=np.float32)
                side.rows[space.key.value] = _Rows(
                    v, ["chunk"] * len(chunks), [c.text for c in chunks], [c.start for c in chunks],
                    [(None, None)] * len(chunks),
                )
        # An unindexed recording is not transcribed here: it has no components, and says so by that.
        return side

    def _load_content(self, side: _Side, path: Path) -> None:
        from mmexplorer.core.media import photos

        entry = modalities.entry_of(side.modality) if side.modality is not None else None
        if entry is not None and entry.pictured:
            side.image = photos.load_image(path, min_side=448)
        elif entry is not None and entry.read_text is not None:
            side.text = entry.read_text(path)

    def _probes(self, side: _Side, wanted: set[str]) -> list[Probe]:
        """A's vectors as a query in the wanted spaces, exactly as search builds them."""
        if side.modality is None:
            return [
                (space, self.searcher.query_vector(space, side.text or ""), "text")
                for space in self.spaces.values()
                if space.takes_text and space.key.value in wanted
            ]
        if side.item_id is not None:
            return self.searcher.item_probes(side.item_id, empty_spaces=True, only=wanted)
        probes: list[Probe] = []
        for key in side.rows:
            if key not in wanted:
                continue
            space = self.spaces[key]
            v = side.mean(key)
            probes.append((space, v, "image" if space.takes_images else "text"))
        if side.text:
            for space in self.spaces.values():
                if space.key.value in wanted and space.key.value not in side.rows and space.takes_text:
                    probes.append((space, space.encode_texts([side.text])[0], "text"))
        return probes

    # -- where ------------------------------------------------------------------------------
    def _heatmap(self, space: VectorSpace, image: Any, target: np.ndarray) -> Heatmap:
        # The encoder itself, not the space's encode_images: its preprocess and encode_image_tensors
        # let the masked copies be made in tensor space (as the indexer encodes photos).
        return photo_heatmap(
            space.encoder(),
            image,
            np.asarray(target, dtype=np.float32),
            method=self.heatmap_method,
            **self.heatmap_options,
        )

    def _image_target(self, space: VectorSpace, side: _Side) -> np.ndarray | None:
        """B in the image space: its pixels, or its text through the image space's text tower."""
        v = side.mean(space.key.value)
        if v is not None:
            return v
        text = self._best_text(side)
        if text and space.takes_text:
            return np.asarray(space.encode_texts([text])[0], dtype=np.float32)
        return None

    def _best_text(self, side: _Side) -> str | None:
        for rows in side.rows.values():
            texts = [t for t in rows.texts if t]
            if texts:
                return texts[0]
        return side.text

    def _spans(self, side: _Side, by_space: dict[str, Probe], best: dict[str, int]) -> tuple[Span, ...]:
        """The matched chunk's words, in the space the match is strongest in that takes text."""
        for key in (Space.TEXT.value, Space.IMAGE.value):
            if key not in by_space:
                continue
            space, q, _kind = by_space[key]
            if not space.takes_text:
                continue
            rows = side.rows.get(key)
            if rows is not None and key in best and rows.texts[best[key]]:
                i = best[key]
                text, start = rows.texts[i] or "", rows.starts[i] or 0
            elif side.text:
                # The note has no vectors here (a photo A reaching a note through CLIP's text tower):
                # its chunks from the text space, the best of them by this space's text tower.
                chunks = [(t, s) for r in side.rows.values() for t, s in zip(r.texts, r.starts, strict=True) if t]
                if not chunks:
                    chunks = [(side.text, 0)]
                sims = np.asarray(space.encode_texts([t for t, _s in chunks])) @ q
                text, start = chunks[int(np.argmax(sims))]
                start = start or 0
            else:
                continue
            return word_spans(space.encode_texts, text, q, offset=start)
        return ()

    def _segments(self, side: _Side, by_space: dict[str, Probe], best: dict[str, int]) -> tuple[TimedWeight, ...]:
        if self.transcript is None or side.item_id is None:
            return ()
        transcript = self.transcript(side.item_id)
        if transcript is None or not transcript.segments:
            return ()
        for key, rows in side.rows.items():
            if key not in by_space or key not in best or not by_space[key][0].takes_text:
                continue
            start_s, end_s = rows.times[best[key]]
            segs = list(transcript.segments)
            if start_s is not None and end_s is not None:
                inside = [s for s in segs if s.end_s > start_s and s.start_s < end_s]
                segs = inside or segs
            space, q, _kind = by_space[key]
            return segment_weights(space.encode_texts, segs, q)
        return ()

    # -- concepts ---------------------------------------------------------------------------
    def _shared(
        self, by_space: dict[str, Probe], side_b: _Side, between: Callable[[], None] | None = None
    ) -> tuple[str, ...]:
        scores: dict[str, float] = {}
        for key, (space, q, _kind) in by_space.items():
            b = side_b.mean(key)
            if b is None or not space.takes_text:
                continue
            encoder = space.encoder()
            if not getattr(encoder, "meaningful", True):
                continue  # a model whose similarities mean nothing shares no concepts
            matrix = self.concepts.matrix(key, encoder.model_id, space.encode_texts, between=between)
            for word, score in concept_words.shared(matrix, q, b, top=CONCEPTS):
                scores[word] = max(score, scores.get(word, float("-inf")))
        ranked = sorted(scores, key=lambda w: -scores[w])
        return tuple(ranked[:CONCEPTS])

    def warm_concepts(self, *, batches: int = 1) -> bool:
        """Embed a few more batches of the concept vocabulary ahead of the first explanation.

        Only spaces that hold vectors, take text and whose model is already loaded are warmed (this
        never loads a model). Returns True when no such space has words left to embed.
        """
        for key in self.spaces:
            space = self.spaces[key]
            if not (space.takes_text and space.loaded and space.ntotal > 0):
                continue
            encoder = space.encoder()
            if not getattr(encoder, "meaningful", True):
                continue
            if self.concepts.cached(key.value, encoder.model_id) is not None:
                continue
            self.concepts.fill(key.value, encoder.model_id, space.encode_texts, batches=batches)
            return False
        return True


def _via(modality: Modality, text: str | None, start_s: float | None) -> str:
    """What a row of an item is, named as search names a component's `via`."""
    if start_s is not None:
        return "transcript"
    if text is None:
        return "pixels"
    return modalities.entry_of(modality).text_via


__all__ = ["HEATMAP_METHOD", "Explainer"]
