"""The facade the CLI and the GUI worker drive: one library (data dir) composed of its parts.

An Engine composes a catalog (core.catalog), the library's vector spaces (core.spaces: encoders and
FAISS indexes), an indexer (core.indexer) and a searcher (core.search); each part gets what it needs
in its constructor, and none calls back into the Engine. An Engine lives on one thread. Models load
lazily (or on `load_models()`), so opening a library is fast; the models that built the library are
remembered in the catalog, so a later `search` without `--model` uses the same ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import modalities, paths
from mmexplorer.core.align import Aligner
from mmexplorer.core.errors import CatalogError, DecodeError, UsageError
from mmexplorer.core.index import VectorIndex
from mmexplorer.core.indexer import Indexer
from mmexplorer.core.lock import CHECKING, LibraryLock
from mmexplorer.core.matrix import similarity_matrix
from mmexplorer.core.modalities import default_handlers
from mmexplorer.core.relevance import RelevanceCache
from mmexplorer.core.search import Searcher
from mmexplorer.core.services.captions import Captions
from mmexplorer.core.services.sound import Sound
from mmexplorer.core.services.speech import Speech
from mmexplorer.core.spaces import SpaceOptions, Spaces, VectorSpace
from mmexplorer.core.types import (
    CaptionReport,
    CaptionStatus,
    Explanation,
    FusionWeights,
    Heard,
    IndexReport,
    ItemDetail,
    LibraryStatus,
    Modality,
    ModelInfo,
    ModelStatus,
    Progress,
    Query,
    SearchResult,
    Space,
    Transcript,
    TranscriptionStatus,
)

if TYPE_CHECKING:
    from mmexplorer.core.explain import Explainer

log = logging.getLogger(__name__)


class Engine:
    """One library: catalog + vector spaces + indexer + searcher.

    Args:
        data_dir: the library's data dir (None: $MMEXPLORER_DATA_DIR or the platform default).
        image_model: an image model spec (see `core.models.parse_image_spec`); None uses the one the
            library was indexed with, else the default.
        device: "auto", "cpu", "cuda" or "mps".
        on_model_status: called with loading/downloading news.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        image_model: str | None = None,
        speech_model: str | None = None,
        sound_model: str | None = None,
        device: str = "auto",
        on_model_status: Callable[[ModelStatus], None] | None = None,
    ) -> None:
        self.data_dir = paths.data_dir(data_dir)
        paths.prepare_data_dir(self.data_dir)  # owner-only, and tightened if an older version left it wider
        # One writer per library, held only while writing (index, add_roots, remove_root).
        self.write_lock = LibraryLock(self.data_dir)
        self.lock_timeout = 0.0  # seconds a writer waits for another process's run (0: LibraryBusyError at once)
        self.on_lock_wait: Callable[[int | None], None] | None = None
        self.catalog = cat.Catalog(paths.catalog_path(self.data_dir))
        self.options = SpaceOptions(paths.index_dir(self.data_dir), device=device, on_status=on_model_status)
        self.spaces = Spaces(
            self.catalog, self.options, requested={Space.IMAGE: image_model, Space.SOUND: sound_model}
        )
        self.speech_service = Speech(
            self.catalog,
            self.write_lock,
            lambda: self.catalog.get_meta(_GENERATION_KEY),
            requested=speech_model,
            device=device,
            on_status=on_model_status,
        )
        self.speech = self.speech_service.slot  # the speech model, loaded on first need
        self.searcher = Searcher(
            self.catalog, self.spaces, cache=RelevanceCache(paths.calibration_dir(self.data_dir))
        )
        self.indexer_batch_size = 32
        self._aligner: Aligner | None = None  # alignment maps, made on first `related`
        self._explainer_obj: Explainer | None = None  # made on first `explain` or `warm_up`
        self._generation = self.catalog.get_meta(_GENERATION_KEY)  # the last write this Engine has seen
        self.captions = Captions(self.catalog, self.spaces[Space.TEXT], self.options, self._writing)
        self.sound = Sound(self.catalog, self.spaces, self._writing)
        # Reconciling writes; while another process indexes, its unsaved vectors are not lost items.
        if self.write_lock.try_acquire(purpose=CHECKING):
            try:
                before = self.catalog.total_changes
                self.spaces.reconcile()
                if self.catalog.total_changes != before:  # it repaired something: tell other Engines
                    self._mark_written()
            finally:
                self.write_lock.release()
        else:
            log.info("another process is writing to %s: its indexes are checked by that writer", self.data_dir)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """`with self._writing():` the library's write lock (raises LibraryBusyError).

        An Engine kept open (the GUI's) may find that another process wrote to the library since
        it looked: its in-memory indexes are then reloaded from disk before it writes, so it never
        saves over the other writer's vectors, and before it reads (`_catch_up_reading`), so it
        finds what the other one added. Each write leaves a new generation in the catalog before it
        starts, so even a writer killed half-way is noticed, and another when it ends, so a reader
        that looked in the middle looks again.
        """
        outer = not self.write_lock.held
        self.write_lock.acquire(timeout=self.lock_timeout, on_wait=self.on_lock_wait)
        try:
            if outer:
                self._catch_up()
                self._mark_written()
            yield
        finally:
            try:
                if outer:
                    self._mark_written()
            except (CatalogError, sqlite3.Error) as e:  # the write is done; readers notice the next one
                log.warning("could not mark the end of a write: %s", e)
            finally:
                self.write_lock.release()

    def _mark_written(self) -> None:
        generation = f"{os.getpid()}-{time.time_ns()}"
        with self.catalog.transaction():
            self.catalog.set_meta(_GENERATION_KEY, generation)
        self._generation = generation

    def _catch_up_reading(self) -> None:
        """Before a search or an explanation: take in what another process wrote meanwhile."""
        if not self.write_lock.held:  # while this Engine writes, nobody else can
            self._catch_up()

    def _catch_up(self) -> None:
        if self.catalog.get_meta(_GENERATION_KEY) == self._generation:
            return
        if self.spaces.rebuilding:
            return  # a background rebuild swaps in what it built; the next write catches up
        for space in self.spaces.values():
            if space.unload():
                log.info("another process wrote to the library: reloading the %s index", space.key.value)
        self._generation = self.catalog.get_meta(_GENERATION_KEY)

    @property
    def flat_threshold(self) -> int | None:
        """Vectors up to which a space stays an exact index (None: core.index's measured default)."""
        return self.options.flat_threshold

    @flat_threshold.setter
    def flat_threshold(self, value: int | None) -> None:
        self.options.flat_threshold = value

    # -- models -----------------------------------------------------------------------------
    @property
    def image_model_spec(self) -> str:
        return self.spaces[Space.IMAGE].spec

    def load_models(self) -> list[ModelInfo]:
        """Load every space's encoder now (the GUI does this in the background at start)."""
        # The text space first: it loads in a second, and notes become searchable meanwhile.
        # A space that is not eager (sound: CLAP is large) loads only once the library has vectors
        # in it, so a library without recordings never loads or downloads it.
        for space in sorted(self.spaces.values(), key=lambda s: s.key is Space.IMAGE):
            if space.wanted:
                space.encoder()
        return self.model_info()

    def model_info(self) -> list[ModelInfo]:
        speech = self.speech.info()
        return self.spaces.model_info() + ([speech] if speech is not None else [])

    def space(self, key: Space | str) -> VectorSpace:
        return self.spaces[key]

    def space_index(self, key: Space | str) -> VectorIndex | None:
        """A space's FAISS index (None if the space has never been used)."""
        return self.spaces[key].index()

    # -- library ----------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return self.catalog.roots()

    def add_roots(self, roots: Sequence[str | os.PathLike[str]]) -> list[str]:
        with self._writing():
            return self._add_roots(roots)

    def _add_roots(self, roots: Sequence[str | os.PathLike[str]]) -> list[str]:
        added = []
        for r in roots:
            path = Path(r).expanduser()
            if not path.is_dir():
                raise UsageError(f"not a folder: {path}")
            absolute = os.path.abspath(path)
            if Path(absolute).resolve() == self.data_dir or self.data_dir in Path(absolute).resolve().parents:
                raise UsageError(f"{absolute} is inside the app's data dir")
            added.append(absolute)
        with self.catalog.transaction():
            for a in added:
                self.catalog.add_root(a)
        return added

    def remove_root(self, root: str) -> int:
        """Forget a folder and everything indexed from it (the folder itself is not touched)."""
        with self._writing():
            return self._remove_root(root)

    def _remove_root(self, root: str) -> int:
        root = os.path.abspath(root)
        rows = self.catalog.items_under([root])
        other_roots = [r for r in self.catalog.roots() if r != root]
        still_covered = set(self.catalog.items_under(other_roots)) if other_roots else set()
        ids = [row.id for path, row in rows.items() if path not in still_covered]
        with self.catalog.transaction():
            removals = self.catalog.delete_items(ids)
            self.catalog.remove_root(root)
        self.spaces.remove_vectors(removals)
        self.spaces.save()
        return len(ids)

    def index(
        self,
        roots: Sequence[str | os.PathLike[str]] | None = None,
        *,
        progress: Callable[..., None] | None = None,
        cancel: Callable[[], bool] | None = None,
        background_rebuild: bool = False,
    ) -> IndexReport:
        """Bring the index up to date with the folders (all library roots when `roots` is None).

        When a space grew or shrank past a threshold its FAISS index switches kind afterwards
        (see `optimise_indexes`); `background_rebuild` does that in a thread.

        Raises:
            LibraryBusyError: another process is indexing this library (see `lock_timeout`).
        """
        with self._writing():
            return self._index(roots, progress=progress, cancel=cancel, background_rebuild=background_rebuild)

    def _index(
        self,
        roots: Sequence[str | os.PathLike[str]] | None,
        *,
        progress: Callable[..., None] | None,
        cancel: Callable[[], bool] | None,
        background_rebuild: bool,
    ) -> IndexReport:
        chosen = self.add_roots(roots) if roots else self.catalog.roots()
        if not chosen:
            raise UsageError("no folders in the library yet: add one first")
        # An explicitly requested model that differs from the one the index was built with
        # re-embeds the photos now, not at the next search.
        for space in self.spaces.values():
            if space.wants_new_model:
                space.encoder()
        self.speech_service.prepare()
        self.sound.queue_missing()
        handlers = default_handlers(self.spaces, self.speech_service.ingest_context(sound=self.sound_enabled))
        indexer = Indexer(
            self.catalog, self.spaces, handlers=handlers, exclude=[self.data_dir], batch_size=self.indexer_batch_size
        )
        finished: list[Progress] = []  # "done" is said after the relevance maps below, as the last news

        def relay(p: Progress) -> None:
            if p.phase == "done":
                finished.append(p)
            elif progress is not None:
                progress(p)

        report = indexer.run(chosen, progress=relay, cancel=cancel)
        self.sound.record_run(handlers.values())
        if not report.cancelled and report.encoded:
            try:
                def say(space: str) -> None:
                    if progress is not None:
                        progress(Progress("calibrating", 0, 0, detail=f"calibrating relevance in the {space} space (once per model)"))

                self.searcher.prepare_relevance(cancel, on_start=say)  # the first search need not calibrate
            except Exception:  # a search would fit it (or say why); the index run is done
                log.warning("could not prepare the relevance maps now", exc_info=True)
        for p in finished:
            if progress is not None:
                progress(p)
        self.spaces.optimise(background=background_rebuild)
        return report

    def optimise_indexes(self, *, background: bool = False) -> list[Space]:
        """Switch each space to the index kind its size calls for (see `Spaces.optimise`)."""
        return self.spaces.optimise(background=background)

    # -- captions (issue 10): core.services.captions -------------------------------------------
    @property
    def caption_spec(self) -> str:
        """The captioner this library uses (remembered in its catalog; default blip-base)."""
        return self.captions.spec

    def set_caption_model(self, spec: str) -> str:
        """Remember a captioner for this library and turn captioning on (raises UsageError for a bad spec).

        Photos captioned by another model are captioned again on the next `caption_photos`.
        """
        return self.captions.set_model(spec)

    @property
    def captions_enabled(self) -> bool:
        return self.captions.enabled

    def set_captions_enabled(self, enabled: bool) -> None:
        """Turn photo captioning on or off for this library (stored captions stay, and stay searchable)."""
        self.captions.set_enabled(enabled)

    def captioner(self) -> Any:
        """The library's captioner, loaded on first use (raises ModelUnavailableError, UsageError)."""
        return self.captions.captioner()

    def caption_photos(
        self,
        progress: Callable[..., None] | None = None,
        cancel: Callable[[], bool] | None = None,
        pause: Any = None,
    ) -> CaptionReport:
        """Caption the indexed photos that need it and embed the captions (see `Captions.run`)."""
        return self.captions.run(progress=progress, cancel=cancel, pause=pause)

    def caption_status(self) -> CaptionStatus:
        """How far captioning is: photos captioned by the library's captioner, and why not, if not."""
        return self.captions.status()

    # -- search -----------------------------------------------------------------------------
    def search(
        self,
        query: Query,
        *,
        k: int = 20,
        modality: Modality | str | None = None,
        weights: FusionWeights | None = None,
    ) -> list[SearchResult]:
        """Run a typed query (TextQuery, ImageQuery, ItemQuery) across every space it reaches.

        Returns up to k results best first, the weaker ones (below the relevance cutoff) with
        `relevant` False. `weights` defaults to the library's fusion weights.
        """
        self._catch_up_reading()
        return self.searcher.search(
            query, k=k, modality=_modality(modality), weights=weights or self.fusion_weights()
        )

    def similarity_matrix(
        self, item_ids: Sequence[int], *, weights: FusionWeights | None = None, calibrated: bool = True
    ) -> np.ndarray:
        """Calibrated pairwise relevance of these items: (n, n) float32 in [0, 1], 1 on the diagonal.

        Each pair is scored in every space both items have vectors in (an item's direction is the
        mean of its chunks, as Find similar uses), its cosine mapped to relevance by the Searcher's
        fitted map for item queries (each row with its own baseline), and fused with the library's
        weights by the Searcher's rule. Symmetric: the mean of the two directions. Items that share
        no space (or have no vectors yet) score 0 with each other.

        Args:
            item_ids: up to core.matrix.MATRIX_MAX distinct indexed item ids, in the order of the rows.
            weights: fusion weights (None: the library's).
            calibrated: False gives the raw cosine instead (the largest over the spaces a pair
                shares, clipped to [0, 1]): it shows how the items spread even where no pair is
                relevant, but cosines of different spaces are not comparable.
        """
        self._catch_up_reading()
        return similarity_matrix(
            self.catalog, self.spaces, self.searcher, list(item_ids), weights or self.fusion_weights(), calibrated=calibrated
        )

    def related(
        self,
        item_id: int,
        k: int = 8,
        *,
        weights: FusionWeights | None = None,
        between: Callable[[], None] | None = None,
    ) -> dict[Modality, list[SearchResult]]:
        """An item's neighbours in every modality (a photo's related notes, a memo's related photos).

        In its own spaces directly, and through the library's alignment maps (core.align) into
        the spaces it has no vectors in; scored and fused like search. The maps are fitted on
        first need (unless `warm_up` fitted them) and kept in the data dir; `between` is called
        between the batches of their anchors' first embedding.
        """
        from mmexplorer.core import align

        self._catch_up_reading()
        return align.related(
            self.searcher, self.aligner, item_id, k=k, weights=weights or self.fusion_weights(), between=between
        )

    @property
    def aligner(self) -> Aligner:
        """The library's alignment maps between spaces (core.align), made on first use."""
        if self._aligner is None:
            from mmexplorer.core import align

            def item_mean(space: VectorSpace) -> np.ndarray:
                # The fixed background of the space's relevance map: its items' kind, not the library's mix.
                return self.searcher.relevance_map(space, "image" if space.takes_images else "text")[1]

            self._aligner = Aligner(
                self.catalog, self.spaces, self.data_dir / align.DIR_NAME, item_mean=item_mean
            )
        return self._aligner

    def fusion_weights(self) -> FusionWeights:
        """The library's fusion weights (shared by the CLI and the GUI through the catalog)."""
        stored = self.catalog.get_meta(_WEIGHTS_KEY)
        if not stored:
            return FusionWeights()
        try:
            values = json.loads(stored)
            return _clamped(FusionWeights(**{k: float(v) for k, v in values.items() if k in _WEIGHT_NAMES}))
        except (ValueError, TypeError) as e:
            log.warning("ignoring unreadable fusion weights %r: %s", stored, e)
            return FusionWeights()

    def set_fusion_weights(self, weights: FusionWeights) -> FusionWeights:
        weights = _clamped(weights)
        with self.catalog.transaction():
            self.catalog.set_meta(_WEIGHTS_KEY, json.dumps(dataclasses.asdict(weights)))
        return weights

    # -- speech (issue 9): core.services.speech ------------------------------------------------
    @property
    def speech_model_spec(self) -> str:
        """The speech model: asked for, else the one the library's transcripts were made with, else the default."""
        return self.speech_service.spec

    @property
    def requested_speech_model(self) -> str | None:
        return self.speech_service.requested

    def transcript(self, item_id: int) -> Transcript | None:
        """A recording's transcript (None: not a recording, or not transcribed yet)."""
        return self.speech_service.transcript(item_id)

    def hear_query(
        self, audio: np.ndarray | str | os.PathLike[str], *, sample_rate: int = 16000, biased: bool = True
    ) -> Heard:
        """What was said in a spoken query: the best reading and the next-best ones (see `Speech.hear`)."""
        return self.speech_service.hear(audio, sample_rate=sample_rate, biased=biased)

    def transcribe_query(
        self, audio: np.ndarray | str | os.PathLike[str], *, sample_rate: int = 16000, biased: bool = True
    ) -> str:
        """The best reading of a spoken query (see `hear_query`)."""
        return self.hear_query(audio, sample_rate=sample_rate, biased=biased).text

    def hotwords(self, n: int = 60) -> list[str]:
        """The library's most frequent distinctive words (notes, transcripts, folder names)."""
        return self.speech_service.hotwords(n)

    def transcription_status(self) -> TranscriptionStatus:
        """The library's recordings: how many are transcribed, waiting (and why) or skipped."""
        return self.speech_service.status()

    def speech_languages(self) -> tuple[str, ...]:
        """The languages speech here is most likely in: the library's most common, then the system's."""
        return self.speech_service.languages()

    # -- sound (issue 9): core.services.sound --------------------------------------------------
    @property
    def sound_enabled(self) -> bool:
        """Whether recordings get sound vectors (CLAP) in this library; on unless turned off."""
        return self.sound.enabled

    def set_sound_enabled(self, enabled: bool) -> None:
        """Turn sound vectors on or off for the library (see `Sound.set_enabled`)."""
        self.sound.set_enabled(enabled)

    def sound_status(self) -> str:
        """One line on the sound space: off, on (with its model and windows), or why it is missing."""
        return self.sound.status()

    # -- reporting --------------------------------------------------------------------------
    def item(self, item_id: int) -> ItemDetail:
        row = self.catalog.item(item_id)
        if row is None:
            raise UsageError(f"no item with id {item_id}")
        return self._detail(row)

    def item_by_path(self, path: str | os.PathLike[str]) -> ItemDetail | None:
        row = self.catalog.item_by_path(os.path.abspath(path))
        return self._detail(row) if row else None

    def _detail(self, row: cat.ItemRow) -> ItemDetail:
        """An item's detail with what its modality carries: its text, its transcript, its caption."""
        entry = modalities.entry_of(row.modality)
        text = None
        if entry.read_text is not None and row.status == cat.INDEXED:
            try:
                text = entry.read_text(Path(row.path))
            except (DecodeError, OSError):
                text = None
        transcript = self.transcript(row.id) if entry.locate == modalities.LOCATE_SEGMENT else None
        detail = self.catalog.detail(row, text=text, transcript=transcript)
        if entry.captioned:
            caption = self.catalog.captions([row.id]).get(row.id)
            detail = dataclasses.replace(detail, caption=caption or None)
        return detail

    def status(self) -> LibraryStatus:
        return LibraryStatus(
            data_dir=str(self.data_dir),
            roots=tuple(self.catalog.roots()),
            counts=self.catalog.counts(),
            skipped=tuple(self.catalog.skipped()),
            pending=self.catalog.count_status(cat.PENDING),
            pending_reason=self.catalog.pending_reason(),
            models=tuple(self.model_info()),
            index_kinds=self.spaces.index_kinds(),
            weights=self.fusion_weights(),
            captions=self.caption_status(),
        )

    # -- explain (issue 10) -----------------------------------------------------------------
    def explain(
        self,
        a: str | os.PathLike[str] | int,
        b: str | os.PathLike[str] | int,
        *,
        weights: FusionWeights | None = None,
        with_heatmap_a: bool = True,
        between: Callable[[], None] | None = None,
    ) -> Explanation:
        """Why A matched B: relevance, components, heatmaps, word or segment weights, shared concepts.

        Args:
            a: a query text, an item id, or a file (an existing path; anything else is text).
            b: an item id or a file; a file that is not indexed is decoded and encoded on the fly.
            weights: fusion weights (default: the library's).
            with_heatmap_a: also the heatmap of a photo A (False: only B's, half the work).
            between: called between batches of the concept vocabulary's first embedding (the
                worker answers a waiting search there).
        """
        self._catch_up_reading()
        return self._explainer().explain(
            a, b, weights=weights or self.fusion_weights(), with_heatmap_a=with_heatmap_a, between=between
        )

    def warm_up(self, *, batches: int = 1) -> bool:
        """Do a little of the work the first explanation and the first Related would otherwise do.

        That work is embedding the concept vocabulary and the alignment anchors through each text
        tower (a minute or two each through a CLIP text tower on a laptop CPU), then fitting the
        maps and the relevance of mapped vectors. Only for spaces with vectors whose model is
        loaded; never loads one. Returns True when nothing is left. The worker calls this a step at
        a time when it is idle.
        """
        if not (self._explainer().warm_concepts(batches=batches) and self.aligner.warm(batches=batches)):
            return False
        from mmexplorer.core import align

        # Last, the relevance fits for vectors mapped into a space (cached by the searcher: once
        # they exist, this is a lookup per pair).
        for source, target in self.aligner.pairs():
            if self.spaces[source].loaded and self.spaces[target].loaded:
                align.mapped_relevance(self.searcher, self.aligner, source, target)
        return True

    def _explainer(self) -> Explainer:
        from mmexplorer.core.explain import Explainer
        from mmexplorer.core.explain.concepts import ConceptCache

        explainer = self._explainer_obj
        if explainer is None or explainer.searcher is not self.searcher:
            concepts = explainer.concepts if explainer is not None else None  # keep embedded batches
            explainer = Explainer(
                self.catalog,
                self.spaces,
                self.searcher,
                concepts=concepts or ConceptCache(paths.calibration_dir(self.data_dir)),
                transcript=getattr(self, "transcript", None),
            )
            self._explainer_obj = explainer
        return explainer

    def close(self) -> None:
        try:
            self.spaces.save()
        finally:
            self.catalog.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_GENERATION_KEY = "write_generation"
_WEIGHTS_KEY = "fusion_weights"
_WEIGHT_NAMES = {f.name for f in dataclasses.fields(FusionWeights)}


def _clamped(weights: FusionWeights) -> FusionWeights:
    """Weights kept in [0, 1], so a fused relevance stays in [0, 1]."""
    return FusionWeights(**{n: min(1.0, max(0.0, float(getattr(weights, n)))) for n in _WEIGHT_NAMES})


def _modality(value: Modality | str | None) -> Modality | None:
    if value is None or isinstance(value, Modality):
        return value
    try:
        return Modality(value)
    except ValueError as e:
        raise UsageError(f"unknown modality {value!r}: use {modalities.in_words()}") from e
