"""Listening to a spoken query: whether a microphone is there, the recording, the level meter.

- `microphone_status` says whether a query can be spoken here (PortAudio present, an input
  device); sounddevice is imported only inside it and `ListeningController.start`, so a machine
  without PortAudio still opens the window.
- `ListeningController` records from an input stream (sounddevice.InputStream, or any object with
  the same constructor arguments and start/stop/close: a test double) until a click, a second of
  silence after speech, or a time limit. The stream's callback runs on PortAudio's thread: it only
  appends samples and emits a queued signal; levels, silence and the widgets are handled on the GUI
  thread. The samples go to the worker for recognition (never recognised here).
- `LevelMeter` is the bar that moves while listening.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from mmexplorer.ui import theme

log = logging.getLogger(__name__)

#: What recognition wants: 16 kHz mono float32 (Whisper's rate).
SAMPLE_RATE = 16_000
#: One callback's worth of audio: 50 ms, so the meter moves smoothly and silence is timed finely.
BLOCK_S = 0.05
#: Below this RMS a block is silence whatever the room (about -40 dBFS) ...
MIN_SPEECH_RMS = 0.01
#: ... and above this it is speech whatever the room's noise floor (about -26 dBFS).
MAX_SPEECH_RMS = 0.05
#: The meter shows levels from this many dB below full scale up to 0 dB.
METER_FLOOR_DB = -60.0

NO_PORTAUDIO = "Speaking a query needs PortAudio, which is not installed on this computer"
NO_SOUNDDEVICE = "Speaking a query needs the sounddevice package, which is not installed"
NO_INPUT = "No microphone found: connect one to search by speaking"
NOTHING_HEARD = "Heard nothing: check the microphone, or speak a little louder"


class InputStreamLike(Protocol):
    """What the controller needs of sounddevice.InputStream."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


#: Builds a stream: factory(samplerate=, channels=, dtype=, blocksize=, callback=) -> stream.
StreamFactory = Callable[..., InputStreamLike]


def microphone_status() -> tuple[bool, str]:
    """Whether a spoken query can be recorded here, and if not, why (a tooltip for the button)."""
    try:
        import sounddevice as sd
    except OSError:  # the module is there, libportaudio is not
        return False, NO_PORTAUDIO
    except ImportError:
        return False, NO_SOUNDDEVICE
    try:
        dev = sd.query_devices(kind="input")
    except (sd.PortAudioError, ValueError):
        return False, NO_INPUT
    if not dev or int(dev.get("max_input_channels", 0)) < 1:
        return False, NO_INPUT
    return True, ""


def _sounddevice_stream(**kwargs: Any) -> InputStreamLike:
    import sounddevice as sd

    return sd.InputStream(**kwargs)


def _device_rate() -> int | None:
    """The default input device's own sample rate (None: unknown)."""
    try:
        import sounddevice as sd

        return int(sd.query_devices(kind="input")["default_samplerate"])
    except Exception:  # noqa: BLE001 - no PortAudio, no device, an odd driver: nothing to retry with
        return None


def level_fraction(rms: float) -> float:
    """An RMS level as a meter fraction in [0, 1] on a dB scale (METER_FLOOR_DB .. 0 dBFS)."""
    if rms <= 0:
        return 0.0
    db = 20.0 * np.log10(max(rms, 1e-9))
    return float(min(1.0, max(0.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB)))


class ListeningController(QObject):
    """Records one spoken query; `finished(samples, sample_rate)` when it ends with speech in it.

    It stops on `stop()` (a click), after `silence_s` of silence that follows speech, or after
    `max_s`. `cancel()` (Esc) drops what was heard. No speech within `no_speech_s` ends it with
    `failed(NOTHING_HEARD)`. The stream comes from `stream_factory` (default sounddevice's). A
    device that refuses `sample_rate` (many only record at 44.1 or 48 kHz) is opened again at
    its own rate, `device_rate()`; `finished` then carries that rate (recognition resamples).
    """

    listening_changed = Signal(bool)
    level_changed = Signal(float)  # meter fraction in [0, 1]
    finished = Signal(object, int)  # float32 mono samples, sample rate
    cancelled = Signal()
    failed = Signal(str)
    _block = Signal(int, float, int)  # generation, rms, frames (from the audio thread)

    def __init__(
        self,
        stream_factory: StreamFactory | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        silence_s: float = 1.0,
        max_s: float = 15.0,
        no_speech_s: float = 6.0,
        device_rate: Callable[[], int | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.stream_factory: StreamFactory = stream_factory or _sounddevice_stream
        self.device_rate = device_rate or (_device_rate if stream_factory is None else None)
        self.sample_rate = sample_rate
        self.rate = sample_rate  # the rate of the stream open now (the device's, if it refused ours)
        self.silence_s = silence_s
        self.max_s = max_s
        self.no_speech_s = no_speech_s
        self._stream: InputStreamLike | None = None
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._generation = 0
        self._frames = 0
        self._silent_frames = 0
        self._floor = 1.0
        self.heard_speech = False
        self._block.connect(self._on_block, Qt.ConnectionType.QueuedConnection)

    @property
    def active(self) -> bool:
        return self._stream is not None

    def start(self) -> bool:
        """Open the input stream and start listening; False (and `failed`) when it cannot be opened."""
        if self._stream is not None:
            return True
        self._generation += 1
        gen = self._generation
        with self._lock:
            self._chunks = []
        self._frames = self._silent_frames = 0
        self._floor = 1.0
        self.heard_speech = False

        def callback(indata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
            # PortAudio's thread: keep a copy and hand the level to the GUI thread, nothing more.
            block = np.asarray(indata, dtype=np.float32)
            mono = block.mean(axis=1) if block.ndim == 2 else block.reshape(-1)
            rms = float(np.sqrt(np.mean(np.square(mono)))) if len(mono) else 0.0
            with self._lock:
                if gen != self._generation:
                    return
                self._chunks.append(mono.copy())
            self._block.emit(gen, rms, int(frames))

        rates = [self.sample_rate]
        own = self.device_rate() if self.device_rate is not None else None
        if own and own != self.sample_rate:
            rates.append(own)
        for attempt, rate in enumerate(rates):
            try:
                stream = self.stream_factory(
                    samplerate=rate,
                    channels=1,
                    dtype="float32",
                    blocksize=max(1, round(rate * BLOCK_S)),
                    callback=callback,
                )
                stream.start()
                break
            except Exception as e:  # noqa: BLE001 - PortAudio errors, a device that went away
                if attempt + 1 < len(rates):
                    log.info(
                        "the microphone refused %d Hz (%s): trying its own %d Hz", rate, e, rates[attempt + 1]
                    )
                    continue
                log.warning("could not open the microphone: %s", e)
                self.failed.emit(f"Could not open the microphone: {e}")
                return False
        self.rate = rate
        self._stream = stream
        self.listening_changed.emit(True)
        return True

    def stop(self) -> None:
        """Stop listening; the samples go out with `finished` (or `failed` if nothing was said)."""
        samples = self._close()
        if samples is None:
            return
        if not self.heard_speech:
            self.failed.emit(NOTHING_HEARD)
            return
        self.finished.emit(samples, self.rate)

    def cancel(self) -> None:
        """Stop listening and forget what was heard."""
        if self._close() is not None:
            self.cancelled.emit()

    def _close(self) -> np.ndarray | None:
        stream, self._stream = self._stream, None
        if stream is None:
            return None
        with self._lock:
            self._generation += 1  # blocks still on their way are dropped
            chunks, self._chunks = self._chunks, []
        for step in (stream.stop, stream.close):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - a stream that died still counts as stopped
                log.warning("closing the microphone stream: %s", e)
        self.level_changed.emit(0.0)
        self.listening_changed.emit(False)
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    @Slot(int, float, int)
    def _on_block(self, gen: int, rms: float, frames: int) -> None:
        if gen != self._generation or self._stream is None:
            return
        self.level_changed.emit(level_fraction(rms))
        self._frames += frames
        # The threshold follows the room: three times the quietest block so far, within bounds.
        self._floor = min(self._floor, max(rms, 1e-5))
        threshold = min(MAX_SPEECH_RMS, max(MIN_SPEECH_RMS, 3.0 * self._floor))
        if rms >= threshold:
            self.heard_speech = True
            self._silent_frames = 0
        else:
            self._silent_frames += frames
        sr = float(self.rate)
        paused = self.heard_speech and self._silent_frames / sr >= self.silence_s
        too_long = self._frames / sr >= self.max_s
        nothing = not self.heard_speech and self._frames / sr >= self.no_speech_s
        if paused or too_long or nothing:
            self.stop()


class LevelMeter(QWidget):
    """A thin rounded bar as long as the microphone level; it falls back smoothly between blocks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = 0.0
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedHeight(3)
        self._decay = QTimer(self)
        self._decay.setInterval(40)
        self._decay.timeout.connect(self._fall)

    def set_level(self, value: float) -> None:
        value = max(0.0, min(1.0, float(value)))
        self.level = max(value, self.level * 0.6)
        if not self._decay.isActive() and self.level > 0:
            self._decay.start()
        self.update()

    def _fall(self) -> None:
        self.level *= 0.85
        if self.level < 0.01:
            self.level = 0.0
            self._decay.stop()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        r = QRectF(self.rect())
        track = QColor(theme.accent())
        track.setAlphaF(0.18)
        p.setBrush(track)
        p.drawRoundedRect(r, 1.5, 1.5)
        if self.level > 0:
            p.setBrush(theme.accent())
            p.drawRoundedRect(
                QRectF(r.left(), r.top(), max(3.0, r.width() * self.level), r.height()), 1.5, 1.5
            )
        p.end()


# --- a recording in the detail pane ---------------------------------------------------------------
