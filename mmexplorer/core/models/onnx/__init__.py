"""The ONNX Runtime backend: graphs exported from the real loaded torch model, checked, and reused.

An encoder runs either on torch (`backend="torch"`, the reference) or on ONNX Runtime (`"onnx"`).
`"auto"` (the default) measures both on this machine at first use and remembers the faster one.
The graphs are exported once from the torch model the app loaded anyway, into the app's own cache
(`cache_root()`: $MMEXPLORER_ONNX_CACHE, else the platform's user cache dir), in a folder keyed by
the model id and the torch, onnxruntime and exporter versions, so an upgrade exports again. Before
a graph is used it is run on a fixed batch against torch (cosine >= MIN_COSINE); its dynamic int8
version is kept only where recall@1 on the labelled sets (core.calibration) stays within
MAX_RECALL_LOSS of the fp32 graph, else fp32 (and meta.json says why). Once an export exists, the
encoder is built without torch, open_clip, transformers or sentence-transformers.

Missing onnxruntime, an export that fails or a graph that does not match torch: torch, with one
log line saying why. A cached graph that is stale (size or time changed) or corrupt (ONNX Runtime
cannot load it) is exported again.

One module per job, one per family:
    config       backend choice, threads, the limits      cache     export folders, meta.json, locks
    runtime      ORT sessions (optimized once)            export    torch -> ONNX, the check inputs
    quantize     int8 where recall holds                  base      Family + OnnxEncoder: load, adopt
    clip         open_clip's two towers (CLIP)             clip_inputs  its tokenizer and preprocessing
    sentence     a sentence encoder                       clap      CLAP's text tower (clap_tokenizer)

    encoder = CLIP.load_cached(model_id, ...) or CLIP.adopt(torch_encoder, ...)
"""

from __future__ import annotations

from mmexplorer.core.models.onnx.base import Family, OnnxEncoder
from mmexplorer.core.models.onnx.cache import META, cache_root, cached_sha256, export_dir, read_meta, versions
from mmexplorer.core.models.onnx.clap import CLAP, OnnxClapEncoder, export_clap_text, measure_clap_text
from mmexplorer.core.models.onnx.clip import CLIP, OnnxClipEncoder, export_clip, measure_clip
from mmexplorer.core.models.onnx.config import (
    BACKENDS,
    ENV_BACKEND,
    ENV_CACHE,
    ENV_INT8,
    ENV_THREADS,
    MAX_RECALL_LOSS,
    MIN_COSINE,
    check_backend,
    configured_backend,
    onnxruntime_available,
    set_backend,
    set_threads,
)
from mmexplorer.core.models.onnx.export import ExportRefused
from mmexplorer.core.models.onnx.quantize import choose_precision, recall_at_1
from mmexplorer.core.models.onnx.runtime import min_cosine, normalised, open_session
from mmexplorer.core.models.onnx.sentence import SENTENCE, OnnxTextEncoder, export_sentence, measure_text

FAMILIES: dict[str, Family] = {f.key: f for f in (CLIP, SENTENCE, CLAP)}

__all__ = [
    "BACKENDS", "CLAP", "CLIP", "ENV_BACKEND", "ENV_CACHE", "ENV_INT8", "ENV_THREADS", "FAMILIES", "MAX_RECALL_LOSS",
    "META", "MIN_COSINE", "SENTENCE", "ExportRefused", "Family", "OnnxClapEncoder", "OnnxClipEncoder", "OnnxEncoder",
    "OnnxTextEncoder", "cache_root", "cached_sha256", "check_backend", "choose_precision", "configured_backend",
    "export_clap_text", "export_clip", "export_dir", "export_sentence", "measure_clap_text", "measure_clip",
    "measure_text", "min_cosine", "normalised", "onnxruntime_available", "open_session", "read_meta", "recall_at_1",
    "set_backend", "set_threads", "versions",
]
