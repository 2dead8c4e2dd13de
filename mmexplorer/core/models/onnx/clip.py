"""open_clip on ONNX Runtime: both towers exported from the loaded `ClipEncoder`, checked against torch,
int8 per tower where recall on the rendered scenes holds, and `OnnxClipEncoder` reading the export
without torch or open_clip (inputs prepared by clip_inputs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core.models.onnx.base import Family, OnnxEncoder, time_best
from mmexplorer.core.models.onnx.cache import versions, write_meta
from mmexplorer.core.models.onnx.clip_inputs import (
    ClipBpeTokenizer,
    clip_preprocess,
    open_clip_bpe_path,
    truncate_at_eot,
)
from mmexplorer.core.models.onnx.config import ENV_INT8, MIN_COSINE, int8_mode
from mmexplorer.core.models.onnx.export import CHECK_TEXTS, ExportRefused, check_pixels, export_graph
from mmexplorer.core.models.onnx.quantize import choose_precision, quantize_int8, recall_at_1
from mmexplorer.core.models.onnx.runtime import min_cosine, normalised, open_session
from mmexplorer.core.types import ModelInfo, Space

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

KEY = "open_clip"  # meta.json's "family"


def _clip_text_module(model: Any) -> Any:
    """open_clip's CLIP text tower over tokens of any length up to the context (cut at EOT).

    The attention is written out with reshapes over -1: traced nn.MultiheadAttention bakes the
    sample's sequence length into the graph. Raises ExportRefused for blocks it does not know.
    """
    import torch
    import torch.nn.functional as F

    blocks = list(model.transformer.resblocks)
    for blk in blocks:
        attn = getattr(blk, "attn", None)
        if (
            type(blk).__name__ != "ResidualAttentionBlock"
            or not isinstance(attn, torch.nn.MultiheadAttention)
            or not attn.batch_first
            or attn.in_proj_weight is None
            or hasattr(blk, "ln_1_kv")
        ):
            raise ExportRefused("its text tower's blocks are not open_clip's standard residual attention blocks")

    def attention(blk: Any, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = blk.attn
        heads, width = a.num_heads, a.embed_dim
        dim = width // heads
        q, k, v = F.linear(x, a.in_proj_weight, a.in_proj_bias).chunk(3, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(t.shape[0], -1, heads, dim).transpose(1, 2)

        scores = (split(q) * dim**-0.5) @ split(k).transpose(-2, -1) + mask
        out = (scores.softmax(dim=-1) @ split(v)).transpose(1, 2).reshape(x.shape[0], -1, width)
        return a.out_proj(out)

    class TextTower(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            m = self.m
            n = tokens.shape[1]
            x = m.token_embedding(tokens) + m.positional_embedding[:n]
            mask = m.attn_mask[:n, :n].to(x.dtype)
            for blk in m.transformer.resblocks:
                x = x + blk.ls_1(attention(blk, blk.ln_1(x), mask))
                x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
            x = m.ln_final(x)
            x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
            return m.text_projection(x) if isinstance(m.text_projection, torch.nn.Linear) else x @ m.text_projection

    return TextTower(model)


def tokenizer_cfg(tokenizer: Any) -> dict[str, Any] | None:
    """How to replicate the torch tokenizer without torch, or None when it is not open_clip's BPE."""
    if type(tokenizer).__name__ != "SimpleTokenizer" or getattr(tokenizer, "reduction_fn", None) is not None:
        return None
    clean = {"_clean_lower": "lower", "_clean_whitespace": "whitespace"}.get(getattr(tokenizer.clean_fn, "__name__", ""))
    if clean is None or getattr(tokenizer, "vocab_size", 0) != 49408:
        return None
    return {"kind": "clip-bpe", "clean": clean, "context_length": int(tokenizer.context_length or 77)}


def preprocess_cfg(model: Any, image_size: int) -> dict[str, Any] | None:
    cfg = dict(model.visual.preprocess_cfg)
    mode = cfg.get("resize_mode", "shortest")
    interp = cfg.get("interpolation", "bicubic")
    if mode not in ("shortest", "squash") or interp not in ("bicubic", "bilinear"):
        return None
    size = cfg.get("size", image_size)
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            return None
        size = size[0]
    return {"size": int(size), "mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": interp,
            "resize_mode": mode}


def _clip_recall(image_graph: Path, text_graph: Path, tokenizer: ClipBpeTokenizer, pre: dict[str, Any]) -> float:
    from mmexplorer.core.calibration import image_text_data

    img = open_session(image_graph)
    txt = open_session(text_graph)

    def images(ims: Sequence[Any]) -> np.ndarray:
        batch = np.stack([clip_preprocess(im, pre) for im in ims])
        return normalised(img.run(None, {"pixels": batch})[0])

    def texts(ts: Sequence[str]) -> np.ndarray:
        return normalised(txt.run(None, {"tokens": truncate_at_eot(tokenizer(list(ts)))})[0])

    data = image_text_data(images, texts, image_size=pre["size"], kind="text")
    return recall_at_1(data.queries, data.items, data.positives)


def export_clip(encoder: Any, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export an open_clip `ClipEncoder`'s two towers into `folder`, check them, write meta.json.

    Args:
        encoder: the loaded torch encoder (core.models.clip.ClipEncoder) on any device.
        folder: the export folder (`export_dir(encoder.model_id)`).
        quantize: try int8 (kept if recall holds); None: only for meaningful models (a random
            model's recall says nothing), True: always try (benches), False: never.

    Raises:
        ExportRefused: a model this backend cannot replicate, or one whose graph does not match torch.
    """
    import torch

    model = encoder.model
    tok_cfg = tokenizer_cfg(encoder.tokenizer)
    bpe = open_clip_bpe_path()
    if tok_cfg is None or bpe is None:
        raise ExportRefused("its tokenizer is not open_clip's CLIP BPE")
    if getattr(model, "text_pool_type", "argmax") != "argmax" or getattr(model, "attn_mask", None) is None:
        raise ExportRefused("its text tower is not a causal CLIP tower pooled at the end-of-text token")
    pre = preprocess_cfg(model, encoder.image_size)
    if pre is None:
        raise ExportRefused("its image preprocessing is not replicated without torch")
    tokenizer = ClipBpeTokenizer(bpe, context_length=tok_cfg["context_length"], clean=tok_cfg["clean"])
    torch_tokens = encoder.tokenizer(list(CHECK_TEXTS)).numpy()
    if not np.array_equal(torch_tokens, tokenizer(list(CHECK_TEXTS))):
        raise ExportRefused("the torch-free tokenizer does not reproduce open_clip's tokens")

    folder.mkdir(parents=True, exist_ok=True)
    cpu = model.to("cpu").float() if encoder.device != "cpu" else model
    t0 = time.perf_counter()
    pixels = check_pixels(4, encoder.image_size)

    class ImageTower(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m.encode_image(x)

    try:
        export_graph(ImageTower(cpu), (torch.from_numpy(pixels[:2]),), folder / "image.fp32.onnx", ["pixels"],
                {"pixels": {0: "n"}, "embedding": {0: "n"}})
        sample = torch.from_numpy(tokenizer(["a red circle", "two blue squares"]))
        export_graph(_clip_text_module(cpu), (sample[:, :8],), folder / "text.fp32.onnx", ["tokens"],
                {"tokens": {0: "n", 1: "length"}, "embedding": {0: "n"}})
    finally:
        if encoder.device != "cpu":
            model.to(device=encoder.device, dtype=encoder.torch_dtype)
    export_s = time.perf_counter() - t0

    ref_img = encoder.encode_image_tensors(torch.from_numpy(pixels))
    ref_txt = encoder.encode_texts(list(CHECK_TEXTS))
    got_img = open_session(folder / "image.fp32.onnx").run(None, {"pixels": pixels})[0]
    text_session = open_session(folder / "text.fp32.onnx")
    got_txt = np.concatenate([text_session.run(None, {"tokens": truncate_at_eot(tokenizer([t]))})[0] for t in CHECK_TEXTS])
    cos_img, cos_txt = min_cosine(ref_img, got_img), min_cosine(ref_txt, got_txt)
    if min(cos_img, cos_txt) < MIN_COSINE:
        raise ExportRefused(f"the exported graphs differ from torch (cosine {cos_img:.5f} image, {cos_txt:.5f} text)")

    graphs: dict[str, dict[str, Any]] = {
        "image": {"file": "image.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos_img},
        "text": {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos_txt},
    }
    mode = int8_mode()
    try_int8 = {"off": False, "force": True}.get(mode, encoder.meaningful) if quantize is None else quantize
    if try_int8 and mode == "force" and quantize is None:
        # Benchmarks of random-weight models: int8 without the recall rule (their recall says nothing).
        checks = {"image": ("pixels", pixels), "text": ("tokens", truncate_at_eot(tokenizer(list(CHECK_TEXTS))))}
        for tower, (name, batch) in checks.items():
            fp32, int8 = folder / f"{tower}.fp32.onnx", folder / f"{tower}.int8.onnx"
            quantize_int8(fp32, int8)
            cos = min_cosine(open_session(fp32).run(None, {name: batch})[0], open_session(int8).run(None, {name: batch})[0])
            fp32.unlink()
            graphs[tower].update({"file": int8.name, "precision": "int8", "cosine_int8_to_fp32": cos,
                                  "reason": f"forced by {ENV_INT8}=force (no recall check)"})
    elif try_int8:
        f_img, f_txt = folder / "image.fp32.onnx", folder / "text.fp32.onnx"
        base = _clip_recall(f_img, f_txt, tokenizer, pre)
        # The image tower first, against the fp32 text tower; then the text tower against the image
        # graph kept. A tower's fp32 recall is the one measured with both in fp32.
        image = choose_precision(f_img, folder / "image.int8.onnx",
                                 lambda g: base if g == f_img else _clip_recall(g, f_txt, tokenizer, pre))
        graphs["image"].update(image)
        kept_img = folder / image["file"]
        graphs["text"].update(choose_precision(
            f_txt, folder / "text.int8.onnx", lambda g: base if g == f_txt else _clip_recall(kept_img, g, tokenizer, pre)
        ))
    else:
        reason = ("not tried: the model's similarities mean nothing" if quantize is None and mode != "off"
                  else f"not tried ({ENV_INT8}={mode})" if quantize is None else "not tried")
        for part in graphs.values():
            part["reason"] = reason
    meta = {
        "model_id": encoder.model_id,
        "family": KEY,
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "image_size": encoder.image_size,
        "meaningful": encoder.meaningful,
        "note": encoder.note,
        "preprocess": pre,
        "tokenizer": tok_cfg,
        "export_s": round(export_s, 2),
        "graphs": graphs,
    }
    write_meta(folder, meta)
    log.info("exported %s to ONNX in %.1f s (%s)", encoder.model_id, export_s,
             ", ".join(f"{k} {v['precision']}" for k, v in graphs.items()))
    return meta


class OnnxClipEncoder(OnnxEncoder):
    """An open_clip model's two towers on ONNX Runtime; the same interface as `ClipEncoder`.

    `preprocess` returns a (3, S, S) float32 numpy array; `encode_image_tensors` takes a batch of
    those (numpy or a CPU torch tensor). `model` loads the torch model on first use, for code that
    needs its internals (explanations), through the loader it was given.
    """

    BATCH_PARTS = frozenset({"image"})  # photos are encoded in indexing batches

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
        self.image_size = int(meta["image_size"])
        self.meaningful = bool(meta.get("meaningful", True))
        self.note = str(meta.get("note", ""))
        tok = meta["tokenizer"]
        self._bpe = open_clip_bpe_path()
        if self._bpe is None:
            raise ExportRefused("open_clip's vocabulary file is not installed")
        self._tok_cfg = tok
        self._tok: ClipBpeTokenizer | None = None  # built on the first query (0.1-0.3 s)
        self.context_length = int(tok["context_length"])
        self._pre = dict(meta["preprocess"])
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        return export_clip(enc, self.folder)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """The model's eval transform in numpy: (3, S, S) float32. CPU, thread-safe."""
        return clip_preprocess(img, self._pre)

    def encode_image_tensors(self, batch: Any) -> np.ndarray:
        """Preprocessed images (n, 3, S, S) -> (n, dim) float32, L2-normalised."""
        arr = np.ascontiguousarray(np.asarray(batch, dtype=np.float32))
        if arr.ndim == 3:
            arr = arr[None]
        if arr.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalised(self._sessions.get("image").run(None, {"pixels": arr})[0])

    def encode_images(self, imgs: Sequence[Image.Image], *, batch_size: int = 64) -> np.ndarray:
        if not imgs:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [
            self.encode_image_tensors(np.stack([self.preprocess(im) for im in imgs[s : s + batch_size]]))
            for s in range(0, len(imgs), batch_size)
        ]
        return np.concatenate(out, axis=0)

    @property
    def tokenizer(self) -> ClipBpeTokenizer:
        if self._tok is None:
            assert self._bpe is not None
            self._tok = ClipBpeTokenizer(
                self._bpe, context_length=self._tok_cfg["context_length"], clean=self._tok_cfg["clean"],
                tables=self.folder / "clip_bpe_tables.json",
            )
        return self._tok

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids as open_clip makes them, cut after the batch's last end-of-text token."""
        return truncate_at_eot(self.tokenizer(list(texts)))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        """Query texts through the text tower -> (n, dim) float32, L2-normalised."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._sessions.get("text")
        out = [
            session.run(None, {"tokens": self.tokenize(texts[s : s + batch_size])})[0]
            for s in range(0, len(texts), batch_size)
        ]
        return normalised(np.concatenate(out, axis=0))

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.IMAGE.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, meaningful=self.meaningful,
            note=" ".join(x for x in (self.note, "(ONNX Runtime)") if x),
        )


def measure_clip(torch_enc: Any, onnx_enc: OnnxClipEncoder) -> dict[str, Any]:
    """Seconds per image batch (8) and per single query on both backends; the ratio decides."""
    import torch

    pixels = check_pixels(8, torch_enc.image_size)
    t_img = time_best(lambda: torch_enc.encode_image_tensors(torch.from_numpy(pixels)), repeat=2)
    o_img = time_best(lambda: onnx_enc.encode_image_tensors(pixels), repeat=2)
    t_txt = time_best(lambda: torch_enc.encode_texts(["a photo of a red circle"]))
    o_txt = time_best(lambda: onnx_enc.encode_texts(["a photo of a red circle"]))
    ratio = (o_img / t_img + o_txt / t_txt) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_image_s": t_img, "onnx_image_s": o_img, "torch_query_s": t_txt, "onnx_query_s": o_txt}


CLIP = Family(
    key=KEY,
    space="image",
    export=lambda enc, folder, _model_folder: export_clip(enc, folder),
    encoder=OnnxClipEncoder,
    measure=measure_clip,
)
