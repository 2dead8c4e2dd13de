"""Captions (issue 10): the captioner loader, the suite's trained test captioner, and background
captioning into the catalog and the text space, searchable "via caption"."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.types import ModelStatus, Space, TextQuery

# -- checkpoints the tests write -------------------------------------------------------------------
BLIP_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "dog", "cat", "on", "the", "beach"]


def write_random_blip(folder: Path, *, seed: int = 0) -> Path:
    """A tiny BlipForConditionalGeneration (the default captioner's class) with random weights,
    saved with its processor and a word-piece tokenizer exactly as transformers writes a real one."""
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(BLIP_WORDS) + "\n", encoding="utf-8")
    config = BlipConfig(
        text_config={
            "vocab_size": len(BLIP_WORDS), "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 37, "max_position_embeddings": 40, "bos_token_id": 2, "sep_token_id": 3,
            "eos_token_id": 3, "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37,
            "image_size": 32, "patch_size": 8,
        },
        projection_dim=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=BertTokenizerFast(vocab_file=str(vocab)),
    )
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def random_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_blip(tmp_path_factory.mktemp("random-blip"))


@pytest.fixture(scope="session")
def test_captioner(test_captioner_dir: Path):
    from mmexplorer.core.models.caption import load_caption_model

    return load_caption_model(str(test_captioner_dir), device="cpu")


def _scene(objects, seed=0, size=160):
    from mmexplorer.devtools.scenes import render_scene

    return render_scene(objects, size=size, seed=seed).image


# -- the loader ------------------------------------------------------------------------------------
def test_specs_parse_without_heavy_imports(tmp_path):
    from mmexplorer.core.models.registry import CaptionSpecKind, parse_caption_spec

    assert parse_caption_spec(None).name == "blip-base"
    assert parse_caption_spec("Salesforce/blip-image-captioning-base").kind is CaptionSpecKind.PRETRAINED
    assert parse_caption_spec("hf-hub:someone/captioner").hf_hub_id == "someone/captioner"
    assert parse_caption_spec("someone/captioner").kind is CaptionSpecKind.HF_HUB
    with pytest.raises(UsageError, match="not a transformers captioner folder"):
        parse_caption_spec(str(tmp_path))
    with pytest.raises(UsageError, match="not found"):
        parse_caption_spec(str(tmp_path / "absent"))
    with pytest.raises(UsageError, match="unknown caption model"):
        parse_caption_spec("no-such-captioner")


def test_default_class_loads_from_the_hub_cache_and_captions(random_blip_dir, fake_hf_cache):
    """The default spec resolves through the real hub-cache code to a BLIP checkpoint the test wrote."""
    from mmexplorer.core.models.caption import load_caption_model

    files = {p.name: p for p in random_blip_dir.iterdir() if p.is_file()}
    fake_hf_cache("Salesforce/blip-image-captioning-base", files)
    seen: list[ModelStatus] = []
    captioner = load_caption_model("blip-base", device="cpu", on_status=seen.append)
    assert captioner.family == "blip"
    assert captioner.model_id.startswith("caption:blip-base@")
    assert seen[0].state == "loading" and seen[-1].state == "ready"
    assert all(s.space == "caption" for s in seen)
    from PIL import Image

    out = captioner.caption([Image.new("RGB", (50, 40), (200, 10, 10)), Image.new("L", (30, 30))])
    assert len(out) == 2 and all(isinstance(c, str) for c in out)
    assert set(" ".join(out).split()) <= set(BLIP_WORDS)  # only words of its vocabulary, no specials
    assert captioner.caption([]) == []
    info = captioner.info()
    assert info.space == "caption" and info.model_id == captioner.model_id


def test_a_local_folder_gets_an_id_from_its_weights(random_blip_dir, tmp_path):
    from mmexplorer.core.models.caption import load_caption_model

    other = write_random_blip(tmp_path / "other", seed=1)
    a = load_caption_model(str(random_blip_dir), device="cpu")
    b = load_caption_model(str(other), device="cpu")
    assert a.model_id.startswith("caption:local:") and a.model_id != b.model_id
    copy = tmp_path / "copy"
    shutil.copytree(random_blip_dir, copy)
    assert load_caption_model(str(copy), device="cpu").model_id == a.model_id


def test_offline_and_not_cached_fails_fast_naming_the_model(fake_hf_cache, monkeypatch):
    from mmexplorer.core.models.caption import load_caption_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen: list[ModelStatus] = []
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_caption_model("blip-base", device="cpu", on_status=seen.append)
    assert time.monotonic() - started < 5
    assert info.value.model == "blip-base"
    assert "mmexplorer models pull blip-base" in info.value.hint
    assert seen[-1].state == "failed" and "blip-base" in seen[-1].message


def test_a_folder_that_is_no_captioner_is_a_usage_error(tmp_path):
    from mmexplorer.core.models.caption import load_caption_model

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UsageError, match="not a captioner"):
        load_caption_model(str(tmp_path), device="cpu")


def test_estimate_before_download():
    from mmexplorer.core.models.caption import estimate_seconds_per_photo

    cpu = estimate_seconds_per_photo("blip-base", device="cpu")
    assert cpu is not None and cpu > 0
    assert estimate_seconds_per_photo("blip-base", device="cuda") < cpu
    assert estimate_seconds_per_photo("someone/captioner") is None


# -- the trained test captioner --------------------------------------------------------------------
# The targets are single >= 0.9 and pair >= 0.7. The suite's captioner (captioner-v4, hybrid
# ResNet+ViT encoder, 1000 steps) measures 0.98-1.0 single, 0.98-1.0 pair and 0.93-0.99 quad on
# held-out scenes (100 per layout, three seeds and sizes); captioner-v3 (Swin) measured 0.65 / 0.3.
# The bars sit a little under the measured figures (30 scenes a layout here: one miss is 0.033), so
# a regression fails.
SINGLE_FLOOR, PAIR_FLOOR, QUAD_FLOOR = 0.9, 0.85, 0.75


def test_test_captioner_names_colour_and_shape(test_captioner, test_captioner_dir):
    """Held-out scenes it never saw: every object's colour with its shape named (targets 0.9 / 0.7)."""
    from mmexplorer.devtools.captioner import evaluate_captioner, read_meta

    accuracy = evaluate_captioner(test_captioner, n_per_layout=30, seed=900_000, size=200)
    print(f"\n[figures] test captioner, held-out scenes: {accuracy} (targets single 0.9, pair 0.7)")
    assert accuracy["single"] >= SINGLE_FLOOR, accuracy
    assert accuracy["pair"] >= PAIR_FLOOR, accuracy
    assert accuracy["quad"] >= QUAD_FLOOR, accuracy
    meta = read_meta(test_captioner_dir)
    assert meta is not None and meta["accuracy"]["single"] >= SINGLE_FLOOR and meta["accuracy"]["pair"] >= PAIR_FLOOR
    captions = test_captioner.caption([_scene([(c, s)], seed=3) for c, s in OBJECTS])
    # every caption names its own object, colour with shape, and no other colour
    for (colour, shape), caption in zip(OBJECTS, captions, strict=True):
        assert f"{colour} {shape}" in caption, captions
        assert not any(c in caption for c, _ in OBJECTS if c != colour), captions
    # two objects side by side: both named, in reading order (left first)
    pair = [("red", "triangle"), ("blue", "ring")]
    (caption,) = test_captioner.caption([_scene(pair, seed=11, size=200)])
    assert caption == "a red triangle and a blue ring", caption


def test_ensure_is_cached(test_captioner_dir):
    from mmexplorer.devtools import ensure_test_captioner

    started = time.monotonic()
    assert ensure_test_captioner() == test_captioner_dir
    assert time.monotonic() - started < 2  # no retraining


# -- background captioning in a library ------------------------------------------------------------
OBJECTS = [("purple", "star"), ("red", "circle"), ("blue", "square"), ("green", "triangle"),
           ("yellow", "ring"), ("orange", "cross")]


@pytest.fixture
def shape_library(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, obj in enumerate(OBJECTS):
        _scene([obj], seed=i).save(folder / f"photo{i}.png")
    return folder


@pytest.fixture
def engine(shape_library, data_dir):
    from mmexplorer.core.engine import Engine

    with Engine(data_dir, image_model="tiny-random", device="cpu") as e:
        e.index([shape_library])
        yield e


def test_captions_are_stored_searchable_and_shown(engine, shape_library, test_captioner_dir):
    engine.set_caption_model(str(test_captioner_dir))
    before = engine.caption_status()
    assert (before.captioned, before.total, before.enabled) == (0, len(OBJECTS), True)
    seen = []
    report = engine.caption_photos(progress=seen.append)
    assert report.captioned == len(OBJECTS) and report.embedded == len(OBJECTS) and not report.reason
    assert seen[-1].phase == "done" and any(p.phase == "captioning" and p.done == len(OBJECTS) for p in seen)
    status = engine.status().captions
    assert status is not None and status.captioned == status.total == len(OBJECTS) and status.remaining == 0

    star = engine.item_by_path(shape_library / "photo0.png")
    assert star is not None and "purple" in (star.caption or ""), star.caption
    # The photo's own caption, asked as a person would, finds it through the text space (the image
    # model is tiny-random: its pixels say nothing, so only the caption can place it first).
    query = f"a picture of {star.caption}"
    results = engine.search(TextQuery(query), k=5)
    top = results[0]
    assert Path(top.path).name == "photo0.png", [(Path(r.path).name, r.relevance) for r in results]
    assert any(c.space == "text" and c.via == "caption" for c in top.components), top.components
    assert top.caption == star.caption and top.chunk_text is None
    assert top.relevant
    # Photos only: the caption still reaches them through the text space.
    photo_only = engine.search(TextQuery(query), k=3, modality="photo")
    assert Path(photo_only[0].path).name == "photo0.png"

    again = engine.caption_photos()  # nothing left to do
    assert again.captioned == 0 and again.embedded == 0


def test_captions_are_redone_when_the_model_changes(engine, test_captioner_dir, random_blip_dir):
    engine.set_caption_model(str(test_captioner_dir))
    engine.caption_photos()
    text_vectors = engine.space(Space.TEXT).ntotal
    assert text_vectors == len(OBJECTS)
    engine.set_caption_model(str(random_blip_dir))
    assert engine.caption_status().captioned == 0
    assert engine.caption_photos().captioned == len(OBJECTS)
    # Random weights say nothing useful; back to the test captioner, and search finds the star again.
    engine.set_caption_model(str(test_captioner_dir))
    assert engine.caption_photos().captioned == len(OBJECTS)
    assert engine.space(Space.TEXT).ntotal == len(OBJECTS)  # old caption vectors were replaced
    caption = engine.item_by_path(Path(engine.roots()[0]) / "photo0.png").caption
    top = engine.search(TextQuery(caption), k=3)[0]
    assert Path(top.path).name == "photo0.png"


def test_a_changed_photo_is_captioned_again(engine, shape_library, test_captioner_dir):
    engine.set_caption_model(str(test_captioner_dir))
    engine.caption_photos()
    _scene([("green", "circle")], seed=40).save(shape_library / "photo0.png")
    engine.index([shape_library])
    assert engine.caption_status().captioned == len(OBJECTS) - 1
    assert engine.caption_photos().captioned == 1
    assert "green circle" in (engine.item_by_path(shape_library / "photo0.png").caption or "")


def test_pause_and_cancel(engine, test_captioner_dir):
    engine.set_caption_model(str(test_captioner_dir))
    pause = threading.Event()
    pause.set()
    deadline = time.monotonic() + 0.5
    started = time.monotonic()
    report = engine.caption_photos(cancel=lambda: time.monotonic() > deadline, pause=pause)
    assert report.cancelled and report.captioned == 0 and report.remaining == len(OBJECTS)
    assert time.monotonic() - started >= 0.5  # it waited while paused

    calls = [0]

    def after_first_batch() -> bool:
        calls[0] += 1
        return calls[0] > 1

    from mmexplorer.core.indexer.caption import CaptionPass

    part = CaptionPass(engine.catalog, engine.space(Space.TEXT), engine.captioner, batch_size=2).run(
        cancel=after_first_batch
    )
    assert part.cancelled and part.captioned == 2 and part.remaining == len(OBJECTS) - 2
    pause.clear()
    rest = engine.caption_photos(pause=pause)
    assert rest.captioned == len(OBJECTS) - 2 and not rest.cancelled


def test_an_unavailable_captioner_leaves_photos_uncaptioned_and_search_works(engine, fake_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert engine.caption_spec == "blip-base"
    report = engine.caption_photos()
    assert report.captioned == 0 and report.remaining == len(OBJECTS)
    assert "blip-base" in report.reason and "offline" in report.reason
    status = engine.status().captions
    assert status.remaining == len(OBJECTS) and "blip-base" in status.reason
    assert status.approx_mb and status.s_per_photo
    assert engine.search(TextQuery("a purple star"), k=3, modality="photo")  # by pixels, no caption


def test_captions_can_be_turned_off(engine, test_captioner_dir):
    engine.set_caption_model(str(test_captioner_dir))
    engine.set_captions_enabled(False)
    report = engine.caption_photos()
    assert report.captioned == 0 and "off" in report.reason
    assert engine.status().captions.enabled is False
    engine.set_captions_enabled(True)
    assert engine.caption_photos().captioned == len(OBJECTS)
