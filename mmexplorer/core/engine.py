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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from mmexplorer.core import catalog as cat
from mmexplorer.core import paths
from mmexplorer.core.errors import UsageError
from mmexplorer.core.index import VectorIndex
from mmexplorer.core.indexer import Indexer
from mmexplorer.core.lock import CHECKING, LibraryLock
from mmexplorer.core.relevance import RelevanceCache
from mmexplorer.core.search import Searcher
from mmexplorer.core.spaces import SpaceOptions, Spaces, VectorSpace
from mmexplorer.core.types import (
    FusionWeights,
    IndexReport,
    ItemDetail,
    LibraryStatus,
    Modality,
    ModelInfo,
    ModelStatus,
    Query,
    SearchResult,
    Space,
)

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
        self.spaces = Spaces(self.catalog, self.options, requested={Space.IMAGE: image_model})
        self.searcher = Searcher(
            self.catalog, self.spaces, cache=RelevanceCache(paths.calibration_dir(self.data_dir))
        )
        self.indexer_batch_size = 32
        self._generation = self.catalog.get_meta(_GENERATION_KEY)  # the last write this Engine has seen
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
        saves over the other writer's vectors. Each write leaves a new generation in the catalog
        before it starts, so even a writer killed half-way is noticed.
        """
        outer = not self.write_lock.held
        self.write_lock.acquire(timeout=self.lock_timeout, on_wait=self.on_lock_wait)
        try:
            if outer:
                self._catch_up()
                self._mark_written()
            yield
        finally:
            self.write_lock.release()

    def _mark_written(self) -> None:
        generation = f"{os.getpid()}-{time.time_ns()}"
        with self.catalog.transaction():
            self.catalog.set_meta(_GENERATION_KEY, generation)
        self._generation = generation

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
        for space in sorted(self.spaces.values(), key=lambda s: s.key is Space.IMAGE):
            space.encoder()
        return self.model_info()

    def model_info(self) -> list[ModelInfo]:
        return self.spaces.model_info()

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
        indexer = Indexer(self.catalog, self.spaces, exclude=[self.data_dir], batch_size=self.indexer_batch_size)
        report = indexer.run(chosen, progress=progress, cancel=cancel)
        self.spaces.optimise(background=background_rebuild)
        return report

    def optimise_indexes(self, *, background: bool = False) -> list[Space]:
        """Switch each space to the index kind its size calls for (see `Spaces.optimise`)."""
        return self.spaces.optimise(background=background)

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
        return self.searcher.search(
            query, k=k, modality=_modality(modality), weights=weights or self.fusion_weights()
        )

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
        text = None
        if row.modality == Modality.NOTE.value and row.status == cat.INDEXED:
            from mmexplorer.core.errors import DecodeError
            from mmexplorer.core.media import notes

            try:
                text = notes.read_note(Path(row.path))
            except (DecodeError, OSError):
                text = None
        return self.catalog.detail(row, text=text)

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
        )

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
        raise UsageError(f"unknown modality {value!r}: use photo, note or recording") from e
