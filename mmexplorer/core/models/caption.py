"""Captioners: a transformers image-to-text model that writes one sentence per photo (issue 10).

A spec (core.models.registry.parse_caption_spec) is a registry name ("blip-base", the default, or
"vit-gpt2"), any hub repo holding a BLIP or VisionEncoderDecoder captioner, or a local folder in
transformers' layout (the suite's own test captioner, `devtools.ensure_test_captioner()`, is one).
Weights come from the Hugging Face cache, else a first download with progress through
`StatusReporter`; offline and not cached is a `ModelUnavailableError` naming the model.

    captioner = load_caption_model("blip-base", device="cpu")
    captioner.caption([Image.open("beach.jpg")])      # ["a couple of people walking on a beach"]

The captions go to the catalog (core.catalog, per item with `model_id`) and into the text space
(core.indexer.caption), so a note-like query can reach a photo through what it shows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models import weights
from mmexplorer.core.models.base import StatusCallback, StatusReporter
from mmexplorer.core.models.device import dtype_for, dtype_name, select_device
from mmexplorer.core.models.registry import (
    CAPTION_SIDE_PATTERNS,
    CAPTION_WEIGHT_PATTERNS,
    CaptionModelSpec,
    CaptionSpecKind,
    parse_caption_spec,
)
from mmexplorer.core.types import ModelInfo

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

SPACE = "caption"  # the name loading news and ModelInfo carry (captions feed the text space)
MAX_NEW_TOKENS = 30
FAMILIES = ("blip", "vision-encoder-decoder")
_META_NAME = "mmexplorer_captioner.json"  # written by devtools.captioner beside its test model

# BLIP base's known quirk: a made-up word ("arafed", "araffe") at the start of some captions.
_BLIP_NOISE = re.compile(r"\bar+af+\w*\s*", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


class Captioner:
    """A loaded captioner: PIL images in, one caption each out.

    Attributes:
        name: the spec as the user would type it.
        model_id: stable id of the weights; captions are redone when it changes.
        family: "blip" or "vision-encoder-decoder".
        device, dtype: where and in which precision the model runs.
        meaningful: False for a model that is known to say nothing true (random test weights).
    """

    def __init__(
        self, *, name: str, model_id: str, family: str, model: Any, processor: Any, tokenizer: Any, device: str,
        meaningful: bool = True, note: str = "",
    ) -> None:
        self.name = name
        self.model_id = model_id
        self.family = family
        self.device = device
        self.meaningful = meaningful
        self.note = note
        self._model = model
        self._processor = processor
        self._tokenizer = tokenizer
        self.dtype = dtype_name(next(model.parameters()).dtype)

    def caption(self, images: Sequence[Image.Image], *, batch_size: int = 8) -> list[str]:
        """One caption per image, in order (greedy decoding; empty input gives [])."""
        import torch

        if self._model is None:
            raise UsageError(f"the captioner {self.name} was released")
        out: list[str] = []
        images = [img if img.mode == "RGB" else img.convert("RGB") for img in images]
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            pixels = self._processor(images=batch, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(device=self.device, dtype=next(self._model.parameters()).dtype)
            with torch.inference_mode():
                ids = self._model.generate(pixel_values=pixels, max_new_tokens=MAX_NEW_TOKENS)
            texts = self._tokenizer.batch_decode(ids, skip_special_tokens=True)
            out += [clean_caption(t) for t in texts]
        return out

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=SPACE, name=self.name, model_id=self.model_id, device=self.device, dtype=self.dtype, dim=0,
            meaningful=self.meaningful, note=self.note,
        )

    def release(self) -> None:
        self._model = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def __repr__(self) -> str:
        return f"Captioner({self.model_id!r}, device={self.device!r})"


def clean_caption(text: str) -> str:
    """A generated caption tidied: BLIP's "arafed" noise dropped, spaces before commas removed."""
    text = _BLIP_NOISE.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))
    return text.strip()


def model_family(folder: Path) -> str:
    """"blip" or "vision-encoder-decoder", from the folder's config.json.

    Raises:
        UsageError: no readable config.json, or a model type that is not a captioner we run.
    """
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{folder}: config.json cannot be read ({e})") from e
    family = str(config.get("model_type", ""))
    if family not in FAMILIES:
        raise UsageError(
            f"{folder}: model type {family!r} is not a captioner mmexplorer runs (use a BLIP or a "
            "VisionEncoderDecoder image-captioning model)"
        )
    return family


def _weight_file(folder: Path) -> Path | None:
    for pattern in ("model.safetensors", "*.safetensors", "pytorch_model.bin", "*.bin"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def resolve_caption_model(
    spec: str | CaptionModelSpec | None, *, on_status: StatusCallback | None = None
) -> tuple[str, str, Path]:
    """Find a captioner's folder: (display name, model_id, folder), downloading it if allowed.

    Raises:
        UsageError: a bad spec or folder.
        ModelUnavailableError: not cached, and offline or unreachable.
    """
    parsed = parse_caption_spec(spec)
    if parsed.kind is CaptionSpecKind.LOCAL_DIR:
        assert parsed.path is not None
        weight = _weight_file(parsed.path)
        if weight is None:
            raise UsageError(f"{parsed.path} has config.json but no weights (model.safetensors)")
        return parsed.name, f"caption:local:{weights.sha256_file(weight)[:16]}", parsed.path
    assert parsed.hf_hub_id is not None
    patterns = parsed.entry.weight_patterns if parsed.entry else (*CAPTION_WEIGHT_PATTERNS, "pytorch_model.bin")
    folder = weights.resolve_hub_snapshot(
        parsed.hf_hub_id,
        model=parsed.name,
        space=SPACE,
        allow_patterns=(*CAPTION_SIDE_PATTERNS, *patterns),
        required=("config.json",),
        on_status=on_status,
    )
    if _weight_file(folder) is None:
        raise ModelUnavailableError(
            parsed.name, f"{parsed.hf_hub_id} in the cache has no weights; " + weights.pull_hint(parsed.name, SPACE)
        )
    model_id = f"caption:{parsed.name}" if parsed.entry else f"caption:hf-hub:{parsed.hf_hub_id}"
    revision = weights.snapshot_revision(folder / "config.json")
    if revision:
        model_id += f"@{revision[:12]}"
    return parsed.name, model_id, folder


def _load_parts(folder: Path, family: str) -> tuple[Any, Any, Any]:
    """(model, image processor, tokenizer) of a captioner folder, on the CPU, in eval mode."""
    if family == "blip":
        from transformers import BlipForConditionalGeneration, BlipProcessor

        processor = BlipProcessor.from_pretrained(str(folder), local_files_only=True)
        model = BlipForConditionalGeneration.from_pretrained(str(folder), local_files_only=True)
        return model, processor.image_processor, processor.tokenizer
    from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

    model = VisionEncoderDecoderModel.from_pretrained(str(folder), local_files_only=True)
    image_processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    gen = model.generation_config
    if gen.pad_token_id is None:  # GPT-2 has no pad token: use its end token, as ViT-GPT2 does
        gen.pad_token_id = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
    if gen.decoder_start_token_id is None:
        gen.decoder_start_token_id = model.config.decoder_start_token_id or tokenizer.bos_token_id
    return model, image_processor, tokenizer


def load_caption_model(
    spec: str | CaptionModelSpec | None = None,
    *,
    device: str = "auto",
    on_status: StatusCallback | None = None,
) -> Captioner:
    """Load a captioner.

    Args:
        spec: "blip-base" (default), "vit-gpt2", a hub repo "org/repo", or a transformers folder.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        on_status: receives loading / downloading / ready / failed news (space "caption").

    Raises:
        UsageError: unknown spec, or a folder that is not a captioner.
        ModelUnavailableError: weights are not here and cannot be fetched now.
    """
    shown = parse_caption_spec(spec).name
    status = StatusReporter(on_status, space=SPACE, name=shown)
    status.loading()
    with status.reporting_failure():
        display, model_id, folder = resolve_caption_model(spec, on_status=on_status)
        # After resolving: a captioner missing offline is said without importing torch.
        dev = select_device(device)
        family = model_family(folder)
        try:
            from mmexplorer.core.models.text import _no_transformers_progress

            with _no_transformers_progress():
                model, processor, tokenizer = _load_parts(folder, family)
        except (UsageError, ModelUnavailableError):
            raise
        except Exception as e:  # a broken or incomplete folder: name it rather than leak a traceback
            raise ModelUnavailableError(display, f"{folder} could not be loaded as a captioner ({e})") from e
        if dev != "cpu":
            model = model.to(device=dev, dtype=dtype_for(dev))
        model.eval()
        meaningful, note = True, ""
        try:
            meta = json.loads((folder / _META_NAME).read_text(encoding="utf-8"))
            meaningful, note = bool(meta.get("meaningful", True)), str(meta.get("note", ""))
        except (OSError, ValueError):
            pass
    captioner = Captioner(
        name=display, model_id=model_id, family=family, model=model, processor=processor, tokenizer=tokenizer,
        device=dev, meaningful=meaningful, note=note,
    )
    status.ready(name=display)
    log.info("captioner %s ready on %s (%s)", captioner.model_id, captioner.device, captioner.dtype)
    return captioner


def estimate_seconds_per_photo(spec: str | CaptionModelSpec | None, *, device: str = "cpu") -> float | None:
    """About how long one photo takes on this machine, before anything is downloaded (None: unknown).

    From the registry's figure measured on a 2-core CPU, scaled by this machine's cores (torch uses
    one thread per core, up to 8 help); a GPU is taken as 20 times faster. A rough guide only.
    """
    import os

    parsed = parse_caption_spec(spec)
    if parsed.entry is None:
        return None
    base = parsed.entry.s_per_photo_cpu
    if device.startswith("cuda") or device == "mps":
        return base / 20.0
    cores = min(8, max(1, os.cpu_count() or 2))
    return base * 2.0 / cores
