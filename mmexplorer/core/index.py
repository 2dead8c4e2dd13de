"""FAISS vector spaces: one index per space, stable int64 ids, exact while small, IVF when large.

Vectors are L2-normalised by the encoders, so cosine similarity is the inner product
(`METRIC_INNER_PRODUCT`). Ids are the catalog's chunk ids and never change, whatever the index
kind: `IDMap2,Flat` keeps them beside an exact index, IVF indexes store them in their inverted
lists. No direct map is kept (faiss's hashtable costs ~45 bytes per vector in memory, which took
a 1M library to 594 of the 600 bytes allowed): `remove` scans the lists, and `reconstruct`
decodes the entries it finds in them.

Index choice is the pure function `choose_index_spec`; `VectorIndex.maybe_rebuild` (or
`build_replacement` + `swap_in` from a background thread) switches kind as the library grows.
The CPU index is the persisted truth; when faiss sees a GPU, searches go through a GPU clone.

Thresholds below were measured on the 2-core development machine, shared with other jobs (load
average 4-9), with the synthetic clustered collection of tests/bench/bench_search.py (512-d,
about n/250 clusters); the figures are noisy, the ratios between them are what decided:
- exact search scans 2 KB per vector per query: 3.4 ms at 20k on a quiet machine (the issue's
  170 ms per 1M), but 20-24 ms at 20k and 44-48 ms at 50k on the loaded one, single-threaded;
- IVF + SQ8 at nprobe 64 answered the same queries 50-100x faster (0.4 ms at 20k, 0.6 ms at 50k,
  0.9 ms at 100k) with recall@20 0.99 against exact search;
- at 1M, `IVF4096,SQ8` with nprobe 64: recall@20 0.968-0.975, p95 4.5 ms (13 ms under load),
  536 serialized / 553 resident bytes per vector. SQfp16 reached 0.986 but takes 1040 bytes;
- HNSW cannot remove ids; PQ cannot reach the recall target without a refine step that keeps
  raw vectors (at 200k: PQ64 recall@20 0.62 at 96 B/vector, PQ128 0.79 at 160 B, SQ8 0.987);
- an HNSW coarse quantizer (IVF2048_HNSW32 at 200k) built 40% faster but lost a point of recall
  (0.978 vs 0.987 at nprobe 64), so it is kept for list counts where flat coarse search is slow.
See `FLAT_THRESHOLD`, `_nlist_for`, `_default_nprobe` and tests/bench/bench_search.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from mmexplorer.core.errors import CatalogError, UsageError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FLAT_KEY = "IDMap2,Flat"

# Above this many vectors exact search is replaced by IVF. At 20k exact search costs 3-4 ms on a
# quiet 2-core machine and about 24 ms on a loaded one, where IVF answers in 0.4 ms with recall@20
# 0.99; past this the exact scan's latency is at the mercy of memory bandwidth and load, while the
# flat -> IVF rebuild (seconds at this size) stays cheap.
FLAT_THRESHOLD = 20_000
# Training points per IVF list (faiss warns below 39): at 1M vectors / 4096 lists, 20 per list
# gave recall@20 0.9517 / 0.9663 / 0.9755 at nprobe 16 / 32 / 64, 40 per list 0.9498 / 0.9645 /
# 0.9752, for half the k-means time (234 s -> 141 s here, k-means dominating the build).
TRAIN_POINTS_PER_LIST = 20
MIN_TRAIN_POINTS = 10_000
# Lists above which the coarse quantizer itself becomes an HNSW graph: flat coarse search over
# 16k x 512 centroids costs about what the list scans do, and assigning 10M vectors to them at
# add time dominates the build. (Not measured at that size here: 4M+ vectors.)
HNSW_COARSE_MIN_NLIST = 16_384
# An IVF layout is redone when its nlist is no longer the ideal one for a size NLIST_MARGIN times
# larger or smaller than the current one: every 4x growth (nlist doubles), with a margin that
# keeps a library hovering around a boundary from rebuilding back and forth. With nlist 2x too
# small each probe scans 2x the vectors (measured at 1M: IVF2048 p50 8 ms vs IVF4096 3.7 ms at
# nprobe 64); 2x too large, nprobe covers half the data and recall drops. Rebuilds at each 4x
# add up to about a third of the final build's work.
NLIST_MARGIN = 1.3
ADD_BATCH = 65_536
# faiss GPU kernels handle k and nprobe up to 2048; larger requests are served on the CPU.
GPU_MAX_K = 2048

_CODE_BYTES = {"Flat": 4.0, "SQfp16": 2.0, "SQ8": 1.0, "SQ6": 0.75, "SQ4": 0.5}
_ID_BYTES = 8
_IVF_RE = re.compile(r"^IVF(\d+)(_HNSW(\d+))?,(.+)$")


# ---------------------------------------------------------------------------------------------
# Index choice (pure)


def _nlist_for(n: int) -> int:
    """Inverted lists for n vectors: the power of two nearest 4*sqrt(n), capped so that every
    list gets at least 39 training points, at least 16.

    At 1M vectors 4096 lists (about 244 vectors each) beat 1024 and 2048 on both recall per
    scanned vector and latency (1024: recall 0.964 at 14 ms; 2048: 0.969 at 8 ms; 4096: 0.975 at
    3.7 ms, all p50 for recall@20 at nprobe 64).
    """
    ideal = 4.0 * math.sqrt(max(n, 1))
    nlist = 2 ** round(math.log2(ideal))
    while nlist > 16 and nlist * 39 > n:
        nlist //= 2
    return max(16, nlist)


def _code_for(dim: int, nbytes_per_vector: float | None) -> str:
    """The most accurate vector code that fits the per-vector memory allowance.

    SQ8 by default: the only code measured to meet recall@20 >= 0.95 within 600 bytes at 512-d.
    The smaller ones are for an explicit budget and trade recall for memory (PQ64: 0.62).
    """
    if nbytes_per_vector is None:
        return "SQ8"
    for code in ("SQ8", "SQ6", "SQ4"):
        if _CODE_BYTES[code] * dim + _ID_BYTES <= nbytes_per_vector:
            return code
    # Product quantisation: m sub-quantizers of one byte each, m dividing dim.
    for m in (64, 48, 32, 16, 8, 4, 2, 1):
        if dim % m == 0 and m + _ID_BYTES <= nbytes_per_vector:
            return f"PQ{m}"
    return f"PQ{1}"


def choose_index_spec(
    n: int,
    dim: int,
    *,
    budget_bytes: int | None = None,
    flat_threshold: int = FLAT_THRESHOLD,
) -> str:
    """The faiss factory key to use for `n` vectors of dimension `dim`.

    Exact `IDMap2,Flat` up to `flat_threshold` vectors (and while it fits the budget); above it
    `IVF{nlist},SQ8`, an index that supports `remove_ids` (HNSW does not) and costs dim + 8 bytes
    per vector. A smaller `budget_bytes` buys a coarser code (SQ6, SQ4, then PQ).

    Args:
        n: number of vectors the index will hold.
        dim: their dimension.
        budget_bytes: memory the index may take, in bytes; None means no limit.
        flat_threshold: largest n served by exact search.

    Returns:
        A key for `faiss.index_factory`, e.g. "IDMap2,Flat" or "IVF4096,SQ8".
    """
    if n < 0 or dim <= 0:
        raise UsageError(f"choose_index_spec needs n >= 0 and dim > 0, got n={n}, dim={dim}")
    if budget_bytes is not None and budget_bytes <= 0:
        raise UsageError(f"budget_bytes must be positive, got {budget_bytes}")
    flat_bytes = n * (4 * dim + _ID_BYTES)
    if n <= flat_threshold and (budget_bytes is None or flat_bytes <= budget_bytes):
        return FLAT_KEY
    nlist = _nlist_for(n)
    per_vector = None
    if budget_bytes is not None:
        centroid_bytes = nlist * dim * 4
        per_vector = max(0.0, (budget_bytes - centroid_bytes) / max(n, 1))
    code = _code_for(dim, per_vector)
    coarse = f"IVF{nlist}_HNSW32" if nlist >= HNSW_COARSE_MIN_NLIST else f"IVF{nlist}"
    return f"{coarse},{code}"


def _default_nprobe(nlist: int) -> int:
    """Lists to visit per query for recall@20 >= 0.95 against exact search.

    Measured at 1M vectors with 4096 lists: nprobe 16 -> 0.950, 32 -> 0.965, 64 -> 0.975
    (p95 1.7 / 2.8 / 4.5 ms). 64 keeps a margin for collections less clustered than the
    benchmark's; with fewer lists 64 visits a larger share, so recall only goes up.
    """
    if nlist <= 4096:
        return min(nlist, 64)
    # Not measured beyond 4096 lists: keep the scanned share near 64/4096's per sqrt of growth.
    return int(64 * math.sqrt(nlist / 4096))


def _is_flat(spec: str) -> bool:
    return spec == FLAT_KEY


def _spec_nlist(spec: str) -> int | None:
    m = _IVF_RE.match(spec)
    return int(m.group(1)) if m else None


def needs_rebuild(
    current_spec: str,
    n: int,
    dim: int,
    *,
    budget_bytes: int | None = None,
    flat_threshold: int = FLAT_THRESHOLD,
) -> str | None:
    """The spec an index of kind `current_spec` holding n vectors should switch to, or None.

    Hysteresis keeps an index from flapping around a boundary: IVF goes back to exact only
    below half the threshold, and an IVF layout is redone only when its nlist is wrong for
    n / NLIST_MARGIN and n * NLIST_MARGIN alike, or the vector code changed (a new budget).
    """
    want = choose_index_spec(n, dim, budget_bytes=budget_bytes, flat_threshold=flat_threshold)
    if want == current_spec:
        return None
    if _is_flat(current_spec):
        return want
    if _is_flat(want):
        return want if n < flat_threshold // 2 else None
    cur_nlist, want_nlist = _spec_nlist(current_spec), _spec_nlist(want)
    if cur_nlist is None or want_nlist is None:
        return want
    if current_spec.split(",", 1)[1] != want.split(",", 1)[1]:
        return want
    low, high = _nlist_for(int(n / NLIST_MARGIN)), _nlist_for(int(n * NLIST_MARGIN))
    return None if low <= cur_nlist <= high else want


# ---------------------------------------------------------------------------------------------
# faiss helpers


def _describe(index: faiss.Index) -> str:
    """The factory key of a loaded index (the faiss file, not the sidecar, is the truth)."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexFlat):
            return FLAT_KEY
        raise CatalogError(f"unsupported index layout IDMap2 over {type(inner).__name__}")
    if isinstance(index, faiss.IndexIVF):
        quantizer = faiss.downcast_index(index.quantizer)
        coarse = f"IVF{index.nlist}"
        if isinstance(quantizer, faiss.IndexHNSW):
            coarse += f"_HNSW{quantizer.hnsw.nb_neighbors(1)}"
        if isinstance(index, faiss.IndexIVFScalarQuantizer):
            names = {
                faiss.ScalarQuantizer.QT_8bit: "SQ8",
                faiss.ScalarQuantizer.QT_6bit: "SQ6",
                faiss.ScalarQuantizer.QT_4bit: "SQ4",
                faiss.ScalarQuantizer.QT_fp16: "SQfp16",
            }
            code = names.get(index.sq.qtype)
        elif isinstance(index, faiss.IndexIVFPQ):
            code = f"PQ{index.pq.M}" + (f"x{index.pq.nbits}" if index.pq.nbits != 8 else "")
        elif isinstance(index, faiss.IndexIVFFlat):
            code = "Flat"
        else:
            code = None
        if code is None:
            raise CatalogError(f"unsupported IVF index {type(index).__name__}")
        return f"{coarse},{code}"
    raise CatalogError(f"unsupported index type {type(index).__name__}")


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    index = faiss.downcast_index(index)
    return index if isinstance(index, faiss.IndexIVF) else None


def _prepare_ivf(ivf: faiss.IndexIVF, nprobe: int) -> None:
    """Settings an IVF index needs after creation or loading."""
    if ivf.direct_map.type != faiss.DirectMap.NoMap:
        # Measured at 1M: resident memory 594 bytes per vector with the hashtable map, which
        # only speeds up remove and reconstruct, both rare and fast enough by scanning lists.
        ivf.set_direct_map_type(faiss.DirectMap.NoMap)
    quantizer = faiss.downcast_index(ivf.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        # The coarse HNSW must return at least nprobe good lists, or recall stalls (measured:
        # the default efSearch=16 capped recall@20 near 0.83 at nprobe 64).
        quantizer.hnsw.efSearch = max(2 * nprobe, 64)
    ivf.nprobe = nprobe


def _all_ids(index: faiss.Index) -> np.ndarray:
    """Every id the index holds, unsorted."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    ivf = _ivf(index)
    if ivf is None:
        raise CatalogError(f"unsupported index type {type(index).__name__}")
    invlists = ivf.invlists
    parts = []
    for list_no in range(ivf.nlist):
        size = invlists.list_size(list_no)
        if size:
            ptr = invlists.get_ids(list_no)
            parts.append(np.array(faiss.rev_swig_ptr(ptr, size), dtype=np.int64))
            invlists.release_ids(list_no, ptr)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _reconstruct(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    """The vectors of `ids` (all present), in the order given.

    IVF indexes keep no id -> position map, so the lists are scanned for the wanted ids and
    their codes decoded with `sa_decode` (list number + code: the residual's centroid is added
    back). One pass over 4096 lists costs tens of milliseconds at 1M vectors.
    """
    ivf = _ivf(index)
    if ivf is None:
        return np.asarray(index.reconstruct_batch(ids), dtype=np.float32).reshape(-1, index.d)
    wanted = np.unique(ids)
    out = np.empty((len(wanted), index.d), np.float32)
    invlists = ivf.invlists
    code_size = invlists.code_size
    coarse_size = ivf.coarse_code_size()
    found = 0
    for list_no in range(ivf.nlist):
        size = invlists.list_size(list_no)
        if not size:
            continue
        ptr = invlists.get_ids(list_no)
        list_ids = np.array(faiss.rev_swig_ptr(ptr, size), dtype=np.int64)
        invlists.release_ids(list_no, ptr)
        hit = _member(wanted, list_ids)
        if not hit.any():
            continue
        ptr = invlists.get_codes(list_no)
        codes = np.array(faiss.rev_swig_ptr(ptr, size * code_size), dtype=np.uint8)
        invlists.release_codes(list_no, ptr)
        standalone = np.empty((int(hit.sum()), coarse_size + code_size), np.uint8)
        standalone[:, :coarse_size] = np.array([list_no], dtype="<i8").view(np.uint8)[:coarse_size]
        standalone[:, coarse_size:] = codes.reshape(size, code_size)[hit]
        out[np.searchsorted(wanted, list_ids[hit])] = ivf.sa_decode(standalone)
        found += len(standalone)
        if found >= len(wanted):
            break
    return out[np.searchsorted(wanted, ids)]


def _new_index(spec: str, dim: int) -> faiss.Index:
    try:
        return faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise UsageError(f"not a usable faiss index spec: {spec!r} ({e})") from e


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_index(index: faiss.Index, path: Path) -> None:
    """faiss.write_index, kept as a seam so tests can make a write fail half-way."""
    faiss.write_index(index, str(path))


_gpu_lock = threading.Lock()
_gpu_resources: Any = None


def _gpu_count() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def _gpu_res() -> Any:
    global _gpu_resources
    with _gpu_lock:
        if _gpu_resources is None:
            _gpu_resources = faiss.StandardGpuResources()
        return _gpu_resources


def _gpu_clone(index: faiss.Index) -> faiss.Index:
    options = faiss.GpuClonerOptions()
    # SQ8 lists are kept as 8-bit codes on the GPU too (same memory as on the CPU).
    options.useFloat16 = False
    return faiss.index_cpu_to_gpu(_gpu_res(), 0, index, options)


# ---------------------------------------------------------------------------------------------
# VectorIndex


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
    ) -> None:
        self._index = index
        self._space = space
        self._directory = directory
        self._spec = spec or _describe(index)
        self.flat_threshold = flat_threshold
        self.budget_bytes = budget_bytes
        self._lock = threading.RLock()
        self._ids: np.ndarray | None = None  # sorted, built lazily
        self._journal: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None
        self._journal_token: object | None = None
        self._rebuild_token: object | None = None
        self._use_gpu = _gpu_count() > 0 if use_gpu is None else bool(use_gpu)
        self._gpu_index: faiss.Index | None = None
        self._dirty = True  # differs from the file on disk (cleared by open and save)
        ivf = _ivf(index)
        self._nprobe = nprobe or (_default_nprobe(ivf.nlist) if ivf is not None else 0)
        if ivf is not None:
            _prepare_ivf(ivf, self._nprobe)

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
            # Left by a save that died before os.replace; the real file is untouched by it.
            log.info("removing unfinished index save %s", stray)
            stray.unlink(missing_ok=True)
        if not path.exists():
            if dim <= 0:
                raise UsageError(f"dim must be positive, got {dim}")
            return cls(
                _new_index(FLAT_KEY, dim),
                space=space,
                directory=directory,
                spec=FLAT_KEY,
                flat_threshold=flat_threshold,
                budget_bytes=budget_bytes,
                use_gpu=use_gpu,
            )
        try:
            index = faiss.read_index(str(path))
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
        spec = _describe(index)
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
        )
        opened._dirty = False
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
        ids = _as_ids(ids)
        index = _new_index(spec, vectors.shape[1])
        ivf = _ivf(index)
        if ivf is not None:
            gpu = _gpu_count() > 0 if use_gpu is None else use_gpu
            _train(index, ivf.nlist, lambda rows: vectors[rows], len(ids), seed=seed, use_gpu=gpu)
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
        ivf = _ivf(self._index)
        if ivf is None:
            return
        if not 1 <= int(value) <= ivf.nlist:
            raise UsageError(f"nprobe must be in 1..{ivf.nlist}, got {value}")
        with self._lock:
            self._nprobe = int(value)
            _prepare_ivf(ivf, self._nprobe)
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
            self._ids = np.sort(_all_ids(self._index))
        return self._ids

    def ids(self) -> np.ndarray:
        """Every id in the index, sorted ascending (a copy)."""
        with self._lock:
            return self._sorted_ids().copy()

    def contains(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """A boolean mask: which of `ids` are in the index."""
        ids = _as_ids(ids, allow_duplicates=True)
        with self._lock:
            return _member(self._sorted_ids(), ids)

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
        ids = _as_ids(ids)
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
        present = ids[_member(current, ids)]
        if len(present):
            self._index.remove_ids(present)
            current = np.setdiff1d(current, present, assume_unique=True)
        for start in range(0, len(ids), ADD_BATCH):
            self._index.add_with_ids(vectors[start : start + ADD_BATCH], ids[start : start + ADD_BATCH])
        self._ids = _merge_sorted(current, np.sort(ids))
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
        ids = _as_ids(ids, allow_duplicates=True)
        if not len(ids):
            return 0
        with self._lock:
            removed = self._remove_locked(ids)
            if self._journal is not None:
                self._journal.append(("remove", ids.copy(), None))
            return removed

    def _remove_locked(self, ids: np.ndarray) -> int:
        current = self._sorted_ids()
        present = np.unique(ids[_member(current, ids)])
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
        ivf = _ivf(self._index)
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
        ids = _as_ids(ids, allow_duplicates=True)
        if not len(ids):
            return np.empty((0, self.dim), np.float32)
        with self._lock:
            missing = ids[~_member(self._sorted_ids(), ids)]
            if len(missing):
                shown = ", ".join(str(i) for i in missing[:5])
                raise UsageError(
                    f"{len(missing)} id(s) not in the {self._space} index: {shown}"
                    + (" ..." if len(missing) > 5 else "")
                )
            return _reconstruct(self._index, ids)

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
            tmp = self._directory / f".{self._space}.faiss.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                self._directory.mkdir(parents=True, exist_ok=True)
                _write_index(self._index, tmp)
                _fsync_file(tmp)
                os.replace(tmp, path)
                _fsync_dir(self._directory)
            except (OSError, RuntimeError) as e:
                tmp.unlink(missing_ok=True)
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
        _write_json_atomic(self._directory / f"{self._space}.json", meta)

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
            index = _new_index(spec, dim)
            ivf = _ivf(index)
            if ivf is not None:
                _train(
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
                    new._add_locked(chunk_ids, chunk)
        except BaseException:
            with self._lock:
                if self._journal_token is token:
                    self._journal, self._journal_token = None, None
            raise
        new._rebuild_token = token
        return new

    def _copy_present(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids still present, their vectors), read under the lock."""
        with self._lock:
            present = ids[_member(self._sorted_ids(), ids)]
            if not len(present):
                return present, np.empty((0, self.dim), np.float32)
            return present, _reconstruct(self._index, present)

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
            token = new._rebuild_token
            if token is None or token is not self._journal_token or self._journal is None:
                raise UsageError("this replacement is stale or was not built from this index")
            if new.dim != self.dim:
                raise UsageError(f"replacement has dim {new.dim}, index has {self.dim}")
            for op, ids, vectors in self._journal:
                if op == "add":
                    new._add_locked(ids, vectors)
                else:
                    new._remove_locked(ids)
            replayed = len(self._journal)
            self._journal, self._journal_token = None, None
            old_spec = self._spec
            self._index = new._index
            self._spec = new._spec
            self._nprobe = new._nprobe
            self._ids = new._ids
            self._changed()
            new._rebuild_token = None
            ivf = _ivf(self._index)
            if ivf is not None:
                _prepare_ivf(ivf, self._nprobe)
        log.info(
            "swapped the %s index %s -> %s (%d updates replayed)", self._space, old_spec, self._spec, replayed
        )


# ---------------------------------------------------------------------------------------------
# small helpers


def _as_ids(ids: Sequence[int] | np.ndarray, *, allow_duplicates: bool = False) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise UsageError(f"ids must be a 1-d sequence, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise UsageError(f"ids must be integers, got {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise UsageError("ids must be >= 0 (-1 means 'no result')")
    if not allow_duplicates and arr.size != np.unique(arr).size:
        raise UsageError("ids must be unique within one call")
    return arr


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(sorted_ids):
        return np.zeros(len(ids), bool)
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos == len(sorted_ids)] = 0
    return sorted_ids[pos] == ids


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge two sorted, disjoint id arrays (O(n) inserts instead of a full re-sort)."""
    if not len(b):
        return a
    if not len(a):
        return b
    return np.insert(a, np.searchsorted(a, b), b)


def _set_gpu_nprobe(index: faiss.Index, nprobe: int) -> None:
    """nprobe on a GPU clone: GPU IVF indexes are not IndexIVF, so go through the parameter space."""
    space = faiss.GpuParameterSpace()
    space.initialize(index)
    space.set_index_parameter(index, "nprobe", nprobe)


def _train(
    index: faiss.Index,
    nlist: int,
    rows: Callable[[np.ndarray], np.ndarray],
    n: int,
    *,
    seed: int,
    use_gpu: bool = False,
) -> None:
    """Train an IVF index on a sample of TRAIN_POINTS_PER_LIST points per list.

    `rows(positions)` returns the vectors at those positions (sorted positions, for locality).
    """
    if n < nlist:
        raise UsageError(f"cannot train {nlist} lists on {n} vectors")
    size = min(n, max(MIN_TRAIN_POINTS, TRAIN_POINTS_PER_LIST * nlist))
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(n, size=size, replace=False)) if size < n else np.arange(n)
    sample = np.ascontiguousarray(rows(positions), dtype=np.float32)
    ivf = _ivf(index)
    if ivf is not None:
        ivf.cp.seed = seed
        # We sample TRAIN_POINTS_PER_LIST on purpose; keep faiss from warning about it.
        ivf.cp.min_points_per_centroid = min(ivf.cp.min_points_per_centroid, TRAIN_POINTS_PER_LIST)
        if isinstance(ivf, faiss.IndexIVFPQ):
            # The factory turns on polysemous training (simulated annealing, seconds to minutes),
            # which only helps Hamming-filtered search, never used here.
            ivf.do_polysemous_training = False
    gpu_flat = _gpu_flat(index.d, index.metric_type) if use_gpu and ivf is not None else None
    if gpu_flat is not None:
        # k-means dominates an IVF build; on a GPU its assignment step is a single matmul.
        ivf.clustering_index = gpu_flat
    try:
        index.train(sample)
    finally:
        if gpu_flat is not None:
            ivf.clustering_index = None


def _gpu_flat(dim: int, metric: int) -> faiss.Index | None:
    """A GPU flat index for k-means assignment, or None when there is no usable GPU."""
    try:
        if metric == faiss.METRIC_INNER_PRODUCT:
            return faiss.GpuIndexFlatIP(_gpu_res(), dim)
        return faiss.GpuIndexFlatL2(_gpu_res(), dim)
    except (AttributeError, RuntimeError) as e:
        log.warning("training on the CPU, the GPU is not usable: %s", e)
        return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CatalogError(f"could not write {path}: {e}") from e
