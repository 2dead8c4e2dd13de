"""Small operations on faiss indexes that faiss itself does not offer in the form we need.

Reading the kind of a loaded index back as a factory key, IVF settings, listing and decoding the
vectors of an IVF index without a direct map, training on a sample, and the id-array helpers
`VectorIndex` uses to keep its sorted id list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import faiss
import numpy as np

from mmexplorer.core.errors import CatalogError, UsageError
from mmexplorer.core.index.choice import FLAT_KEY, MIN_TRAIN_POINTS, TRAIN_POINTS_PER_LIST
from mmexplorer.core.index.gpu import gpu_flat


def describe(index: faiss.Index) -> str:
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


def ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    """The index as an IndexIVF, or None for other kinds."""
    index = faiss.downcast_index(index)
    return index if isinstance(index, faiss.IndexIVF) else None


def prepare_ivf(index: faiss.IndexIVF, nprobe: int) -> None:
    """Settings an IVF index needs after creation or loading."""
    if index.direct_map.type != faiss.DirectMap.NoMap:
        # Measured at 1M: resident memory 594 bytes per vector with the hashtable map, which
        # only speeds up remove and reconstruct, both rare and fast enough by scanning lists.
        index.set_direct_map_type(faiss.DirectMap.NoMap)
    quantizer = faiss.downcast_index(index.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        # The coarse HNSW must return at least nprobe good lists, or recall stalls (measured:
        # the default efSearch=16 capped recall@20 near 0.83 at nprobe 64).
        quantizer.hnsw.efSearch = max(2 * nprobe, 64)
    index.nprobe = nprobe


def all_ids(index: faiss.Index) -> np.ndarray:
    """Every id the index holds, unsorted."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    as_ivf = ivf(index)
    if as_ivf is None:
        raise CatalogError(f"unsupported index type {type(index).__name__}")
    invlists = as_ivf.invlists
    parts = []
    for list_no in range(as_ivf.nlist):
        size = invlists.list_size(list_no)
        if size:
            ptr = invlists.get_ids(list_no)
            parts.append(np.array(faiss.rev_swig_ptr(ptr, size), dtype=np.int64))
            invlists.release_ids(list_no, ptr)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def reconstruct(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    """The vectors of `ids` (all present), in the order given.

    IVF indexes keep no id -> position map, so the lists are scanned for the wanted ids and
    their codes decoded with `sa_decode` (list number + code: the residual's centroid is added
    back). One pass over 4096 lists costs tens of milliseconds at 1M vectors.
    """
    as_ivf = ivf(index)
    if as_ivf is None:
        return np.asarray(index.reconstruct_batch(ids), dtype=np.float32).reshape(-1, index.d)
    wanted = np.unique(ids)
    out = np.empty((len(wanted), index.d), np.float32)
    invlists = as_ivf.invlists
    code_size = invlists.code_size
    coarse_size = as_ivf.coarse_code_size()
    found = 0
    for list_no in range(as_ivf.nlist):
        size = invlists.list_size(list_no)
        if not size:
            continue
        ptr = invlists.get_ids(list_no)
        list_ids = np.array(faiss.rev_swig_ptr(ptr, size), dtype=np.int64)
        invlists.release_ids(list_no, ptr)
        hit = member(wanted, list_ids)
        if not hit.any():
            continue
        ptr = invlists.get_codes(list_no)
        codes = np.array(faiss.rev_swig_ptr(ptr, size * code_size), dtype=np.uint8)
        invlists.release_codes(list_no, ptr)
        standalone = np.empty((int(hit.sum()), coarse_size + code_size), np.uint8)
        standalone[:, :coarse_size] = np.array([list_no], dtype="<i8").view(np.uint8)[:coarse_size]
        standalone[:, coarse_size:] = codes.reshape(size, code_size)[hit]
        out[np.searchsorted(wanted, list_ids[hit])] = as_ivf.sa_decode(standalone)
        found += len(standalone)
        if found >= len(wanted):
            break
    return out[np.searchsorted(wanted, ids)]


def new_index(spec: str, dim: int) -> faiss.Index:
    """An empty inner-product index of kind `spec`.

    Raises:
        UsageError: faiss does not know the spec.
    """
    try:
        return faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise UsageError(f"not a usable faiss index spec: {spec!r} ({e})") from e


def train(
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
    as_ivf = ivf(index)
    if as_ivf is not None:
        as_ivf.cp.seed = seed
        # We sample TRAIN_POINTS_PER_LIST on purpose; keep faiss from warning about it.
        as_ivf.cp.min_points_per_centroid = min(as_ivf.cp.min_points_per_centroid, TRAIN_POINTS_PER_LIST)
        if isinstance(as_ivf, faiss.IndexIVFPQ):
            # The factory turns on polysemous training (simulated annealing, seconds to minutes),
            # which only helps Hamming-filtered search, never used here.
            as_ivf.do_polysemous_training = False
    flat = gpu_flat(index.d, index.metric_type) if use_gpu and as_ivf is not None else None
    if flat is not None:
        # k-means dominates an IVF build; on a GPU its assignment step is a single matmul.
        as_ivf.clustering_index = flat
    try:
        index.train(sample)
    finally:
        if flat is not None:
            as_ivf.clustering_index = None


# ---------------------------------------------------------------------------------------------
# id arrays


def as_ids(ids: Sequence[int] | np.ndarray, *, allow_duplicates: bool = False) -> np.ndarray:
    """Validate ids as a contiguous int64 array (>= 0; unique unless `allow_duplicates`).

    Raises:
        UsageError: not a 1-d integer sequence, a negative id, or a duplicate.
    """
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


def member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A boolean mask: which of `ids` are in the sorted array `sorted_ids`."""
    if not len(sorted_ids):
        return np.zeros(len(ids), bool)
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos == len(sorted_ids)] = 0
    return sorted_ids[pos] == ids


def merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge two sorted, disjoint id arrays (O(n) inserts instead of a full re-sort)."""
    if not len(b):
        return a
    if not len(a):
        return b
    return np.insert(a, np.searchsorted(a, b), b)
