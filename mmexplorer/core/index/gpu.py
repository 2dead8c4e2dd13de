"""FAISS on a GPU: device count, the shared resources, search clones and k-means assignment.

The CPU index is always the persisted truth; a GPU holds a clone for searching (remade after a
removal, since GPU indexes cannot remove) and a flat index that speeds up IVF training. Every
function degrades to "no GPU" on a faiss build without GPU support.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import faiss

log = logging.getLogger(__name__)

# faiss GPU kernels handle k and nprobe up to 2048; larger requests are served on the CPU.
GPU_MAX_K = 2048

_gpu_lock = threading.Lock()
_gpu_resources: Any = None


def gpu_count() -> int:
    """GPUs faiss can use (0 on a CPU-only build)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def gpu_resources() -> Any:
    """The process's one `StandardGpuResources` (scratch memory, streams), made on first use."""
    global _gpu_resources
    with _gpu_lock:
        if _gpu_resources is None:
            _gpu_resources = faiss.StandardGpuResources()
        return _gpu_resources


def gpu_clone(index: faiss.Index) -> faiss.Index:
    """A copy of a CPU index on GPU 0, for searching."""
    options = faiss.GpuClonerOptions()
    # SQ8 lists are kept as 8-bit codes on the GPU too (same memory as on the CPU).
    options.useFloat16 = False
    return faiss.index_cpu_to_gpu(gpu_resources(), 0, index, options)


def set_gpu_nprobe(index: faiss.Index, nprobe: int) -> None:
    """nprobe on a GPU clone: GPU IVF indexes are not IndexIVF, so go through the parameter space."""
    space = faiss.GpuParameterSpace()
    space.initialize(index)
    space.set_index_parameter(index, "nprobe", nprobe)


def gpu_flat(dim: int, metric: int) -> faiss.Index | None:
    """A GPU flat index for k-means assignment, or None when there is no usable GPU."""
    try:
        if metric == faiss.METRIC_INNER_PRODUCT:
            return faiss.GpuIndexFlatIP(gpu_resources(), dim)
        return faiss.GpuIndexFlatL2(gpu_resources(), dim)
    except (AttributeError, RuntimeError) as e:
        log.warning("training on the CPU, the GPU is not usable: %s", e)
        return None
