"""A recording in the window: looking at it and playing it (listening to a query: ui/microphone.py).

- `RecordingView` is the detail pane's recording section: the waveform (pyqtgraph, imported when
  the first recording is shown) with the matched segment and the play head, play/pause, and the
  transcript with the matched segment highlighted. Peaks come from core.thumbnails.waveform on a
  pool thread (`WaveformLoader`); playback is QtMultimedia's QMediaPlayer + QAudioOutput
  (`Player`), created on first use.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QColor, QFont, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.names import display_path
from mmexplorer.core.types import ItemDetail, SearchResult, Segment, Transcript
from mmexplorer.ui import icons, theme
from mmexplorer.ui.timefmt import format_clock

log = logging.getLogger(__name__)

#: The detail pane's waveform, time axis included; the transcript box fits its text within these.
WAVE_HEIGHT = 104
TRANSCRIPT_MIN_H, TRANSCRIPT_MAX_H = 64, 300


class _WaveSignals(QObject):
    done = Signal(object, object)  # raw path, Waveform
    failed = Signal(object, str)


class _WaveJob(QRunnable):
    def __init__(self, signals: _WaveSignals, path: str, cache_dir: Path) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._signals, self._path, self._cache_dir = signals, path, cache_dir

    def run(self) -> None:  # a pool thread: decoding a long recording never blocks the window
        from mmexplorer.core import thumbnails

        try:
            wave = thumbnails.waveform(self._path, self._cache_dir)
        except Exception as e:  # noqa: BLE001 - shown as "no waveform", never raised
            self._signals.failed.emit(self._path, getattr(e, "reason", None) or str(e))
            return
        self._signals.done.emit(self._path, wave)


class WaveformLoader(QObject):
    """Peaks of recordings (core.thumbnails.waveform, cached in the data dir) made on a pool thread."""

    ready = Signal(object, object)  # raw path, Waveform
    failed = Signal(object, str)

    def __init__(self, cache_dir: Callable[[], Path | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache_dir = cache_dir
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _WaveSignals(self)
        q = Qt.ConnectionType.QueuedConnection
        self._signals.done.connect(self.ready, q)
        self._signals.failed.connect(self.failed, q)

    def request(self, path: str) -> bool:
        cache = self._cache_dir()
        if cache is None:
            return False
        self._pool.start(_WaveJob(self._signals, path, Path(cache)))
        return True

    def wait_idle(self, timeout_ms: int = 10_000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))


class Player(QObject):
    """Plays one recording through QtMultimedia; positions are in seconds.

    Created on first use (QtMultimedia loads FFmpeg). `position_changed(s)`, `playing_changed(bool)`,
    `failed(message)`. Playback with no audio device still runs the clock, so tests can drive it.
    """

    position_changed = Signal(float)
    duration_changed = Signal(float)
    playing_changed = Signal(bool)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self._QMediaPlayer = QMediaPlayer
        self.media = QMediaPlayer(self)
        self.output = QAudioOutput(self)
        self.media.setAudioOutput(self.output)
        self.path: str | None = None
        self._pending_seek: float | None = None
        self._play_when_loaded = False
        self.media.positionChanged.connect(lambda ms: self.position_changed.emit(ms / 1000.0))
        self.media.durationChanged.connect(lambda ms: self.duration_changed.emit(ms / 1000.0))
        self.media.playbackStateChanged.connect(
            lambda state: self.playing_changed.emit(state == QMediaPlayer.PlaybackState.PlayingState)
        )
        self.media.mediaStatusChanged.connect(self._on_status)
        self.media.errorOccurred.connect(
            lambda _err, text: self.failed.emit(text or "cannot play this recording")
        )

    @property
    def playing(self) -> bool:
        return self.media.playbackState() == self._QMediaPlayer.PlaybackState.PlayingState

    @property
    def position_s(self) -> float:
        return self.media.position() / 1000.0

    def load(self, path: str) -> None:
        if path == self.path:
            return
        self.media.stop()
        self.path = path
        self._pending_seek = None
        self._play_when_loaded = False
        # QUrl needs text: a name with undecodable bytes plays as the name shown (it may not open).
        self.media.setSource(QUrl.fromLocalFile(display_path(path)))

    def play_from(self, seconds: float) -> None:
        """Seek to `seconds` and play (once the media is loaded, if it is still loading)."""
        status = self.media.mediaStatus()
        loading = status in (
            self._QMediaPlayer.MediaStatus.LoadingMedia,
            self._QMediaPlayer.MediaStatus.NoMedia,
        )
        if loading:
            self._pending_seek, self._play_when_loaded = max(0.0, seconds), True
            return
        self.media.setPosition(round(max(0.0, seconds) * 1000))
        self.media.play()

    def seek(self, seconds: float) -> None:
        self.media.setPosition(round(max(0.0, seconds) * 1000))

    def play(self) -> None:
        self.media.play()

    def pause(self) -> None:
        self.media.pause()

    def stop(self) -> None:
        self._play_when_loaded = False
        self.media.stop()

    def _on_status(self, status: Any) -> None:
        if status == self._QMediaPlayer.MediaStatus.LoadedMedia and self._play_when_loaded:
            self._play_when_loaded = False
            self.media.setPosition(round((self._pending_seek or 0.0) * 1000))
            self.media.play()
        elif status == self._QMediaPlayer.MediaStatus.InvalidMedia:
            self.failed.emit("This recording cannot be played")


def _transcript_html(transcript: Transcript, matched: int | None, accent: QColor, muted: QColor) -> str:
    """The transcript as rich text: one paragraph per segment, its start time a link that plays it."""
    hl = QColor(accent)
    hl.setAlphaF(0.28)
    rgba = f"rgba({hl.red()},{hl.green()},{hl.blue()},{hl.alphaF():.2f})"
    rows = []
    for i, seg in enumerate(transcript.segments):
        words = html.escape((seg.text or "").strip())
        style = f' style="background-color:{rgba};"' if i == matched else ""
        rows.append(
            f'<p style="margin:0 0 6px 0;"><a name="seg{i}"></a><a href="seg:{i}" style="color:{muted.name()};'
            f'text-decoration:none;">{format_clock(seg.start_s)}</a>&nbsp;&nbsp;'
            f"<span{style}>{words}</span></p>"
        )
    return "".join(rows)


def matched_segment_index(transcript: Transcript | None, segment: Segment | None) -> int | None:
    """Which transcript segment a result's matched segment is: the same text, else the most overlap."""
    if transcript is None or segment is None or not transcript.segments:
        return None
    if segment.text:
        want = " ".join(segment.text.split())
        for i, s in enumerate(transcript.segments):
            if " ".join((s.text or "").split()) == want:
                return i
    best, best_overlap = None, 0.0
    for i, s in enumerate(transcript.segments):
        overlap = min(s.end_s, segment.end_s) - max(s.start_s, segment.start_s)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best


class RecordingView(QWidget):
    """The detail pane's recording section: waveform, transport and transcript.

    `show_result` starts it (the waveform loads off the GUI thread); `set_detail` adds the
    transcript and duration. Play starts at the matched segment the first time, then resumes.
    """

    seek_requested = Signal(float)

    def __init__(self, cache_dir: Callable[[], Path | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("RecordingView")
        self.result: SearchResult | None = None
        self.transcript: Transcript | None = None
        self.duration_s: float | None = None
        self.wave: Any = None  # core.thumbnails.Waveform once loaded
        self.wave_error = ""
        self._player: Player | None = None
        self._started = False  # play pressed since this recording was shown
        self.loader = WaveformLoader(cache_dir, self)
        self.loader.ready.connect(self._on_wave)
        self.loader.failed.connect(self._on_wave_failed)

        self._plot_host = QWidget()
        self._plot_host.setFixedHeight(WAVE_HEIGHT)
        self._plot_host.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        QVBoxLayout(self._plot_host).setContentsMargins(0, 0, 0, 0)
        self.plot: Any = None  # pyqtgraph PlotWidget, made when the first recording is shown
        self.wave_message = QLabel("Loading the waveform…")
        self.wave_message.setObjectName("Muted")
        self.wave_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._plot_host.layout().addWidget(self.wave_message)

        self.play_button = QToolButton()
        self.play_button.setObjectName("PlayButton")
        self.play_button.setIcon(icons.icon("play", "#ffffff"))
        self.play_button.setIconSize(QSize(16, 16))
        self.play_button.setFixedSize(34, 34)
        self.play_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self._style_play_button()
        self.play_button.setToolTip("Play from the matched part (Space)")
        self.play_button.setAccessibleName("Play")
        self.play_button.clicked.connect(self.toggle)
        self.replay_button = QToolButton()
        self.replay_button.setIcon(icons.icon("replay"))
        self.replay_button.setIconSize(QSize(16, 16))
        self.replay_button.setText("Play match")
        self.replay_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.replay_button.setAutoRaise(True)
        self.replay_button.setToolTip("Play the matched part again")
        self.replay_button.clicked.connect(self.play_match)
        self.time_label = QLabel("")
        self.time_label.setObjectName("Muted")
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        transport = QHBoxLayout()
        transport.setContentsMargins(0, 0, 0, 0)
        transport.setSpacing(6)
        transport.addWidget(self.play_button)
        transport.addWidget(self.replay_button)
        transport.addStretch(1)
        transport.addWidget(self.time_label)

        self.transcript_title = QLabel("TRANSCRIPT")
        self.transcript_title.setObjectName("SectionTitle")
        f = self.transcript_title.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        f.setLetterSpacing(f.SpacingType.PercentageSpacing, 108)
        self.transcript_title.setFont(f)
        self.language = QLabel("")
        self.language.setObjectName("Muted")
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.transcript_title, 1)
        head.addWidget(self.language)
        self.transcript_view = QTextBrowser()
        self.transcript_view.setObjectName("NoteView")
        self.transcript_view.setOpenLinks(False)
        self.transcript_view.anchorClicked.connect(self._on_anchor)
        self.transcript_view.setFixedHeight(TRANSCRIPT_MIN_H)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(self._plot_host)
        lay.addLayout(transport)
        lay.addLayout(head)
        lay.addWidget(self.transcript_view)
        self._playhead: Any = None
        self._region: Any = None
        self._playing_segment: int | None = None

    # --- content ---------------------------------------------------------------------------

    def show_result(self, result: SearchResult) -> None:
        same = self.result is not None and self.result.path == result.path
        self.result = result
        self._started = False
        if self._player is not None and not same:
            self._player.stop()
        if not same:
            self.transcript = None
            self.duration_s = None
            self.wave = None
            self.wave_error = ""
            self._show_wave_message("Loading the waveform…")
            if not self.loader.request(result.path):
                self._show_wave_message("No waveform: the library is not open")
        elif self.wave is not None:
            self._draw_wave()
        seg = result.segment
        self.replay_button.setVisible(seg is not None)
        self.play_button.setToolTip(
            f"Play from {format_clock(seg.start_s)}, where it matched (Space)" if seg else "Play (Space)"
        )
        self._set_play_icon(False)
        self._update_time(seg.start_s if seg else 0.0)
        if result.segment and result.segment.text and self.transcript is None:
            # until the detail arrives, the matched words are what we know of the transcript
            self._show_transcript(Transcript((result.segment,)), 0)

    def set_detail(self, detail: ItemDetail) -> None:
        if self.result is None or detail.item_id != self.result.item_id:
            return
        if detail.duration_s:
            self.duration_s = float(detail.duration_s)
        # before playing, the clock shows where Play will start: the matched segment
        self._update_time(self._player.position_s if self._player and self._started else self.match_start())
        transcript = detail.transcript
        self.transcript = transcript
        if transcript is None:
            self.language.setText("")
            self.transcript_view.setHtml(
                "<p><i>No transcript yet: it is made when the recording is indexed with a speech model.</i></p>"
            )
            self._fit_transcript()
            return
        if not transcript.segments:
            self.language.setText("")
            self.transcript_view.setHtml("<p><i>No speech was found in this recording.</i></p>")
            self._fit_transcript()
            return
        self._show_transcript(transcript, matched_segment_index(transcript, self.result.segment))

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
        self._started = False
        self._set_play_icon(False)

    def clear(self) -> None:
        self.stop()
        self.result = None

    # --- playback ----------------------------------------------------------------------------

    @property
    def player(self) -> Player:
        if self._player is None:
            self._player = Player(self)
            self._player.position_changed.connect(self._on_position)
            self._player.playing_changed.connect(self._set_play_icon)
            self._player.duration_changed.connect(self._on_duration)
            self._player.failed.connect(self._on_play_failed)
        return self._player

    @property
    def playing(self) -> bool:
        return self._player is not None and self._player.playing

    def match_start(self) -> float:
        seg = self.result.segment if self.result is not None else None
        return float(seg.start_s) if seg is not None else 0.0

    def toggle(self) -> None:
        """Play or pause. The first play of a recording starts at its matched segment."""
        if self.result is None:
            return
        player = self.player
        player.load(self.result.path)
        if player.playing:
            player.pause()
        elif not self._started:
            self._started = True
            player.play_from(self.match_start())
        else:
            player.play()

    def play_match(self) -> None:
        if self.result is None:
            return
        self.play_at(self.match_start())

    def play_at(self, seconds: float) -> None:
        if self.result is None:
            return
        self._started = True
        self.player.load(self.result.path)
        self.player.play_from(seconds)

    # --- internals ---------------------------------------------------------------------------

    def _style_play_button(self) -> None:
        a = theme.accent()
        self.play_button.setStyleSheet(
            f"QToolButton#PlayButton {{ background: {a.name()}; border: none; border-radius: 17px; }}"
            f"QToolButton#PlayButton:hover {{ background: {a.lighter(112).name()}; }}"
            f"QToolButton#PlayButton:pressed {{ background: {a.darker(115).name()}; }}"
        )

    def _fit_transcript(self) -> None:
        view = self.transcript_view
        doc = view.document()
        doc.setTextWidth(max(100, view.viewport().width()))
        frame = 2 * view.frameWidth() + int(doc.documentMargin()) + 4
        view.setFixedHeight(max(TRANSCRIPT_MIN_H, min(TRANSCRIPT_MAX_H, round(doc.size().height()) + frame)))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_transcript()

    def _set_play_icon(self, playing: bool) -> None:
        self.play_button.setIcon(icons.icon("pause" if playing else "play", "#ffffff"))
        self.play_button.setAccessibleName("Pause" if playing else "Play")

    def _update_time(self, position: float | None) -> None:
        total = format_clock(self.duration_s)
        pos = format_clock(position) if position is not None else "0:00"
        self.time_label.setText(f"{pos} / {total}" if total else pos)

    def _on_position(self, seconds: float) -> None:
        self._update_time(seconds)
        if self._playhead is not None:
            self._playhead.setValue(seconds)
            self._playhead.show()
        if self._started:
            self._mark_playing(self._segment_at(seconds))

    def _segment_at(self, seconds: float) -> int | None:
        if self.transcript is None:
            return None
        for i, seg in enumerate(self.transcript.segments):
            if seg.start_s <= seconds < seg.end_s:
                return i
        return None

    def playing_segment(self) -> int | None:
        """The transcript segment shown as being played now (bold), for tests and accessibility."""
        return self._playing_segment

    def _mark_playing(self, index: int | None) -> None:
        """Show the segment being played in bold (a format change: the text and its scroll stay)."""
        if index == self._playing_segment:
            return
        doc = self.transcript_view.document()
        for i, weight in ((self._playing_segment, QFont.Weight.Normal), (index, QFont.Weight.DemiBold)):
            if i is None or i >= doc.blockCount():
                continue
            block = doc.findBlockByNumber(i)
            cursor = QTextCursor(block)
            cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
            fmt = QTextCharFormat()
            fmt.setFontWeight(weight)
            cursor.mergeCharFormat(fmt)
        self._playing_segment = index

    def _on_duration(self, seconds: float) -> None:
        if seconds > 0 and not self.duration_s:
            self.duration_s = seconds
            self._update_time(self._player.position_s if self._player else None)

    def _on_play_failed(self, message: str) -> None:
        self._set_play_icon(False)
        self.time_label.setText(message)

    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("seg:") and self.transcript is not None:
            i = int(text[4:])
            if 0 <= i < len(self.transcript.segments):
                self.play_at(self.transcript.segments[i].start_s)

    def _show_transcript(self, transcript: Transcript, matched: int | None) -> None:
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        self._playing_segment = None
        self.transcript_view.setHtml(_transcript_html(transcript, matched, theme.accent(), muted))
        self.language.setText(f"language: {transcript.language}" if transcript.language else "")
        self._fit_transcript()
        if matched is not None:
            self.transcript_view.scrollToAnchor(f"seg{matched}")

    def highlighted_text(self) -> str:
        """The transcript words shown highlighted (the matched segment), for tests and accessibility."""
        doc = self.transcript_view.document()
        out = []
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                if frag.isValid() and frag.charFormat().background().style() != Qt.BrushStyle.NoBrush:
                    out.append(frag.text())
                it += 1
            block = block.next()
        return "".join(out).strip()

    def _show_wave_message(self, text: str) -> None:
        if self.plot is not None:
            self.plot.hide()
        self.wave_message.setText(text)
        self.wave_message.show()

    def _on_wave(self, path: str, wave: Any) -> None:
        if self.result is None or path != self.result.path:
            return
        self.wave = wave
        if not self.duration_s and wave.duration_s:
            self.duration_s = float(wave.duration_s)
            self._update_time(None)
        self._draw_wave()

    def _on_wave_failed(self, path: str, reason: str) -> None:
        if self.result is None or path != self.result.path:
            return
        self.wave_error = reason
        self._show_wave_message(f"No waveform: {reason}")

    def _ensure_plot(self) -> Any:
        if self.plot is not None:
            return self.plot
        import pyqtgraph as pg  # imported on first use: the window opens without it

        plot = pg.PlotWidget(background=None)
        plot.setObjectName("WaveformPlot")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        item = plot.getPlotItem()
        item.hideAxis("left")
        axis = _TimeAxis(orientation="bottom")
        item.setAxisItems({"bottom": axis})
        axis.setTextPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        axis.setPen(self.palette().color(QPalette.ColorRole.Mid))
        tick_font = self.font()
        tick_font.setPointSizeF(max(6.5, tick_font.pointSizeF() * 0.8))
        axis.setStyle(tickFont=tick_font, tickTextOffset=2, tickLength=-3)
        axis.setHeight(18)
        item.getViewBox().setDefaultPadding(0.0)
        item.setContentsMargins(0, 0, 0, 0)
        plot.setYRange(-1.05, 1.05, padding=0)
        plot.scene().sigMouseClicked.connect(self._on_plot_click)
        plot.setToolTip("Click to play from there")
        self._plot_host.layout().addWidget(plot)
        self.plot = plot
        return plot

    def _draw_wave(self) -> None:
        import pyqtgraph as pg

        wave = self.wave
        plot = self._ensure_plot()
        plot.clear()
        self.wave_message.hide()
        plot.show()
        duration = max(float(wave.duration_s), 1e-3)
        n = len(wave.peaks)
        accent = QColor(theme.accent())
        if n:
            x = (np.arange(n, dtype=np.float64) + 0.5) * duration / n
            peaks = np.maximum(np.asarray(wave.peaks, dtype=np.float64), 0.015)
            top = pg.PlotDataItem(x, peaks, pen=pg.mkPen(accent, width=1))
            bottom = pg.PlotDataItem(x, -peaks, pen=pg.mkPen(accent, width=1))
            fill = QColor(accent)
            fill.setAlphaF(0.55)
            plot.addItem(top)
            plot.addItem(bottom)
            plot.addItem(pg.FillBetweenItem(top, bottom, brush=pg.mkBrush(fill)))
        seg = self.result.segment if self.result is not None else None
        self._region = None
        if seg is not None:
            shade = QColor(accent)
            shade.setAlphaF(0.18)
            # Whisper's last segment may end past the audio: keep the shading on the waveform
            start = min(max(0.0, seg.start_s), duration)
            region = pg.LinearRegionItem(
                values=(start, min(duration, max(seg.end_s, start + 0.05))),
                movable=False,
                brush=pg.mkBrush(shade),
                pen=pg.mkPen(accent, width=1),
            )
            region.setZValue(-10)
            plot.addItem(region)
            self._region = region
        self._playhead = pg.InfiniteLine(
            pos=self.match_start(), angle=90, movable=False, pen=pg.mkPen(theme.accent().darker(150), width=2)
        )
        self._playhead.setVisible(self._started)
        plot.addItem(self._playhead)
        plot.setXRange(0, duration, padding=0.01)
        plot.setYRange(-1.05, 1.05, padding=0)

    def region(self) -> tuple[float, float] | None:
        """The matched segment's stretch on the waveform (seconds), for tests."""
        return tuple(self._region.getRegion()) if self._region is not None else None  # type: ignore[return-value]

    def _on_plot_click(self, event: Any) -> None:
        if self.plot is None or self.wave is None:
            return
        vb = self.plot.getPlotItem().getViewBox()
        x = vb.mapSceneToView(event.scenePos()).x()
        self.play_at(min(max(0.0, x), float(self.wave.duration_s)))


def _make_time_axis_class() -> type:
    import pyqtgraph as pg

    class TimeAxis(pg.AxisItem):  # type: ignore[misc, valid-type]
        """A time axis labelled m:ss."""

        def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
            return [format_clock(v) for v in values]

    return TimeAxis


def _TimeAxis(**kwargs: Any) -> Any:
    global _TIME_AXIS
    if _TIME_AXIS is None:
        _TIME_AXIS = _make_time_axis_class()
    return _TIME_AXIS(**kwargs)


_TIME_AXIS: type | None = None
