"""Labelled pairs for the caption evidence: typed queries against generated photo captions.

A caption is a short sentence about what a photo shows, and what makes it right or wrong for a query
is a detail: "a red car" is not "a blue car", "a dog on the beach" not "a cat on the beach", though a
sentence encoder scores such near misses as high as two paraphrased notes. So the caption kind of
evidence (core.evidence) gets its own relevance map, fitted on:

- captions in the styles captioners write ("a red car on a white background", "a close up of a
  blue mug", "a dog running on the beach", "a red kite and a green boat"), from the word lists of
  core/data/calibration_captions_en.txt, which do not share the test scenes' shapes;
- queries as a person types them ("red car", "photo of a mug", "dog on the beach");
- positives: captions that show everything the query asks for (a two-object caption holds each of
  its objects); near misses as negatives: the same object in another colour, the same colour on
  another object, the same animal elsewhere, another animal in the same place; the colour and the
  object of a query bound to two different objects of one caption are neither (ignored);
- everyday sentences and words that match no caption (core/data/background_en.txt,
  everyday_words_en.txt), as negatives in their own proportion.

Captions that share no word with a query ("a red car" against "a cat sleeping on a couch") are
ignored for it: they score far below any match and, thousands of them, would drown the near misses
the map has to place its cutoff against (with them, the cutoff fell to a raw 0.55, where 22 % of near
misses pass; see the issue 24 note).

The sample is seeded, so a fit is the same on every machine for a given model.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.calibration.text import DATA, background_sentences, everyday_words, read_lines
from mmexplorer.core.relevance import CalibrationData

WORDS = DATA / "calibration_captions_en.txt"
SEED = 7_700_000


@dataclass(frozen=True)
class _Caption:
    text: str
    facts: frozenset[tuple[str, str]]  # ("colour-object", "red car"), ("object", "car"), ("animal-scene", ...)
    loose: frozenset[tuple[str, str]] = frozenset()  # bindings a bag of words would see (two objects)


def word_lists(path: Path = WORDS) -> dict[str, list[str]]:
    """The sections of the word file: name -> lines."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in read_lines(path):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out[section] = []
        elif section:
            out[section].append(line)
    return out


def _a(text: str) -> str:
    """"a orange kite" -> "an orange kite", as a captioner writes it."""
    return " ".join(("an" if w == "a" and nxt[:1] in "aeiou" else w) for w, nxt in zip(text.split(), text.split()[1:] + [""]))


def _captions(w: dict[str, list[str]], rng: random.Random) -> list[_Caption]:
    out = []
    for colour in w["colours"]:
        for obj in w["objects"]:
            frame = rng.choice(w["object_frames"])
            out.append(_Caption(_a(frame.format(x=f"{colour} {obj}")), frozenset({("co", f"{colour} {obj}"), ("o", obj)})))
    for animal in w["animals"]:
        for scene in w["scenes"]:
            long, short = scene.split("|")
            text = rng.choice(["a {a} {s}", "a {a} {s} on a sunny day", "a close up of a {a} {s}"]).format(a=animal, s=long)
            out.append(_Caption(text, frozenset({("as", f"{animal} {short}"), ("a", animal)})))
    for _ in range(48):
        (c1, c2), (o1, o2) = rng.sample(w["colours"], 2), rng.sample(w["objects"], 2)
        text = _a(rng.choice(w["pair_frames"]).format(x=f"{c1} {o1}", y=f"{c2} {o2}"))
        facts = {("co", f"{c1} {o1}"), ("co", f"{c2} {o2}"), ("o", o1), ("o", o2)}
        out.append(_Caption(text, frozenset(facts), frozenset({("co", f"{c1} {o2}"), ("co", f"{c2} {o1}")})))
    return out


def _queries(w: dict[str, list[str]], rng: random.Random) -> list[tuple[str, tuple[str, str] | None]]:
    """(query text, the fact it asks for); None: an unrelated query that matches no caption."""
    out: list[tuple[str, tuple[str, str] | None]] = []
    pairs = [(c, o) for c in w["colours"] for o in w["objects"]]
    for colour, obj in rng.sample(pairs, 72):
        frame = rng.choice(w["object_queries"])
        out.append((_a(frame.format(x=f"{colour} {obj}")), ("co", f"{colour} {obj}")))
    for obj in rng.sample(w["objects"], 8):
        out.append((_a(rng.choice(w["object_queries"]).format(x=obj)), ("o", obj)))
    scenes = [s.split("|")[1] for s in w["scenes"]]
    for animal in w["animals"]:
        for scene in rng.sample(scenes, 4):
            out.append((_a(rng.choice(w["animal_queries"]).format(a=animal, s=scene)), ("as", f"{animal} {scene}")))
    for animal in rng.sample(w["animals"], 4):
        out.append((rng.choice([f"{animal}", f"a {animal}", f"photo of my {animal}"]), ("a", animal)))
    unrelated = background_sentences()[1::6] + everyday_words()[::5]
    out += [(q, None) for q in unrelated]
    return out


def caption_data(encode_texts: Any, *, seed: int = SEED) -> CalibrationData:
    """Pairs for the caption evidence of a sentence encoder; `encode_texts(list[str]) -> unit vectors`."""
    w = word_lists()
    rng = random.Random(seed)
    captions = _captions(w, rng)
    queries = _queries(w, rng)
    positives, ignore = [], []
    words = [frozenset(word for _k, f in c.facts for word in f.split()) for c in captions]
    for _text, fact in queries:
        if fact is None:
            positives.append(frozenset())
            ignore.append(frozenset())
            continue
        asked = set(fact[1].split())
        positives.append(frozenset(i for i, c in enumerate(captions) if fact in c.facts))
        ignore.append(frozenset(i for i, c in enumerate(captions) if fact in c.loose or not asked & words[i]))
    background = background_sentences()
    n_unrelated = sum(1 for _q, f in queries if f is None)
    return CalibrationData(
        queries=np.asarray(encode_texts([q for q, _f in queries]), np.float32),
        items=np.asarray(encode_texts([c.text for c in captions]), np.float32),
        positives=positives,
        background=np.asarray(encode_texts(background), np.float32),
        source=f"{len(queries) - n_unrelated} typed queries against {len(captions)} captions with near misses, "
        f"{n_unrelated} unrelated queries",
        ignore=ignore,
    )
