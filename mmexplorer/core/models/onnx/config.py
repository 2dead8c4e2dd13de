"""Which backend encoders load with, how many threads ONNX Runtime takes, and the limits every export is held to."""

from __future__ import annotations

import os

from mmexplorer.core.errors import UsageError

BACKENDS = ("auto", "torch", "onnx")
ENV_BACKEND = "MMEXPLORER_BACKEND"
ENV_CACHE = "MMEXPLORER_ONNX_CACHE"
ENV_THREADS = "MMEXPLORER_ONNX_THREADS"
ENV_INT8 = "MMEXPLORER_ONNX_INT8"  # auto (default: the recall rule), off, or force (benches of random models)
EXPORT_VERSION = "onnx-export-v3"  # bump when the graphs, the checks or meta.json change
OPSET = 17
MIN_COSINE = 0.999  # an exported graph against torch on the fixed check inputs
MAX_RECALL_LOSS = 0.01  # int8 against fp32, recall@1 on the labelled sets
MIN_INT8_COSINE = 0.98  # an int8 graph against torch on the check inputs, where a family measures it

_configured: str | None = None
_threads: int | None = None


def check_backend(name: str | None) -> str:
    """A backend name, lower-cased and checked; None is "auto"."""
    value = (name or "auto").strip().lower()
    if value not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return value


def set_backend(name: str | None) -> None:
    """The backend encoders load with from now on in this process ("auto", "torch", "onnx")."""
    global _configured
    _configured = check_backend(name) if name is not None else None


def configured_backend(explicit: str | None = None) -> str:
    """`explicit`, else what `set_backend` chose, else $MMEXPLORER_BACKEND, else "auto"."""
    if explicit is not None:
        return check_backend(explicit)
    if _configured is not None:
        return _configured
    return check_backend(os.environ.get(ENV_BACKEND) or "auto")


def set_threads(n: int | None) -> None:
    """ONNX Runtime intra-op threads for sessions opened from now on (None: ORT's default, one per core)."""
    global _threads
    _threads = None if n is None else max(1, int(n))


def threads() -> int:
    """The intra-op thread count new sessions get (0: ONNX Runtime's default)."""
    if _threads is not None:
        return _threads
    value = os.environ.get(ENV_THREADS, "")
    return int(value) if value.isdigit() else 0


def int8_mode() -> str:
    """$MMEXPLORER_ONNX_INT8: "auto" (the recall rule), "off", or "force" (int8 without the rule, for benches)."""
    return os.environ.get(ENV_INT8, "auto").strip().lower()


def onnxruntime_available() -> bool:
    """Whether onnxruntime imports here (it is imported anyway whenever the ONNX path runs)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
