"""The sound space: CLAP through transformers' real classes, and the test sound model the suite trains.

Plumbing uses a ClapModel with a small random config that the tests write (real ClapModel,
ClapFeatureExtractor and RobertaTokenizer classes, random weights). Semantics use the small
audio-text model of devtools.sound, trained on synthesized sounds and cached between runs.
Nothing here downloads anything: the hub is off (tests/conftest.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models import parse_sound_spec
from mmexplorer.core.models.registry import DEFAULT_SOUND_MODEL, SOUND_MODELS, SoundSpecKind
from mmexplorer.core.models.sound import SoundEncoder, load_sound_model, resample, sound_chunks, window_times
from mmexplorer.devtools import sound as snd

RANDOM_SR = 16_000
RANDOM_WINDOW_S = 2


# -- a random-weights CLAP folder, written by the test -------------------------------------------


def write_random_clap(
    folder, *, sr: int = RANDOM_SR, window_s: int = RANDOM_WINDOW_S, hub_layout: bool = False
):
    """ClapModel + ClapProcessor save_pretrained of a small random config (real classes).

    hub_layout: save the feature extractor and the tokenizer on their own, as the laion repos on
    the hub hold them (preprocessor_config.json, tokenizer files), instead of processor_config.json.
    """
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tokenizer = snd.build_tokenizer(["a dog barking", "rain on a window", "a low hum", "a high beep"] * 5)
    extractor = ClapFeatureExtractor(
        feature_size=32, sampling_rate=sr, hop_length=256, max_length_s=window_s, fft_window_size=512,
        frequency_min=50, frequency_max=sr // 2, truncation="rand_trunc", padding="repeatpad",
    )  # fmt: skip
    config = ClapConfig(
        text_config={**snd.TEXT_CONFIG, "vocab_size": len(tokenizer)},
        audio_config=snd.AUDIO_CONFIG,
        projection_dim=48,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = ClapModel(config).eval()
    model.save_pretrained(str(folder))
    if hub_layout:
        extractor.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    else:
        ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def random_clap_dir(tmp_path_factory):
    return write_random_clap(tmp_path_factory.mktemp("clap-random") / "clap")


@pytest.fixture(scope="module")
def random_clap(random_clap_dir) -> SoundEncoder:
    return load_sound_model(str(random_clap_dir), device="cpu")


@pytest.fixture(scope="session")
def sound_model_dir():
    """The trained test sound model (trains once, about a minute on two threads, then cached)."""
    return snd.ensure_test_sound_model()


@pytest.fixture(scope="session")
def sound_model(sound_model_dir) -> SoundEncoder:
    return load_sound_model(str(sound_model_dir), device="cpu")


# -- specs -----------------------------------------------------------------------------------------


def test_default_and_registry_specs_name_hub_repos():
    default = parse_sound_spec(None)
    assert default.kind is SoundSpecKind.PRETRAINED and default.name == DEFAULT_SOUND_MODEL
    assert default.hf_hub_id == "laion/clap-htsat-unfused" and default.approx_mb and default.approx_mb > 100
    assert parse_sound_spec("default") == default
    assert parse_sound_spec("laion/clap-htsat-unfused") == default  # its hub id is the registry entry
    for entry in SOUND_MODELS:
        assert parse_sound_spec(entry.name).hf_hub_id == entry.hf_hub_id


def test_hub_and_folder_specs(random_clap_dir, tmp_path):
    hub = parse_sound_spec("someone/their-clap")
    assert hub.kind is SoundSpecKind.HF_HUB and hub.hf_hub_id == "someone/their-clap"
    assert parse_sound_spec("hf-hub:someone/their-clap").hf_hub_id == "someone/their-clap"
    local = parse_sound_spec(str(random_clap_dir))
    assert local.kind is SoundSpecKind.LOCAL_DIR and local.path == random_clap_dir.resolve()
    with pytest.raises(UsageError, match="not found"):
        parse_sound_spec(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        UsageError, match="not a CLAP model folder.*preprocessor_config.json or processor_config.json"
    ):
        parse_sound_spec(str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="Supported"):
        parse_sound_spec("clap-htsat-unfussed")


# -- loading ---------------------------------------------------------------------------------------


def test_loader_accepts_a_random_config_folder(random_clap, random_clap_dir):
    enc = random_clap
    assert enc.sample_rate == RANDOM_SR and enc.window_s == RANDOM_WINDOW_S and enc.dim == 48
    assert enc.model_id.startswith("clap:local:clap:")
    info = enc.info()
    assert info.space == "sound" and info.dim == 48 and info.device == "cpu"
    texts = enc.encode_texts(["a dog barking", "rain on a window", ""])
    assert texts.shape == (3, 48) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    rng = np.random.default_rng(0)
    audio = enc.encode_audio(
        [rng.standard_normal(RANDOM_SR).astype(np.float32) * 0.1, np.zeros(800, np.float32)]
    )
    assert audio.shape == (2, 48) and np.isfinite(audio).all()
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1.0, atol=1e-5)
    assert enc.encode_texts([]).shape == (0, 48)
    again = load_sound_model(str(random_clap_dir), device="cpu")
    assert again.model_id == enc.model_id  # the id is the weights' hash: stable across loads
    np.testing.assert_allclose(again.encode_texts(["a dog barking"]), texts[:1], atol=1e-5)


def test_loader_reads_the_hub_cache_offline(fake_hf_cache, tmp_path):
    hub_style = write_random_clap(tmp_path / "hub-style", hub_layout=True)
    files = {p.name: p for p in hub_style.iterdir() if p.is_file()}
    assert "preprocessor_config.json" in files and "processor_config.json" not in files
    fake_hf_cache("laion/clap-htsat-unfused", files)
    seen = []
    enc = load_sound_model("clap-htsat-unfused", device="cpu", on_status=seen.append)
    assert enc.model_id == "clap:clap-htsat-unfused" and enc.name == "clap-htsat-unfused"
    assert [s.state for s in seen] == ["loading", "ready"]  # cached: nothing downloaded
    assert enc.encode_texts(["a low hum"]).shape == (1, 48)


def test_offline_and_not_cached_names_the_model_and_how_to_get_it(fake_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = []
    with pytest.raises(ModelUnavailableError) as caught:
        load_sound_model("clap-htsat-unfused", device="cpu", on_status=seen.append)
    err = caught.value
    assert err.model == "clap-htsat-unfused"
    assert "mmexplorer models pull clap-htsat-unfused" in err.hint
    assert "--sound-model" in err.hint and "offline" in err.hint
    assert seen[-1].state == "failed" and seen[-1].space == "sound"


def test_a_broken_folder_is_a_clear_error(random_clap_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_clap_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelUnavailableError, match="could not be loaded as CLAP"):
        load_sound_model(str(broken), device="cpu")


# -- windows ----------------------------------------------------------------------------------------


def test_window_times_overlap_and_end_at_the_end():
    assert window_times(0.0, 2.0, 1.0) == []
    assert window_times(1.5, 2.0, 1.0) == [(0.0, 1.5)]
    assert window_times(2.0, 2.0, 1.0) == [(0.0, 2.0)]
    assert window_times(4.0, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0)]
    times = window_times(7.3, 2.0, 1.0)
    assert times[:2] == [(0.0, 2.0), (1.0, 3.0)] and times[-1] == (5.3, 7.3)
    assert all(b - a == pytest.approx(2.0) for a, b in times)
    assert all(t2[0] < t1[1] for t1, t2 in itertools.pairwise(times))  # they overlap
    hour = window_times(3600.0, 10.0, 5.0)
    assert len(hour) == 719 and hour[-1] == (3590.0, 3600.0)


def test_windows_of_a_long_recording(random_clap):
    enc = random_clap
    sr = 8_000  # another rate than the model's: every window is resampled
    t = np.arange(int(7.3 * sr)) / sr
    wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wins = enc.windows(wave, sr)
    assert [(a, b) for a, b, _x in wins] == window_times(7.3, 2.0, 1.0)
    for _a, _b, samples in wins:
        assert samples.shape == (enc.window_samples,) and samples.dtype == np.float32
    # resampled, not stretched: the tone is still 440 Hz at the model's rate
    spectrum = np.abs(np.fft.rfft(wins[1][2]))
    assert np.argmax(spectrum) * enc.sample_rate / enc.window_samples == pytest.approx(440, abs=2)


def test_windows_of_a_short_and_an_empty_recording(random_clap):
    enc = random_clap
    clip = np.linspace(-0.5, 0.5, int(0.75 * RANDOM_SR), dtype=np.float32)
    [(start, end, samples)] = enc.windows(clip, RANDOM_SR)
    assert (start, end) == (0.0, 0.75)  # the real times; the samples are padded to one window
    assert samples.shape == (enc.window_samples,)
    np.testing.assert_array_equal(samples[: len(clip)], clip)
    np.testing.assert_array_equal(samples[len(clip) : 2 * len(clip)], clip)  # repeated (repeatpad) ...
    assert not samples[2 * len(clip) :].any()  # ... then zeros
    assert enc.windows(np.zeros(0, np.float32), RANDOM_SR) == []
    stereo = np.stack([clip, clip], axis=1)
    [(_s, _e, mixed)] = enc.windows(stereo, RANDOM_SR)
    np.testing.assert_allclose(mixed, samples, atol=1e-6)
    with pytest.raises(UsageError):
        enc.windows(np.zeros((2, 2, 2)), RANDOM_SR)


def test_sound_chunks_give_window_times_and_their_vectors(random_clap):
    enc = random_clap
    rng = np.random.default_rng(3)
    wave = (rng.standard_normal(int(5.5 * 16_000)) * 0.05).astype(np.float32)
    times, vectors = sound_chunks(enc, wave, 16_000, batch_size=2)
    assert times == window_times(5.5, 2.0, 1.0)
    assert vectors.shape == (len(times), enc.dim) and vectors.dtype == np.float32
    direct = enc.encode_windows([x for _a, _b, x in enc.windows(wave, 16_000)])
    np.testing.assert_allclose(vectors, direct, atol=1e-5)  # batching does not change a vector
    empty_times, empty = sound_chunks(enc, np.zeros(0, np.float32), 16_000)
    assert empty_times == [] and empty.shape == (0, enc.dim)
    # a long query clip is the mean direction of its windows
    whole = enc.encode_audio([wave])[0]
    mean = direct.mean(axis=0)
    np.testing.assert_allclose(whole, mean / np.linalg.norm(mean), atol=1e-5)


def test_resample_keeps_duration_and_pitch():
    sr = 44_100
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, sr, 16_000)
    assert len(out) == 16_000
    assert np.argmax(np.abs(np.fft.rfft(out))) == pytest.approx(1000, abs=2)


# -- semantics with the trained test model -----------------------------------------------------------


def test_test_sound_model_folder_is_what_the_loader_and_flag_accept(sound_model_dir, sound_model):
    spec = parse_sound_spec(str(sound_model_dir))  # what --sound-model does with the folder
    assert spec.kind is SoundSpecKind.LOCAL_DIR
    meta = snd.read_meta(sound_model_dir)
    assert meta["version"] == snd.SOUND_VERSION and meta["recall_at_1"]["canonical"] >= snd.TARGET_RECALL
    assert sound_model.sample_rate == snd.SAMPLE_RATE and sound_model.window_s == snd.WINDOW_S
    assert sound_model.meaningful and "synthesized" in sound_model.info().note
    print(f"\ntest sound model: trained in {meta['train_seconds']}s, recall@1 {meta['recall_at_1']}")


def test_a_low_hum_finds_the_low_tone(sound_model):
    # held-out sounds (seeds far from training's), one of each kind, written and read as a library would
    kinds = snd.KIND_KEYS
    clips = [snd.render_sound(k, seed=snd.HELD_OUT_SEED + 77) for k in kinds]
    audio = sound_model.encode_audio(clips)
    for query, kind in [
        ("a low hum", "low_tone"),
        ("a high beep", "high_tone"),
        ("a falling whistle", "falling"),
        ("a rising whistle", "rising"),
        ("clicks", "clicks"),
    ]:
        scores = sound_model.encode_texts([query])[0] @ audio.T
        assert kinds[int(np.argmax(scores))] == kind, (query, dict(zip(kinds, scores.round(3), strict=True)))


def test_caption_recall_on_held_out_sounds(sound_model):
    recall = snd.evaluate_sound_recall(sound_model, n_per_kind=4, seed=snd.HELD_OUT_SEED + 500)
    print(f"\ncaption -> held-out sound recall@1: {recall}")
    assert recall["canonical"] >= 0.85
    assert recall["all_captions"] >= 0.8


def test_long_recording_windows_find_the_sound_inside(sound_model):
    """A hum in the middle of 9 s of faint noise: the best window for "a low hum" covers it."""
    sr = snd.SAMPLE_RATE
    rng = np.random.default_rng(5)
    wave = (rng.standard_normal(9 * sr) * 0.002).astype(np.float32)
    hum = snd.render_sound("low_tone", seed=snd.HELD_OUT_SEED + 9, duration=1.8)
    at = int(5.0 * sr)
    wave[at : at + len(hum)] += hum
    times, vectors = sound_chunks(sound_model, wave, sr)
    best = int(np.argmax(vectors @ sound_model.encode_texts(["a low hum"])[0]))
    start, end = times[best]
    assert start <= 5.9 and end >= 5.9, (times, best)


def test_sound_calibration_separates_captions_from_unrelated_text(sound_model):
    from mmexplorer.core import relevance as rel
    from mmexplorer.core.calibration import sound_text_data

    data = sound_text_data(
        sound_model.encode_audio, sound_model.encode_texts, sample_rate=sound_model.sample_rate, kind="text"
    )
    assert data.items.shape[1] == sound_model.dim and len(data.positives) == len(data.queries)
    assert any(not p for p in data.positives) and any(p for p in data.positives)
    fitted = rel.fit(data, model_id=sound_model.model_id, kind="text", gap=True)
    print(f"\nsound calibration AUC (text): {fitted.auc:.3f}")
    assert fitted.informative
    audio = sound_text_data(
        sound_model.encode_audio, sound_model.encode_texts, sample_rate=sound_model.sample_rate, kind="audio"
    )
    assert rel.fit(audio, model_id=sound_model.model_id, kind="audio").informative


# -- the space: a library without recordings never loads CLAP -------------------------------------------


def test_text_search_on_photos_and_notes_never_loads_the_sound_model(fake_hf_cache, monkeypatch, tmp_path):
    """The default CLAP is not in the (empty) hub cache and the hub is off: loading it would fail."""
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import Space, TextQuery
    from mmexplorer.devtools import synth

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "lib"
    synth.make_photo_library(root / "photos", n=6, seed=3, size=(64, 64))
    synth.make_note_library(root / "notes", notes=synth.NOTES[:3])
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        engine.index([root])
        results = engine.search(TextQuery("a red circle"), k=5)
        sound = engine.space(Space.SOUND)
        assert results
        assert not sound.loaded and sound.ntotal == 0 and not sound.wanted
        assert engine.space(Space.TEXT).wanted  # the eager spaces still load at start
        with pytest.raises(ModelUnavailableError, match="clap-htsat-unfused"):
            sound.encoder()  # proof the test would notice: loading it here does fail


def test_the_sound_space_is_wanted_at_start_only_once_it_has_vectors(tmp_path):
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import Space

    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        sound = engine.space(Space.SOUND)
        assert not sound.wanted and engine.space(Space.IMAGE).wanted
        vectors = np.eye(3, 64, dtype=np.float32)
        sound.index(64).add(np.arange(3, dtype=np.int64), vectors)  # as the recording handler will
        assert sound.wanted and not sound.loaded
