"""Which FAISS index a space should use at its size: pure functions of (n, dim, budget), no faiss.

`choose_index_spec` names the faiss factory key for n vectors; `needs_rebuild` says when an index
of one kind should switch to another (with hysteresis, so a library hovering around a boundary
does not rebuild back and forth); `default_nprobe` is the recall-tuned number of lists an IVF
search visits.

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
See `FLAT_THRESHOLD`, `_nlist_for`, `default_nprobe` and tests/bench/bench_search.py.
"""

from __future__ import annotations

import math
import re

from mmexplorer.core.errors import UsageError

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

_CODE_BYTES = {"Flat": 4.0, "SQfp16": 2.0, "SQ8": 1.0, "SQ6": 0.75, "SQ4": 0.5}
_ID_BYTES = 8
_IVF_RE = re.compile(r"^IVF(\d+)(_HNSW(\d+))?,(.+)$")


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


def default_nprobe(nlist: int) -> int:
    """Lists to visit per query for recall@20 >= 0.95 against exact search.

    Measured at 1M vectors with 4096 lists: nprobe 16 -> 0.950, 32 -> 0.965, 64 -> 0.975
    (p95 1.7 / 2.8 / 4.5 ms). 64 keeps a margin for collections less clustered than the
    benchmark's; with fewer lists 64 visits a larger share, so recall only goes up.
    """
    if nlist <= 4096:
        return min(nlist, 64)
    # Not measured beyond 4096 lists: keep the scanned share near 64/4096's per sqrt of growth.
    return int(64 * math.sqrt(nlist / 4096))


def is_flat(spec: str) -> bool:
    """Whether a factory key is the exact index."""
    return spec == FLAT_KEY


def spec_nlist(spec: str) -> int | None:
    """The number of inverted lists an IVF factory key names; None for other kinds."""
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
    if is_flat(current_spec):
        return want
    if is_flat(want):
        return want if n < flat_threshold // 2 else None
    cur_nlist, want_nlist = spec_nlist(current_spec), spec_nlist(want)
    if cur_nlist is None or want_nlist is None:
        return want
    if current_spec.split(",", 1)[1] != want.split(",", 1)[1]:
        return want
    low, high = _nlist_for(int(n / NLIST_MARGIN)), _nlist_for(int(n * NLIST_MARGIN))
    return None if low <= cur_nlist <= high else want
