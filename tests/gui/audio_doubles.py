"""Test doubles for the microphone, and real speech files made with espeak-ng.

`FileInputStream` is a TEST DOUBLE of sounddevice.InputStream: the same constructor arguments
(samplerate, channels, dtype, blocksize, callback) and start/stop/close, but its samples come from
an array (a speech file, a test tone) followed by a quiet room's noise, delivered from its own
thread in blocks, the way PortAudio calls the callback. A real microphone is impossible on a test
machine; everything past the stream (the controller, the window, the worker) is the real thing.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import soundfile as sf


def speak(text: str, path: Path, *, voice: str = "en-us", speed: int = 165) -> Path:
    """A real speech recording of `text` made with espeak-ng (a wav at 22.05 kHz)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


def read_mono(path: Path, sample_rate: int = 16_000) -> np.ndarray:
    """A sound file as float32 mono at `sample_rate` (linear resampling: enough for a test signal)."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate == sample_rate:
        return mono.astype(np.float32)
    n = round(len(mono) * sample_rate / rate)
    return np.interp(np.linspace(0, len(mono) - 1, n), np.arange(len(mono)), mono).astype(np.float32)


def tone(seconds: float, *, freq: float = 440.0, level: float = 0.3, sample_rate: int = 16_000) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FileInputStream:
    """TEST DOUBLE of sounddevice.InputStream fed from `samples`, then room noise (about -66 dBFS).

    `speed` > 1 delivers blocks faster than real time (the controller counts samples, not seconds).
    `made` lists every stream the factory built, so a test can see it was stopped and closed.
    """

    made: ClassVar[list[FileInputStream]] = []

    def __init__(
        self,
        samples: np.ndarray,
        *,
        samplerate: int,
        channels: int,
        dtype: str,
        blocksize: int,
        callback,
        speed: float = 4.0,
        noise: float = 0.0005,
    ) -> None:
        assert channels == 1 and dtype == "float32"
        self.samples = np.asarray(samples, dtype=np.float32)
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.callback = callback
        self.speed = speed
        self.noise = noise
        self.started = self.stopped = self.closed = False
        self.delivered = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        FileInputStream.made.append(self)

    @classmethod
    def factory(cls, samples: np.ndarray, **options):
        """An input stream factory for ListeningController / MainWindow.set_microphone."""

        def make(**kwargs):
            return cls(samples, **kwargs, **options)

        return make

    def start(self) -> None:
        self.started = True
        self._thread = threading.Thread(target=self._run, name="fake-portaudio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(7)
        pos = 0
        period = self.blocksize / self.samplerate / self.speed
        while not self._halt.is_set():
            block = self.samples[pos : pos + self.blocksize]
            if len(block) < self.blocksize:
                pad = (self.noise * rng.standard_normal(self.blocksize - len(block))).astype(np.float32)
                block = np.concatenate([block, pad])
            pos += self.blocksize
            self.delivered += self.blocksize
            self.callback(block.reshape(-1, 1), self.blocksize, None, None)
            time.sleep(period)
            if self.delivered > 60 * self.samplerate:  # a runaway test: a minute is plenty
                return

    def stop(self) -> None:
        self.stopped = True
        self._halt.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        self.closed = True
