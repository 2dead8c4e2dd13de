"""ONNX Runtime sessions: the execution provider for a device, options, and sessions opened on first use
(optimized once and kept in the optimized form; a graph ONNX Runtime cannot load is exported again)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.models.onnx.cache import folder_lock, read_meta, write_meta
from mmexplorer.core.models.onnx.config import threads

log = logging.getLogger(__name__)


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_device(requested: str) -> str | None:
    """The device an ONNX session runs on for a requested device, or None when ORT cannot serve it."""
    import onnxruntime as ort

    choice = (requested or "auto").strip().lower()
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if choice == "cpu":
        return "cpu"
    if choice == "auto":
        return "cuda" if cuda else "cpu"
    if choice.startswith("cuda"):
        return choice if cuda else None
    return None  # mps: no ORT provider here


def device_key(requested: str) -> str:
    """The key a measured choice is remembered under in meta.json (the device as requested)."""
    return (requested or "auto").strip().lower()


def open_session(
    path: Path, device: str = "cpu", *, spinning: bool = True, optimized: bool = False, save_optimized: Path | None = None
) -> Any:
    """An ONNX Runtime session on a graph (raises onnxruntime's error for a corrupt file).

    Args:
        optimized: the graph was saved already optimized (`save_optimized`): load it as it is.
            Optimizing at load is most of the time a session takes to open (ViT-B-32's text graph:
            2.5 s at load vs 0.5 s preoptimized here), and a command-line search pays it each time.
        save_optimized: optimize at the portable level (ORT_ENABLE_EXTENDED: no hardware-specific
            layouts) and write the result there for later loads.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    level = ort.GraphOptimizationLevel
    if optimized:
        options.graph_optimization_level = level.ORT_DISABLE_ALL
    elif save_optimized is not None:
        options.graph_optimization_level = level.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_optimized)
    else:
        options.graph_optimization_level = level.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads()
    options.log_severity_level = 3
    if not spinning:
        # Idle pool threads sleep instead of spinning, so decode threads and the window keep the CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=providers_for(device))


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32, contiguous."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest cosine between matching rows of a and b."""
    return float(np.min(np.sum(normalised(a) * normalised(b), axis=-1)))


def precision_of(meta: dict[str, Any]) -> str:
    """The dtype an export's graphs run at, as ModelInfo says it: int8, float32 or int8+float32."""
    kinds = {g["precision"] for g in meta["graphs"].values()}
    return "int8" if kinds == {"int8"} else "float32" if kinds == {"fp32"} else "int8+float32"


class Sessions:
    """Sessions opened on first use; a graph ONNX Runtime cannot load is exported again once."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        device: str,
        rebuild: Callable[[], dict[str, Any]] | None,
        *,
        batch_parts: frozenset[str] = frozenset(),
    ):
        """`batch_parts`: graphs that run in indexing batches, beside decode threads and the window:
        their idle pool threads sleep instead of spinning."""
        self.folder = folder
        self.batch_parts = batch_parts
        self.meta = meta
        self.device = device
        self._rebuild = rebuild
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, part: str) -> Any:
        session = self._open.get(part)
        if session is not None:
            return session
        with self._lock:
            if part not in self._open:
                graph = self.meta["graphs"][part]
                path = self.folder / graph["file"]
                try:
                    if self.device == "cpu" and not graph.get("optimized"):
                        self._open[part] = self._open_optimizing(part, path)
                    else:
                        self._open[part] = open_session(
                            path, self.device, spinning=part not in self.batch_parts, optimized=bool(graph.get("optimized"))
                        )
                except Exception as e:  # onnxruntime raises its own types for a corrupt file
                    if self._rebuild is None:
                        raise
                    log.warning("ONNX graph %s cannot be loaded (%s): exporting it again", path, e)
                    self.meta = self._rebuild()
                    self._open.clear()
                    self._open[part] = open_session(self.folder / self.meta["graphs"][part]["file"], self.device)
            return self._open[part]

    def _open_optimizing(self, part: str, path: Path) -> Any:
        """Open a graph for the first time on the CPU and keep its optimized form in its place.

        The optimized graph replaces the exported one in meta.json (same outputs: ONNX Runtime's
        portable graph rewrites), so every later process opens it without optimizing again.
        """
        tmp = path.with_name(f"{path.stem}.opt-{os.getpid()}.tmp")
        session = open_session(path, "cpu", spinning=part not in self.batch_parts, save_optimized=tmp)
        name = f"{path.stem}.opt.onnx"
        try:
            with folder_lock(self.folder):
                meta = read_meta(self.folder, self.meta["model_id"])
                if meta is None or meta["graphs"][part]["file"] != path.name or not tmp.is_file():
                    return session  # exported again meanwhile, or nothing was written
                os.replace(tmp, self.folder / name)
                meta["graphs"][part].update(file=name, optimized=True)
                write_meta(self.folder, meta)
                self.meta = meta
                path.unlink(missing_ok=True)
        except OSError as e:  # a read-only cache: this process still has its session
            log.debug("could not keep the optimized graph of %s: %s", path, e)
        finally:
            tmp.unlink(missing_ok=True)
        return session

    def close(self) -> None:
        self._open.clear()
