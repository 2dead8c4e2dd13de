"""The facade the CLI and the GUI worker drive: one library (data dir), its catalog, indexes and encoders.

An Engine lives on one thread. Models load lazily (or on `load_models()`), so opening a library is
fast; the image model that built the index is remembered in the catalog, so a later `search`
without `--model` uses the same one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import paths
from mmexplorer.core.errors import CatalogError, UsageError
from mmexplorer.core.types import (
    FusionWeights,
    IndexReport,
    ItemDetail,
    LibraryStatus,
    Modality,
    ModelInfo,
    ModelStatus,
    SearchResult,
)

if TYPE_CHECKING:
    from mmexplorer.core.index import VectorIndex

log = logging.getLogger(__name__)

SPACE_OF_MODALITY = {Modality.PHOTO: "image", Modality.NOTE: "text"}


class Engine:
    """One library: catalog + FAISS spaces + encoders.

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = cat.Catalog(paths.catalog_path(self.data_dir))
        self.device = device
        self.on_model_status = on_model_status
        if image_model is not None:
            from mmexplorer.core.models import parse_image_spec

            parse_image_spec(image_model)  # a typo is a usage error now, not after a long scan
        self._requested_image_model = image_model
        self._image: Any = None
        self._text: Any = None
        self._indexes: dict[str, VectorIndex] = {}
        self._searcher: Any = None
        self.indexer_batch_size = 32
        self._rebuilding: set[str] = set()
        self.flat_threshold: int | None = None  # None: core.index's measured default
        self._reconcile()

    # -- models -----------------------------------------------------------------------------
    @property
    def image_model_spec(self) -> str:
        from mmexplorer.core.models import DEFAULT_IMAGE_MODEL

        return self._requested_image_model or self.catalog.get_meta("image_spec") or DEFAULT_IMAGE_MODEL

    def image_encoder(self) -> Any:
        if self._image is None:
            from mmexplorer.core.models import load_image_model, parse_image_spec

            spec = parse_image_spec(self.image_model_spec)
            self._image = load_image_model(spec, device=self.device, on_status=self.on_model_status)
            self._adopt_model("image", self._image, spec_name=self.image_model_spec, modality=Modality.PHOTO)
        return self._image

    def text_encoder(self) -> Any:
        if self._text is None:
            from mmexplorer.core.models import load_text_model

            self._text = load_text_model(device=self.device, on_status=self.on_model_status)
            self._adopt_model("text", self._text, spec_name=self._text.name, modality=Modality.NOTE)
        return self._text

    def load_models(self) -> list[ModelInfo]:
        """Load both encoders now (the GUI does this in the background at start)."""
        self.text_encoder()
        self.image_encoder()
        return self.model_info()

    def model_info(self) -> list[ModelInfo]:
        return [m.info() for m in (self._image, self._text) if m is not None]

    def _adopt_model(self, space: str, encoder: Any, *, spec_name: str, modality: Modality) -> None:
        """A space's vectors are only comparable within one model: re-embed when the model changed."""
        stored = self.catalog.get_meta(f"model:{space}")
        if stored is not None and stored != encoder.model_id:
            log.warning("the %s model changed (%s -> %s): its items will be re-encoded", space, stored, encoder.model_id)
            with self.catalog.transaction():
                self.catalog.clear_space(space)
                self.catalog.pending_for_modality(modality.value)
            self._drop_index(space)
        with self.catalog.transaction():
            self.catalog.set_meta(f"model:{space}", encoder.model_id)
            self.catalog.set_meta(f"dim:{space}", str(encoder.dim))
            if space == "image":
                self.catalog.set_meta("image_spec", spec_name)

    # -- indexes ----------------------------------------------------------------------------
    def space_index(self, space: str, dim: int | None = None) -> VectorIndex | None:
        """The FAISS index of a space, opened on first use; None if the space has never been used."""
        index = self._indexes.get(space)
        if index is not None:
            return index
        if dim is None:
            stored = self.catalog.get_meta(f"dim:{space}")
            if stored is None:
                return None
            dim = int(stored)
        from mmexplorer.core.index import VectorIndex

        options = {} if self.flat_threshold is None else {"flat_threshold": self.flat_threshold}
        try:
            index = VectorIndex.open(paths.index_dir(self.data_dir), space, dim, **options)
        except CatalogError as e:
            # A corrupt or mismatched index file is rebuilt from the catalog: re-encode its items.
            log.warning("%s; the %s space will be re-encoded", e, space)
            self._drop_index(space, forget_items=True)
            index = VectorIndex.open(paths.index_dir(self.data_dir), space, dim, **options)
        self._indexes[space] = index
        return index

    def _drop_index(self, space: str, *, forget_items: bool = False) -> None:
        self._indexes.pop(space, None)
        directory = paths.index_dir(self.data_dir)
        for f in directory.glob(f"{space}.*") if directory.exists() else ():
            f.unlink()
        if forget_items:
            modality = Modality.PHOTO if space == "image" else Modality.NOTE
            with self.catalog.transaction():
                self.catalog.clear_space(space)
                self.catalog.pending_for_modality(modality.value)

    def remove_vectors(self, pairs: Sequence[tuple[str, int]]) -> None:
        by_space: dict[str, list[int]] = defaultdict(list)
        for space, vid in pairs:
            by_space[space].append(vid)
        for space, ids in by_space.items():
            index = self.space_index(space)
            if index is not None and ids:
                index.remove(np.asarray(ids, dtype=np.int64))

    def save_indexes(self) -> None:
        for index in self._indexes.values():
            index.save()

    def _reconcile(self) -> None:
        """Make catalog and indexes agree after a crash: drop stray vectors, re-queue lost ones."""
        for space in ("image", "text"):
            index = self.space_index(space)
            if index is None:
                continue
            in_index = set(index.ids().tolist())
            in_catalog: dict[int, int] = dict(self.catalog.vector_ids(space))
            stray = [vid for vid in in_index if vid not in in_catalog]
            lost_items = {item for vid, item in in_catalog.items() if vid not in in_index}
            if stray:
                log.warning("removing %d vectors of %s that the catalog does not know", len(stray), space)
                index.remove(np.asarray(stray, dtype=np.int64))
            if lost_items:
                log.warning("%d items lost their %s vectors (interrupted run): re-queued", len(lost_items), space)
                removals: list[tuple[str, int]] = []
                with self.catalog.transaction():
                    for item_id in lost_items:
                        removals += self.catalog.drop_chunks(item_id)
                    self.catalog.set_status(sorted(lost_items), cat.PENDING)
                self.remove_vectors(removals)
            if stray or lost_items:
                index.save()

    # -- library ----------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return self.catalog.roots()

    def add_roots(self, roots: Sequence[str | os.PathLike[str]]) -> list[str]:
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
        root = os.path.abspath(root)
        rows = self.catalog.items_under([root])
        other_roots = [r for r in self.catalog.roots() if r != root]
        still_covered = set(self.catalog.items_under(other_roots)) if other_roots else set()
        ids = [row.id for path, row in rows.items() if path not in still_covered]
        with self.catalog.transaction():
            removals = self.catalog.delete_items(ids)
            self.catalog.remove_root(root)
        self.remove_vectors(removals)
        self.save_indexes()
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
        """
        from mmexplorer.core.indexer import Indexer

        chosen = self.add_roots(roots) if roots else self.catalog.roots()
        if not chosen:
            raise UsageError("no folders in the library yet: add one first")
        # An explicitly requested model that differs from the one the index was built with
        # re-embeds the photos now, not at the next search.
        if self._requested_image_model and self.catalog.get_meta("image_spec") not in (
            None,
            self._requested_image_model,
        ):
            self.image_encoder()
        report = Indexer(self, batch_size=self.indexer_batch_size).run(chosen, progress=progress, cancel=cancel)
        self.optimise_indexes(background=background_rebuild)
        return report

    def optimise_indexes(self, *, background: bool = False) -> list[str]:
        """Switch a space to the index kind its size calls for (exact flat while small, IVF above).

        Args:
            background: build the replacement in a thread and swap it in when ready, so search
                keeps working meanwhile (the GUI); else rebuild now (the CLI, a batch process).

        Returns:
            The spaces whose rebuild was done or started.
        """
        started = []
        for space, index in list(self._indexes.items()):
            spec = index.target_spec()
            if spec is None or space in self._rebuilding:
                continue
            log.info("the %s index holds %d vectors: switching %s -> %s", space, index.ntotal, index.kind, spec)
            started.append(space)
            if not background:
                index.rebuild(spec)
                index.save()
                continue
            self._rebuilding.add(space)
            threading.Thread(
                target=self._rebuild_in_background, args=(space, index, spec), name=f"mmx-rebuild-{space}", daemon=True
            ).start()
        return started

    def _rebuild_in_background(self, space: str, index: VectorIndex, spec: str) -> None:
        try:
            replacement = index.build_replacement(spec)
            index.swap_in(replacement)  # replays what changed meanwhile; cheap, under the index's lock
            index.save()
        except Exception:  # the old index stays live and correct; the next run tries again
            log.exception("rebuilding the %s index as %s failed", space, spec)
        finally:
            self._rebuilding.discard(space)

    # -- search -----------------------------------------------------------------------------
    def _search(self) -> Any:
        if self._searcher is None:
            from mmexplorer.core.search import Searcher

            self._searcher = Searcher(self)
        return self._searcher

    def search_text(
        self, query: str, *, k: int = 20, modality: Modality | str | None = None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        return self._search().text(query, k=k, modality=_modality(modality), weights=weights)

    def search_image(
        self, image: Any, *, k: int = 20, modality: Modality | str | None = None, weights: FusionWeights | None = None
    ) -> list[SearchResult]:
        return self._search().image(image, k=k, modality=_modality(modality), weights=weights)

    def similar(self, item_id: int, *, k: int = 20, modality: Modality | str | None = None) -> list[SearchResult]:
        return self._search().similar(item_id, k=k, modality=_modality(modality))

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
            from mmexplorer.core import media
            from mmexplorer.core.errors import DecodeError

            try:
                text = media.read_note(Path(row.path))
            except (DecodeError, OSError):
                text = None
        return self.catalog.detail(row, text=text)

    def status(self) -> LibraryStatus:
        kinds = {}
        for space in ("image", "text"):
            index = self.space_index(space)
            if index is not None:
                kinds[space] = f"{index.kind} ({index.ntotal} vectors)"
        return LibraryStatus(
            data_dir=str(self.data_dir),
            roots=tuple(self.catalog.roots()),
            counts=self.catalog.counts(),
            skipped=tuple(self.catalog.skipped()),
            pending=self.catalog.count_status(cat.PENDING),
            pending_reason=self.catalog.pending_reason(),
            models=tuple(self.model_info()),
            index_kinds=kinds,
        )

    def close(self) -> None:
        try:
            self.save_indexes()
        finally:
            self.catalog.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _modality(value: Modality | str | None) -> Modality | None:
    if value is None or isinstance(value, Modality):
        return value
    try:
        return Modality(value)
    except ValueError as e:
        raise UsageError(f"unknown modality {value!r}: use photo, note or recording") from e
