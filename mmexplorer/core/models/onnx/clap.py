"""The sound space's CLAP with its text tower on ONNX Runtime.

A text search of a library with recordings must not import torch: CLAP's text tower (RoBERTa, its
pooler, the text projection) is exported here and tokenized by the `tokenizers` package
(clap_tokenizer). The audio tower stays on torch (indexing, audio queries); `OnnxClapEncoder` loads
it on first use. The export keeps the torch audio vectors of the fixed calibration sounds, so
fitting a library's relevance maps needs no torch either.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.fsutil import atomic_write
from mmexplorer.core.models.onnx.base import Family, OnnxEncoder, time_best
from mmexplorer.core.models.onnx.cache import file_stamp, versions, write_meta
from mmexplorer.core.models.onnx.clap_tokenizer import (
    CLAP_CHECK_TEXTS,
    clap_texts,
    clap_tokenizer,
    session_tokenizer,
)
from mmexplorer.core.models.onnx.config import ENV_INT8, MIN_COSINE, int8_mode
from mmexplorer.core.models.onnx.export import ExportRefused, eager_attention, export_graph
from mmexplorer.core.models.onnx.quantize import choose_precision, forced_int8, recall_at_1
from mmexplorer.core.models.onnx.runtime import min_cosine, normalised, open_session
from mmexplorer.core.types import ModelInfo, Space

log = logging.getLogger(__name__)

CLAP_FAMILY = "clap-text"  # meta.json's "family"
CLAP_TOKENIZER = "clap_tokenizer.json"  # the checked tokenizer, kept in the export folder
CLAP_AUDIO_MEMO = "clap_audio_memo.npz"  # torch audio vectors of the calibration sounds


def _clip_digest(clip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(clip, dtype=np.float32).tobytes()).hexdigest()


class RecordingAudio:
    """encode_audio of a torch SoundEncoder that remembers each clip's vector (one clip per call)."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        keys = [_clip_digest(c) for c in clips]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            vectors = self.encoder.encode_audio([clips[i] for i in todo])
            for i, v in zip(todo, vectors, strict=True):
                self.memo[keys[i]] = np.asarray(v, dtype=np.float32)
        if not keys:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.memo[k] for k in keys])


def _clap_calibration(audio: Callable[[Sequence[np.ndarray]], np.ndarray], texts: Callable[[Sequence[str]], np.ndarray],
                      sample_rate: int, kind: str) -> Any:
    from mmexplorer.core.calibration import sound_text_data

    return sound_text_data(audio, texts, sample_rate=sample_rate, kind=kind)


def export_clap_text(encoder: Any, model_folder: Path, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export CLAP's text tower of a torch `SoundEncoder` into `folder`, check it, write meta.json.

    The graph is `ClapModel.get_text_features` (text model, pooler, projection); rows are
    normalised after it, as `SoundEncoder.encode_texts` does. Beside it: the checked tokenizer and
    the torch audio vectors of the calibration sounds (core.calibration.sound_text_data), so a
    library's relevance maps for the sound space are fitted without torch.

    Args:
        encoder: the loaded torch encoder (core.models.sound.SoundEncoder).
        model_folder: the model's own folder (tokenizer files).
        folder: the export folder.
        quantize: try int8 (kept if recall@1 of captions -> calibration sounds holds); None: as
            $MMEXPLORER_ONNX_INT8 says (auto: try for a meaningful model; off; force: for benches).

    Raises:
        ExportRefused: no tokenizer files, tokens that differ from transformers', or a graph that
            does not match torch.
    """
    import torch

    model = encoder.model
    max_tokens = int(encoder.max_tokens)
    tokenizer = clap_tokenizer(model_folder)
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    checks = clap_texts(CLAP_CHECK_TEXTS)
    hf_ids = encoder.tokenizer(checks, truncation=True, max_length=max_tokens)["input_ids"]
    if [list(x) for x in hf_ids] != [e.ids for e in tokenizer.encode_batch(checks)]:
        raise ExportRefused("the torch-free tokenizer does not reproduce CLAP's tokens")
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / CLAP_TOKENIZER))

    class ClapText(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.m.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return getattr(out, "pooler_output", out)

    moved = encoder.device != "cpu"
    dtype = next(model.parameters()).dtype
    cpu = model.to("cpu").float() if moved else model
    sample = tokenizer.encode_batch(["a low hum", "a somewhat longer caption of a sound for the export"])
    width = max(len(e.ids) for e in sample)
    pad_id = getattr(encoder.tokenizer, "pad_token_id", None)  # what transformers pads a batch with
    pad_id = int(pad_id if pad_id is not None else getattr(model.config.text_config, "pad_token_id", 1))
    ids = torch.full((2, width), pad_id, dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, e in enumerate(sample):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    t0 = time.perf_counter()
    try:
        with eager_attention(getattr(cpu.text_model, "config", None)):
            export_graph(ClapText(cpu), (ids, mask), folder / "text.fp32.onnx", ["input_ids", "attention_mask"],
                         {"input_ids": {0: "n", 1: "length"}, "attention_mask": {0: "n", 1: "length"},
                          "embedding": {0: "n"}})
    finally:
        if moved:
            model.to(device=encoder.device, dtype=dtype)
    export_s = time.perf_counter() - t0
    ref = encoder.encode_texts(checks)
    got = _clap_run(open_session(folder / "text.fp32.onnx"), tokenizer, checks, 4, pad_id)
    cos = min_cosine(ref, got)
    if cos < MIN_COSINE:
        raise ExportRefused(f"the exported text tower differs from torch (cosine {cos:.5f})")

    audio = RecordingAudio(encoder)
    for kind in ("text", "audio"):  # every clip a first search's calibration encodes
        _clap_calibration(audio, encoder.encode_texts, encoder.sample_rate, kind)
    buffer = io.BytesIO()
    np.savez(buffer, digests=np.asarray(list(audio.memo), dtype="U64"),
             vectors=np.stack(list(audio.memo.values())).astype(np.float32))
    atomic_write(folder / CLAP_AUDIO_MEMO, buffer.getvalue())

    def recall(graph: Path) -> float:
        session = open_session(graph)
        data = _clap_calibration(audio, lambda ts: _clap_run(session, tokenizer, clap_texts(ts), 32, pad_id),
                                 encoder.sample_rate, "text")
        return recall_at_1(data.queries, data.items, data.positives)

    graph: dict[str, Any] = {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos}
    fp32, int8 = folder / "text.fp32.onnx", folder / "text.int8.onnx"
    mode = int8_mode()
    if quantize is None and mode == "force":  # benches of random weights: int8 whatever its recall
        graph.update(forced_int8(fp32, int8, recall))
    elif quantize or (quantize is None and mode != "off" and encoder.meaningful):
        graph.update(choose_precision(fp32, int8, recall))
    else:
        graph["reason"] = ("not tried: the model's similarities mean nothing" if quantize is None and mode != "off"
                           else f"not tried ({ENV_INT8}={mode})" if quantize is None else "not tried")
    meta = {
        "model_id": encoder.model_id,
        "family": CLAP_FAMILY,
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "meaningful": encoder.meaningful,
        "note": encoder.note,
        "sample_rate": encoder.sample_rate,
        "window_samples": encoder.window_samples,
        "hop_s": encoder.hop_s,
        "max_tokens": max_tokens,
        "pad_token_id": pad_id,
        "tokenizer": CLAP_TOKENIZER,
        "audio_memo": {"file": CLAP_AUDIO_MEMO, "clips": len(audio.memo)},
        "model_folder": str(model_folder),
        "export_s": round(export_s, 2),
        "graphs": {"text": graph},
    }
    meta["audio_memo"]["stamp"] = file_stamp(folder / CLAP_AUDIO_MEMO)
    write_meta(folder, meta)
    log.info("exported CLAP's text tower of %s to ONNX in %.1f s (%s)", encoder.model_id, export_s, graph["precision"])
    return meta


def _clap_run(session: Any, tokenizer: Any, texts: list[str], batch_size: int, pad_id: int) -> np.ndarray:
    """Texts through the exported text tower: similar lengths batched, padded with CLAP's pad id."""
    if not texts:
        return np.zeros((0, session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
    encoded = tokenizer.encode_batch(texts)
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encoded[i].ids)
            ids[j, :n] = encoded[i].ids
            mask[j, :n] = 1
        vecs = normalised(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        for j, i in enumerate(rows):
            out[i] = vecs[j]
    return np.stack(out)  # type: ignore[arg-type]


class OnnxClapEncoder(OnnxEncoder):
    """The sound space's CLAP with its text tower on ONNX Runtime; the `SoundEncoder` interface.

    Typed queries (`encode_texts`) run without torch or transformers. The audio tower stays on
    torch: `encode_windows`, `iter_windows`, `windows`, `pad` and `model` load the torch encoder on
    first use through `torch_loader` (indexing and audio queries need it anyway). `encode_audio`
    of clips the export embedded (the calibration sounds) returns their torch vectors from the
    export's memo, so fitting the relevance maps at a library's first text search needs no torch.
    """

    _NO_TORCH = "no torch model for the audio tower"

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
        self.meaningful = bool(meta.get("meaningful", True))
        self.note = str(meta.get("note", ""))
        self.sample_rate = int(meta["sample_rate"])
        self.window_samples = int(meta["window_samples"])
        self.window_s = self.window_samples / self.sample_rate
        self.hop_s = float(meta["hop_s"])
        self.max_tokens = int(meta["max_tokens"])
        self._pad_id = int(meta["pad_token_id"])
        self._tokenizer = session_tokenizer(folder / meta["tokenizer"], self.max_tokens)
        self._memo: dict[str, np.ndarray] | None = None
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        meta = export_clap_text(enc, Path(self._sessions.meta["model_folder"]), self.folder)
        self._tokenizer = session_tokenizer(self.folder / meta["tokenizer"], self.max_tokens)
        self._memo = None
        return meta

    # -- text: ONNX Runtime ---------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Query texts through CLAP's text tower -> (n, dim) float32 unit rows; [] gives (0, dim)."""
        texts = clap_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _clap_run(self._sessions.get("text"), self._tokenizer, texts, batch_size, self._pad_id)

    # -- audio: torch (the memo answers the calibration sounds) ---------------------------------------
    def _audio_memo(self) -> dict[str, np.ndarray]:
        if self._memo is None:
            self._memo = {}
            part = self.meta.get("audio_memo") or {}
            path = self.folder / str(part.get("file", CLAP_AUDIO_MEMO))
            try:
                if file_stamp(path) == part.get("stamp"):
                    with np.load(path, allow_pickle=False) as data:
                        self._memo = dict(zip(data["digests"].tolist(), np.asarray(data["vectors"], np.float32)))
            except (OSError, ValueError, KeyError) as e:
                log.info("the audio memo of %s is unusable (%s): the calibration sounds go through torch", self.model_id, e)
        return self._memo

    def encode_audio(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """Mono clips at `sample_rate` -> (n, dim) float32 unit rows (see `SoundEncoder.encode_audio`)."""
        memo = self._audio_memo()
        if clips and memo:
            found = [memo.get(_clip_digest(c)) for c in clips]
            if all(v is not None for v in found):
                return np.stack(found).astype(np.float32, copy=False)  # type: ignore[arg-type]
        return self._torch_encoder().encode_audio(clips, batch_size=batch_size)

    def encode_windows(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        return self._torch_encoder().encode_windows(clips, batch_size=batch_size)

    def iter_windows(self, waveform: np.ndarray, sr: int) -> Iterator[tuple[float, float, np.ndarray]]:
        return self._torch_encoder().iter_windows(waveform, sr)

    def windows(self, waveform: np.ndarray, sr: int) -> list[tuple[float, float, np.ndarray]]:
        return self._torch_encoder().windows(waveform, sr)

    def pad(self, clip: np.ndarray) -> np.ndarray:
        return self._torch_encoder().pad(clip)

    # -- bookkeeping ------------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.SOUND.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, meaningful=self.meaningful,
            note=" ".join(x for x in (self.note, "(text tower on ONNX Runtime)") if x),
        )


def measure_clap_text(torch_enc: Any, onnx_enc: OnnxClapEncoder) -> dict[str, Any]:
    """Seconds per single query and per batch of 16 captions on both backends; the ratio decides."""
    texts = [f"sound {i}: a dog barking far away while rain falls on a tin roof" for i in range(16)]
    t_b = time_best(lambda: torch_enc.encode_texts(texts), repeat=2)
    o_b = time_best(lambda: onnx_enc.encode_texts(texts), repeat=2)
    t_q = time_best(lambda: torch_enc.encode_texts(["a low hum"]))
    o_q = time_best(lambda: onnx_enc.encode_texts(["a low hum"]))
    ratio = (o_b / t_b + o_q / t_q) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_batch_s": t_b, "onnx_batch_s": o_b, "torch_query_s": t_q, "onnx_query_s": o_q}


CLAP = Family(
    key=CLAP_FAMILY,
    space="sound",
    export=lambda enc, folder, model_folder: export_clap_text(enc, model_folder, folder),
    encoder=OnnxClapEncoder,
    measure=measure_clap_text,
    keeps_torch=True,
    chosen_for=" for queries",
)
