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
    CAPTION_MODELS,
    DEFAULT_CAPTION_MODEL,
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TEXT_MODEL,
    PRETRAINED_IMAGE_MODELS,
    TEXT_MODELS,
    TINY_RANDOM,
    ImageModelSpec,
    PretrainedCaptionModel,
    PretrainedImageModel,
    PretrainedTextModel,
    SpecKind,
    caption_model_entry,
    parse_caption_spec,
    parse_image_spec,
    supported_image_specs,
)

if TYPE_CHECKING:
    from mmexplorer.core.models.caption import Captioner, load_caption_model
    from mmexplorer.core.models.clip import ClipEncoder, load_image_model
    from mmexplorer.core.models.device import dtype_for, select_device
    from mmexplorer.core.models.text import TextEncoder, load_text_model
    from mmexplorer.core.models.weights import hub_cache_dir, is_offline, load_state_dict

_LAZY = {
    "Captioner": "mmexplorer.core.models.caption",
    "load_caption_model": "mmexplorer.core.models.caption",
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
    "CAPTION_MODELS",
    "DEFAULT_CAPTION_MODEL",
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "PRETRAINED_IMAGE_MODELS",
    "TEXT_MODELS",
    "TINY_RANDOM",
    "Captioner",
    "ClipEncoder",
    "Encoder",
    "ImageEncoder",
    "ImageModelSpec",
    "PretrainedCaptionModel",
    "PretrainedImageModel",
    "PretrainedTextModel",
    "SentenceEncoder",
    "SpecKind",
    "StatusCallback",
    "StatusReporter",
    "TextEncoder",
    "caption_model_entry",
    "dtype_for",
    "hub_cache_dir",
    "is_offline",
    "load_caption_model",
    "load_image_model",
    "load_state_dict",
    "load_text_model",
    "parse_caption_spec",
    "parse_image_spec",
    "select_device",
    "supported_image_specs",
]

# -- the sound space (CLAP) ----------------------------------------------------------------------
from mmexplorer.core.models.registry import (
    DEFAULT_SOUND_MODEL,
    SOUND_MODELS,
    PretrainedSoundModel,
    SoundModelSpec,
    SoundSpecKind,
    parse_sound_spec,
    sound_model_entry,
    supported_sound_specs,
)

if TYPE_CHECKING:
    from mmexplorer.core.models.sound import SoundEncoder, load_sound_model, sound_chunks

_LAZY.update(
    {
        "SoundEncoder": "mmexplorer.core.models.sound",
        "load_sound_model": "mmexplorer.core.models.sound",
        "sound_chunks": "mmexplorer.core.models.sound",
    }
)
__all__ += [
    "DEFAULT_SOUND_MODEL",
    "SOUND_MODELS",
    "PretrainedSoundModel",
    "SoundEncoder",
    "SoundModelSpec",
    "SoundSpecKind",
    "load_sound_model",
    "parse_sound_spec",
    "sound_chunks",
    "sound_model_entry",
    "supported_sound_specs",
]

# -- speech models (issue 9): faster-whisper; speech.py imports nothing heavy at module level -------
if TYPE_CHECKING:
    from mmexplorer.core.models.speech import (
        DEFAULT_SPEECH_MODEL,
        SPEECH_MODELS,
        SpeechModel,
        SpeechSlot,
        distinctive_words,
        load_speech_model,
        parse_speech_spec,
        resolve_speech_model,
        speech_model_entry,
    )

_LAZY.update(
    {
        name: "mmexplorer.core.models.speech"
        for name in (
            "DEFAULT_SPEECH_MODEL",
            "SPEECH_MODELS",
            "SpeechModel",
            "SpeechSlot",
            "distinctive_words",
            "load_speech_model",
            "parse_speech_spec",
            "resolve_speech_model",
            "speech_model_entry",
        )
    }
)
__all__ += [
    "DEFAULT_SPEECH_MODEL",
    "SPEECH_MODELS",
    "SpeechModel",
    "SpeechSlot",
    "distinctive_words",
    "load_speech_model",
    "parse_speech_spec",
    "resolve_speech_model",
    "speech_model_entry",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
