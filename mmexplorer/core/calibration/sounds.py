"""Synthesized sounds: what an audio-text model (CLAP) is calibrated on at run time.

A few kinds of sound (pure low and high tones, rising and falling chirps, noise bursts, clicks,
repeated beeps), each with the ways people would describe it. Deterministic given a seed, made
with numpy alone (no model, no torch). devtools.sound trains the suite's test sound model on them.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class SoundKind:
    """One kind of synthesized sound and the ways people would describe it (the first is canonical)."""

    key: str
    captions: tuple[str, ...]


SOUND_KINDS: tuple[SoundKind, ...] = (
    SoundKind(
        "low_tone", ("a low hum", "a low tone", "a deep hum", "a low drone", "a low pitched sound", "humming")
    ),
    SoundKind(
        "high_tone",
        (
            "a high beep",
            "a high tone",
            "a high pitched beep",
            "a shrill tone",
            "a high whine",
            "a piercing tone",
        ),
    ),
    SoundKind(
        "rising",
        (
            "a rising whistle",
            "a rising tone",
            "a sweep going up",
            "a whistle going up",
            "an upward chirp",
            "rising pitch",
        ),
    ),
    SoundKind(
        "falling",
        (
            "a falling whistle",
            "a falling tone",
            "a sweep going down",
            "a whistle going down",
            "a downward chirp",
            "falling pitch",
        ),
    ),
    SoundKind(
        "noise",
        ("a burst of noise", "a hiss", "static noise", "white noise", "a hissing sound", "bursts of static"),
    ),
    SoundKind(
        "clicks",
        ("clicks", "a clicking sound", "ticking", "a series of clicks", "tapping", "a ticking clock"),
    ),
    SoundKind(
        "beeps",
        ("repeated beeps", "beeping", "a beeping alarm", "short beeps", "beep beep beep", "an alarm beeping"),
    ),
)
KIND_KEYS = tuple(k.key for k in SOUND_KINDS)


# -- synthesis -----------------------------------------------------------------------------------


def _envelope(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    fade = max(1, min(n // 4, int(sr * rng.uniform(0.005, 0.05))))
    env = np.ones(n, dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    env[:fade] = ramp
    env[-fade:] = ramp[::-1]
    return env


def _chirp(f0: float, f1: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    duration = n / sr
    # exponential sweep: equal time per octave, as a whistle sounds
    k = math.log(f1 / f0) / duration
    phase = 2 * math.pi * f0 * (np.exp(k * t) - 1) / k + rng.uniform(0, 2 * math.pi)
    return np.sin(phase).astype(np.float32)


def render_sound(
    kind: str, *, seed: int = 0, sr: int = SAMPLE_RATE, duration: float | None = None
) -> np.ndarray:
    """One synthesized sound of `kind` (a key of SOUND_KINDS): mono float32 at `sr`, peak <= 1.

    Pitch, length, loudness and a faint noise floor vary with `seed`; the same seed gives the same
    samples. `duration` (seconds) fixes the length; else 0.6-2.0 s.
    """
    if kind not in KIND_KEYS:
        raise ValueError(f"unknown sound kind {kind!r}; one of {', '.join(KIND_KEYS)}")
    digest = hashlib.sha256(f"{kind}:{seed}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    seconds = float(duration) if duration is not None else float(rng.uniform(0.6, 2.0))
    n = max(16, int(seconds * sr))
    t = np.arange(n) / sr
    if kind == "low_tone":
        f = rng.uniform(70, 220)
        x = np.sin(2 * math.pi * f * t + rng.uniform(0, 6.3))
        x += rng.uniform(0.0, 0.35) * np.sin(2 * math.pi * 2 * f * t)  # a hum has some second harmonic
    elif kind == "high_tone":
        f = rng.uniform(1800, 5000)
        x = np.sin(2 * math.pi * f * t + rng.uniform(0, 6.3))
    elif kind in ("rising", "falling"):
        lo, hi = rng.uniform(250, 700), rng.uniform(1800, 5000)
        x = _chirp(lo, hi, n, sr, rng) if kind == "rising" else _chirp(hi, lo, n, sr, rng)
    elif kind == "noise":
        x = np.zeros(n)
        bursts = int(rng.integers(1, 4))
        for _ in range(bursts):
            length = int(n * rng.uniform(0.15, 0.5))
            at = int(rng.integers(0, max(1, n - length)))
            x[at : at + length] += rng.standard_normal(length) * _envelope(length, sr, rng)
    elif kind == "clicks":
        x = np.zeros(n)
        rate = rng.uniform(3, 14)
        period = int(sr / rate)
        click = np.exp(-np.arange(int(sr * 0.004)) / (sr * 0.0008)) * rng.choice([-1.0, 1.0])
        for at in range(int(rng.integers(0, period)), n - len(click), period):
            x[at : at + len(click)] += click
    else:  # beeps
        f = rng.uniform(600, 1400)
        on = rng.uniform(0.06, 0.15)
        gap = rng.uniform(0.06, 0.2)
        tone = np.sin(2 * math.pi * f * t)
        gate = ((t % (on + gap)) < on).astype(np.float64)
        x = tone * gate
    x = np.asarray(x, dtype=np.float64)
    x *= _envelope(n, sr, rng)
    peak = float(np.max(np.abs(x))) or 1.0
    x = x / peak * rng.uniform(0.1, 0.9)
    x += rng.standard_normal(n) * 10 ** rng.uniform(-4.0, -2.5)  # a faint noise floor
    return np.clip(x, -1.0, 1.0).astype(np.float32)



def renderer_source() -> str:
    """The synthesizer's code (render_sound and its helpers): a model trained on these sounds is keyed by it."""
    return inspect.getsource(render_sound) + inspect.getsource(_chirp) + inspect.getsource(_envelope)
