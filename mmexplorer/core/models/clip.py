"""The image space: open_clip models behind one small encoder interface.

`load_image_model` turns any spec `parse_image_spec` accepts into a `ClipEncoder`. Weights are
always read by `weights.load_state_dict` (safetensors or weights-only torch.load) and applied to
an open_clip model built without weights, so no code path unpickles arbitrary objects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.fsutil import atomic_write
from mmexplorer.core.models import weights
from mmexplorer.core.models.base import StatusCallback, StatusReporter
from mmexplorer.core.models.device import dtype_for, dtype_name, free_cached_memory, select_device
from mmexplorer.core.models.registry import (
    OPEN_CLIP_CONFIG_NAME,
    OPEN_CLIP_WEIGHT_NAMES,
    ImageModelSpec,
    SpecKind,
    find_weights_in_dir,
    parse_image_spec,
)
from mmexplorer.core.types import ModelInfo, Space

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)

_SPACE = Space.IMAGE.value

# tiny-random: a real open_clip CLIP, small enough to build in a second, with fixed-seed weights so
# that the process that indexes and the process that searches compute the same vectors.
TINY_RANDOM_ARCH = "mmx-tiny-random-v1"
TINY_RANDOM_MODEL_ID = "open_clip:tiny-random:v1"
TINY_RANDOM_SEED = 20240601
TINY_RANDOM_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_RANDOM_NOTE = (
    "tiny-random is a randomly initialised test model: its image similarities mean nothing"
)

_register_lock = threading.Lock()


def register_arch(name: str, model_cfg: dict[str, Any]) -> None:
    """Make an architecture config known to open_clip under `name` (idempotent).

    open_clip reads configs from files, so the JSON is written to a per-user temp folder.
    """
    import open_clip

    with _register_lock:
        if open_clip.get_model_config(name) == model_cfg:
            return
        folder = Path(tempfile.gettempdir()) / "mmexplorer-open-clip-configs"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.json"
        # Processes share the folder: each writes its own temp file and renames it into place.
        atomic_write(target, json.dumps(model_cfg, indent=2))
        open_clip.add_model_config(target)


class _DropOpenClipWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not ("open_clip" in record.pathname and record.levelno <= logging.WARNING)


@contextlib.contextmanager
def quiet_open_clip() -> Iterator[None]:
    """Silence open_clip's root-logger chatter ("initialized randomly" when we load weights ourselves).

    open_clip logs through `logging.warning`, which calls `basicConfig()` when the root logger has
    no handler and so would start printing every later log line to stderr; a NullHandler for the
    duration prevents that.
    """
    root = logging.getLogger()
    flt = _DropOpenClipWarnings()
    null = logging.NullHandler()
    root.addFilter(flt)
    root.addHandler(null)
    try:
        yield
    finally:
        root.removeHandler(null)
        root.removeFilter(flt)


class ClipEncoder:
    """An open_clip model ready to embed photos and query text into the image space.

    Attributes:
        name: the spec as the user typed it.
        model_id: stable id of the weights; the catalog re-embeds when it changes.
        dim: embedding size.
        image_size: side of the square the model sees, in pixels.
        device, dtype: where and in which precision the model runs ("cuda", "float16").
        meaningful: False for tiny-random, whose similarities mean nothing.
    """

    backend = "torch"

    def __init__(
        self,
        *,
        name: str,
        model_id: str,
        model: Any,
        transform: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[Sequence[str]], torch.Tensor],
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
        self._transform = transform
        self._tokenizer = tokenizer
        self._torch_dtype = next(model.parameters()).dtype
        self.dtype = dtype_name(self._torch_dtype)
        self.dim = int(model.visual.output_dim)
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(getattr(tokenizer, "context_length", 77) or 77)

    @property
    def model(self) -> Any:
        """The underlying open_clip model (for explain/align code that needs its internals)."""
        return self._model

    @property
    def tokenizer(self) -> Callable[[Sequence[str]], torch.Tensor]:
        """open_clip's tokenizer of this model (the ONNX export replicates and checks it)."""
        return self._tokenizer

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype the weights are in (`dtype` is its name)."""
        return self._torch_dtype

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """The model's eval transform: resize, centre crop, normalise. CPU, float32, thread-safe.

        The torchvision transforms hold no per-call state, so the decode pool may call this
        concurrently.
        """
        if img.mode != "RGB":
            img = img.convert("RGB")
        return self._transform(img)

    def encode_image_tensors(self, batch: torch.Tensor) -> np.ndarray:
        """Embed a batch of preprocessed images: (n, 3, H, W) -> (n, dim) float32, L2-normalised."""
        import torch

        if batch.ndim == 3:
            batch = batch.unsqueeze(0)
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            x = batch.to(device=self.device, dtype=self._torch_dtype, non_blocking=True)
            feats = self._model.encode_image(x)
            return _normalised_numpy(feats)

    def encode_images(self, imgs: Sequence[Image.Image], *, batch_size: int = 64) -> np.ndarray:
        """Preprocess and embed PIL images: (n, dim) float32, L2-normalised."""
        import torch

        if not imgs:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(imgs), batch_size):
            batch = torch.stack([self.preprocess(im) for im in imgs[start : start + batch_size]])
            out.append(self.encode_image_tensors(batch))
        return np.concatenate(out, axis=0)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        """Embed query texts through the model's text tower: (n, dim) float32, L2-normalised.

        Text longer than the tokenizer's context length is truncated, as open_clip does.
        """
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self._tokenizer(texts[start : start + batch_size]).to(self.device)
                out.append(_normalised_numpy(self._model.encode_text(tokens)))
        return np.concatenate(out, axis=0)

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
        """Drop the model so its memory can be reclaimed (rclip's release_indexing_resources)."""
        self._model = None
        free_cached_memory(self.device)

    def __repr__(self) -> str:
        return f"ClipEncoder({self.model_id!r}, device={self.device!r}, dtype={self.dtype!r}, dim={self.dim})"


def _normalised_numpy(feats: torch.Tensor) -> np.ndarray:
    import torch

    feats = torch.nn.functional.normalize(feats.float(), dim=-1)
    return np.ascontiguousarray(feats.cpu().numpy(), dtype=np.float32)


def eval_transform(model: Any) -> Callable[[Any], torch.Tensor]:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = dict(model.visual.preprocess_cfg)
    known = set(PreprocessCfg.__dataclass_fields__)
    return image_transform_v2(PreprocessCfg(**{k: v for k, v in cfg.items() if k in known}), is_train=False)


def _apply_weights(model: Any, checkpoint: Path, *, name: str) -> None:
    """Load a checkpoint into a model built without weights, strictly, with open_clip's fix-ups."""
    from open_clip.convert import convert_state_dict

    state = weights.load_state_dict(checkpoint)
    state = convert_state_dict(model, state)
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    if getattr(model, "logit_bias", None) is None:
        state.pop("logit_bias", None)
    state.pop("text.transformer.embeddings.position_ids", None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise UsageError(f"{checkpoint} does not fit model {name!r}: {str(e).splitlines()[0]} ...") from e


def _create(model_name: str, **kwargs: Any) -> Any:
    import open_clip

    with quiet_open_clip():
        return open_clip.create_model(
            model_name, pretrained=None, load_weights=False, pretrained_text=False, device="cpu", **kwargs
        )


def _finish(model: Any, device: str) -> Any:
    """Move a CPU fp32 model to its device and precision, in eval mode."""
    model = model.to(device=device, dtype=dtype_for(device))
    model.eval()
    model.requires_grad_(False)
    return model


def _tokenizer_for(model_name: str, **kwargs: Any) -> Any:
    import open_clip

    with quiet_open_clip():
        return open_clip.get_tokenizer(model_name, **kwargs)


def _build_tiny_random(spec: ImageModelSpec, device: str) -> ClipEncoder:
    import torch

    register_arch(TINY_RANDOM_ARCH, TINY_RANDOM_CONFIG)
    # fork_rng keeps the caller's global RNG untouched; the fixed seed makes every process agree.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_RANDOM_SEED)
        model = _create(TINY_RANDOM_ARCH, precision="fp32")
    return ClipEncoder(
        name=spec.name,
        model_id=TINY_RANDOM_MODEL_ID,
        model=_finish(model, device),
        transform=eval_transform(model),
        tokenizer=_tokenizer_for(TINY_RANDOM_ARCH),
        device=device,
        meaningful=False,
        note=TINY_RANDOM_NOTE,
    )


def _pretrained_preprocess(arch: str, tag: str) -> dict[str, Any]:
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    return {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}


def _build_pretrained(spec: ImageModelSpec, device: str, status: StatusReporter) -> ClipEncoder:
    assert spec.arch and spec.tag and spec.hf_hub_id  # guaranteed by parse_image_spec
    checkpoint = weights.resolve_hub_file(
        spec.hf_hub_id, OPEN_CLIP_WEIGHT_NAMES, model=spec.name, space=_SPACE, on_status=status.on_status
    )
    status.loading()
    model = _create(spec.arch, precision="fp32", force_preprocess_cfg=_pretrained_preprocess(spec.arch, spec.tag))
    _apply_weights(model, checkpoint, name=spec.name)
    return ClipEncoder(
        name=spec.name,
        model_id=f"open_clip:{spec.arch}/{spec.tag}",
        model=_finish(model, device),
        transform=eval_transform(model),
        tokenizer=_tokenizer_for(spec.arch),
        device=device,
    )


def _read_folder_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / OPEN_CLIP_CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{folder / OPEN_CLIP_CONFIG_NAME}: unreadable ({e})") from e
    if not isinstance(config, dict) or "model_cfg" not in config:
        raise UsageError(f"{folder / OPEN_CLIP_CONFIG_NAME}: no 'model_cfg' (not an open_clip config)")
    return config


def _build_from_folder(
    spec: ImageModelSpec, folder: Path, checkpoint: Path, device: str, model_id: str
) -> ClipEncoder:
    config = _read_folder_config(folder)
    model = _create(f"local-dir:{folder}", precision="fp32")
    _apply_weights(model, checkpoint, name=spec.name)
    text_cfg = config["model_cfg"].get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") and spec.hf_hub_id:
        # the tokenizer lives in another hub repo, not in this snapshot folder
        tokenizer = _tokenizer_for(f"hf-hub:{spec.hf_hub_id}", cache_dir=str(weights.hub_cache_dir()))
    else:
        tokenizer = _tokenizer_for(f"local-dir:{folder}")
    return ClipEncoder(
        name=spec.name,
        model_id=model_id,
        model=_finish(model, device),
        transform=eval_transform(model),
        tokenizer=tokenizer,
        device=device,
        meaningful=bool(config.get("meaningful", True)),
        note=str(config.get("note", "")),
    )


def _build_local_dir(spec: ImageModelSpec, device: str, status: StatusReporter) -> ClipEncoder:
    assert spec.path is not None
    checkpoint = find_weights_in_dir(spec.path)
    if checkpoint is None:
        raise UsageError(f"{spec.path}: no weights file")
    status.loading()
    config = _read_folder_config(spec.path)
    label = str(config.get("model_name") or "custom")
    model_id = f"open_clip:local:{label}:{weights.sha256_file(checkpoint)[:16]}"
    return _build_from_folder(spec, spec.path, checkpoint, device, model_id)


def _build_hf_hub(spec: ImageModelSpec, device: str, status: StatusReporter) -> ClipEncoder:
    assert spec.hf_hub_id is not None
    config = weights.resolve_hub_file(
        spec.hf_hub_id, [OPEN_CLIP_CONFIG_NAME], model=spec.name, space=_SPACE, on_status=status.on_status
    )
    checkpoint = weights.resolve_hub_file(
        spec.hf_hub_id, OPEN_CLIP_WEIGHT_NAMES, model=spec.name, space=_SPACE, on_status=status.on_status
    )
    status.loading()
    if checkpoint.parent != config.parent:
        raise ModelUnavailableError(
            spec.name, f"the cached config and weights of {spec.hf_hub_id} are from different revisions; "
            + weights.pull_hint(spec.name)
        )
    revision = weights.snapshot_revision(checkpoint) or weights.sha256_file(checkpoint)
    model_id = f"open_clip:hf-hub:{spec.hf_hub_id}@{revision[:12]}"
    return _build_from_folder(spec, checkpoint.parent, checkpoint, device, model_id)


def _build_local_file(spec: ImageModelSpec, device: str, status: StatusReporter) -> ClipEncoder:
    assert spec.arch and spec.path is not None
    status.loading()
    model = _create(spec.arch, precision="fp32")
    _apply_weights(model, spec.path, name=spec.name)
    return ClipEncoder(
        name=spec.name,
        model_id=f"open_clip:local:{spec.arch}:{weights.sha256_file(spec.path)[:16]}",
        model=_finish(model, device),
        transform=eval_transform(model),
        tokenizer=_tokenizer_for(spec.arch),
        device=device,
    )


_BUILDERS = {
    SpecKind.PRETRAINED: _build_pretrained,
    SpecKind.HF_HUB: _build_hf_hub,
    SpecKind.LOCAL_DIR: _build_local_dir,
    SpecKind.LOCAL_FILE: _build_local_file,
}


def model_id_for(spec: ImageModelSpec) -> str | None:
    """The model id a spec's encoder will have, found without torch (None when that needs the hub).

    The ONNX backend uses it to find an existing export before any torch import; the builders
    above compute the same ids.
    """
    if spec.kind is SpecKind.TINY_RANDOM:
        return TINY_RANDOM_MODEL_ID
    if spec.kind is SpecKind.PRETRAINED:
        return f"open_clip:{spec.arch}/{spec.tag}"
    from mmexplorer.core.models.onnx.cache import cached_sha256

    try:
        if spec.kind is SpecKind.LOCAL_FILE and spec.path is not None:
            return f"open_clip:local:{spec.arch}:{cached_sha256(spec.path)[:16]}"
        if spec.kind is SpecKind.LOCAL_DIR and spec.path is not None:
            checkpoint = find_weights_in_dir(spec.path)
            if checkpoint is None:
                return None
            label = str(_read_folder_config(spec.path).get("model_name") or "custom")
            return f"open_clip:local:{label}:{cached_sha256(checkpoint)[:16]}"
    except (OSError, UsageError):
        return None
    return None


def load_image_model(
    spec: str | ImageModelSpec | None = None,
    *,
    device: str = "auto",
    on_status: StatusCallback | None = None,
    backend: str | None = None,
) -> Any:
    """Build the image-space encoder a spec names, finding (or, if allowed, downloading) its weights.

    Args:
        spec: anything `parse_image_spec` accepts; None is the default model.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        on_status: receives loading / downloading (with fraction) / ready / failed news.
        backend: "torch", "onnx" or "auto" (measured at first use, remembered); None: the
            process's choice (`onnx.set_backend`, $MMEXPLORER_BACKEND), else "auto".

    Returns:
        A `ClipEncoder` (torch) or an `OnnxClipEncoder`; both offer the same methods.

    Raises:
        UsageError: the spec or the device makes no sense, or a checkpoint does not fit.
        ModelUnavailableError: weights are not here and cannot be fetched now.
    """
    from mmexplorer.core.models import onnx

    parsed = parse_image_spec(spec)
    chosen = onnx.configured_backend(backend)
    status = StatusReporter(on_status, space=_SPACE, name=parsed.name)
    status.loading()
    if chosen != "torch":
        # An export made earlier runs without importing torch or open_clip at all.
        fast = onnx.CLIP.load_cached(
            model_id_for(parsed), name=parsed.name, device=device, backend=chosen,
            torch_loader=lambda: _load_torch(parsed, device, None),
        )
        if fast is not None:
            status.ready(message=fast.note)
            log.info("image model %s ready on %s (ONNX Runtime, %s)", fast.model_id, fast.device, fast.dtype)
            return fast
    with status.reporting_failure():
        encoder = _load_torch(parsed, device, status)
    encoder = onnx.CLIP.adopt(
        encoder, backend=chosen, requested_device=device, torch_loader=lambda: _load_torch(parsed, device, None),
        status=status,
    )
    status.ready(message=encoder.note)
    log.info("image model %s ready on %s (%s, %s)", encoder.model_id, encoder.device, encoder.backend, encoder.dtype)
    return encoder


def _load_torch(parsed: ImageModelSpec, device: str, status: StatusReporter | None) -> ClipEncoder:
    dev = select_device(device)
    status = status or StatusReporter(None, space=_SPACE, name=parsed.name)
    if parsed.kind is SpecKind.TINY_RANDOM:
        return _build_tiny_random(parsed, dev)
    return _BUILDERS[parsed.kind](parsed, dev, status)


def save_open_clip_folder(
    model: Any,
    folder: Path,
    *,
    model_cfg: dict[str, Any],
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write a model in open_clip's hf-hub folder layout (config json + safetensors weights).

    Args:
        model: an open_clip CLIP model.
        folder: the target folder; created if needed.
        model_cfg: the architecture config the model was built from.
        extra_config: more top-level keys for open_clip_config.json (e.g. model_name, meaningful, note).
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.visual.preprocess_cfg).items()
    }
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess, **(extra_config or {})}
    (folder / OPEN_CLIP_CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / OPEN_CLIP_WEIGHT_NAMES[0]))
    return folder
