"""The ONNX Runtime backend: exports that match torch, int8 only where recall holds, rebuilds, fallbacks,
torch-free tokenizing and preprocessing, and a command-line search that never imports torch."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmexplorer.core.errors import ModelUnavailableError
from mmexplorer.core.models import onnx as ob
from mmexplorer.core.models.onnx.clip import preprocess_cfg
from mmexplorer.core.models.onnx.clip_inputs import ClipBpeTokenizer, clip_preprocess, open_clip_bpe_path
from mmexplorer.core.models.onnx.export import export_graph

TEXTS = [
    "a red circle",
    "A RED   circle!!",
    "two blue squares and a green triangle next to a yellow star",
    "café déjà vu — naïve façade",
    "&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; and &quot;quotes&quot;",
    "numbers 12345 and 3.14159, dates 2024-05-01",
    "emoji 🐶🌅 and CJK 日本語のテキスト",
    "can't won't they're I'll we've she'd",
    "",
    "   ",
    "x" * 400,
    " ".join(["word"] * 100),
    "Receipt INV-2024-017 from ACME Corp.",
    "tab\tseparated\nnew line",
    "mojibake: â€™ fixed by ftfy",
]


@pytest.fixture
def onnx_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh export cache for tests that break or count exports."""
    root = tmp_path / "onnx-cache"
    monkeypatch.setenv(ob.ENV_CACHE, str(root))
    return root


def test_clip_tokenizer_reproduces_open_clip_without_torch() -> None:
    import open_clip

    reference = open_clip.get_tokenizer("ViT-B-32")
    ours = ClipBpeTokenizer(open_clip_bpe_path(), context_length=77)
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghijklmnopqrstuvwxyz ABC.,!?'-éü0123456789&;") + ["日", "🐶", "\u00a0"]
    randoms = ["".join(rng.choice(alphabet, size=int(rng.integers(1, 60)))) for _ in range(200)]
    for text in TEXTS + randoms:
        assert np.array_equal(reference([text]).numpy(), ours([text])), text


def test_clip_tokenizer_tables_kept_by_an_export_give_the_same_tokens(tmp_path: Path) -> None:
    tables = tmp_path / "clip_bpe_tables.json"
    built = ClipBpeTokenizer(open_clip_bpe_path(), tables=tables)  # builds and writes the tables
    assert tables.is_file()
    read = ClipBpeTokenizer(open_clip_bpe_path(), tables=tables)
    assert read.encoder == built.encoder and read.bpe_ranks == built.bpe_ranks
    assert np.array_equal(read(TEXTS), built(TEXTS))


def test_truncation_at_end_of_text_keeps_the_embedding(tiny_clip, onnx_cache: Path) -> None:
    from mmexplorer.core.models import load_image_model

    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    assert isinstance(enc, ob.OnnxClipEncoder)
    tokens = enc.tokenize(["a red circle", "a longer query about two blue squares"])
    assert tokens.shape[1] < 77 and tokens.shape[1] == int(np.max(np.argmax(tokens, axis=1))) + 1
    got = enc.encode_texts(TEXTS)
    want = tiny_clip.encode_texts(TEXTS)  # torch, full 77 positions
    assert ob.min_cosine(got, want) >= ob.MIN_COSINE


def test_preprocess_matches_the_torch_transform(tiny_clip) -> None:
    from PIL import Image

    cfg = preprocess_cfg(tiny_clip.model, tiny_clip.image_size)
    rng = np.random.default_rng(1)
    for w, h, mode in [(64, 64, "RGB"), (120, 90, "RGB"), (33, 200, "L"), (300, 301, "RGBA"), (17, 12, "RGB")]:
        pixels = rng.integers(0, 255, size=(h, w, 4 if mode == "RGBA" else 3), dtype=np.uint8)
        img = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode=mode)
        want = tiny_clip.preprocess(img.convert("RGB") if mode == "RGBA" else img).numpy()
        got = clip_preprocess(img.convert("RGB") if mode == "RGBA" else img, cfg)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_tiny_random_export_matches_torch_and_is_reused(tiny_clip, onnx_cache: Path) -> None:
    from PIL import Image

    from mmexplorer.core.models import load_image_model

    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    images = [Image.new("RGB", (80 + 7 * i, 64), (30 * i, 200 - 20 * i, 90)) for i in range(5)]
    assert ob.min_cosine(enc.encode_images(images), tiny_clip.encode_images(images)) >= ob.MIN_COSINE
    meta = json.loads((enc.folder / ob.META).read_text())
    assert meta["graphs"]["image"]["cosine_to_torch"] >= ob.MIN_COSINE
    assert meta["graphs"]["image"]["precision"] == "fp32"  # a random model's recall says nothing: no int8
    stamp = (enc.folder / meta["graphs"]["text"]["file"]).stat().st_mtime_ns
    again = ob.CLIP.load_cached(
        ob_model_id("tiny-random"), name="tiny-random", device="cpu", backend="onnx", torch_loader=lambda: tiny_clip
    )
    assert again is not None and (again.folder / meta["graphs"]["text"]["file"]).stat().st_mtime_ns == stamp
    assert enc.info().model_id == tiny_clip.model_id and enc.dim == tiny_clip.dim


def test_a_graph_is_optimized_once_and_later_sessions_open_it_as_is(tiny_clip, onnx_cache: Path) -> None:
    from mmexplorer.core.models import load_image_model

    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    exported = enc.folder / enc.meta["graphs"]["text"]["file"]
    first = enc.encode_texts(TEXTS[:6])  # the first session optimizes and keeps the result
    graph = enc.meta["graphs"]["text"]
    assert graph["optimized"] and graph["file"].endswith(".opt.onnx") and not exported.exists()
    assert not list(enc.folder.glob("*.tmp"))
    on_disk = ob.read_meta(enc.folder, enc.model_id)  # the stamps of the optimized file hold
    assert on_disk is not None and on_disk["graphs"]["text"]["file"] == graph["file"]
    again = ob.CLIP.load_cached(
        ob_model_id("tiny-random"), name="tiny-random", device="cpu", backend="onnx", torch_loader=lambda: tiny_clip
    )
    assert again is not None
    assert np.allclose(again.encode_texts(TEXTS[:6]), first, atol=1e-5)
    assert ob.min_cosine(first, tiny_clip.encode_texts(TEXTS[:6])) >= ob.MIN_COSINE


def ob_model_id(spec: str) -> str | None:
    from mmexplorer.core.models import parse_image_spec
    from mmexplorer.core.models.clip import model_id_for

    return model_id_for(parse_image_spec(spec))


def test_aligned_model_export_matches_torch_and_int8_keeps_recall(aligned_model_dir: Path, onnx_cache: Path) -> None:
    from mmexplorer.core.calibration import image_text_data
    from mmexplorer.core.models import load_image_model

    torch_enc = load_image_model(str(aligned_model_dir), device="cpu", backend="torch")
    enc = load_image_model(str(aligned_model_dir), device="cpu", backend="onnx")
    assert isinstance(enc, ob.OnnxClipEncoder) and enc.model_id == torch_enc.model_id
    meta = enc.meta
    for tower in ("image", "text"):
        graph = meta["graphs"][tower]
        assert graph["cosine_to_torch"] >= ob.MIN_COSINE
        assert graph["recall_fp32"] is not None
        if graph["precision"] == "int8":
            assert graph["recall_int8"] >= graph["recall_fp32"] - ob.MAX_RECALL_LOSS
    # The encoder as the app uses it retrieves as well as torch on the labelled scenes.
    data_t = image_text_data(torch_enc.encode_images, torch_enc.encode_texts, image_size=enc.image_size, kind="text")
    data_o = image_text_data(enc.encode_images, enc.encode_texts, image_size=enc.image_size, kind="text")
    r_t = ob.recall_at_1(data_t.queries, data_t.items, data_t.positives)
    r_o = ob.recall_at_1(data_o.queries, data_o.items, data_o.positives)
    assert r_t > 0.5
    assert r_o >= r_t - 2 * ob.MAX_RECALL_LOSS


def test_an_int8_graph_that_loses_recall_is_refused(tmp_path: Path) -> None:
    """A weight matrix whose first row and column are huge: int8 rounds every other weight to zero.

    Each output channel and each input channel holds a 2000, so per-channel scales of about 16
    wipe out the ~1 weights that carry the signal. The inputs have nothing on feature 0 and sum to
    zero, so in fp32 the huge weights add nothing and the items stay apart.
    """
    import torch

    dim, n = 32, 40
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((dim, dim)).astype(np.float32) * 0.01 + np.eye(dim, dtype=np.float32)
    weight[:, 0] = 2000.0
    weight[0, :] = 2000.0
    layer = torch.nn.Linear(dim, dim, bias=False)
    layer.weight.data = torch.from_numpy(weight)
    fp32 = tmp_path / "lin.fp32.onnx"
    export_graph(layer, (torch.zeros(2, dim),), fp32, ["x"], {"x": {0: "n"}, "embedding": {0: "n"}})

    def centred(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32).copy()
        x[:, 0] = 0.0
        x[:, 1:] -= x[:, 1:].mean(axis=1, keepdims=True)
        return x

    items = centred(rng.standard_normal((n, dim)))
    queries = centred(items + 0.05 * rng.standard_normal((n, dim)))
    positives = [frozenset({i}) for i in range(n)]

    def recall(graph: Path) -> float:
        session = ob.open_session(graph)
        run = lambda x: ob.normalised(session.run(None, {"x": x})[0])
        return ob.recall_at_1(run(queries), run(items), positives)

    record = ob.choose_precision(fp32, tmp_path / "lin.int8.onnx", recall)
    assert record["recall_fp32"] >= 0.95
    assert record["recall_int8"] < record["recall_fp32"] - ob.MAX_RECALL_LOSS  # it truly loses
    assert record["precision"] == "fp32" and record["file"] == fp32.name
    assert fp32.exists() and not (tmp_path / "lin.int8.onnx").exists()
    assert "lost more than" in record["reason"]


def test_stale_export_is_rebuilt(tiny_clip, onnx_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mmexplorer.core.models import load_image_model

    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    graph = enc.folder / enc.meta["graphs"]["text"]["file"]
    with open(graph, "ab") as fh:
        fh.write(b"appended by another program")
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    again = load_image_model("tiny-random", device="cpu", backend="onnx")
    assert any("changed since it was checked" in r.getMessage() for r in caplog.records)
    assert ob.min_cosine(again.encode_texts(TEXTS[:4]), tiny_clip.encode_texts(TEXTS[:4])) >= ob.MIN_COSINE


def test_corrupt_export_is_rebuilt(tiny_clip, onnx_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mmexplorer.core.models import load_image_model

    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    graph = enc.folder / enc.meta["graphs"]["text"]["file"]
    st = graph.stat()
    graph.write_bytes(os.urandom(st.st_size))  # same size, same time: only loading it tells
    os.utime(graph, ns=(st.st_atime_ns, st.st_mtime_ns))
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    again = load_image_model("tiny-random", device="cpu", backend="onnx")
    assert isinstance(again, ob.OnnxClipEncoder)
    vectors = again.encode_texts(TEXTS[:4])
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    assert ob.min_cosine(vectors, tiny_clip.encode_texts(TEXTS[:4])) >= ob.MIN_COSINE
    assert ob.read_meta(again.folder, again.model_id) is not None


def test_missing_onnxruntime_falls_back_to_torch_with_one_log_line(
    tiny_clip, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mmexplorer.core.models import load_image_model

    for name in [m for m in sys.modules if m == "onnxruntime" or m.startswith("onnxruntime.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is absent
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    enc = load_image_model("tiny-random", device="cpu", backend="onnx")
    assert enc.backend == "torch"
    lines = [r.getMessage() for r in caplog.records if "runs on torch" in r.getMessage()]
    assert len(lines) == 1 and "onnxruntime is not installed" in lines[0]


def test_an_export_this_backend_cannot_replicate_falls_back_to_torch(
    tmp_path: Path, onnx_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    from mmexplorer.core.models import load_image_model
    from mmexplorer.core.models.clip import TINY_RANDOM_CONFIG, _create, register_arch, save_open_clip_folder

    register_arch("mmx-test-longest", TINY_RANDOM_CONFIG)
    torch.manual_seed(0)
    model = _create("mmx-test-longest", precision="fp32")
    model.visual.preprocess_cfg["resize_mode"] = "longest"  # letterboxing: not replicated without torch
    folder = save_open_clip_folder(model, tmp_path / "longest", model_cfg=TINY_RANDOM_CONFIG,
                                   extra_config={"model_name": "longest"})
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    enc = load_image_model(str(folder), device="cpu", backend="onnx")
    assert enc.backend == "torch"
    lines = [r.getMessage() for r in caplog.records if "runs on torch" in r.getMessage()]
    assert len(lines) == 1 and "preprocessing" in lines[0]


def test_offline_without_weights_or_export_names_the_model(
    fake_hf_cache, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmexplorer.core.models import DEFAULT_IMAGE_MODEL, load_image_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as e:
        load_image_model(DEFAULT_IMAGE_MODEL, device="cpu", backend="onnx")
    assert DEFAULT_IMAGE_MODEL in str(e.value)


def test_sentence_encoder_export_matches_torch(minilm) -> None:
    from mmexplorer.core.models import load_text_model

    enc = load_text_model(device="cpu", backend="onnx")  # the suite's cached export (built on first use)
    assert isinstance(enc, ob.OnnxTextEncoder)
    assert ob.min_cosine(enc.encode(TEXTS), minilm.encode(TEXTS)) >= (
        ob.MIN_COSINE if enc.dtype == "float32" else 0.98
    )
    assert enc.max_tokens == minilm.max_tokens
    for text in TEXTS:
        assert enc.count_tokens(text) == minilm.count_tokens(text)
    graph = enc.meta["graphs"]["text"]
    if graph["precision"] == "int8":
        assert graph["recall_int8"] >= graph["recall_fp32"] - ob.MAX_RECALL_LOSS


def test_auto_measures_once_and_remembers(tiny_clip, onnx_cache: Path) -> None:
    from mmexplorer.core.models import load_image_model

    news = []
    enc = load_image_model("tiny-random", device="cpu", backend="auto", on_status=news.append)
    folder = ob.export_dir(tiny_clip.model_id)
    choice = json.loads((folder / ob.META).read_text())["choice"]["cpu"]
    assert choice["backend"] in ("torch", "onnx") and choice["backend"] == enc.backend
    # The first use says what the minute goes to (the status bar shows it), not just "loading".
    said = [s.message for s in news if s.state == "loading"]
    assert any(m.startswith("Preparing a faster version of tiny-random") for m in said), said
    assert any(m.startswith("Measuring which way runs tiny-random faster") for m in said), said
    news.clear()
    again = load_image_model("tiny-random", device="cpu", backend="auto", on_status=news.append)
    assert again.backend == enc.backend
    assert json.loads((folder / ob.META).read_text())["choice"]["cpu"] == choice
    assert not any("Preparing" in s.message or "Measuring" in s.message for s in news)  # done once


def test_query_cache_encodes_a_repeated_query_once(tmp_path: Path) -> None:
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import Space, TextQuery

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "garden.txt").write_text("We planted tomatoes in the garden this spring.")
    with Engine(tmp_path / "lib", image_model="tiny-random", device="cpu") as engine:
        engine.index([tmp_path / "notes"])
        space = engine.space(Space.TEXT)
        encoder = space.encoder()
        calls = []
        original = encoder.encode

        def counting(texts, **kw):  # counts calls into the real encoder
            calls.append(list(texts))
            return original(texts, **kw)

        encoder.encode = counting
        first = engine.search(TextQuery("tomato garden"), k=5)
        n = len(calls)
        second = engine.search(TextQuery("tomato garden"), k=5)
        assert len(calls) == n  # the second run encoded nothing
        assert [r.item_id for r in first] == [r.item_id for r in second]
        engine.search(TextQuery("something else"), k=5)
        assert len(calls) == n + 1


def test_cli_search_on_the_onnx_path_imports_no_torch(tmp_path: Path) -> None:
    """Index with --backend onnx (exports made), then search in a fresh process: no torch, open_clip, transformers."""
    photos = tmp_path / "media"
    photos.mkdir()
    from mmexplorer.devtools import synth

    for i, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"), ("green", "triangle")]):
        synth.render_shape(colour, shape, size=96, seed=i).save(photos / f"{colour}_{shape}.jpg")
    (photos / "garden.txt").write_text("We planted tomatoes in the garden this spring.")
    env = {**os.environ, "MMEXPLORER_BACKEND": "auto", "OMP_NUM_THREADS": "1", ob.ENV_THREADS: "1"}
    data = tmp_path / "lib"
    index = subprocess.run(
        [sys.executable, "-m", "mmexplorer", "index", str(photos), "--data-dir", str(data), "--model", "tiny-random",
         "--backend", "onnx", "--no-captions"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert index.returncode == 0, index.stderr
    probe = (
        "import sys\n"
        "from mmexplorer import cli\n"
        f"code = cli.main(['search', 'tomato garden', '--data-dir', {str(data)!r}, '--backend', 'onnx', '--json'])\n"
        "heavy = [m for m in ('torch', 'open_clip', 'transformers', 'sentence_transformers', 'torchvision')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    for _ in range(2):  # the first search fits and caches the relevance maps; both must stay torch-free
        run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stderr
        assert "HEAVY [] CODE 0" in run.stdout, run.stdout + run.stderr
        assert "garden.txt" in run.stdout
