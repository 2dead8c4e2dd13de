"""Fixtures every test shares. Area-specific fixtures live in that area's own conftest."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Set before anything imports huggingface_hub, transformers or Qt: they read these at import
# (the hub) or when the first QApplication is made (Qt). No test may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite runs the torch reference backend unless a test asks for ONNX Runtime
# (tests/core/test_onnx_backend.py); exports made by tests are cached with the test models.
os.environ.setdefault("MMEXPLORER_BACKEND", "torch")
os.environ.setdefault(
    "MMEXPLORER_ONNX_CACHE",
    str(Path(os.environ.get("MMEXPLORER_TEST_CACHE") or Path.home() / ".cache" / "mmexplorer-tests") / "onnx"),
)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's data dir at a fresh temp dir, outside any folder a test may index."""
    data = tmp_path_factory.mktemp("mmexplorer-data")
    monkeypatch.setenv("MMEXPLORER_DATA_DIR", str(data))
    return data


@pytest.fixture
def data_dir(_isolated_data_dir: Path) -> Path:
    """The data dir this test's app uses (MMEXPLORER_DATA_DIR)."""
    return _isolated_data_dir


@pytest.fixture(scope="session")
def format_zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per tricky format/filesystem case (see `make_format_zoo`); shared, so read-only."""
    from mmexplorer.devtools.synth import make_format_zoo

    return make_format_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def tree_snapshot() -> Callable[[str | os.PathLike[str]], dict[str, tuple[int, int, str]]]:
    """`snapshot_tree`: compare before/after to prove a folder was left byte-for-byte unchanged."""
    from mmexplorer.devtools.synth import snapshot_tree

    return snapshot_tree


@pytest.fixture(scope="session")
def aligned_model_dir() -> Path:
    """The small aligned image-text model the suite trains itself (cached between runs).

    A folder in open_clip's hf-hub layout: pass `str(aligned_model_dir)` wherever a model spec
    goes (`load_image_model`, `Engine(image_model=...)`, `--model`).
    """
    from mmexplorer.devtools.aligned import ensure_aligned_model

    return ensure_aligned_model()


@pytest.fixture(scope="session")
def test_captioner_dir() -> Path:
    """The test captioner the suite trains itself (devtools.captioner, cached between runs).

    A transformers folder that `load_caption_model` and `--caption-model` accept; one fixture for
    the core and the command-line tests, so a run loads and checks it once.
    """
    from mmexplorer.devtools import ensure_test_captioner

    return ensure_test_captioner()
