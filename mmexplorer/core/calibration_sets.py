"""The labelled pairs each space's relevance map is fitted on (see core.relevance).

- Sentence encoder ("text" queries): the shipped paraphrase pairs of core/data/calibration_text_en.tsv
  (a query as a person types it, and the note passage it should find); every other passage is a
  negative for that query. Background: core/data/background_en.txt, everyday sentences.
- open_clip models ("text" queries): rendered scenes of coloured shapes with their captions in a
  few phrasings, colour-only and shape-only queries with several right answers, and everyday
  sentences and short everyday queries (core/data/everyday_words_en.txt) that match no scene. ("image" queries): renders against renders of the same scene.
  Background: a second set of renders. For the app's real CLIP models these scenes are what they
  can label themselves offline; how well the fit transfers to real photos is not measured here.
- CLAP models ("text" queries): synthesized sounds (devtools.sound) with several captions per kind,
  the other kinds' sounds as mismatched negatives, and the everyday sentences and words above that
  match no sound; ("audio" queries): other renders of each kind. Background: a second set of renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.relevance import CalibrationData

DATA = Path(__file__).parent / "data"
TEXT_PAIRS = DATA / "calibration_text_en.tsv"
BACKGROUND_EN = DATA / "background_en.txt"
EVERYDAY_WORDS = DATA / "everyday_words_en.txt"
_SEEDS = {"items": 7_100_000, "background": 7_200_000, "queries": 7_300_000}


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def background_sentences() -> list[str]:
    return _lines(BACKGROUND_EN)


def text_pairs() -> list[tuple[str, str, str]]:
    """(query, passage, topic) rows; a `# topic: NAME` line names the topic of the rows below it."""
    pairs = []
    topic = ""
    for raw in TEXT_PAIRS.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.lower().startswith("# topic:"):
            topic = line.split(":", 1)[1].strip()
            continue
        if not line or line.startswith("#"):
            continue
        query, _, passage = line.partition("\t")
        if query.strip() and passage.strip():
            pairs.append((query.strip(), passage.strip(), topic))
    return pairs


def sentence_encoder_data(encode_texts: Any) -> CalibrationData:
    """Pairs for a sentence encoder; `encode_texts(list[str]) -> unit vectors`."""
    pairs = text_pairs()
    passages = list(dict.fromkeys(p for _q, p, _t in pairs))
    row = {p: i for i, p in enumerate(passages)}
    queries = [q for q, _p, _t in pairs]
    positives: dict[str, set[int]] = {}
    topic_of: dict[str, str] = {}
    for q, p, t in pairs:
        positives.setdefault(q, set()).add(row[p])
        topic_of[q] = t
    same_topic: dict[str, set[int]] = {}
    for _q, p, t in pairs:
        same_topic.setdefault(t, set()).add(row[p])
    unique_queries = list(positives)
    return CalibrationData(
        queries=np.asarray(encode_texts(unique_queries), np.float32),
        items=np.asarray(encode_texts(passages), np.float32),
        positives=[frozenset(positives[q]) for q in unique_queries],
        background=np.asarray(encode_texts(background_sentences()), np.float32),
        source=f"{len(queries)} paraphrase pairs ({TEXT_PAIRS.name})",
        # Another passage of the same topic is partly relevant: neither a positive nor a negative.
        ignore=[frozenset(same_topic.get(topic_of[q], set()) if topic_of[q] else set()) for q in unique_queries],
    )


def _renders(seed0: int, size: int) -> tuple[list[Any], list[tuple[str, str]]]:
    # The scene renderer ships with the package (devtools.synth), and draws without any model.
    from mmexplorer.devtools import synth

    classes = [(c, s) for c in synth.COLOURS for s in synth.SHAPES]
    images = [synth.render_shape(c, s, size=size, seed=seed0 + i) for i, (c, s) in enumerate(classes)]
    return images, classes


def image_text_data(encode_images: Any, encode_texts: Any, *, image_size: int, kind: str) -> CalibrationData:
    """Pairs for an image-text model; kind "text" (captions -> scenes) or "image" (scene -> scene)."""
    size = max(64, int(image_size))
    items, classes = _renders(_SEEDS["items"], size)
    background, _ = _renders(_SEEDS["background"], size)
    item_vecs = np.asarray(encode_images(items), np.float32)
    back_vecs = np.asarray(encode_images(background), np.float32)
    if kind == "image":
        probes, _ = _renders(_SEEDS["queries"], size)
        return CalibrationData(
            queries=np.asarray(encode_images(probes), np.float32),
            items=item_vecs,
            positives=[frozenset({i}) for i in range(len(classes))],
            background=back_vecs,
            source=f"{len(classes)} rendered scenes against renders of the same scenes",
        )
    queries: list[str] = []
    positives: list[frozenset[int]] = []
    for i, (colour, shape) in enumerate(classes):
        for phrase in (f"a {colour} {shape}", f"{colour} {shape}", f"a photo of a {colour} {shape}"):
            queries.append(phrase)
            positives.append(frozenset({i}))
    colours = dict.fromkeys(c for c, _s in classes)
    shapes = dict.fromkeys(s for _c, s in classes)
    for colour in colours:
        queries.append(f"something {colour}")
        positives.append(frozenset(i for i, (c, _s) in enumerate(classes) if c == colour))
    for shape in shapes:
        queries.append(f"a {shape}")
        positives.append(frozenset(i for i, (_c, s) in enumerate(classes) if s == shape))
    unrelated = background_sentences()[::2] + _lines(EVERYDAY_WORDS)
    queries += unrelated
    positives += [frozenset()] * len(unrelated)
    return CalibrationData(
        queries=np.asarray(encode_texts(queries), np.float32),
        items=item_vecs,
        positives=positives,
        background=back_vecs,
        source=f"captions of {len(classes)} rendered scenes and {len(unrelated)} unrelated queries",
    )


# -- the sound space (CLAP): synthesized sounds and their captions ----------------------------------

_SOUND_SEEDS = {"items": 7_400_000, "background": 7_500_000, "queries": 7_600_000}


def _sound_renders(seed0: int, sample_rate: int, per_kind: int) -> tuple[list[np.ndarray], list[int]]:
    # The synthesizer ships with the package (devtools.sound) and needs no model.
    from mmexplorer.devtools.sound import SOUND_KINDS, render_sound

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

    Items are synthesized sounds (devtools.sound: low and high tones, rising and falling chirps,
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
    from mmexplorer.devtools.sound import SOUND_KINDS

    items, owner = _sound_renders(_SOUND_SEEDS["items"], sample_rate, per_kind)
    background, _ = _sound_renders(_SOUND_SEEDS["background"], sample_rate, per_kind)
    item_vecs = np.asarray(encode_audio(items), np.float32)
    back_vecs = np.asarray(encode_audio(background), np.float32)
    members = [frozenset(i for i, o in enumerate(owner) if o == label) for label in range(len(SOUND_KINDS))]
    if kind == "audio":
        probes, probe_owner = _sound_renders(_SOUND_SEEDS["queries"], sample_rate, 1)
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
    unrelated = background_sentences()[::2] + _lines(EVERYDAY_WORDS)
    queries += unrelated
    positives += [frozenset()] * len(unrelated)
    return CalibrationData(
        queries=np.asarray(encode_texts(queries), np.float32),
        items=item_vecs,
        positives=positives,
        background=back_vecs,
        source=f"captions of {len(SOUND_KINDS)} kinds of synthesized sound and {len(unrelated)} unrelated queries",
    )
