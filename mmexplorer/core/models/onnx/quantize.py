"""int8 where recall holds: dynamic quantization of a graph, recall@1 on labelled pairs, and the rule
that keeps the int8 graph only when its recall stays within MAX_RECALL_LOSS of fp32's."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.models.onnx.config import ENV_INT8, MAX_RECALL_LOSS, MIN_INT8_COSINE

log = logging.getLogger(__name__)


def quantize_int8(fp32: Path, out: Path) -> Path:
    """Dynamic int8 quantization of a graph's MatMul/Gemm weights, per output channel (activations float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the quantizer logs every tensor it skips on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Per-channel scales: per-tensor ones cost MiniLM a cosine of 0.94 to fp32, per-channel 0.99.
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        logging.disable(previous)
    return out


def recall_at_1(queries: np.ndarray, items: np.ndarray, positives: Sequence[frozenset[int]]) -> float:
    """Share of the queries with right answers whose nearest item is one of them."""
    rows = [i for i, pos in enumerate(positives) if pos]
    if not rows:
        return 0.0
    top = np.argmax(np.asarray(queries, np.float32)[rows] @ np.asarray(items, np.float32).T, axis=1)
    return float(np.mean([int(top[j]) in positives[i] for j, i in enumerate(rows)]))


def keep_int8(fp32_recall: float, int8_recall: float, *, max_loss: float = MAX_RECALL_LOSS) -> bool:
    """int8 is kept when its recall@1 is within `max_loss` of fp32's."""
    return int8_recall >= fp32_recall - max_loss - 1e-9


def choose_precision(
    fp32: Path,
    int8: Path,
    recall: Callable[[Path], float],
    *,
    max_loss: float = MAX_RECALL_LOSS,
    agreement: Callable[[Path], float] | None = None,
    min_agreement: float = MIN_INT8_COSINE,
) -> dict[str, Any]:
    """Quantize `fp32` into `int8`, measure `recall(graph)` of both, and keep int8 only if it holds up.

    `agreement(graph)`: the least cosine between the graph's vectors and torch's on the check inputs;
    int8 must also reach `min_agreement` there (with onnxruntime 1.32, MiniLM's int8 kept its recall
    on the paraphrase pairs but fell to 0.971 cosine, which moves near-duplicate scores).

    Returns a record: file (the graph to use), precision, recall_fp32, recall_int8, reason. A refused
    int8 graph is deleted.
    """
    base = recall(fp32)
    try:
        quantize_int8(fp32, int8)
        quantized = recall(int8)
    except Exception as e:  # noqa: BLE001 -- a graph the quantizer cannot handle keeps fp32
        int8.unlink(missing_ok=True)
        log.info("int8 quantization of %s failed (%s): fp32 kept", fp32.name, e)
        return {"file": fp32.name, "precision": "fp32", "recall_fp32": base, "recall_int8": None,
                "reason": f"quantization failed: {e}"}
    agrees = agreement(int8) if agreement is not None else 1.0
    if agrees < min_agreement:
        int8.unlink(missing_ok=True)
        reason = f"int8 vectors at cosine {agrees:.4f} to torch, below {min_agreement}"
        log.info("%s: %s, fp32 kept", fp32.name, reason)
        return {"file": fp32.name, "precision": "fp32", "recall_fp32": base, "recall_int8": quantized, "reason": reason}
    if keep_int8(base, quantized, max_loss=max_loss):
        fp32.unlink(missing_ok=True)
        return {"file": int8.name, "precision": "int8", "recall_fp32": base, "recall_int8": quantized,
                "reason": f"int8 recall@1 {quantized:.3f} within {max_loss} of fp32 {base:.3f}"}
    int8.unlink(missing_ok=True)
    reason = f"int8 recall@1 {quantized:.3f} lost more than {max_loss} against fp32 {base:.3f}"
    log.info("%s: %s, fp32 kept", fp32.name, reason)
    return {"file": fp32.name, "precision": "fp32", "recall_fp32": base, "recall_int8": quantized, "reason": reason}


def forced_int8(fp32: Path, int8: Path, recall: Callable[[Path], float]) -> dict[str, Any]:
    """int8 whatever its recall ($MMEXPLORER_ONNX_INT8=force: benches of random weights); both recalls recorded."""
    quantize_int8(fp32, int8)
    record = {"file": int8.name, "precision": "int8", "reason": f"forced by {ENV_INT8}=force",
              "recall_fp32": recall(fp32), "recall_int8": recall(int8)}
    fp32.unlink()
    return record
