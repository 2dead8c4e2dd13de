"""Exporting a loaded torch module to an ONNX graph: the legacy TorchScript exporter with attention
written so that batch size and sequence length stay dynamic, and the fixed inputs exports are checked on."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.models.onnx.config import OPSET


class ExportRefused(Exception):
    """This model cannot run on ONNX Runtime here (the message says why)."""


# Texts every export is checked on against torch (tokens and embeddings).
CHECK_TEXTS = (
    "a red circle",
    "a photo of a dog running on the beach at sunset",
    "Receipt INV-2024-017, café déjà vu!",
    "the quarterly budget review meeting notes from march " * 4,
    "",
    "two blue squares and a green triangle",
)


def check_pixels(n: int, size: int) -> np.ndarray:
    """A fixed batch of (n, 3, size, size) preprocessed-looking pixels an image graph is checked on."""
    rng = np.random.default_rng(1234)
    return rng.standard_normal((n, 3, size, size)).astype(np.float32)


def _traceable_mha(original: Callable[..., Any]) -> Callable[..., Any]:
    """`F.multi_head_attention_forward` written with reshapes over -1, for tracing.

    Traced as torch writes it, the batch size and sequence length of the sample end up as
    constants in the graph's reshapes (a ResNet's attention pool, MHA blocks), so another batch
    size fails or, worse, computes something else. Cases this does not cover go to `original`.
    """
    import torch
    import torch.nn.functional as F

    def mha(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
            add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
            need_weights=True, attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None,
            k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
            is_causal=False):
        unusual = (
            bias_k is not None or bias_v is not None or add_zero_attn or key_padding_mask is not None
            or static_k is not None or static_v is not None or need_weights or (training and dropout_p)
            or query.dim() != 3 or (attn_mask is not None and attn_mask.dim() != 2)
            or (is_causal and attn_mask is None)
        )
        if unusual:
            return original(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k,
                            bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=training,
                            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
                            use_separate_proj_weight=use_separate_proj_weight, q_proj_weight=q_proj_weight,
                            k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight, static_k=static_k,
                            static_v=static_v, average_attn_weights=average_attn_weights, is_causal=is_causal)
        heads, width = num_heads, embed_dim_to_check
        dim = width // heads
        biases = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
        if use_separate_proj_weight:
            weights = (q_proj_weight, k_proj_weight, v_proj_weight)
        else:
            weights = in_proj_weight.chunk(3)
        q, k, v = (F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases, strict=True))

        def split(t: torch.Tensor) -> torch.Tensor:  # (L, N, E) -> (N, heads, L, dim)
            return t.reshape(t.shape[0], -1, heads, dim).permute(1, 2, 0, 3)

        scores = (split(q) * dim**-0.5) @ split(k).transpose(-2, -1)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = scores.masked_fill(attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask.to(scores.dtype)
        out = (scores.softmax(dim=-1) @ split(v)).permute(2, 0, 1, 3).flatten(2)  # (L, N, E)
        return F.linear(out, out_proj_weight, out_proj_bias), None

    return mha


@contextlib.contextmanager
def _exporting() -> Iterator[None]:
    """The legacy TorchScript exporter (no onnxscript needed), MHA fast path off, attention traceable."""
    import torch
    import torch.nn.functional as F

    was = torch.backends.mha.get_fastpath_enabled()
    original = F.multi_head_attention_forward
    torch.backends.mha.set_fastpath_enabled(False)
    F.multi_head_attention_forward = _traceable_mha(original)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            yield
    finally:
        F.multi_head_attention_forward = original
        torch.backends.mha.set_fastpath_enabled(was)


@contextlib.contextmanager
def eager_attention(config: Any) -> Iterator[None]:
    """A transformers model's attention as plain matmuls while it is traced (they trace into opset-17
    ONNX reliably). transformers has no public way to read the choice back, hence its config's attribute."""
    saved = getattr(config, "_attn_implementation", None)
    try:
        if config is not None and saved not in (None, "eager"):
            config._attn_implementation = "eager"
        yield
    finally:
        if config is not None and saved is not None:
            config._attn_implementation = saved


def export_graph(
    module: Any, args: tuple[Any, ...], path: Path, inputs: list[str], dynamic: dict[str, dict[int, str]]
) -> None:
    """Trace `module` on `args` into the ONNX graph `path` (output "embedding"; axes in `dynamic` left free)."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    # A new wrapper module starts in training mode, and a trace in training mode would update a
    # BatchNorm's running statistics (a ResNet tower's) in the live model: everything in eval.
    module.eval()
    with _exporting():
        torch.onnx.export(
            module, args, str(tmp), input_names=inputs, output_names=["embedding"], dynamic_axes=dynamic,
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
    os.replace(tmp, path)
