"""The vector spaces of a library: each owns its encoder, its FAISS index and its catalog metadata.

A `Space` (core.types) is the key everywhere. `SPACE_REGISTRY` says, for each space, how its
encoder is loaded and how a query reaches it (which modalities it embeds is said by each modality's
entry in core.modalities); `Spaces` is the set of
live `VectorSpace`s one library composes. Adding a space is one `SpaceEntry` here plus its encoder
module in core.models; the indexer, search and the engine iterate over spaces and never name one,
except where a space's own entry is looked up by its key.

A `VectorSpace`:
- loads its encoder lazily (first index run or search that needs it), and *adopts* it: vectors are
  only comparable within one model, so when the catalog says the space was built with another
  model, the space's items are re-queued and its index dropped;
- opens its `VectorIndex` on first use (a corrupt or mismatched file is dropped and its items
  re-queued);
- reconciles catalog and index after a crash (`reconcile`);
- keeps per-space calibration state for search (`calibration`, a dict search owns the contents of).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import modalities
from mmexplorer.core.errors import CatalogError
from mmexplorer.core.index import VectorIndex
from mmexplorer.core.relevance import CalibrationData
from mmexplorer.core.types import Modality, ModelInfo, ModelStatus, Space

log = logging.getLogger(__name__)

StatusFn = Callable[[ModelStatus], None]


def _load_image_encoder(spec: str | None, device: str, on_status: StatusFn | None) -> Any:
    from mmexplorer.core.models import load_image_model

    return load_image_model(spec, device=device, on_status=on_status)


def _load_text_encoder(spec: str | None, device: str, on_status: StatusFn | None) -> Any:
    from mmexplorer.core.models import load_text_model

    return load_text_model(spec, device=device, on_status=on_status)


def _check_image_spec(spec: str) -> None:
    from mmexplorer.core.models import parse_image_spec

    parse_image_spec(spec)


def _default_image_spec() -> str:
    from mmexplorer.core.models import DEFAULT_IMAGE_MODEL

    return DEFAULT_IMAGE_MODEL


def _default_text_spec() -> str:
    from mmexplorer.core.models import DEFAULT_TEXT_MODEL

    return DEFAULT_TEXT_MODEL


def _load_sound_encoder(spec: str | None, device: str, on_status: StatusFn | None) -> Any:
    from mmexplorer.core.models import load_sound_model

    return load_sound_model(spec, device=device, on_status=on_status)


def _check_sound_spec(spec: str) -> None:
    from mmexplorer.core.models import parse_sound_spec

    parse_sound_spec(spec)


def _default_sound_spec() -> str:
    from mmexplorer.core.models import DEFAULT_SOUND_MODEL

    return DEFAULT_SOUND_MODEL


@dataclass(frozen=True)
class SpaceEntry:
    """What a space is: its encoder, and how queries reach it.

    Attributes:
        key: the space.
        load: (spec or None, device, on_status) -> encoder; raises ModelUnavailableError.
        default_spec: the model used when neither the caller nor the library names one.
        check_spec: raises UsageError for a spec that can never load (a typo), before long work.
        encode_texts: (encoder, texts) -> unit vectors, when typed words can reach this space.
        encode_images: (encoder, PIL images) -> unit vectors, when a photo can be a query here.
        text_cutoff: how many characters of an item's text a query into this space takes
            (a note reaching the image space through CLIP's short text tower).
    """

    key: Space
    load: Callable[[str | None, str, StatusFn | None], Any]
    default_spec: Callable[[], str]
    check_spec: Callable[[str], None] | None = None
    encode_texts: Callable[[Any, Sequence[str]], np.ndarray] | None = None
    encode_images: Callable[[Any, Sequence[Any]], np.ndarray] | None = None
    text_cutoff: int = 300
    calibrate: Callable[[Any, str], CalibrationData] | None = None  # (encoder, query kind) -> pairs
    query_baseline: bool = True  # correct each query by its cosines with the space's fixed background
    # Load with the others at start (Engine.load_models) even while the library has no vectors here;
    # False for a big model only some libraries need (CLAP): loaded when vectors exist or are made.
    eager: bool = True


def _image_calibration(encoder: Any, kind: str) -> CalibrationData:
    from mmexplorer.core.calibration import image_text_data

    return image_text_data(encoder.encode_images, encoder.encode_texts, image_size=encoder.image_size, kind=kind)


def _text_calibration(encoder: Any, kind: str) -> CalibrationData:
    from mmexplorer.core.calibration import sentence_encoder_data

    return sentence_encoder_data(encoder.encode)


def _sound_calibration(encoder: Any, kind: str) -> CalibrationData:
    from mmexplorer.core.calibration import sound_text_data

    return sound_text_data(encoder.encode_audio, encoder.encode_texts, sample_rate=encoder.sample_rate, kind=kind)


SPACE_REGISTRY: dict[Space, SpaceEntry] = {
    Space.IMAGE: SpaceEntry(
        key=Space.IMAGE,
        load=_load_image_encoder,
        default_spec=_default_image_spec,
        check_spec=_check_image_spec,
        encode_texts=lambda enc, texts: enc.encode_texts(list(texts)),
        encode_images=lambda enc, images: enc.encode_images(list(images)),
        text_cutoff=300,
        calibrate=_image_calibration,
    ),
    Space.TEXT: SpaceEntry(
        key=Space.TEXT,
        load=_load_text_encoder,
        default_spec=_default_text_spec,
        encode_texts=lambda enc, texts: enc.encode(list(texts)),
        text_cutoff=10_000,
        calibrate=_text_calibration,
        # Measured (bench_fusion, five libraries): for the sentence encoder the baseline made codes
        # and names it does not know ("INV-2024-017") look like strong matches; off without it.
        query_baseline=False,
    ),
    Space.SOUND: SpaceEntry(
        key=Space.SOUND,
        load=_load_sound_encoder,
        default_spec=_default_sound_spec,
        check_spec=_check_sound_spec,
        encode_texts=lambda enc, texts: enc.encode_texts(list(texts)),
        text_cutoff=300,
        calibrate=_sound_calibration,
        # Measured (bench_sound, test model, held-out sounds and unseen sentences): a tie, AUC 0.993
        # with and without, true/false positives at the cutoff 0.96/0.024 with, 0.94/0.023 without.
        # On as for CLIP's text tower, the other text->other-modality tower; real CLAP: unmeasured.
        query_baseline=True,
        # CLAP is ~600 MB: a library without recordings never loads or downloads it. Search skips
        # a space with no vectors (ntotal reads the catalog, not the model), and so does this.
        eager=False,
    ),
}


def _meta(kind: str, space: Space) -> str:
    """Catalog meta keys of a space: model:<space>, dim:<space>, spec:<space>."""
    return f"{kind}:{space.value}"


@dataclass
class SpaceOptions:
    """Library-wide settings every space shares."""

    index_dir: Path
    device: str = "auto"
    on_status: StatusFn | None = None
    flat_threshold: int | None = None  # None: core.index's measured default


class VectorSpace:
    """One live space of a library: encoder (lazy), FAISS index (lazy), catalog metadata."""

    def __init__(
        self, entry: SpaceEntry, catalog: cat.Catalog, options: SpaceOptions, *, requested_spec: str | None = None
    ) -> None:
        self.entry = entry
        self.key = entry.key
        self.catalog = catalog
        self.options = options
        if requested_spec is not None and entry.check_spec is not None:
            entry.check_spec(requested_spec)  # a typo is a usage error now, not after a long scan
        self.requested_spec = requested_spec
        self._encoder: Any = None
        self._index: VectorIndex | None = None
        self.calibration: dict[str, Any] = {}  # search's per-space state (reference samples)

    def __repr__(self) -> str:
        return f"VectorSpace({self.key.value}, spec={self.spec!r})"

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """The modalities whose items have vectors here (their entries in core.modalities say so)."""
        return modalities.reaching(self.key)

    # -- model ------------------------------------------------------------------------------
    @property
    def stored_spec(self) -> str | None:
        """The spec the library's vectors were made with (older catalogs: `image_spec`)."""
        spec = self.catalog.get_meta(_meta("spec", self.key))
        if spec is None and self.key is Space.IMAGE:
            spec = self.catalog.get_meta("image_spec")
        return spec

    @property
    def spec(self) -> str:
        return self.requested_spec or self.stored_spec or self.entry.default_spec()

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    @property
    def wanted(self) -> bool:
        """Worth loading the encoder before a query or an index run needs it (see SpaceEntry.eager)."""
        return self.entry.eager or self.ntotal > 0

    @property
    def wants_new_model(self) -> bool:
        """The caller asked for a model other than the one the library's vectors were made with."""
        stored = self.stored_spec
        return self.requested_spec is not None and stored is not None and stored != self.requested_spec

    def encoder(self) -> Any:
        """The space's encoder, loaded on first use (raises ModelUnavailableError)."""
        if self._encoder is None:
            encoder = self.entry.load(self.spec, self.options.device, self.options.on_status)
            self._adopt(encoder)
            self._encoder = encoder
        return self._encoder

    def info(self) -> ModelInfo | None:
        return self._encoder.info() if self._encoder is not None else None

    def _adopt(self, encoder: Any) -> None:
        """A space's vectors are only comparable within one model: re-embed when the model changed."""
        stored = self.catalog.get_meta(_meta("model", self.key))
        if stored is not None and stored != encoder.model_id:
            log.warning(
                "the %s model changed (%s -> %s): its items will be re-encoded", self.key.value, stored, encoder.model_id
            )
            self.drop(forget_items=True)
        with self.catalog.transaction():
            self.catalog.set_meta(_meta("model", self.key), encoder.model_id)
            self.catalog.set_meta(_meta("dim", self.key), str(encoder.dim))
            self.catalog.set_meta(_meta("spec", self.key), self.spec)

    # -- queries ----------------------------------------------------------------------------
    @property
    def takes_text(self) -> bool:
        return self.entry.encode_texts is not None

    @property
    def takes_images(self) -> bool:
        return self.entry.encode_images is not None

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self.entry.encode_texts is None:
            raise TypeError(f"the {self.key.value} space has no text tower")
        cut = self.entry.text_cutoff
        return self.entry.encode_texts(self.encoder(), [t[:cut] for t in texts])

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        if self.entry.encode_images is None:
            raise TypeError(f"the {self.key.value} space takes no images")
        return self.entry.encode_images(self.encoder(), images)

    # -- index ------------------------------------------------------------------------------
    def index(self, dim: int | None = None) -> VectorIndex | None:
        """The space's FAISS index, opened on first use; None if the space has never been used."""
        if self._index is not None:
            return self._index
        if dim is None:
            stored = self.catalog.get_meta(_meta("dim", self.key))
            if stored is None:
                return None
            dim = int(stored)
        options = {} if self.options.flat_threshold is None else {"flat_threshold": self.options.flat_threshold}
        try:
            index = VectorIndex.open(self.options.index_dir, self.key.value, dim, **options)
        except CatalogError as e:
            # A corrupt or mismatched index file is rebuilt from the catalog: re-encode its items.
            log.warning("%s; the %s space will be re-encoded", e, self.key.value)
            self.drop(forget_items=True)
            index = VectorIndex.open(self.options.index_dir, self.key.value, dim, **options)
        self._index = index
        return index

    @property
    def open_index(self) -> VectorIndex | None:
        """The index if it is open now (None: not opened yet, or never made); opens nothing."""
        return self._index

    def writable_index(self) -> VectorIndex:
        """The index new vectors go to (created with the encoder's dim if the space is new)."""
        index = self.index(self.encoder().dim)
        assert index is not None  # with a dim, open() always returns an index
        return index

    @property
    def ntotal(self) -> int:
        index = self.index()
        return 0 if index is None else index.ntotal

    def remove(self, ids: Sequence[int]) -> None:
        index = self.index()
        if index is not None and len(ids):
            index.remove(np.asarray(ids, dtype=np.int64))

    def save(self) -> None:
        if self._index is not None:
            self._index.save()

    def unload(self) -> bool:
        """Forget the in-memory index and search state (the files stay; reopened on use).

        Returns whether an index was open.
        """
        was_open = self._index is not None
        self._index = None
        self.calibration.clear()
        return was_open

    def drop(self, *, forget_items: bool = False) -> None:
        """Delete the index files; with `forget_items`, the space's chunks too, and re-queue its items."""
        self.unload()
        directory = self.options.index_dir
        for f in directory.glob(f"{self.key.value}.*") if directory.exists() else ():
            f.unlink()
        if forget_items:
            with self.catalog.transaction():
                self.catalog.clear_space(self.key.value)
                for modality in self.modalities:
                    self.catalog.pending_for_modality(modality.value)

    def reconcile(self) -> list[tuple[str, int]]:
        """Make catalog and index agree after a crash: drop stray vectors, re-queue lost items.

        Returns the (space, vector id) pairs of other spaces that re-queued items still hold,
        for the caller to remove.
        """
        index = self.index()
        if index is None:
            return []
        in_index = set(index.ids().tolist())
        in_catalog: dict[int, int] = dict(self.catalog.vector_ids(self.key.value))
        stray = [vid for vid in in_index if vid not in in_catalog]
        lost_items = {item for vid, item in in_catalog.items() if vid not in in_index}
        removals: list[tuple[str, int]] = []
        if stray:
            log.warning("removing %d vectors of %s that the catalog does not know", len(stray), self.key.value)
            index.remove(np.asarray(stray, dtype=np.int64))
        if lost_items:
            log.warning(
                "%d items lost their %s vectors (interrupted run): re-queued", len(lost_items), self.key.value
            )
            with self.catalog.transaction():
                for item_id in lost_items:
                    removals += self.catalog.drop_chunks(item_id)
                self.catalog.set_status(sorted(lost_items), cat.PENDING)
        mine = [vid for s, vid in removals if s == self.key.value]
        if mine:
            index.remove(np.asarray(mine, dtype=np.int64))
        if stray or lost_items:
            index.save()
        return [(s, vid) for s, vid in removals if s != self.key.value]

    def release(self) -> None:
        if self._encoder is not None and hasattr(self._encoder, "release"):
            self._encoder.release()
        self._encoder = None


class Spaces(Mapping[Space, VectorSpace]):
    """The registry of a library's live spaces, keyed by `Space`.

    Args:
        catalog: the library's catalog.
        options: index dir, device, model-status callback, flat threshold.
        requested: model specs the caller asked for, by space (None: the library's, else default).
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        options: SpaceOptions,
        *,
        requested: Mapping[Space, str | None] | None = None,
        registry: Mapping[Space, SpaceEntry] = SPACE_REGISTRY,
    ) -> None:
        requested = requested or {}
        self.catalog = catalog
        self.options = options
        self._spaces = {
            key: VectorSpace(entry, catalog, options, requested_spec=requested.get(key))
            for key, entry in registry.items()
        }
        self._rebuilding: set[Space] = set()  # spaces whose replacement index is being built

    def __getitem__(self, key: Space | str) -> VectorSpace:
        return self._spaces[Space(key)]

    def __iter__(self) -> Iterator[Space]:
        return iter(self._spaces)

    def __len__(self) -> int:
        return len(self._spaces)

    def feeding(self, modality: Modality) -> list[VectorSpace]:
        """The spaces whose vectors a modality's items provide."""
        return [s for s in self._spaces.values() if modality in s.modalities]

    @property
    def rebuilding(self) -> set[Space]:
        return self._rebuilding

    # -- whole-library operations ------------------------------------------------------------
    def remove_vectors(self, pairs: Sequence[tuple[str, int]]) -> None:
        by_space: dict[str, list[int]] = defaultdict(list)
        for space, vid in pairs:
            by_space[space].append(vid)
        for space, ids in by_space.items():
            self[space].remove(ids)

    def save(self) -> None:
        for space in self._spaces.values():
            space.save()

    def reconcile(self) -> None:
        for space in self._spaces.values():
            self.remove_vectors(space.reconcile())

    def model_info(self) -> list[ModelInfo]:
        return [info for s in self._spaces.values() if (info := s.info()) is not None]

    def index_kinds(self) -> dict[str, str]:
        kinds = {}
        for key, space in self._spaces.items():
            index = space.index()
            if index is not None:
                kinds[key.value] = f"{index.kind} ({index.ntotal} vectors)"
        return kinds

    def optimise(self, *, background: bool = False) -> list[Space]:
        """Switch each open index to the kind its size calls for (exact flat while small, IVF above).

        Args:
            background: build the replacement in a thread and swap it in when ready, so search
                keeps working meanwhile (the GUI); else rebuild now (the CLI, a batch process).

        Returns:
            The spaces whose rebuild was done or started.
        """
        started = []
        for key, space in self._spaces.items():
            index = space.open_index
            if index is None or key in self._rebuilding:
                continue
            spec = index.target_spec()
            if spec is None:
                continue
            log.info("the %s index holds %d vectors: switching %s -> %s", key.value, index.ntotal, index.kind, spec)
            started.append(key)
            if not background:
                index.rebuild(spec)
                index.save()
                continue
            self._rebuilding.add(key)
            threading.Thread(
                target=self._rebuild_in_background,
                args=(key, index, spec),
                name=f"mmx-rebuild-{key.value}",
                daemon=True,
            ).start()
        return started

    def _rebuild_in_background(self, key: Space, index: VectorIndex, spec: str) -> None:
        try:
            replacement = index.build_replacement(spec)
            index.swap_in(replacement)  # replays what changed meanwhile; cheap, under the index's lock
            index.save()
        except Exception:  # the old index stays live and correct; the next run tries again
            log.exception("rebuilding the %s index as %s failed", key.value, spec)
        finally:
            self._rebuilding.discard(key)
