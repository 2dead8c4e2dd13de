"""FAISS vector spaces: index choice by size (pure), faiss helpers, GPU handling, `VectorIndex`.

- `choice`: which index a space should use at its size (`choose_index_spec`, `needs_rebuild`,
  `default_nprobe`) and the measured constants behind them; imports no faiss.
- `faiss_ops`: reading a loaded index's kind, IVF settings, listing and decoding vectors, training.
- `gpu`: GPU count, shared resources, search clones, k-means assignment on the GPU.
- `vector`: `VectorIndex`, one space's index with stable ids, persistence and kind switches.

The index choice is importable without faiss; `VectorIndex` (and faiss) load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmexplorer.core.index.choice import (
    FLAT_KEY,
    FLAT_THRESHOLD,
    HNSW_COARSE_MIN_NLIST,
    MIN_TRAIN_POINTS,
    NLIST_MARGIN,
    TRAIN_POINTS_PER_LIST,
    choose_index_spec,
    default_nprobe,
    needs_rebuild,
)
from mmexplorer.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from mmexplorer.core.index.gpu import GPU_MAX_K
    from mmexplorer.core.index.vector import ADD_BATCH, FORMAT_VERSION, VectorIndex

_LAZY = {
    "VectorIndex": "mmexplorer.core.index.vector",
    "ADD_BATCH": "mmexplorer.core.index.vector",
    "FORMAT_VERSION": "mmexplorer.core.index.vector",
    "GPU_MAX_K": "mmexplorer.core.index.gpu",
}

__all__ = [
    "ADD_BATCH",
    "FLAT_KEY",
    "FLAT_THRESHOLD",
    "FORMAT_VERSION",
    "GPU_MAX_K",
    "HNSW_COARSE_MIN_NLIST",
    "MIN_TRAIN_POINTS",
    "NLIST_MARGIN",
    "TRAIN_POINTS_PER_LIST",
    "VectorIndex",
    "choose_index_spec",
    "default_nprobe",
    "needs_rebuild",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
