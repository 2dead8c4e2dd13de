"""A sentence encoder (sentence-transformers) on ONNX Runtime: exported from the loaded `TextEncoder`,
checked against torch, int8 where recall on the paraphrase pairs holds, and `OnnxTextEncoder`
tokenizing with the `tokenizers` package from the model's tokenizer.json (no torch, transformers or
sentence-transformers)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.models.onnx.base import Family, OnnxEncoder, time_best
from mmexplorer.core.models.onnx.cache import versions, write_meta
from mmexplorer.core.models.onnx.config import MIN_COSINE, int8_mode
from mmexplorer.core.models.onnx.export import CHECK_TEXTS, ExportRefused, eager_attention, export_graph
from mmexplorer.core.models.onnx.quantize import choose_precision, forced_int8, recall_at_1
from mmexplorer.core.models.onnx.runtime import min_cosine, normalised, open_session
from mmexplorer.core.types import ModelInfo, Space

log = logging.getLogger(__name__)

KEY = "sentence-transformers"  # meta.json's "family"


def _sentence_recall(graph: Path, tokenizer: Any, max_len: int) -> float:
    from mmexplorer.core.calibration import sentence_encoder_data

    session = open_session(graph)
    data = sentence_encoder_data(lambda ts: sentence_run(session, tokenizer, list(ts), 32))
    return recall_at_1(data.queries, data.items, data.positives)


def sentence_tokenizer(folder: Path, max_len: int, *, truncate: bool = True) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if truncate:
        tok.enable_truncation(max_length=max_len)
    else:
        tok.no_truncation()
    tok.no_padding()
    return tok


def sentence_run(session: Any, tokenizer: Any, texts: list[str], batch_size: int) -> np.ndarray:
    if not texts:
        return np.zeros((0, session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
    encoded = tokenizer.encode_batch(texts)
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")  # similar lengths share a batch
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encoded[i].ids)
            ids[j, :n] = encoded[i].ids
            mask[j, :n] = 1
        vecs = normalised(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        for j, i in enumerate(rows):
            out[i] = vecs[j]
    return np.stack(out)  # type: ignore[arg-type]


def export_sentence(encoder: Any, model_folder: Path, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export a sentence-transformers `TextEncoder` into `folder`, check it, write meta.json.

    Args:
        encoder: the loaded torch encoder (core.models.text.TextEncoder).
        model_folder: the model's own folder (its tokenizer.json is read from there).
        folder: the export folder.
        quantize: try int8 (kept if recall on the paraphrase pairs holds); None: as $MMEXPLORER_ONNX_INT8
            says (auto: try; off: never; force: int8 without the rule, for benches).

    Raises:
        ExportRefused: no tokenizer.json, or a graph that does not match torch.
    """
    import torch

    if not (model_folder / "tokenizer.json").is_file():
        raise ExportRefused(f"{model_folder} has no tokenizer.json for the torch-free tokenizer")
    st = encoder.model
    max_len = int(st.max_seq_length)
    tokenizer = sentence_tokenizer(model_folder, max_len)
    specials = len(tokenizer.encode("").ids)
    hf_ids = st.tokenizer(list(CHECK_TEXTS), truncation=True, max_length=max_len)["input_ids"]
    if [list(x) for x in hf_ids] != [e.ids for e in tokenizer.encode_batch(list(CHECK_TEXTS))]:
        raise ExportRefused("tokenizer.json does not reproduce the model's tokens")
    folder.mkdir(parents=True, exist_ok=True)

    class Sentence(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.m({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    moved = encoder.device != "cpu"
    cpu = st.to("cpu").float() if moved else st
    t0 = time.perf_counter()
    sample = tokenizer.encode_batch(["a short one", "a somewhat longer sentence for the export"])
    width = max(len(e.ids) for e in sample)
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, e in enumerate(sample):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    config = getattr(getattr(cpu[0], "auto_model", None), "config", None)
    try:
        with eager_attention(config):
            export_graph(Sentence(cpu), (ids, mask), folder / "text.fp32.onnx", ["input_ids", "attention_mask"],
                         {"input_ids": {0: "n", 1: "length"}, "attention_mask": {0: "n", 1: "length"},
                          "embedding": {0: "n"}})
    finally:
        if moved:
            st.to(device=encoder.device)
    export_s = time.perf_counter() - t0
    ref = encoder.encode(list(CHECK_TEXTS))
    got = sentence_run(open_session(folder / "text.fp32.onnx"), tokenizer, list(CHECK_TEXTS), 4)
    cos = min_cosine(ref, got)
    if cos < MIN_COSINE:
        raise ExportRefused(f"the exported graph differs from torch (cosine {cos:.5f})")
    graph: dict[str, Any] = {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos}
    mode = int8_mode()
    if quantize is None and mode == "force":  # benches: int8 whatever its recall
        graph.update(forced_int8(folder / "text.fp32.onnx", folder / "text.int8.onnx",
                                 lambda g: _sentence_recall(g, tokenizer, max_len)))
    elif (quantize is None and mode != "off") or quantize:
        graph.update(choose_precision(
            folder / "text.fp32.onnx", folder / "text.int8.onnx", lambda g: _sentence_recall(g, tokenizer, max_len),
            agreement=lambda g: min_cosine(ref, sentence_run(open_session(g), tokenizer, list(CHECK_TEXTS), 4)),
        ))
    else:
        graph["reason"] = "not tried"
    meta = {
        "model_id": encoder.model_id,
        "family": KEY,
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "max_seq_length": max_len,
        "specials": specials,
        "model_folder": str(model_folder),
        "export_s": round(export_s, 2),
        "graphs": {"text": graph},
    }
    write_meta(folder, meta)
    log.info("exported %s to ONNX in %.1f s (%s)", encoder.model_id, export_s, graph["precision"])
    return meta


class OnnxTextEncoder(OnnxEncoder):
    """A sentence encoder on ONNX Runtime with the `tokenizers` package; the `TextEncoder` interface."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(folder, meta, name=name, device=device, torch_loader=torch_loader)
        model_folder = Path(meta["model_folder"])
        max_len = int(meta["max_seq_length"])
        self._model_folder = model_folder
        self._max_len = max_len
        self._tokenizer = sentence_tokenizer(model_folder, max_len)
        self._counter: Any = None  # untruncated, for count_tokens (indexing only): made on first use
        self.max_tokens = max_len - int(meta["specials"])
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        return export_sentence(enc, Path(self._sessions.meta["model_folder"]), self.folder)

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            self._counter = sentence_tokenizer(self._model_folder, self._max_len, truncate=False)
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return sentence_run(self._sessions.get("text"), self._tokenizer, texts, batch_size)

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.TEXT.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, note="(ONNX Runtime)",
        )


def measure_text(torch_enc: Any, onnx_enc: OnnxTextEncoder) -> dict[str, Any]:
    texts = [f"note {i}: the quarterly budget review and the plan for the garden" for i in range(16)]
    t_b = time_best(lambda: torch_enc.encode(texts), repeat=2)
    o_b = time_best(lambda: onnx_enc.encode(texts), repeat=2)
    t_q = time_best(lambda: torch_enc.encode(["garden plans"]))
    o_q = time_best(lambda: onnx_enc.encode(["garden plans"]))
    ratio = (o_b / t_b + o_q / t_q) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_batch_s": t_b, "onnx_batch_s": o_b, "torch_query_s": t_q, "onnx_query_s": o_q}


def _export(enc: Any, folder: Path, model_folder: Path | None) -> dict[str, Any]:
    if model_folder is None:
        raise ValueError("the model's own folder (its tokenizer.json) is not known")
    return export_sentence(enc, model_folder, folder)


SENTENCE = Family(key=KEY, space="text", export=_export, encoder=OnnxTextEncoder, measure=measure_text)
