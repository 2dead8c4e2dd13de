"""Labelled pairs for an audio-text model (CLAP): synthesized sounds and their captions."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmexplorer.core.calibration.sounds import SOUND_KINDS, render_sound
from mmexplorer.core.calibration.text import unrelated_queries
from mmexplorer.core.relevance import CalibrationData

SEEDS = {"items": 7_400_000, "background": 7_500_000, "queries": 7_600_000}


def sound_renders(seed0: int, sample_rate: int, per_kind: int) -> tuple[list[np.ndarray], list[int]]:
    """`per_kind` renders of every sound kind (seeds from `seed0`), and the SOUND_KINDS index of each."""
    clips, owner = [], []
    for label, kind in enumerate(SOUND_KINDS):
        for i in range(per_kind):
            clips.append(render_sound(kind.key, seed=seed0 + i, sr=sample_rate))
            owner.append(label)
    return clips, owner


def sound_text_data(
    encode_audio: Any, encode_texts: Any, *, sample_rate: int, kind: str, per_kind: int = 3
) -> CalibrationData:
    """Pairs for an audio-text model (CLAP); kind "text" (captions -> sounds) or "audio" (sound -> sound).

    Items are synthesized sounds (calibration.sounds: low and high tones, rising and falling chirps,
    noise bursts, clicks, beeps), `per_kind` of each. "text": every caption of a kind is a query
    whose positives are that kind's sounds, so the other kinds' sounds are its mismatched
    negatives; everyday sentences and short everyday queries match no sound. "audio": other
    renders of each kind against the items. Background: a second set of renders. For the real
    CLAP models these are what they can be calibrated on offline; how well the fit transfers to
    real recordings is not measured here.

    Args:
        encode_audio: (list of mono float32 arrays at sample_rate) -> unit vectors.
        encode_texts: (list[str]) -> unit vectors.
        sample_rate: the model's rate.
        kind: "text" or "audio".
        per_kind: items of each sound kind.
    """
    items, owner = sound_renders(SEEDS["items"], sample_rate, per_kind)
    background, _ = sound_renders(SEEDS["background"], sample_rate, per_kind)
    item_vecs = np.asarray(encode_audio(items), np.float32)
    back_vecs = np.asarray(encode_audio(background), np.float32)
    members = [frozenset(i for i, o in enumerate(owner) if o == label) for label in range(len(SOUND_KINDS))]
    if kind == "audio":
        probes, probe_owner = sound_renders(SEEDS["queries"], sample_rate, 1)
        return CalibrationData(
            queries=np.asarray(encode_audio(probes), np.float32),
            items=item_vecs,
            positives=[members[o] for o in probe_owner],
            background=back_vecs,
            source=f"{len(SOUND_KINDS)} kinds of synthesized sound against other renders of the same kinds",
        )
    queries: list[str] = []
    positives: list[frozenset[int]] = []
    for label, sound in enumerate(SOUND_KINDS):
        for caption in sound.captions:
            queries.append(caption)
            positives.append(members[label])
    unrelated = unrelated_queries()
    queries += unrelated
    positives += [frozenset()] * len(unrelated)
    return CalibrationData(
        queries=np.asarray(encode_texts(queries), np.float32),
        items=item_vecs,
        positives=positives,
        background=back_vecs,
        source=f"captions of {len(SOUND_KINDS)} kinds of synthesized sound and {len(unrelated)} unrelated queries",
    )
