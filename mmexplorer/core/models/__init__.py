"""Model specs, weights resolution, devices, and the encoders of each vector space.

Importing this package is cheap (no torch, open_clip or transformers): the encoders and loaders
are imported on first attribute access, so the GUI can start before torch is loaded. `base`
holds what every encoder offers (the `ImageEncoder` and `SentenceEncoder` Protocols) and the one
`StatusReporter` every loader sends its loading / downloading / ready / failed news through.

    from mmexplorer.core.models import load_image_model, load_text_model
    clip = load_image_model("tiny-random", device="cpu")
    vectors = clip.encode_texts(["a red circle"])      # (1, dim) float32, unit norm
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmexplorer.core.lazy import lazy_attributes
from mmexplorer.core.models.base import (
    Encoder,
    ImageEncoder,
    SentenceEncoder,
    StatusCallback,
    StatusReporter,
)
from mmexplorer.core.models.registry import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TEXT_MODEL,
    PRETRAINED_IMAGE_MODELS,
    TEXT_MODELS,
    TINY_RANDOM,
    ImageModelSpec,
    PretrainedImageModel,
    PretrainedTextModel,
    SpecKind,
    parse_image_spec,
    supported_image_specs,
)

if TYPE_CHECKING:
    from mmexplorer.core.models.clip import ClipEncoder, load_image_model
    from mmexplorer.core.models.device import dtype_for, select_device
    from mmexplorer.core.models.text import TextEncoder, load_text_model
    from mmexplorer.core.models.weights import hub_cache_dir, is_offline, load_state_dict

_LAZY = {
    "ClipEncoder": "mmexplorer.core.models.clip",
    "load_image_model": "mmexplorer.core.models.clip",
    "TextEncoder": "mmexplorer.core.models.text",
    "load_text_model": "mmexplorer.core.models.text",
    "select_device": "mmexplorer.core.models.device",
    "dtype_for": "mmexplorer.core.models.device",
    "hub_cache_dir": "mmexplorer.core.models.weights",
    "is_offline": "mmexplorer.core.models.weights",
    "load_state_dict": "mmexplorer.core.models.weights",
}

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "PRETRAINED_IMAGE_MODELS",
    "TEXT_MODELS",
    "TINY_RANDOM",
    "ClipEncoder",
    "Encoder",
    "ImageEncoder",
    "ImageModelSpec",
    "PretrainedImageModel",
    "PretrainedTextModel",
    "SentenceEncoder",
    "SpecKind",
    "StatusCallback",
    "StatusReporter",
    "TextEncoder",
    "dtype_for",
    "hub_cache_dir",
    "is_offline",
    "load_image_model",
    "load_state_dict",
    "load_text_model",
    "parse_image_spec",
    "select_device",
    "supported_image_specs",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
