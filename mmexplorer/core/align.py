"""Alignment maps between spaces: linear maps fitted on paired anchors, and neighbours across modalities.

Two spaces that both take text (CLIP's text tower and the sentence encoder; later CLAP's text tower)
see the same phrase twice. The pairs of vectors of a few thousand everyday phrases (the anchors:
core/data/anchors_en.txt plus the other shipped word and sentence lists) teach a linear map from
one space to the other, so an item that only has vectors in one space (a photo's pixels) still has
neighbours in another (notes, recordings). Items with vectors in both spaces (a photo and its
generated caption in the text space; a recording's sound and its transcript) are paired anchors
too, and are used when the library has them.

Two fits per ordered pair of spaces, on vectors centred by their means:
- least squares (ridge): W = argmin |Xc W - Yc|^2 + lambda |W|^2; lambda is chosen on a validation
  split of the training anchors from RIDGE_GRID;
- orthogonal Procrustes: W = U V^T from the thin SVD of Xc^T Yc. When the dims differ this is the
  Procrustes rotation after padding the smaller space with zeros, cut back to the target's
  coordinates: a semi-orthogonal map (an isometry from the smaller space into the larger, a
  projection from the larger onto the smaller).
The method is chosen per pair on the validation split: least squares only when its recall@1 beats
Procrustes' by more than two standard errors. A tie goes to Procrustes, because it keeps the source's
geometry and, measured below, transferred better from phrases to items. The reported figures are
held-out: 20% of the anchors never seen by the fit nor by the choice.

An item is not a phrase: CLIP's image vectors sit apart from its text vectors (the modality gap),
so before mapping, an item's vector is recentred from its space's item mean (the fixed background
its relevance map uses) to the anchors' mean. Measured with the aligned test model, the evidence is
mixed, and recentring is kept for the large gap real CLIP models are known to have (not measured
here): photos whose first related note is the right one, recentred vs not, 8/8 vs 4/8 on the
library of tests/core/test_align.py, 0.42 vs 0.44 on the bench library below (notes to photos 0.42
both ways).

A mapped vector is its own query kind for relevance ("mapped-<source space>"): its cosines run
lower than native ones, so the target's map for typed words would misjudge it. Where one of the two
spaces takes images, the kind's map is fitted like the others (core.relevance, cached by the
Searcher's cache) on the image calibration's labelled pairs with one side passed through the
alignment map: rendered scenes against their captions, the captions inside everyday sentences, and
unrelated text (`mapped_relevance`). Between two text towers (no labelled pairs) the target's "text"
map is used. Scoring, fusion and the cutoff are the Searcher's (core.search), not redone here.

Measured (tests/bench/bench_align.py, one CPU thread; 2073 anchors, 415 held out, chance recall@1
0.0024; the aligned-v2 test model's text tower, 64-d, and the real all-MiniLM-L6-v2, 384-d; no
map: the dims differ, so n/a; shuffled: a map fitted on anchors paired at random, the floor):

    pair            method                 r@1    r@5    no map  shuffled r@1
    image -> text   procrustes (chosen)    0.060  0.142  n/a     0.002
                    lstsq (ridge 0.01)     0.060  0.142
    text -> image   procrustes (chosen)    0.058  0.104  n/a     0.000
                    lstsq (ridge 0.001)    0.075  0.159          (within two s.e. on validation)
    seconds: fitting and choosing 0.36-0.51 s per pair; encoding the anchors once per model
    1.4-2.0 s (test CLIP text tower) and 11-34 s (MiniLM; the machine's load varies), kept in the
    data dir; related(): 0.015-0.017 s per call once the maps and their relevance fits exist.

On a generated library (36 photos, one per colour and shape; 36 notes naming one colour and shape
each inside an everyday sentence; 6 unrelated notes; chance top-1 0.028): a photo's first related
note is the one naming it 0.42 of the time through the image -> text map (mean relevance of a right
first answer 0.44, of a wrong one 0.33: mostly the right colour, another shape); a note's first
related photo is right 0.64 through CLIP's text tower (what `similar` uses, and `related` keeps
where it exists) and 0.42 through the text -> image map; 0.017 s per related() call.
Recall in absolute terms is low because the test model's text tower knows colours and shapes only
(every other phrase looks alike to it); it is 25 times chance, and a shuffled map sits at chance.
Real CLIP models: not measured here (no weights offline).

Maps are stored in the data dir (`align/`, owner-only files written atomically), keyed by both
spaces' model ids and ALIGN_VERSION, refitted when a model changes or the library's paired items
grew by a quarter; fitted lazily on first need.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.phrase_vectors import PhraseVectors
from mmexplorer.core.types import FusionWeights, Modality, SearchResult, Space

log = logging.getLogger(__name__)

ALIGN_VERSION = 1  # bump when the anchors, the features or the fit change: stored maps are redone
DATA = Path(__file__).parent / "data"
ANCHORS_EN = DATA / "anchors_en.txt"
METHODS = ("procrustes", "lstsq")
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
HELD_OUT = 0.2  # share of anchors kept out of fit and choice, for the reported figures
VALIDATION = 0.15  # share of the remaining anchors the ridge and the method are chosen on
REFIT_GROWTH = 0.25  # refit when the library's paired items grew by this share (and by MIN_ITEM_PAIRS)
MIN_ITEM_PAIRS = 8
DIR_NAME = "align"
MAPPED_DATA_VERSION = 2  # bump when the labelled pairs of mapped queries change (`_mapped_data`)


# -------------------------------------------------------------------------------------- anchors
def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def anchor_phrases() -> list[str]:
    """The shipped anchor phrases: anchors_en.txt, then the other word and sentence lists, deduplicated."""
    from mmexplorer.core import calibration

    phrases = _lines(ANCHORS_EN) + calibration.everyday_words() + calibration.background_sentences()
    for query, passage, _topic in calibration.text_pairs():
        phrases += [query, passage]
    return list(dict.fromkeys(phrases))


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


# -------------------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class LinearMap:
    """y ~ (x - source_mean) @ weight + target_mean, renormalised; fitted by `fit_map`."""

    method: str
    weight: np.ndarray  # (d_source, d_target)
    source_mean: np.ndarray
    target_mean: np.ndarray
    ridge: float = 0.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Map rows of source vectors into the target space; unit vectors."""
        y = (np.asarray(x, dtype=np.float64) - self.source_mean) @ self.weight + self.target_mean
        return _unit(y).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_map(x: np.ndarray, y: np.ndarray, method: str, *, ridge: float = 1e-2) -> LinearMap:
    """Fit a map from paired rows x (n, d_source) to y (n, d_target).

    Args:
        x, y: paired vectors, row i of x with row i of y.
        method: "lstsq" (ridge least squares) or "procrustes" (orthogonal; semi-orthogonal when
            the dims differ: the zero-padded Procrustes rotation, cut to the target's coordinates).
        ridge: lambda of the least-squares fit (relative to the mean squared norm of the centred x).
    """
    if method not in METHODS:
        raise UsageError(f"unknown alignment method {method!r}: one of {', '.join(METHODS)}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise UsageError(f"an alignment map needs at least two paired rows, not {len(x)} and {len(y)}")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    if method == "procrustes":
        u, _s, vt = np.linalg.svd(xc.T @ yc, full_matrices=False)
        return LinearMap(method, u @ vt, mx, my)
    scale = float(np.mean(np.sum(xc * xc, axis=1)))  # lambda in units of the data, so the grid travels
    gram = xc.T @ xc + ridge * max(scale, 1e-12) * np.eye(x.shape[1])
    return LinearMap(method, np.linalg.solve(gram, xc.T @ yc), mx, my, ridge)


def recall_at(mapped: np.ndarray, targets: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of rows i whose own target (row i of `targets`) is among the k nearest (cosine) of mapped row i."""
    sims = _unit(mapped) @ _unit(targets).T
    own = np.diag(sims)[:, None]
    rank = np.sum(sims > own, axis=1)  # how many others beat the right one
    return {k: float(np.mean(rank < k)) for k in ks}


@dataclass(frozen=True)
class MapQuality:
    """Held-out figures of one map: recall through each method, without a map, and a shuffled floor.

    methods: method -> {"r1", "r5", "ridge"} on the held-out anchors (fitted on the rest).
    no_map: {"r1", "r5"} comparing the spaces' vectors directly (None when the dims differ).
    shuffled_r1: recall@1 of a least-squares map fitted on randomly re-paired anchors (chance level).
    """

    n_train: int
    n_held_out: int
    chosen: str
    methods: dict[str, dict[str, float]]
    no_map: dict[str, float] | None
    shuffled_r1: float
    chance_r1: float
    validation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train, "n_held_out": self.n_held_out, "chosen": self.chosen,
            "methods": self.methods, "no_map": self.no_map, "shuffled_r1": self.shuffled_r1,
            "chance_r1": self.chance_r1, "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MapQuality:
        return cls(**d)


def _split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(n * share))
    return np.sort(order[cut:]), np.sort(order[:cut])


def choose_and_fit(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> tuple[LinearMap, MapQuality]:
    """Choose ridge and method on validation anchors, report held-out recall, and fit on all anchors.

    Returns the chosen map (fitted on every row) and its held-out quality.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 20:
        raise UsageError(f"too few anchors to fit and measure an alignment map: {len(x)}")
    rest, held = _split(len(x), HELD_OUT, seed)
    train, val = (rest[i] for i in _split(len(rest), VALIDATION, seed + 1))
    # ridge on validation
    val_r1: dict[float, float] = {}
    for lam in RIDGE_GRID:
        val_r1[lam] = recall_at(fit_map(x[train], y[train], "lstsq", ridge=lam).apply(x[val]), y[val], (1,))[1]
    best_ridge = max(RIDGE_GRID, key=lambda lam: (val_r1[lam], lam))
    pro_val = recall_at(fit_map(x[train], y[train], "procrustes").apply(x[val]), y[val], (1,))[1]
    lsq_val = val_r1[best_ridge]
    p = max(1.0 / len(val), (pro_val + lsq_val) / 2)
    margin = 2.0 * float(np.sqrt(2.0 * p * (1.0 - p) / len(val)))
    chosen = "lstsq" if lsq_val > pro_val + margin else "procrustes"
    methods: dict[str, dict[str, float]] = {}
    for method in METHODS:
        fitted = fit_map(x[rest], y[rest], method, ridge=best_ridge)
        r = recall_at(fitted.apply(x[held]), y[held])
        methods[method] = {"r1": r[1], "r5": r[5], "ridge": fitted.ridge}
    no_map = None
    if x.shape[1] == y.shape[1]:
        r = recall_at(x[held], y[held])
        no_map = {"r1": r[1], "r5": r[5]}
    shuffled = np.random.default_rng(seed + 2).permutation(rest)
    shuffled_r1 = recall_at(fit_map(x[rest], y[shuffled], "lstsq", ridge=best_ridge).apply(x[held]), y[held], (1,))[1]
    quality = MapQuality(
        n_train=len(rest), n_held_out=len(held), chosen=chosen, methods=methods, no_map=no_map,
        shuffled_r1=shuffled_r1, chance_r1=1.0 / len(held),
        validation={"procrustes_r1": pro_val, "lstsq_r1": lsq_val, "margin": margin},
    )
    return fit_map(x, y, chosen, ridge=best_ridge), quality


# -------------------------------------------------------------------------------------- stored maps
@dataclass(frozen=True)
class AlignmentMap:
    """A fitted map from one space of a library to another, and how good it is."""

    source: str
    target: str
    source_model: str
    target_model: str
    linear: LinearMap
    quality: MapQuality
    n_phrases: int
    n_item_pairs: int
    fit_s: float
    version: int = ALIGN_VERSION

    def to_bytes(self) -> bytes:
        meta = {
            "source": self.source, "target": self.target, "source_model": self.source_model,
            "target_model": self.target_model, "method": self.linear.method, "ridge": self.linear.ridge,
            "quality": self.quality.to_dict(), "n_phrases": self.n_phrases,
            "n_item_pairs": self.n_item_pairs, "fit_s": self.fit_s, "version": self.version,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer, weight=self.linear.weight, source_mean=self.linear.source_mean,
            target_mean=self.linear.target_mean, meta=np.array(json.dumps(meta)),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AlignmentMap:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            linear = LinearMap(meta["method"], z["weight"], z["source_mean"], z["target_mean"], float(meta["ridge"]))
        return cls(
            meta["source"], meta["target"], meta["source_model"], meta["target_model"], linear,
            MapQuality.from_dict(meta["quality"]), int(meta["n_phrases"]), int(meta["n_item_pairs"]),
            float(meta["fit_s"]), int(meta["version"]),
        )


class Aligner:
    """The alignment maps of one library, fitted lazily and kept in its data dir.

    Args:
        catalog: the library's catalog (for items with vectors in two spaces).
        spaces: the library's spaces (encoders for the anchors, indexes for the items).
        directory: where maps and encoded anchors are kept (None: refit in each process).
        item_mean: space -> mean of its item vectors, to recentre items before mapping (None: no
            recentring). The Engine passes the background of the space's relevance map.
        phrases: the anchor phrases (default: `anchor_phrases()`).
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        spaces: Any,
        directory: Path | None,
        *,
        item_mean: Callable[[Any], np.ndarray] | None = None,
        phrases: Sequence[str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.directory = directory
        self.item_mean = item_mean
        self._phrases = list(phrases) if phrases is not None else None
        self._maps: dict[tuple[str, str], AlignmentMap] = {}
        self.anchors = PhraseVectors(
            directory,
            lambda: self.phrases,
            lambda space, model_id: f"anchors-{space}-{_digest(ALIGN_VERSION, space, model_id, *self.phrases)}.npy",
            what="alignment anchors",
        )
        self._means: dict[tuple[str, str], np.ndarray] = {}
        self._pair_counts: dict[tuple[str, str], tuple[int, int]] = {}

    @property
    def phrases(self) -> list[str]:
        if self._phrases is None:
            self._phrases = anchor_phrases()
        return self._phrases

    def pairs(self) -> list[tuple[Space, Space]]:
        """The ordered pairs of spaces a map can be fitted for: both take text and hold vectors.

        (A space the library does not use, such as sound without recordings, never loads its model.)
        """
        keys = [key for key, space in self.spaces.items() if space.takes_text and space.ntotal > 0]
        return [(a, b) for a in keys for b in keys if a != b]

    # -- anchors ------------------------------------------------------------------------------
    def anchor_vectors(self, key: Space | str, *, between: Callable[[], None] | None = None) -> np.ndarray:
        """The anchor phrases through a space's text tower (cached per model id, in memory and on disk).

        Embedded in batches (core.phrase_vectors), calling `between` after each when given.
        """
        space = self.spaces[key]
        return self.anchors.matrix(space.key.value, space.encoder().model_id, space.encode_texts, between=between)

    def warm(self, *, batches: int = 1) -> bool:
        """Embed a few more batches of anchors, then fit a missing map, ahead of the first `related`.

        Only spaces with vectors whose model is already loaded (this never loads a model). Returns
        True when nothing is left to do.
        """
        pairs = self.pairs()
        ready = [key for key in self.spaces if self.spaces[key].loaded]
        for key in ready:
            space = self.spaces[key]
            if not any(key in pair for pair in pairs):
                continue  # no second text tower with vectors: no map would use its anchors
            model_id = space.encoder().model_id
            if self.anchors.cached(key.value, model_id) is None:
                self.anchors.fill(key.value, model_id, space.encode_texts, batches=batches)
                return False
        for source, target in pairs:
            if source in ready and target in ready and not self._known(source, target):
                self.map(source, target)
                return False
        return True

    def item_pairs(self, source: Space | str, target: Space | str) -> tuple[np.ndarray, np.ndarray]:
        """Items with vectors in both spaces (a photo and its caption): their mean vectors in each, recentred."""
        src, tgt = self.spaces[source], self.spaces[target]
        si, ti = src.index(), tgt.index()
        if si is None or ti is None:
            return np.zeros((0, 0)), np.zeros((0, 0))
        in_source: dict[int, list[int]] = {}
        for vid, item in self.catalog.vector_ids(src.key.value):
            in_source.setdefault(item, []).append(vid)
        in_target: dict[int, list[int]] = {}
        for vid, item in self.catalog.vector_ids(tgt.key.value):
            if item in in_source:
                in_target.setdefault(item, []).append(vid)
        both = sorted(in_target)
        if len(both) < MIN_ITEM_PAIRS:
            return np.zeros((0, 0)), np.zeros((0, 0))
        x = np.stack([si.reconstruct(np.asarray(in_source[i], np.int64)).mean(axis=0) for i in both])
        y = np.stack([ti.reconstruct(np.asarray(in_target[i], np.int64)).mean(axis=0) for i in both])
        return self._recentre(src, x), self._recentre(tgt, y)

    def _count_item_pairs(self, source: Space, target: Space) -> int:
        # Asked on every related() call: recounted only when the catalog changed since.
        key = (source.value, target.value)
        changes = self.catalog.total_changes
        cached = self._pair_counts.get(key)
        if cached is not None and cached[0] == changes:
            return cached[1]
        src = {item for _vid, item in self.catalog.vector_ids(source.value)}
        count = len(src & {item for _vid, item in self.catalog.vector_ids(target.value)})
        self._pair_counts[key] = (changes, count)
        return count

    def _recentre(self, space: Any, x: np.ndarray) -> np.ndarray:
        """Move item vectors from the space's item mean to its anchors' mean (the modality gap)."""
        if self.item_mean is None:
            return _unit(x)
        key = (space.key.value, space.encoder().model_id)
        shift = self._means.get(key)
        if shift is None:
            shift = self.anchor_vectors(space.key).mean(axis=0) - np.asarray(self.item_mean(space), np.float64).mean(axis=0)
            self._means[key] = shift
        return _unit(_unit(x) + shift)

    # -- maps ---------------------------------------------------------------------------------
    def map(
        self, source: Space | str, target: Space | str, *, between: Callable[[], None] | None = None
    ) -> AlignmentMap:
        """The map from `source` to `target`: from memory, from the data dir, or fitted now.

        A fit first embeds the anchors it lacks, calling `between` after each batch when given.
        """
        src, tgt = self.spaces[source], self.spaces[target]
        stored = self._stored(src, tgt)
        if stored is not None:
            return stored
        fitted = self._fit(src, tgt, between=between)
        path = self._path(src.key.value, tgt.key.value, src.encoder().model_id, tgt.encoder().model_id)
        if path is not None:
            self._write(path, fitted.to_bytes())
        self._maps[(src.key.value, tgt.key.value)] = fitted
        return fitted

    def _known(self, source: Space | str, target: Space | str) -> bool:
        """A current map exists, in memory or in the data dir (nothing is fitted to find out)."""
        return self._stored(self.spaces[source], self.spaces[target]) is not None

    def _stored(self, src: Any, tgt: Any) -> AlignmentMap | None:
        if not (src.takes_text and tgt.takes_text):
            raise UsageError(f"no alignment map between {src.key.value} and {tgt.key.value}: both need a text tower")
        src_model, tgt_model = src.encoder().model_id, tgt.encoder().model_id
        n_items = self._count_item_pairs(src.key, tgt.key)
        key = (src.key.value, tgt.key.value)
        current = self._maps.get(key)
        if current is not None and self._fresh(current, src_model, tgt_model, n_items):
            return current
        path = self._path(src.key.value, tgt.key.value, src_model, tgt_model)
        if path is not None and path.exists():
            try:
                stored = AlignmentMap.from_bytes(path.read_bytes())
                if self._fresh(stored, src_model, tgt_model, n_items):
                    self._maps[key] = stored
                    return stored
                log.info("refitting the %s -> %s map: the library's paired items changed", *key)
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.warning("refitting the alignment map %s: %s", path, e)
        return None

    def _fresh(self, m: AlignmentMap, src_model: str, tgt_model: str, n_items: int) -> bool:
        if m.version != ALIGN_VERSION or m.source_model != src_model or m.target_model != tgt_model:
            return False
        usable = n_items if n_items >= MIN_ITEM_PAIRS else 0
        grew = abs(usable - m.n_item_pairs)
        return grew < MIN_ITEM_PAIRS or grew <= REFIT_GROWTH * max(m.n_item_pairs, 1)

    def _fit(self, src: Any, tgt: Any, *, between: Callable[[], None] | None = None) -> AlignmentMap:
        start = time.perf_counter()
        x, y = self.anchor_vectors(src.key, between=between), self.anchor_vectors(tgt.key, between=between)
        encoded = time.perf_counter()
        ix, iy = self.item_pairs(src.key, tgt.key)
        if len(ix):
            x, y = np.vstack([x, ix]), np.vstack([y, iy])
        linear, quality = choose_and_fit(x, y)
        done = time.perf_counter()
        log.info(
            "fitted the %s -> %s map (%s) on %d phrases and %d items in %.2f s (+%.1f s encoding): "
            "held-out recall@1 %.3f, shuffled %.3f",
            src.key.value, tgt.key.value, linear.method, len(self.phrases), len(ix), done - encoded,
            encoded - start, quality.methods[linear.method]["r1"], quality.shuffled_r1,
        )
        return AlignmentMap(
            src.key.value, tgt.key.value, src.encoder().model_id, tgt.encoder().model_id, linear, quality,
            len(self.phrases), len(ix), done - encoded,
        )

    def _path(self, source: str, target: str, src_model: str, tgt_model: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{source}-to-{target}-{_digest(ALIGN_VERSION, src_model, tgt_model)}.npz"

    def _write(self, path: Path, data: bytes | Callable[[Any], None]) -> None:
        from mmexplorer.core import paths
        from mmexplorer.core.fsutil import atomic_write

        try:
            paths.private_dir(path.parent)
            if callable(data):
                buffer = io.BytesIO()
                data(buffer)
                data = buffer.getvalue()
            atomic_write(path, data)  # mkstemp: the file is owner-only (0600) from the start
            paths.private_file(path)
        except OSError as e:  # a read-only library still aligns, it only refits next time
            log.warning("cannot keep %s: %s", path, e.strerror or e)

    def project(self, vectors: np.ndarray, source: Space | str, target: Space | str) -> np.ndarray:
        """Item vectors of `source` mapped into `target` (recentred first); unit rows."""
        m = self.map(source, target)
        return m.linear.apply(self._recentre(self.spaces[source], np.asarray(vectors)))


# -------------------------------------------------------------------------------------- related
def related(
    searcher: Any,
    aligner: Aligner,
    item_id: int,
    *,
    k: int = 8,
    weights: FusionWeights | None = None,
    text_towers: bool = True,
    between: Callable[[], None] | None = None,
) -> dict[Modality, list[SearchResult]]:
    """An item's neighbours in every modality: in its own spaces directly, and through the maps.

    The item's direction in each space it has vectors in is the mean of its chunks (as `similar`);
    an item with text also reaches the other text towers directly; every space it reaches neither
    way gets the item's vector mapped in from a space it has (the map with the best held-out
    recall). Results are scored and fused by the Searcher.

    Args:
        text_towers: let an item with text reach other spaces through their text towers (as
            `similar` does); False uses the maps there too (to measure them).
        between: called between batches where a map's anchors are first embedded.

    Returns:
        modality -> up to k results best first (the item itself excluded); every modality of the
        library's spaces is a key, with an empty list where nothing could be reached.
    """
    if k <= 0:
        raise UsageError("k must be at least 1")
    weights = weights or FusionWeights()
    catalog = searcher.catalog
    row = catalog.item(item_id)
    if row is None:
        raise UsageError(f"no item with id {item_id}")
    chunk_ids = catalog.chunk_ids_of([item_id])
    native: dict[Space, np.ndarray] = {}
    probes: list[tuple[Any, np.ndarray, str]] = []
    for space in aligner.spaces.values():
        index = space.index()
        ids = [vid for s, vid in chunk_ids if s == space.key.value]
        if index is None or not ids:
            continue
        v = _unit(index.reconstruct(np.asarray(ids, dtype=np.int64)).mean(axis=0))[0].astype(np.float32)
        native[space.key] = v
        probes.append((space, v, "image" if space.takes_images else "text"))
    text = searcher.item_text(chunk_ids)
    for space in aligner.spaces.values():
        if space.key in native or space.ntotal == 0:
            continue
        if text and text_towers and space.takes_text:
            probes.append((space, space.encode_texts([text])[0], "text"))
            continue
        sources = [s for s in native if aligner.spaces[s].takes_text and space.takes_text]
        if not sources:
            continue
        try:
            best = max(sources, key=lambda s: _held_out_r1(aligner.map(s, space.key, between=between)))
            kind = mapped_relevance(searcher, aligner, best, space.key)
            probes.append((space, aligner.project(native[best][None, :], best, space.key)[0], kind))
        except ModelUnavailableError as e:  # that modality stays empty; the others still answer
            log.warning("no related %s items: %s", space.key.value, e)
    out: dict[Modality, list[SearchResult]] = {}
    for modality in _modalities(aligner.spaces.values()):
        mine = [p for p in probes if modality in p[0].modalities]
        out[modality] = (
            searcher.rank(mine, k=k, modality=modality, weights=weights, exclude=item_id)[:k] if mine else []
        )
    return out


def mapped_relevance(searcher: Any, aligner: Aligner, source: Space, target: Space) -> str:
    """Make sure the Searcher scores vectors mapped from `source` into `target` with a map fitted for them.

    Mapped vectors are a query kind of their own ("mapped-<source>"): their cosines are lower than
    native ones, so the target's map for typed words would call too little relevant. Where one of
    the two spaces takes images, the labelled pairs are the image calibration's (rendered scenes
    and their captions, core.calibration), one side passed through the map; otherwise
    (two text towers, no labelled pairs) the target's "text" map is used. The fit is cached by
    the Searcher's relevance cache, keyed by both models and the map.

    Returns:
        The query kind to give the Searcher for such a probe.
    """
    from mmexplorer.core import relevance as rel

    src, tgt = aligner.spaces[source], aligner.spaces[target]
    if searcher.method not in ("fitted", "fitted-gap-all", "fitted-nogap") or not (src.takes_images or tgt.takes_images):
        return "text"
    kind = f"mapped-{src.key.value}"
    gap = {"fitted": tgt.entry.query_baseline, "fitted-gap-all": True}.get(searcher.method, False)
    key = ("relevance", kind, gap)
    m = aligner.map(source, target)
    stamp = _digest(MAPPED_DATA_VERSION, m.source_model, m.target_model, m.linear.method, np.asarray(m.linear.weight, np.float32).tobytes())
    cached = tgt.calibration.get(key)
    if cached is not None and cached[0].model_id.endswith(stamp):
        return kind
    model_id = f"{tgt.encoder().model_id}|from {m.source_model}|{stamp}"
    model, background = searcher.cache.get_or_fit(
        tgt.key.value, kind, model_id, lambda: _mapped_data(searcher, aligner, src, tgt), gap=gap
    )
    if not (getattr(src.encoder(), "meaningful", True) and getattr(tgt.encoder(), "meaningful", True)):
        model = rel.uninformative(model)
    tgt.calibration[key] = (model, background)  # where the Searcher's scorer looks first
    return kind


def _mapped_data(searcher: Any, aligner: Aligner, src: Any, tgt: Any) -> Any:
    """Labelled pairs for vectors mapped from src into tgt (one of them takes images)."""
    from mmexplorer.core.calibration import image_text_data
    from mmexplorer.core.relevance import CalibrationData

    def mapped(vectors: np.ndarray) -> np.ndarray:
        return aligner.project(np.asarray(vectors), src.key, tgt.key)

    if tgt.takes_images:  # words of the source space mapped in, against the target's renders
        return image_text_data(
            tgt.encode_images, lambda texts: mapped(src.encode_texts(texts)),
            image_size=tgt.encoder().image_size, kind="text",
        )
    # A photo mapped out of an image space: renders mapped in, against captions and unrelated text.
    data = image_text_data(
        lambda images: mapped(src.encode_images(images)), tgt.encode_texts,
        image_size=src.encoder().image_size, kind="text",
    )
    positives = [{j for j, pos in enumerate(data.positives) if i in pos} for i in range(len(data.items))]
    # Notes name what a photo shows inside longer sentences, where a caption stands alone: each
    # scene's caption also inside an everyday sentence, as one more right answer.
    from mmexplorer.core.calibration import background_sentences
    from mmexplorer.core.calibration.scenes import classes as scene_classes

    classes = scene_classes()
    everyday = background_sentences()
    in_sentences = [
        f"{everyday[(7 * i) % len(everyday)]} {_SENTENCE_FRAMES[i % len(_SENTENCE_FRAMES)].format(c=c, s=s)}"
        for i, (c, s) in enumerate(classes)
    ]
    items = np.vstack([data.queries, np.asarray(tgt.encode_texts(in_sentences), np.float32)])
    for i in range(len(classes)):
        positives[i].add(len(data.queries) + i)
    background = searcher.relevance_map(tgt, "text", gap=False)[1]
    return CalibrationData(
        queries=data.items, items=items, positives=[frozenset(p) for p in positives], background=background,
        source=f"{len(data.items)} rendered scenes mapped from {src.key.value} against their captions, "
        f"the captions inside everyday sentences, and {sum(not p for p in data.positives)} unrelated texts",
    )


_SENTENCE_FRAMES = (
    "Next to it there was a {c} {s}.",
    "I noticed a {c} {s} on the way.",
    "The sign showed a {c} {s}.",
    "She drew a {c} {s} for me.",
    "We put a {c} {s} on the door.",
    "Somebody left a {c} {s} behind.",
)


def _held_out_r1(m: AlignmentMap) -> float:
    return m.quality.methods[m.linear.method]["r1"]


def _modalities(spaces: Iterable[Any]) -> list[Modality]:
    seen: dict[Modality, None] = {}
    for space in spaces:
        for m in space.modalities:
            seen.setdefault(m, None)
    return list(seen)
