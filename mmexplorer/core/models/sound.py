"""The sound space: CLAP (transformers' `ClapModel` / `ClapProcessor`) for what a recording sounds like.

A recording becomes overlapping windows of the model's own length (10 s at 48 kHz for LAION's
CLAP; a short recording is one window, padded the way the model was trained: repeated, then
zero-padded). Each window gets a unit vector from the audio tower; a typed query reaches the same
space through CLAP's text tower, so "dog barking" finds a recording with no speech in it.

Weights resolve like the other models: a registry name or hub id from the Hugging Face cache (a
first download reports its progress and size), or a local folder such as the one
`mmexplorer.devtools.ensure_test_sound_model()` returns. Offline and not cached is a
`ModelUnavailableError` that names the model and `mmexplorer models pull`.

    encoder = load_sound_model("clap-htsat-unfused", device="cpu")
    times, vectors = sound_chunks(encoder, waveform16k, 16_000)   # [(start_s, end_s)], (n, dim)
    q = encoder.encode_texts(["rain on a window"])                # (1, dim), unit rows
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models import weights
from mmexplorer.core.models.base import StatusCallback, StatusReporter
from mmexplorer.core.models.device import dtype_for, dtype_name, free_cached_memory, select_device
from mmexplorer.core.models.registry import (
    CLAP_CONFIG_NAME,
    CLAP_PREPROCESSOR_NAMES,
    CLAP_WEIGHT_NAMES,
    DEFAULT_SOUND_MODEL,
    SoundModelSpec,
    SoundSpecKind,
    find_clap_weights,
    parse_sound_spec,
)
from mmexplorer.core.types import ModelInfo, Space

log = logging.getLogger(__name__)

_SPACE = Space.SOUND.value

# What to fetch from a CLAP hub repo: configs and tokenizer files, then one weights file.
_HUB_PATTERNS = ("*.json", "*.txt")
_HUB_REQUIRED = (CLAP_CONFIG_NAME,)
META_NAME = "mmexplorer_sound.json"  # written by devtools' test model: meaningful, note

WINDOW_OVERLAP = 0.5  # share of a window the next one repeats (a sound at a boundary is whole in one)


class SoundEncoder:
    """CLAP's two towers: audio windows and query text into one space of unit vectors.

    Attributes:
        name: the model's name as the user would type it.
        model_id: stable id of the weights; the catalog re-embeds when it changes.
        dim: embedding size (512 for LAION's CLAP).
        sample_rate: the rate the audio tower expects (48 kHz for LAION's CLAP).
        window_s: seconds of audio one vector covers (the feature extractor's max_length_s).
        hop_s: seconds between the starts of two windows of a long recording.
        device, dtype: where and in which precision the model runs.
        meaningful: False for a model whose similarities mean nothing (random weights).
    """

    backend = "torch"

    def __init__(
        self,
        *,
        name: str,
        model_id: str,
        model: Any,
        processor: Any,
        device: str,
        meaningful: bool = True,
        note: str = "",
    ) -> None:
        self.name = name
        self.model_id = model_id
        self.device = device
        self.meaningful = meaningful
        self.note = note
        self._model = model
        self._tokenizer = processor.tokenizer
        self._features = processor.feature_extractor
        self.dtype = dtype_name(next(model.parameters()).dtype)
        self.dim = int(model.config.projection_dim)
        self.sample_rate = int(self._features.sampling_rate)
        self.window_samples = int(self._features.nb_max_samples)
        self.window_s = self.window_samples / self.sample_rate
        self.hop_s = self.window_s * (1.0 - WINDOW_OVERLAP)
        self._padding = str(self._features.padding or "repeatpad")
        # An unfused model takes one mel channel; "fusion" truncation would hand it four.
        fused = bool(getattr(model.config.audio_config, "enable_fusion", False))
        self._truncation = self._features.truncation if fused else "rand_trunc"
        positions = int(getattr(model.config.text_config, "max_position_embeddings", 514))
        self.max_tokens = max(8, min(int(self._tokenizer.model_max_length or 512), positions - 2))

    @property
    def model(self) -> Any:
        return self._model

    @property
    def tokenizer(self) -> Any:
        """transformers' tokenizer of the text tower (the ONNX export replicates and checks it)."""
        return self._tokenizer

    # -- audio ------------------------------------------------------------------------------
    def pad(self, clip: np.ndarray) -> np.ndarray:
        """A clip no longer than a window, padded to exactly one window as the model was trained.

        "repeatpad" (LAION's CLAP): the clip is repeated while it fits, then zero-padded.
        """
        n = self.window_samples
        clip = np.asarray(clip, dtype=np.float32)[:n]
        if len(clip) == n:
            return clip
        if len(clip) == 0:
            return np.zeros(n, dtype=np.float32)
        if self._padding == "repeat":
            clip = np.tile(clip, n // len(clip) + 1)[:n]
        elif self._padding == "repeatpad":
            clip = np.tile(clip, n // len(clip))
        return np.pad(clip, (0, n - len(clip))).astype(np.float32, copy=False)

    def iter_windows(self, waveform: np.ndarray, sr: int) -> Iterator[tuple[float, float, np.ndarray]]:
        """Like `windows`, one window at a time: memory stays one window, also for hours of audio."""
        audio = _mono(waveform)
        if sr <= 0:
            raise UsageError(f"a sample rate must be positive, not {sr}")
        duration = len(audio) / sr
        if len(audio) == 0:
            return
        for start, end in window_times(duration, self.window_s, self.hop_s):
            a = round(start * sr)
            b = min(len(audio), round(end * sr))
            piece = resample(audio[a:b], sr, self.sample_rate)
            yield start, end, self.pad(piece)

    def windows(self, waveform: np.ndarray, sr: int) -> list[tuple[float, float, np.ndarray]]:
        """Cut a recording into the windows the model embeds.

        Args:
            waveform: mono samples (float, nominally in [-1, 1]); a (n, channels) or (channels, n)
                array is mixed down.
            sr: its sample rate.

        Returns:
            (start_s, end_s, samples) per window, in order: samples at `sample_rate`, exactly one
            window long. A recording longer than a window gets windows every `hop_s` seconds, the
            last one ending at the end; a shorter one is one window (its real times, padded
            samples). An empty waveform gives no windows.
        """
        return list(self.iter_windows(waveform, sr))

    def _features_of(self, clips: Sequence[np.ndarray]) -> dict[str, Any]:
        import torch

        features = self._features(
            [np.asarray(c, dtype=np.float32) for c in clips],
            sampling_rate=self.sample_rate,
            truncation=self._truncation,
            padding=self._padding,
            return_tensors="pt",
        )
        dtype = next(self._model.parameters()).dtype
        return {
            "input_features": features["input_features"].to(self.device, dtype=dtype),
            # Windows are never longer than the model's length: say so, rather than let the feature
            # extractor mark a random one "longer" (it does when none is), which made fused models'
            # vectors depend on the batch.
            "is_longer": torch.zeros((len(clips), 1), dtype=torch.bool, device=self.device),
        }

    def encode_windows(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """Windows (each at most one window long, at `sample_rate`) -> (n, dim) float32 unit rows."""
        import torch

        clips = [self.pad(_mono(c)) for c in clips]
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(clips), batch_size):
                feats = self._model.get_audio_features(**self._features_of(clips[i : i + batch_size]))
                out.append(_unit_rows(_pooled(feats)))
        return np.concatenate(out).astype(np.float32, copy=False)

    def encode_audio(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """Mono clips at `sample_rate` -> (n, dim) float32 unit rows, one per clip.

        A clip longer than a window is the renormalised mean of its windows' vectors (a query
        recording); an empty clip is a UsageError.
        """
        owners: list[int] = []
        pieces: list[np.ndarray] = []
        for i, clip in enumerate(clips):
            audio = _mono(clip)
            if len(audio) == 0:
                raise UsageError(f"audio clip {i} is empty")
            for _s, _e, samples in self.iter_windows(audio, self.sample_rate):
                owners.append(i)
                pieces.append(samples)
        if not pieces:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.encode_windows(pieces, batch_size=batch_size)
        if len(pieces) == len(clips):
            return vectors
        sums = np.zeros((len(clips), self.dim), dtype=np.float64)
        np.add.at(sums, np.asarray(owners), vectors)
        return _unit_rows(sums)

    # -- text -------------------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Query texts through CLAP's text tower -> (n, dim) float32 unit rows; [] gives (0, dim)."""
        import torch

        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                tokens = self._tokenizer(
                    texts[i : i + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                tokens = {
                    k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")
                }
                out.append(_unit_rows(_pooled(self._model.get_text_features(**tokens))))
        return np.concatenate(out).astype(np.float32, copy=False)

    # -- bookkeeping ------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        return ModelInfo(
            space=_SPACE,
            name=self.name,
            model_id=self.model_id,
            device=self.device,
            dtype=self.dtype,
            dim=self.dim,
            meaningful=self.meaningful,
            note=self.note,
        )

    def release(self) -> None:
        self._model = None
        free_cached_memory(self.device)

    def __repr__(self) -> str:
        return (
            f"SoundEncoder({self.model_id!r}, device={self.device!r}, dim={self.dim}, {self.sample_rate} Hz)"
        )


def window_times(duration: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """(start_s, end_s) of the windows covering `duration` seconds; the last one ends at the end.

    Pure arithmetic (no model), so the recording handler and tests can reason about it.
    """
    if duration <= 0:
        return []
    if duration <= window_s + 1e-9:
        return [(0.0, duration)]
    last = duration - window_s
    count = math.floor(last / hop_s + 1e-9) + 1
    starts = [i * hop_s for i in range(count)]
    if last - starts[-1] > 1e-6:
        starts.append(last)
    return [(round(s, 6), round(s + window_s, 6)) for s in starts]


def sound_chunks(
    encoder: SoundEncoder, waveform16k: np.ndarray, sr: int, *, batch_size: int = 8
) -> tuple[list[tuple[float, float]], np.ndarray]:
    """A recording's sound windows and their vectors, for the recording handler.

    Args:
        encoder: the sound space's encoder.
        waveform16k: the decoded recording, mono (at 16 kHz as the speech model wants it, or any rate).
        sr: its sample rate; each window is resampled to the model's.
        batch_size: windows per forward pass (memory stays about this many windows).

    Returns:
        ([(start_s, end_s), ...], (n, dim) float32 unit rows); no windows for an empty waveform.
    """
    times: list[tuple[float, float]] = []
    parts: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    for start, end, samples in encoder.iter_windows(waveform16k, sr):
        times.append((start, end))
        batch.append(samples)
        if len(batch) == batch_size:
            parts.append(encoder.encode_windows(batch, batch_size=batch_size))
            batch = []
    if batch:
        parts.append(encoder.encode_windows(batch, batch_size=batch_size))
    vectors = np.concatenate(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)
    return times, vectors


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Band-limited resampling (scipy's polyphase filter; linear interpolation without scipy)."""
    audio = np.asarray(audio, dtype=np.float32)
    if sr_from == sr_to or len(audio) == 0:
        return audio
    g = math.gcd(int(sr_from), int(sr_to))
    up, down = int(sr_to) // g, int(sr_from) // g
    n_out = round(len(audio) * sr_to / sr_from)
    try:
        from scipy.signal import resample_poly
    except ImportError:  # scipy comes with sentence-transformers; keep working without it
        x_old = np.arange(len(audio)) / sr_from
        x_new = np.arange(n_out) / sr_to
        return np.interp(x_new, x_old, audio).astype(np.float32)
    out = resample_poly(audio, up, down).astype(np.float32)
    return out[:n_out]


def _mono(waveform: np.ndarray) -> np.ndarray:
    audio = np.asarray(waveform)
    if audio.ndim == 2:  # (n, channels) or (channels, n): mix down over the short axis
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
    if audio.ndim != 1:
        raise UsageError(f"audio must be mono samples (1-D), not an array of shape {audio.shape}")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        audio = np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)
    return audio


def _pooled(output: Any) -> Any:
    """transformers 5 returns a model output whose pooler_output holds the projected features."""
    return getattr(output, "pooler_output", output)


def _unit_rows(x: Any) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        x = x.float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


# -- loading --------------------------------------------------------------------------------------


def sound_pull_hint(name: str) -> str:
    """How a user gets a sound model onto an offline machine."""
    return weights.pull_hint(name, _SPACE)


def resolve_sound_model(
    spec: SoundModelSpec, *, on_status: StatusCallback | None = None
) -> tuple[str, str, Path]:
    """Find a sound model's folder: (display name, model_id, folder).

    Raises:
        ModelUnavailableError: not cached, and offline or unreachable.
    """
    if spec.kind is SoundSpecKind.LOCAL_DIR:
        assert spec.path is not None  # parse_sound_spec sets it for LOCAL_DIR
        from mmexplorer.core.models.onnx.cache import cached_sha256

        found = find_clap_weights(spec.path)
        # Remembered by (path, size, time): a search does not hash 600 MB of weights each start.
        digest = cached_sha256(found)[:16] if found else "noweights"
        return spec.name, f"clap:local:{spec.path.name}:{digest}", spec.path
    repo = spec.hf_hub_id
    assert repo is not None  # PRETRAINED and HF_HUB carry a repo
    status = StatusReporter(on_status, space=_SPACE, name=spec.name)
    size = f" (about {spec.approx_mb} MB)" if spec.approx_mb else ""
    if not weights.is_offline() and weights.cached_hub_file(repo, CLAP_WEIGHT_NAMES) is None:
        status.downloading(f"downloading {spec.name}{size} from {repo}", fraction=0.0)
    folder = weights.resolve_hub_snapshot(
        repo,
        model=spec.name,
        space=_SPACE,
        allow_patterns=_HUB_PATTERNS,
        required=_HUB_REQUIRED,
        on_status=on_status,
    )
    checkpoint = find_clap_weights(folder)
    if checkpoint is None:  # configs came with the snapshot; the weights are one big file
        checkpoint = weights.resolve_hub_file(
            repo, CLAP_WEIGHT_NAMES, model=spec.name, space=_SPACE, on_status=on_status
        )
    folder = checkpoint.parent
    if not (folder / CLAP_CONFIG_NAME).exists() or not any(
        (folder / n).exists() for n in CLAP_PREPROCESSOR_NAMES
    ):
        raise ModelUnavailableError(
            spec.name, f"the cached {repo} is incomplete; " + sound_pull_hint(spec.name)
        )
    revision = weights.snapshot_revision(checkpoint) or "local"
    if spec.kind is SoundSpecKind.PRETRAINED:
        return spec.name, f"clap:{spec.name}", folder
    return spec.name, f"clap:hf-hub:{repo}@{revision[:12]}", folder


def _read_meta(folder: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_sound_model(
    spec: str | SoundModelSpec | None = DEFAULT_SOUND_MODEL,
    device: str = "auto",
    on_status: StatusCallback | None = None,
    *,
    backend: str | None = None,
) -> Any:
    """Load the sound-space encoder (CLAP).

    Args:
        spec: a registry name ("clap-htsat-unfused", the default), a hub id "org/repo" or
            "hf-hub:org/repo", or a local folder (ClapModel + ClapProcessor save_pretrained).
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        on_status: receives loading / downloading / ready / failed news.
        backend: for the text tower (typed queries): "torch", "onnx" or "auto" (measured at first
            use, remembered); None: the process's choice (`onnx.set_backend`,
            $MMEXPLORER_BACKEND), else "auto". The audio tower always runs on torch.

    Returns:
        A `SoundEncoder` (torch) or an `onnx.OnnxClapEncoder` (text tower on ONNX Runtime,
        built without importing torch when an export exists); both offer the same methods.

    Raises:
        UsageError: unknown spec, or a folder that is not a CLAP model.
        ModelUnavailableError: weights are not here and cannot be fetched now.
    """
    from mmexplorer.core.models import onnx

    shown = spec.name if isinstance(spec, SoundModelSpec) else (spec or DEFAULT_SOUND_MODEL).strip()
    chosen = onnx.configured_backend(backend)
    status = StatusReporter(on_status, space=_SPACE, name=shown)
    status.loading()
    with status.reporting_failure():
        parsed = parse_sound_spec(spec)
        display, model_id, folder = resolve_sound_model(parsed, on_status=on_status)
    meta = _read_meta(folder)

    def torch_loader() -> SoundEncoder:
        return _load_torch(display, model_id, folder, device, meta)

    if chosen != "torch":
        # An export made earlier answers typed queries without importing torch or transformers.
        fast = onnx.CLAP.load_cached(
            model_id, name=display, device=device, backend=chosen, torch_loader=torch_loader
        )
        if fast is not None:
            status.ready(name=display)
            log.info("sound model %s ready on %s (text tower on ONNX Runtime, %s)", fast.model_id, fast.device,
                     fast.dtype)
            return fast
    with status.reporting_failure():
        encoder = _load_torch(display, model_id, folder, device, meta)
    encoder = onnx.CLAP.adopt(
        encoder, backend=chosen, requested_device=device, model_folder=folder, torch_loader=torch_loader,
        status=status,
    )
    status.ready(name=display)
    log.info(
        "sound model %s ready on %s (%s, %s, %d Hz)",
        encoder.model_id,
        encoder.device,
        encoder.backend,
        encoder.dtype,
        encoder.sample_rate,
    )
    return encoder


def _load_torch(display: str, model_id: str, folder: Path, device: str, meta: dict[str, Any]) -> SoundEncoder:
    """CLAP on torch (the reference, and always the audio tower)."""
    dev = select_device(device)
    from transformers import ClapModel, ClapProcessor
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the app reports through on_status, not a bar on stderr
    try:
        processor = ClapProcessor.from_pretrained(str(folder), local_files_only=True)
        model = ClapModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:  # a broken or incomplete folder: name it rather than leak a traceback
        raise ModelUnavailableError(display, f"{folder} could not be loaded as CLAP ({e})") from e
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    model = model.to(device=dev, dtype=dtype_for(dev))
    model.eval()
    return SoundEncoder(
        name=display,
        model_id=model_id,
        model=model,
        processor=processor,
        device=dev,
        meaningful=bool(meta.get("meaningful", True)),
        note=str(meta.get("note", "")),
    )


__all__ = [
    "SoundEncoder",
    "load_sound_model",
    "resample",
    "resolve_sound_model",
    "sound_chunks",
    "sound_pull_hint",
    "window_times",
]
