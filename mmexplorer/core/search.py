"""Queries (text, image, item) across every space they reach, scored as relevance in [0, 1] and fused.

Each way an item matches is a component (core.types.Component): a photo's pixels in the image
space, a note's best chunk in the text space, and the lexical component (exact words of a note,
words of a file or folder name, SQLite FTS5). A semantic component's relevance is its raw cosine
through the space's fitted map (core.relevance: a logistic fit per model and query kind, with a
per-query baseline against a fixed background); a lexical one is fixed by how it matched (all
words of the query in a file name 0.95, in the name as a person reads it where FTS5's tokens run
words together (MeetingNotes, IMG20230714, e-mail, 東京タワー; core.names.name_parts) 0.9, in a
folder name below the library's root 0.85, as a phrase in a note 0.9, all words apart 0.75;
halved when the words are in most of the library).
Each hit is scored by the map of its kind of evidence (core.evidence): a photo's caption has a map
of its own, fitted on captions with near misses. An item's relevance fuses its components with the
library's weights w in [0, 1] by noisy-OR over what each counts, `1 - prod(1 - w * r * support)`
(support < 1 only for evidence read from other evidence: a caption, as far as the pixels show it),
which stays in [0, 1]. An item is judged relevant at `RELEVANT` (0.5).

Captions (issue 24; `bench_fusion.py --captions both --support gate,independent`, 2026-12-07, the
suite's test captioner): photo top-1 / precision / recall of what a photo query returns, captions
off -> on (gate, the chosen) -> on (independent noisy-OR, as before):

    24 photos + 6 notes   0.958/0.958/0.958 -> 1.000/1.000/1.000 -> 1.000/0.251/1.000
    mixed (144+30)        1.000/0.980/0.968 -> 1.000/0.973/0.998 -> 1.000/0.174/1.000
    note-heavy (20+300)   0.933/0.903/0.933 -> 0.967/0.928/0.967 -> 0.983/0.264/1.000
    photo-heavy (500+3)   0.981/0.957/0.928 -> 0.991/0.961/0.968 -> 0.991/0.160/1.000

Off-topic empty 1.0 / 0.971 / 0.912 / 1.0 with and without captions; note and exact top-1 the same
with and without (0.909/1.0, 0.88/0.947, 0.828/0.979, 1.0/1.0).

Measured with tests/bench/bench_fusion.py (devtools.worlds libraries; aligned-v2 test model, real
all-MiniLM-L6-v2; default search over every modality; relevant = relevance >= 0.5). Columns:
photo top-1, note top-1, exact-name/word top-1, off-topic queries answered with nothing, recall and
precision of the relevant set for queries with several right answers.

    world (photos+notes)   method           photo  note   exact  offtop  m.rec  m.prec
    mixed (144+30)         fitted (chosen)  1.000  0.900  0.947  0.882   0.568  0.748
                           baseline in all  1.000  0.880  0.895  0.824   0.564  0.746
                           no baseline      0.935  0.900  0.868  0.941   0.451  0.707
                           robust z (old)   0.102  0.800  0.947  0.794   0.304  0.411
                           raw cosine       1.000  0.220  0.947  0.706   0.705  0.752
                           max, not noisy-OR 1.000 0.900  0.868  0.941   0.564  0.748
    note-heavy (20+300)    fitted (chosen)  0.900  0.851  0.979  0.824   0.554  0.517
                           baseline in all  0.917  0.851  0.915  0.794   0.537  0.418
                           robust z (old)   0.217  0.858  1.000  0.382   0.312  0.177
                           raw cosine       0.967  0.299  1.000  0.853   0.708  0.700
    photo-heavy (500+3)    fitted (chosen)  0.981  1.000  1.000  0.941   0.647  0.790
                           no baseline      0.907  1.000  0.895  0.971   0.567  0.750
                           raw cosine       0.991  1.000  0.895  0.706   0.757  0.826
    large-mixed (2000+600) fitted (chosen)  0.991  0.843  0.912  0.824   0.584  0.743
    tiny-random (72+10)    photo queries that returned any photo as relevant: 0.000

The "fitted (chosen)" rows of mixed, note-heavy and photo-heavy are from 2026-12-01, after "_" in a
file name became a word separator as it is for FTS5 (exact 0.895 -> 0.947 mixed, 0.895 -> 1.000
photo-heavy: "Hochzeit" now finds Hochzeit_Lena_Jannik.png); the other rows are older runs, against
an earlier training of the test model (off-topic then 0.941 / 0.882 / 0.971 for the chosen method).

"fitted" uses the per-query baseline in the image space and not in the text space (the baseline
made codes the sentence encoder does not know, "INV-2024-017", look like strong note matches:
exact 0.915 -> 0.979 and off-topic 0.794 -> 0.882 without it on note-heavy). noisy-OR and max tie
on photo and note top-1 (items mostly match in one space); noisy-OR is kept because evidence from
two ways (a note's chunk and its exact words) adds up: exact top-1 0.895 vs 0.868 (mixed) and
0.979 vs 0.872 (note-heavy) for max.
Raw cosine ranks photos fine within the image space but loses notes against photos (0.22).
Note top-1 is bounded by the sentence encoder itself: ranking the pool notes by raw cosine alone
puts the right one first for 0.86 of the world's paraphrases.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import evidence as ev
from mmexplorer.core import modalities
from mmexplorer.core import relevance as rel
from mmexplorer.core.errors import DecodeError, UsageError
from mmexplorer.core.lexical import LEXICAL, STOPWORDS, fold, lexical_matches
from mmexplorer.core.spaces import Spaces, VectorSpace
from mmexplorer.core.types import (
    Component,
    FusionWeights,
    ImageQuery,
    ItemQuery,
    Modality,
    Query,
    SearchResult,
    Segment,
    Space,
    TextQuery,
)

log = logging.getLogger(__name__)

RELEVANT = rel.RELEVANT
METHODS = ("fitted", "fitted-gap-all", "fitted-nogap", "robust", "raw")
RULES = ev.RULES
REFERENCE_SIZE = 2048
QUERY_CACHE_SIZE = 256  # recent query vectors kept per Searcher (a few hundred KB)
MIN_SIGMA = 1e-3

class Searcher:
    """Runs queries over a library's catalog and spaces.

    Args:
        catalog: the library's catalog (items, chunks, the lexical index).
        spaces: the library's vector spaces.
        cache: where fitted relevance maps are kept between runs (None: refit in each process).
        method: "fitted" (default), or an alternative kept to measure it: "fitted-nogap" (no
            per-query baseline), "robust" (z-score against the space's own vectors, squashed),
            "raw" (the cosine itself).
        rule: "noisy-or" (default) or "max" over an item's components.
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        spaces: Spaces,
        *,
        cache: rel.RelevanceCache | None = None,
        method: str = "fitted",
        rule: str = "noisy-or",
    ) -> None:
        if method not in METHODS or rule not in RULES:
            raise UsageError(f"unknown relevance method {method!r} or fusion rule {rule!r}")
        self.catalog = catalog
        self.spaces = spaces
        self.cache = cache or rel.RelevanceCache(None)
        self.method = method
        self.rule = rule
        self._recent: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()  # see query_vector

    # -- public -----------------------------------------------------------------------------
    def search(
        self, query: Query, *, k: int, modality: Modality | None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        """Up to k results, best first; those below the relevance cutoff have `relevant` False."""
        if k <= 0:
            raise UsageError("k must be at least 1")
        weights = weights or FusionWeights()
        if isinstance(query, TextQuery):
            return self.text(query.text, k=k, modality=modality, weights=weights)
        if isinstance(query, ImageQuery):
            return self.image(query, k=k, modality=modality, weights=weights)
        if isinstance(query, ItemQuery):
            return self.similar(query.item_id, k=k, modality=modality, weights=weights)
        raise UsageError(f"unknown query {query!r}")

    def text(self, query: str, *, k: int, modality: Modality | None, weights: FusionWeights) -> list[SearchResult]:
        query = query.strip()
        if not query:
            return []
        probes = [
            (space, self.query_vector(space, query), "text")
            for space in self._reachable(modality)
            if space.takes_text and space.ntotal > 0
        ]
        return self._fused(probes, k=k, modality=modality, weights=weights, lexical=query)

    def image(
        self, query: ImageQuery, *, k: int, modality: Modality | None, weights: FusionWeights
    ) -> list[SearchResult]:
        from mmexplorer.core.media import photos

        targets = [s for s in self._reachable(modality) if s.takes_images]
        if not targets:
            return []
        # Decoded even when nothing is indexed yet, so a bad file is reported as such.
        image = _query_image(query, getattr(targets[0].encoder(), "image_size", None), photos)
        probes = [(s, s.encode_images([image])[0], "image") for s in targets if s.ntotal > 0]
        return self._fused(probes, k=k, modality=modality, weights=weights)

    def similar(
        self, item_id: int, *, k: int, modality: Modality | None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        """Neighbours of an indexed item in every space it has vectors in (itself excluded)."""
        weights = weights or FusionWeights()
        row = self.catalog.item(item_id)
        if row is None:
            raise UsageError(f"no item with id {item_id}")
        probes = self.item_probes(item_id, modality=modality)
        results = self._fused(probes, k=k + 1, modality=modality, weights=weights, exclude=item_id)
        return results[:k]

    def item_probes(
        self,
        item_id: int,
        *,
        modality: Modality | None = None,
        empty_spaces: bool = False,
        only: set[str] | None = None,
    ) -> list[tuple[VectorSpace, np.ndarray, str]]:
        """An indexed item as a query: (space, unit vector, query kind) in every space it reaches.

        Its direction in a space it has vectors in is the mean of its chunks, renormalised; an item
        with text (a note) also reaches the other spaces with a text tower through its text (those
        holding vectors, or all of them with `empty_spaces`). `only` limits the spaces (by key).
        """
        chunk_ids = self.catalog.chunk_ids_of([item_id])
        probes: list[tuple[VectorSpace, np.ndarray, str]] = []
        reachable = [s for s in self._reachable(modality) if only is None or s.key.value in only]
        for space in reachable:
            index = space.index()
            ids = [vid for s, vid in chunk_ids if s == space.key.value]
            if index is None or not ids:
                continue
            v = index.reconstruct(np.asarray(ids, dtype=np.int64)).mean(axis=0)
            kind = "image" if space.takes_images else "text"
            probes.append((space, v / max(float(np.linalg.norm(v)), 1e-12), kind))
        text = self.item_text(chunk_ids)
        if text:
            have = {p[0].key for p in probes}
            for space in reachable:
                if space.key not in have and space.takes_text and (empty_spaces or space.ntotal > 0):
                    probes.append((space, space.encode_texts([text])[0], "text"))
        return probes

    def query_vector(self, space: VectorSpace, text: str) -> np.ndarray:
        """A typed query's unit vector in a space, from a small LRU of recent queries (per space and model).

        Typing a query, re-running it or paging through its results encodes it once.
        """
        encoder = space.encoder()
        key = (space.key.value, getattr(encoder, "model_id", ""), text)
        cached = self._recent.get(key)
        if cached is not None:
            self._recent.move_to_end(key)
            return cached
        vector = np.asarray(space.encode_texts([text])[0], dtype=np.float32)
        vector.setflags(write=False)
        self._recent[key] = vector
        while len(self._recent) > QUERY_CACHE_SIZE:
            self._recent.popitem(last=False)
        return vector

    def rank(
        self,
        probes: list[tuple[VectorSpace, np.ndarray, str]],
        *,
        k: int,
        modality: Modality | None,
        weights: FusionWeights,
        exclude: int | None = None,
        lexical: str | None = None,
    ) -> list[SearchResult]:
        """Results for ready probes ((space, unit vector, query kind)), scored and fused as `search` does.

        For callers that build their own probes (core.align's related items through the maps).
        """
        return self._fused(probes, k=k, modality=modality, weights=weights, exclude=exclude, lexical=lexical)

    # -- relevance ----------------------------------------------------------------------------
    def relevance_map(
        self, space: VectorSpace, kind: str, *, gap: bool = True, via: str | None = None
    ) -> tuple[rel.RelevanceModel, np.ndarray]:
        """The fitted map of a space for a query kind, and the space's background vectors.

        `via`: the kind of evidence (core.evidence) when it has calibration data of its own (a
        photo's caption); otherwise, and for queries that are not typed words, the space's map.
        """
        evidence = ev.kind_of(space.key.value, via) if via is not None and kind == "text" else None
        own = evidence is not None and evidence.calibrate is not None
        key = ("relevance", kind, gap, via) if own else ("relevance", kind, gap)
        cached = space.calibration.get(key)
        if cached is None:
            encoder = space.encoder()
            if own:
                calibrate = evidence.calibrate
                name = f"{space.key.value}.{via}"
            elif space.entry.calibrate is None:
                raise UsageError(f"the {space.key.value} space has no calibration data")
            else:
                calibrate = space.entry.calibrate
                name = space.key.value
            cached = self.cache.get_or_fit(name, kind, encoder.model_id, lambda: calibrate(encoder, kind), gap=gap)
            if not getattr(encoder, "meaningful", True):
                # A model whose similarities mean nothing (tiny-random) is never evidence of relevance.
                cached = (rel.uninformative(cached[0]), cached[1])
            space.calibration[key] = cached
        return cached

    def informative(self, space: VectorSpace, kind: str) -> bool:
        """Whether the space's relevance for this query kind is evidence at all (not tiny-random)."""
        if self.method not in ("fitted", "fitted-nogap", "fitted-gap-all") or space.entry.calibrate is None:
            return True
        return self.relevance_map(space, kind, gap=self._gap(space))[0].informative

    def prepare_relevance(
        self, cancel: Callable[[], bool] | None = None, *, on_start: Callable[[str], None] | None = None
    ) -> list[str]:
        """Fit (or load) the relevance maps a typed query will need, now rather than at the first search.

        A model's first fit encodes its calibration set (ViT-B-32 on this CPU: 14 s on ONNX, about
        50 s on torch), which made the first search after indexing wait that long. Returns the
        spaces prepared; maps already cached cost a file read. `on_start(space)` is called before
        each map not yet in memory (for a progress line).
        """
        if self.method not in ("fitted", "fitted-nogap", "fitted-gap-all"):
            return []
        done = []
        for space in self.spaces.values():
            if cancel is not None and cancel():
                break
            if not space.takes_text or space.entry.calibrate is None or space.ntotal == 0:
                continue
            gap = self._gap(space)
            if on_start is not None and ("relevance", "text", gap) not in space.calibration:
                on_start(space.key.value)
            self.relevance_map(space, "text", gap=gap)  # as scorer asks for it
            for kind in ev.EVIDENCE.values():  # and each kind of evidence with a map of its own
                if kind.space == space.key.value and kind.calibrate is not None:
                    self.relevance_map(space, "text", gap=gap, via=kind.via)
            done.append(space.key.value)
        return done

    def _gap(self, space: VectorSpace) -> bool:
        return {"fitted": space.entry.query_baseline, "fitted-gap-all": True}.get(self.method, False)

    def scorer(
        self, space: VectorSpace, q: np.ndarray, kind: str, via: str | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """raw cosines -> relevance in [0, 1] for this query in this space (for this kind of evidence)."""
        if self.method == "raw":
            return lambda raw: np.clip(raw, 0.0, 1.0)
        if self.method == "robust":
            index = space.index()
            sample = self._reference(space, index)
            scores = sample @ q
            center = float(np.median(scores))
            scale = max(1.4826 * float(np.median(np.abs(scores - center))), MIN_SIGMA)
            return lambda raw: 1.0 / (1.0 + np.exp(-((raw - center) / scale - 3.0)))
        gap = self._gap(space)
        model, background = self.relevance_map(space, kind, gap=gap, via=via)
        base = rel.baseline(q, background) if gap else (0.0, 1.0)
        return lambda raw: model(raw, base)

    def _reference(self, space: VectorSpace, index: Any) -> np.ndarray:
        cached = space.calibration.get("reference")
        n = index.ntotal
        if cached is not None and abs(cached[0] - n) <= 0.1 * max(n, 1) and cached[0] > 0:
            return cached[1]
        ids = index.ids()
        if len(ids) > REFERENCE_SIZE:
            ids = np.random.default_rng(0).choice(ids, REFERENCE_SIZE, replace=False)
        sample = index.reconstruct(np.asarray(ids, dtype=np.int64))
        space.calibration["reference"] = (n, sample)
        return sample

    # -- internals --------------------------------------------------------------------------
    def _reachable(self, modality: Modality | None) -> list[VectorSpace]:
        """The spaces a query may search: all, or those holding the requested modality."""
        return [s for s in self.spaces.values() if modality is None or modality in s.modalities]

    def item_text(self, chunk_ids: list[tuple[str, int]]) -> str:
        """An item's text as the catalog holds it (its chunks in order), without reading the file."""
        rows = sorted(
            (c for c in self.catalog.chunks(vid for _s, vid in chunk_ids).values() if c.text),
            key=lambda c: (c.space, c.ord),
        )
        return " ".join(c.text for c in rows if c.text)

    def _fused(
        self,
        probes: list[tuple[VectorSpace, np.ndarray, str]],
        *,
        k: int,
        modality: Modality | None,
        weights: FusionWeights,
        exclude: int | None = None,
        lexical: str | None = None,
    ) -> list[SearchResult]:
        catalog = self.catalog
        hits: list[tuple[int, float, cat.ChunkRow]] = []  # (probe, raw, chunk): an item's best chunk per probe
        text_queries: dict[str, tuple[VectorSpace, np.ndarray]] = {}  # for picking a recording's segment
        sound_window: dict[int, Segment] = {}  # a recording's best sound window (matched by sound)
        probes = [(space, np.asarray(q, dtype=np.float32), kind) for space, q, kind in probes]
        for p, (space, q, _kind) in enumerate(probes):
            index = space.index()
            if index is None or index.ntotal == 0:
                continue
            if space.takes_text:
                text_queries[space.key.value] = (space, q)
            depth = min(index.ntotal, k * 4 + 32)
            scores, ids = index.search(q[None, :], depth)
            chunks = catalog.chunks(int(i) for i in ids[0] if i >= 0)
            seen: set[int] = set()
            for raw, vid in zip(scores[0], ids[0]):
                chunk = chunks.get(int(vid))
                if chunk is None or chunk.item_id in seen or chunk.item_id == exclude:
                    continue  # hits are sorted: the first of an item is its best chunk
                seen.add(chunk.item_id)
                hits.append((p, float(raw), chunk))
                if chunk.text is None and chunk.start_s is not None:  # a recording's best sound window
                    sound_window.setdefault(chunk.item_id, Segment(chunk.start_s, chunk.end_s or chunk.start_s))
        lexical_hits = lexical_matches(self.catalog, lexical, weights.for_space(LEXICAL)) if lexical else {}
        lexical_hits.pop(exclude, None)  # type: ignore[arg-type]
        rows = catalog.items({c.item_id for _p, _r, c in hits} | set(lexical_hits))
        per_item, best_chunk = self._components(probes, hits, rows, weights)
        for item_id, (component, chunk_id) in lexical_hits.items():
            per_item.setdefault(item_id, []).append(component)
            if chunk_id is not None and item_id not in best_chunk:
                best_chunk[item_id] = chunk_id
        self._add_sources(per_item, probes, weights)
        chunk_rows = catalog.chunks(best_chunk.values())
        # A captioned item's (a photo's) text-space chunk is its generated caption (core.indexer.caption).
        photo_ids = [i for i, r in rows.items() if _captioned(r.modality)]
        captions = catalog.captions(photo_ids) if photo_ids else {}
        informative = self._informative_spaces(probes)
        results = []
        for item_id, components in per_item.items():
            row = rows.get(item_id)
            if row is None or row.status != cat.INDEXED:
                continue
            if modality is not None and row.modality != modality.value:
                continue
            caption = None
            if _captioned(row.modality):
                caption = captions.get(item_id) or None
                best_chunk.pop(item_id, None)  # its matched text is the caption, reported as such
            components = ev.with_support(components, informative=informative)
            score = ev.fuse_components(components, rule=self.rule)
            chunk = chunk_rows.get(best_chunk.get(item_id, -1))
            results.append(
                SearchResult(
                    item_id=item_id,
                    path=row.path,
                    modality=Modality(row.modality),
                    relevance=score,
                    components=tuple(sorted(components, key=lambda c: (-ev.counted(c), c.space))),
                    relevant=score >= RELEVANT,
                    chunk_text=chunk.text if chunk else None,
                    chunk_start=chunk.start if chunk else None,
                    chunk_end=chunk.end if chunk else None,
                    caption=caption,
                    taken_at=row.when,
                )
            )
        results.sort(key=lambda r: (-r.relevance, r.path))
        results = results[:k]
        timed = {
            r.item_id: c
            for r in results
            if (c := chunk_rows.get(best_chunk.get(r.item_id, -1))) is not None and c.start_s is not None
        }
        found = self._best_segments(timed, text_queries, lexical) if timed else {}
        # A recording matched by sound alone (or more by sound than by words) points at its best window.
        for r in results:
            if r.item_id in sound_window and (r.item_id not in found or r.components[0].space == Space.SOUND.value):
                found[r.item_id] = sound_window[r.item_id]
        if found:
            results = [dataclasses.replace(r, segment=found[r.item_id]) if r.item_id in found else r for r in results]
        return results

    def _components(
        self,
        probes: list[tuple[VectorSpace, np.ndarray, str]],
        hits: list[tuple[int, float, cat.ChunkRow]],
        rows: dict[int, cat.ItemRow],
        weights: FusionWeights,
    ) -> tuple[dict[int, list[Component]], dict[int, int]]:
        """Each hit as a component of its item, scored by the map of its kind of evidence."""
        groups: dict[tuple[int, str], list[int]] = {}  # (probe, via) -> hits, scored in one call
        vias = []
        for n, (p, _raw, chunk) in enumerate(hits):
            row = rows.get(chunk.item_id)
            vias.append(via_of_chunk(row.modality if row is not None else None, chunk))
            groups.setdefault((p, vias[-1]), []).append(n)
        relevance = np.zeros(len(hits))
        for (p, via), members in groups.items():
            space, q, kind = probes[p]
            relevance[members] = self.scorer(space, q, kind, via)(np.array([hits[n][1] for n in members]))
        per_item: dict[int, list[Component]] = {}
        best_chunk: dict[int, int] = {}
        for n, (p, raw, chunk) in enumerate(hits):
            key = probes[p][0].key.value
            component = Component(key, vias[n], raw, float(relevance[n]), weights.for_space(key))
            per_item.setdefault(chunk.item_id, []).append(component)
            if chunk.text is not None:
                best_chunk[chunk.item_id] = chunk.id
        return per_item, best_chunk

    def _add_sources(
        self,
        per_item: dict[int, list[Component]],
        probes: list[tuple[VectorSpace, np.ndarray, str]],
        weights: FusionWeights,
    ) -> None:
        """Score the source of each derived component an item has without it (its pixels, for a
        photo reached by its caption but not among the image space's nearest hits)."""
        wanted: dict[tuple[str, str], list[int]] = {}
        for item_id, components in per_item.items():
            have = {(c.space, c.via) for c in components}
            for c in components:
                kind = ev.kind_of(c.space, c.via)
                if kind is not None and kind.source is not None and kind.source not in have:
                    wanted.setdefault(kind.source, []).append(item_id)
        by_space = {space.key.value: (space, q, kind) for space, q, kind in probes}
        for (space_key, via), item_ids in wanted.items():
            probe = by_space.get(space_key)
            index = probe[0].index() if probe is not None else None
            if index is None:
                continue
            space, q, kind = probe
            vids = [vid for s, vid in self.catalog.chunk_ids_of(item_ids) if s == space_key]
            owned = [(vid, c.item_id) for vid, c in self.catalog.chunks(vids).items()]  # two queries, not one an item
            if not owned:
                continue
            vectors = index.reconstruct(np.asarray([vid for vid, _i in owned], dtype=np.int64))
            raws = vectors @ np.asarray(q, dtype=np.float32)
            best: dict[int, float] = {}
            for (_vid, item), raw in zip(owned, raws):
                best[item] = max(best.get(item, -1.0), float(raw))
            items = list(best)
            relevance = self.scorer(space, np.asarray(q, dtype=np.float32), kind, via)(np.array([best[i] for i in items]))
            weight = weights.for_space(space_key)
            for item, raw, r in zip(items, (best[i] for i in items), relevance):
                per_item[item].append(Component(space_key, via, raw, float(r), weight))

    def _informative_spaces(self, probes: list[tuple[VectorSpace, np.ndarray, str]]) -> Callable[[str], bool]:
        """space key -> whether its relevance is evidence (for the support of derived components)."""
        known = {space.key.value: self.informative(space, kind) for space, _q, kind in probes}
        return lambda key: known.get(key, False)

    def _best_segments(
        self,
        chunks: dict[int, cat.ChunkRow],
        text_queries: dict[str, tuple[VectorSpace, np.ndarray]],
        lexical: str | None,
    ) -> dict[int, Segment]:
        """The best Whisper segment inside each recording's best chunk: nearest to the query in the
        chunk's space (all candidates encoded in one batch), else the one holding most query words."""
        candidates = {
            item_id: self.catalog.segments_between(item_id, c.start_s or 0.0, c.end_s or 0.0)
            for item_id, c in chunks.items()
        }
        out: dict[int, Segment] = {}
        by_space: dict[str, list[int]] = {}
        for item_id, segs in candidates.items():
            if len(segs) == 1:
                out[item_id] = segs[0]
            elif segs:
                by_space.setdefault(chunks[item_id].space, []).append(item_id)
        words = set(fold(lexical or "")) - STOPWORDS
        for space_key, item_ids in by_space.items():
            probe = text_queries.get(space_key)
            if probe is None:
                for item_id in item_ids:
                    segs = candidates[item_id]
                    out[item_id] = max(segs, key=lambda s: len(words & set(fold(s.text or ""))))
                continue
            space, q = probe
            flat = [s for item_id in item_ids for s in candidates[item_id]]
            scores = space.encode_texts([s.text or "" for s in flat]) @ q
            at = 0
            for item_id in item_ids:
                n = len(candidates[item_id])
                out[item_id] = candidates[item_id][int(np.argmax(scores[at : at + n]))]
                at += n
        return out

    # -- one pair (core.explain) --------------------------------------------------------------
    def pair(
        self,
        probes: list[tuple[VectorSpace, np.ndarray, str]],
        targets: dict[str, tuple[np.ndarray, list[str]]],
        *,
        weights: FusionWeights,
        lexical: str | None = None,
        item_id: int | None = None,
    ) -> tuple[float, list[Component], dict[str, int]]:
        """How one item matches a query, scored and fused exactly as `search` scores its hits.

        Args:
            probes: the query's (space, unit vector, query kind), as `search` builds them.
            targets: the item's vectors per space key: ((n, dim) unit vectors, the "via" of each
                row: "pixels", "chunk", "caption", "transcript").
            weights: the fusion weights.
            lexical: the query text, for the lexical component (indexed items only).
            item_id: the item, when it is indexed (for the lexical component).

        Returns:
            (fused relevance, components best first, index of the best row per space).
        """
        components: list[Component] = []
        best: dict[str, int] = {}
        for space, q, kind in probes:
            got = targets.get(space.key.value)
            if got is None or len(got[0]) == 0:
                continue
            vectors, vias = got
            q = np.asarray(q, dtype=np.float32)
            raw = np.asarray(vectors, dtype=np.float32) @ q
            i = int(np.argmax(raw))  # an item's best chunk, as the index's first hit of the item
            r = float(self.scorer(space, q, kind, vias[i])(raw[i : i + 1].astype(np.float64))[0])
            best[space.key.value] = i
            components.append(Component(space.key.value, vias[i], float(raw[i]), r, weights.for_space(space.key.value)))
        if lexical and item_id is not None:
            found = lexical_matches(self.catalog, lexical, weights.for_space(LEXICAL)).get(item_id)
            if found is not None:
                components.append(found[0])
        components = ev.with_support(components, informative=self._informative_spaces(probes))
        components.sort(key=lambda c: (-ev.counted(c), c.space))
        return ev.fuse_components(components, rule=self.rule), components, best


def _captioned(modality: str | None) -> bool:
    """Whether items of this modality get generated captions (its entry in core.modalities)."""
    entry = modalities.find(modality) if modality is not None else None
    return entry is not None and entry.captioned


def via_of_chunk(modality: str | None, chunk: cat.ChunkRow) -> str:
    """What of an item a hit of one of its chunks matched: its pixels, its sound, a note's chunk,
    a recording's transcript, or a captioned item's (a photo's) caption, its text-space chunk."""
    if chunk.text is None:
        return "sound" if chunk.start_s is not None else "pixels"
    if chunk.start_s is not None:
        return "transcript"
    return "caption" if _captioned(modality) else "chunk"


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
