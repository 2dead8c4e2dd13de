"""`VectorIndex`: one vector space's FAISS index with stable int64 ids, exact while small, IVF when large.

Vectors are L2-normalised by the encoders, so cosine similarity is the inner product
(`METRIC_INNER_PRODUCT`). Ids are the catalog's chunk ids and never change, whatever the index
kind: `IDMap2,Flat` keeps them beside an exact index, IVF indexes store them in their inverted
lists. No direct map is kept (faiss's hashtable costs ~45 bytes per vector in memory, which took
a 1M library to 594 of the 600 bytes allowed): `remove` scans the lists, and `reconstruct`
decodes the entries it finds in them.

Index choice is the pure function `choice.choose_index_spec`; `VectorIndex.maybe_rebuild` (or
`build_replacement` + `swap_in` from a background thread) switches kind as the library grows.
The CPU index is the persisted truth; when faiss sees a GPU, searches go through a GPU clone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from mmexplorer.core.errors import CatalogError, UsageError
from mmexplorer.core.fsutil import atomic_write
from mmexplorer.core.index import faiss_ops as ops
from mmexplorer.core.index.choice import (
    FLAT_KEY,
    FLAT_THRESHOLD,
    choose_index_spec,
    default_nprobe,
    needs_rebuild,
)
from mmexplorer.core.index.gpu import GPU_MAX_K, gpu_clone, gpu_count, set_gpu_nprobe

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ADD_BATCH = 65_536


# Seams, looked up on every call: tests make a write fail half-way and stand in for the GPU with
# a CPU clone.
# A temp file of an index save untouched for this long belongs to a save that died.
STRAY_AGE_S = 600.0


def _write_index(index: faiss.Index, path: Path) -> None:
    """faiss.write_index, kept as a seam so tests can make a write fail half-way."""
    name = str(path)
    if _utf8(name):
        faiss.write_index(index, name)
        return
    # FAISS takes file names as UTF-8 only: a data dir whose name is not UTF-8 is written through Python.
    with open(name, "wb") as f:
        faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))


def _read_index(path: Path) -> faiss.Index:
    name = str(path)
    if _utf8(name):
        return faiss.read_index(name)
    with open(name, "rb") as f:
        return faiss.read_index(faiss.PyCallbackIOReader(f.read))


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_gpu_clone = gpu_clone
_set_gpu_nprobe = set_gpu_nprobe


class VectorIndex:
    """One vector space: add / remove / search / reconstruct / save, ids stable across kinds.

    Adding an id that is already present REPLACES its vector (upsert): the indexer can re-add a
    batch after a crash without ever creating duplicates.

    Thread safety: every public method takes the instance lock; searches from several threads
    are serialised. `build_replacement` holds the lock only while it copies a chunk of vectors,
    so searches and updates keep going while a new index is trained, and `swap_in` replays the
    updates made meanwhile before it switches (a few milliseconds).
    """

    def __init__(
        self,
        index: faiss.Index,
        *,
        space: str,
        directory: Path | None = None,
        spec: str | None = None,
        nprobe: int | None = None,
        flat_threshold: int = FLAT_THRESHOLD,
        budget_bytes: int | None = None,
        use_gpu: bool | None = None,
        dirty: bool = True,
    ) -> None:
        self._index = index
        self._space = space
        self._directory = directory
        self._spec = spec or ops.describe(index)
        self.flat_threshold = flat_threshold
        self.budget_bytes = budget_bytes
        self._lock = threading.RLock()
        self._ids: np.ndarray | None = None  # sorted, built lazily
        self._journal: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None
        self._journal_token: object | None = None
        # Which `build_replacement` made this index (None: not a replacement); `swap_in` checks it.
        self.rebuild_token: object | None = None
        self._use_gpu = gpu_count() > 0 if use_gpu is None else bool(use_gpu)
        self._gpu_index: faiss.Index | None = None
        self._dirty = dirty  # differs from the file on disk (False when just opened; cleared by save)
        ivf = ops.ivf(index)
        self._nprobe = nprobe or (default_nprobe(ivf.nlist) if ivf is not None else 0)
        if ivf is not None:
            ops.prepare_ivf(ivf, self._nprobe)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        space: str,
        dim: int,
        *,
        flat_threshold: int = FLAT_THRESHOLD,
        budget_bytes: int | None = None,
        use_gpu: bool | None = None,
    ) -> VectorIndex:
        """Load `<directory>/<space>.faiss`, or start an empty exact index if there is none.

        Args:
            directory: the library's index dir (paths.index_dir); created if missing.
            space: the space's name ("image", "text", ...), also the file's stem.
            dim: the dimension the space's model produces.
            flat_threshold: passed to choose_index_spec by maybe_rebuild.
            budget_bytes: memory the index may take, passed to choose_index_spec.
            use_gpu: search through a GPU clone; None means whenever faiss sees a GPU.

        Raises:
            CatalogError: the file is unreadable, of another dimension or metric; the caller
                should discard it and re-add the vectors from the catalog.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{space}.faiss"
        for stray in list(directory.glob(f".{space}.faiss.tmp-*")) + list(
            directory.glob(f".{space}.json.tmp-*")
        ):
            # Left by a save that died before os.replace; the real file is untouched by it. A recent
            # one may be a save in progress in another process (an index run while this one only
            # searches): only a writer that stopped writing long ago is known to be dead.
            try:
                age = time.time() - stray.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < STRAY_AGE_S:
                continue
            log.info("removing unfinished index save %s", stray)
            stray.unlink(missing_ok=True)
        if not path.exists():
            if dim <= 0:
                raise UsageError(f"dim must be positive, got {dim}")
            return cls(
                ops.new_index(FLAT_KEY, dim),
                space=space,
                directory=directory,
                spec=FLAT_KEY,
                flat_threshold=flat_threshold,
                budget_bytes=budget_bytes,
                use_gpu=use_gpu,
            )
        try:
            index = _read_index(path)
        except RuntimeError as e:
            raise CatalogError(
                f"the {space} index {path} is unreadable ({str(e).splitlines()[0]}); "
                "it must be rebuilt from the catalog"
            ) from e
        if index.d != dim:
            raise CatalogError(
                f"the {space} index {path} holds {index.d}-d vectors but the {space} model makes "
                f"{dim}-d vectors (the model changed?); it must be rebuilt from the catalog"
            )
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise CatalogError(f"the {space} index {path} does not use inner product; rebuild it")
        spec = ops.describe(index)
        nprobe = None
        meta = cls._read_sidecar(directory / f"{space}.json")
        if meta.get("kind") == spec and isinstance(meta.get("nprobe"), int) and meta["nprobe"] > 0:
            nprobe = meta["nprobe"]
        log.info("opened %s index %s: %s, %d vectors", space, path, spec, index.ntotal)
        opened = cls(
            index,
            space=space,
            directory=directory,
            spec=spec,
            nprobe=nprobe,
            flat_threshold=flat_threshold,
            budget_bytes=budget_bytes,
            use_gpu=use_gpu,
            dirty=False,
        )
        return opened

    @classmethod
    def build(
        cls,
        ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        *,
        spec: str,
        space: str = "vectors",
        directory: str | os.PathLike[str] | None = None,
        seed: int = 0,
        use_gpu: bool | None = None,
    ) -> VectorIndex:
        """A new index of kind `spec` holding these vectors (IVF kinds are trained on a sample).

        Nothing is written until `save()`; with `directory=None` the index is in memory only.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise UsageError(f"vectors must be a 2-d array, got shape {vectors.shape}")
        ids = ops.as_ids(ids)
        index = ops.new_index(spec, vectors.shape[1])
        ivf = ops.ivf(index)
        if ivf is not None:
            gpu = gpu_count() > 0 if use_gpu is None else use_gpu
            ops.train(index, ivf.nlist, lambda rows: vectors[rows], len(ids), seed=seed, use_gpu=gpu)
        out = cls(
            index,
            space=space,
            directory=Path(directory) if directory is not None else None,
            spec=spec,
            use_gpu=use_gpu,
        )
        out.add(ids, vectors)
        return out

    @staticmethod
    def _read_sidecar(path: Path) -> dict[str, Any]:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    # -- properties ---------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def space(self) -> str:
        return self._space

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def kind(self) -> str:
        """The faiss factory key of the current index, e.g. "IDMap2,Flat" or "IVF4096,SQ8"."""
        return self._spec

    @property
    def path(self) -> Path | None:
        return None if self._directory is None else self._directory / f"{self._space}.faiss"

    @property
    def nprobe(self) -> int:
        """Inverted lists visited per query (0 for exact indexes)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        ivf = ops.ivf(self._index)
        if ivf is None:
            return
        if not 1 <= int(value) <= ivf.nlist:
            raise UsageError(f"nprobe must be in 1..{ivf.nlist}, got {value}")
        with self._lock:
            self._nprobe = int(value)
            ops.prepare_ivf(ivf, self._nprobe)
            self._changed()

    @property
    def on_gpu(self) -> bool:
        """Whether searches currently go through a GPU clone."""
        return self._gpu_index is not None

    def __repr__(self) -> str:
        return f"VectorIndex(space={self._space!r}, kind={self._spec!r}, ntotal={self.ntotal})"

    def _changed(self) -> None:
        """After any update: the GPU clone is stale and the file needs writing."""
        self._gpu_index = None
        self._dirty = True

    # -- ids ----------------------------------------------------------------------------------

    def _sorted_ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.sort(ops.all_ids(self._index))
        return self._ids

    def ids(self) -> np.ndarray:
        """Every id in the index, sorted ascending (a copy)."""
        with self._lock:
            return self._sorted_ids().copy()

    def contains(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """A boolean mask: which of `ids` are in the index."""
        ids = ops.as_ids(ids, allow_duplicates=True)
        with self._lock:
            return ops.member(self._sorted_ids(), ids)

    # -- updates ------------------------------------------------------------------------------

    def _check_vectors(self, vectors: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        arr = np.ascontiguousarray(vectors, dtype=np.float32)
        if arr.ndim == 1 and arr.shape[0] == self.dim:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise UsageError(
                f"the {self._space} index takes {self.dim}-d vectors, got an array of shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise UsageError(f"vectors for the {self._space} index contain NaN or infinity")
        return arr

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (already L2-normalised) under the given ids; an existing id is replaced.

        Args:
            ids: int64 ids >= 0, unique within the call (catalog chunk ids).
            vectors: float32 array of shape (len(ids), dim).
        """
        ids = ops.as_ids(ids)
        vectors = self._check_vectors(vectors)
        if len(ids) != len(vectors):
            raise UsageError(f"{len(ids)} ids for {len(vectors)} vectors")
        if not len(ids):
            return
        with self._lock:
            self._add_locked(ids, vectors)
            if self._journal is not None:
                self._journal.append(("add", ids.copy(), vectors.copy()))

    def _add_locked(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        current = self._sorted_ids()
        present = ids[ops.member(current, ids)]
        if len(present):
            self._index.remove_ids(present)
            current = np.setdiff1d(current, present, assume_unique=True)
        for start in range(0, len(ids), ADD_BATCH):
            self._index.add_with_ids(vectors[start : start + ADD_BATCH], ids[start : start + ADD_BATCH])
        self._ids = ops.merge_sorted(current, np.sort(ids))
        gpu = self._gpu_index
        self._changed()
        if gpu is not None and not len(present):
            # Plain additions go to the GPU clone too, so a search between indexing batches does
            # not copy the whole index to the GPU again (GPU indexes cannot remove: those re-clone).
            try:
                gpu.add_with_ids(vectors, ids)
                self._gpu_index = gpu
            except RuntimeError as e:
                log.info("re-cloning the %s index to the GPU after an add: %s", self._space, e)

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        ids = ops.as_ids(ids, allow_duplicates=True)
        if not len(ids):
            return 0
        with self._lock:
            removed = self._remove_locked(ids)
            if self._journal is not None:
                self._journal.append(("remove", ids.copy(), None))
            return removed

    def _remove_locked(self, ids: np.ndarray) -> int:
        current = self._sorted_ids()
        present = np.unique(ids[ops.member(current, ids)])
        if not len(present):
            return 0
        removed = int(self._index.remove_ids(present))
        self._ids = np.setdiff1d(current, present, assume_unique=True)
        self._changed()
        return removed

    # -- queries ------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest ids by inner product for each query.

        Args:
            queries: float32 (m, dim), L2-normalised (a single (dim,) vector is accepted).
            k: results per query.

        Returns:
            (scores float32 (m, k), ids int64 (m, k)); missing results have id -1, score -inf.
        """
        queries = self._check_vectors(queries)
        if int(k) <= 0:
            raise UsageError(f"k must be positive, got {k}")
        k = int(k)
        with self._lock:
            if self.ntotal == 0:
                return (
                    np.full((len(queries), k), -np.inf, np.float32),
                    np.full((len(queries), k), -1, np.int64),
                )
            scores, ids = self._search_locked(queries, k)
        scores = np.asarray(scores, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        scores[ids < 0] = -np.inf
        return scores, ids

    def _nprobe_for_k(self, k: int) -> int:
        """Large k (e.g. `search -k 100000`) needs more lists than the recall-tuned nprobe holds."""
        ivf = ops.ivf(self._index)
        if ivf is None:
            return 0
        per_list = max(1.0, self.ntotal / ivf.nlist)
        return int(min(ivf.nlist, max(self._nprobe, math.ceil(2 * k / per_list))))

    def _search_locked(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nprobe = self._nprobe_for_k(k)
        gpu = self._gpu_for(k, nprobe)
        if gpu is not None:
            try:
                if nprobe:
                    _set_gpu_nprobe(gpu, nprobe)
                return gpu.search(queries, k)
            except RuntimeError as e:
                log.warning("GPU search failed, searching on the CPU from now on: %s", e)
                self._use_gpu = False
                self._gpu_index = None
        if nprobe:
            return self._index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
        return self._index.search(queries, k)

    def _gpu_for(self, k: int, nprobe: int) -> faiss.Index | None:
        if not self._use_gpu or k > GPU_MAX_K or nprobe > GPU_MAX_K:
            return None
        if self._gpu_index is None:
            try:
                self._gpu_index = _gpu_clone(self._index)
                log.info("searching the %s index (%s) on the GPU", self._space, self._spec)
            except (RuntimeError, AttributeError) as e:
                log.warning("cannot put the %s index (%s) on the GPU: %s", self._space, self._spec, e)
                self._use_gpu = False
                return None
        return self._gpu_index

    def reconstruct(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, float32 (n, dim); SQ8 indexes return them decoded
        (error about 1e-3 per component).

        Raises:
            UsageError: an id is not in the index.
        """
        ids = ops.as_ids(ids, allow_duplicates=True)
        if not len(ids):
            return np.empty((0, self.dim), np.float32)
        with self._lock:
            missing = ids[~ops.member(self._sorted_ids(), ids)]
            if len(missing):
                shown = ", ".join(str(i) for i in missing[:5])
                raise UsageError(
                    f"{len(missing)} id(s) not in the {self._space} index: {shown}"
                    + (" ..." if len(missing) > 5 else "")
                )
            return ops.reconstruct(self._index, ids)

    # -- persistence --------------------------------------------------------------------------

    def save(self) -> None:
        """Write `<dir>/<space>.faiss` atomically (temp file in the same dir, fsync, os.replace),
        then the `<space>.json` sidecar (kind, dim, nprobe, format version) the same way.

        Does nothing when the index is unchanged since it was opened or last saved. The lock is
        held while the file is written (about a second per GB), so searches wait.

        Raises:
            UsageError: the index has no directory (an in-memory replacement).
            CatalogError: the file could not be written; the previous file is intact.
        """
        if self._directory is None:
            raise UsageError(f"the {self._space} index has no directory to be saved in")
        path = self._directory / f"{self._space}.faiss"
        with self._lock:
            if not self._dirty and path.exists():
                return
            index = self._index
            try:
                self._directory.mkdir(parents=True, exist_ok=True)
                atomic_write(path, lambda tmp: _write_index(index, tmp))
            except (OSError, RuntimeError) as e:
                raise CatalogError(f"could not save the {self._space} index to {path}: {e}") from e
            meta = {
                "format": FORMAT_VERSION,
                "space": self._space,
                "dim": self.dim,
                "kind": self._spec,
                "nprobe": self._nprobe,
                "ntotal": self.ntotal,
                "faiss": getattr(faiss, "__version__", "?"),
            }
            self._dirty = False
        _write_json(self._directory / f"{self._space}.json", meta)

    # -- changing kind ------------------------------------------------------------------------

    def target_spec(self) -> str | None:
        """The kind this index should switch to at its current size, or None if it is fine."""
        return needs_rebuild(
            self._spec,
            self.ntotal,
            self.dim,
            budget_bytes=self.budget_bytes,
            flat_threshold=self.flat_threshold,
        )

    def maybe_rebuild(self) -> bool:
        """Rebuild now (blocking) if the size crossed a threshold; True if it did.

        The caller saves afterwards. To keep searching meanwhile, run
        `build_replacement()` in a thread and `swap_in()` its result instead.
        """
        spec = self.target_spec()
        if spec is None:
            return False
        self.rebuild(spec)
        return True

    def rebuild(self, spec: str | None = None) -> None:
        """Rebuild into `spec` (default: choose_index_spec for the current size), same ids."""
        self.swap_in(self.build_replacement(spec))

    def build_replacement(self, spec: str | None = None, *, seed: int = 0) -> VectorIndex:
        """Build a new index of kind `spec` from the current vectors, without blocking search.

        Safe to run in a background thread: the lock is held only while each chunk of vectors
        is copied out; updates made meanwhile are journaled and replayed by `swap_in`. A second
        call supersedes the first (its result can no longer be swapped in).

        Returns:
            An in-memory VectorIndex to hand to `swap_in`.
        """
        with self._lock:
            spec = spec or choose_index_spec(
                self.ntotal, self.dim, budget_bytes=self.budget_bytes, flat_threshold=self.flat_threshold
            )
            token = object()
            self._journal = []
            self._journal_token = token
            snapshot = self._sorted_ids().copy()
            dim = self.dim
        log.info(
            "rebuilding the %s index: %s -> %s (%d vectors)", self._space, self._spec, spec, len(snapshot)
        )
        try:
            index = ops.new_index(spec, dim)
            ivf = ops.ivf(index)
            if ivf is not None:
                ops.train(
                    index,
                    ivf.nlist,
                    self._copy_vectors_of(snapshot),
                    len(snapshot),
                    seed=seed,
                    use_gpu=self._use_gpu,
                )
            new = VectorIndex(index, space=self._space, spec=spec, use_gpu=False)
            for start in range(0, len(snapshot), ADD_BATCH):
                chunk_ids, chunk = self._copy_present(snapshot[start : start + ADD_BATCH])
                if len(chunk_ids):
                    new.add(chunk_ids, chunk)
        except BaseException:
            with self._lock:
                if self._journal_token is token:
                    self._journal, self._journal_token = None, None
            raise
        new.rebuild_token = token
        return new

    def contents(self) -> tuple[faiss.Index, str, int, np.ndarray | None]:
        """(faiss index, spec, nprobe, sorted ids or None): what `swap_in` takes over from a replacement."""
        with self._lock:
            return self._index, self._spec, self._nprobe, self._ids

    def _copy_present(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids still present, their vectors), read under the lock."""
        with self._lock:
            present = ids[ops.member(self._sorted_ids(), ids)]
            if not len(present):
                return present, np.empty((0, self.dim), np.float32)
            return present, ops.reconstruct(self._index, present)

    def _copy_vectors_of(self, snapshot: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        def rows(positions: np.ndarray) -> np.ndarray:
            return self._copy_present(snapshot[positions])[1]

        return rows

    def swap_in(self, new: VectorIndex) -> None:
        """Make `new` (from build_replacement) the live index: replay the updates made since
        its snapshot, then switch. Cheap; the caller saves afterwards.

        Raises:
            UsageError: `new` is not the latest replacement built from this index.
        """
        with self._lock:
            token = new.rebuild_token
            if token is None or token is not self._journal_token or self._journal is None:
                raise UsageError("this replacement is stale or was not built from this index")
            if new.dim != self.dim:
                raise UsageError(f"replacement has dim {new.dim}, index has {self.dim}")
            for op, ids, vectors in self._journal:
                if op == "add":
                    new.add(ids, vectors)
                else:
                    new.remove(ids)
            replayed = len(self._journal)
            self._journal, self._journal_token = None, None
            old_spec = self._spec
            self._index, self._spec, self._nprobe, self._ids = new.contents()
            self._changed()
            new.rebuild_token = None
            ivf = ops.ivf(self._index)
            if ivf is not None:
                ops.prepare_ivf(ivf, self._nprobe)
        log.info(
            "swapped the %s index %s -> %s (%d updates replayed)", self._space, old_spec, self._spec, replayed
        )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError as e:
        raise CatalogError(f"could not write {path}: {e}") from e
