"""Kinds of evidence and the one fusion: how an item's ways of matching add up to its relevance.

A component of a result (core.types.Component) is one kind of evidence, a (space, via) pair: a
photo's pixels in the image space, a note's chunk or a photo's caption in the text space, a
recording's transcript or sound, the exact words of a name. Each kind is calibrated on data of its
own kind (core.relevance fits the map; `EvidenceKind.calibrate` makes the labelled pairs), because
one raw cosine means different things for different kinds: "a red circle" against the caption "a
green circle" scores 0.72 through the sentence encoder, which for two note passages would be a real
paraphrase, and for two captions is a near miss.

Some evidence is read from other evidence: a caption is the captioner's reading of the pixels, so it
is not independent of them. Such a kind names its `source`, and counts only as far as its source
supports it:

    counted = weight * relevance * support,   support = min(1, relevance_of_source / SUPPORT_FULL)

A caption raises a photo the pixels already support (fully once the pixels alone would reach
`SUPPORT_FULL`), and counts for little where the pixels say no. Where the source carries no evidence
(its model is uninformative, like the tiny-random test model, or it has no vector for the item), the
derived kind stands on its own calibration: support 1. Measured rules (tests/bench/bench_fusion.py
--captions): see the table in tests/bench/bench_fusion.py's docstring and the issue's closing note.

The fused relevance is the noisy-OR of what each component counts, `1 - prod(1 - counted)`, which
stays in [0, 1] and grows with each independent piece of evidence; `rule="max"` is kept to measure
it. `fuse` is the only place this is computed: search, explain, Related and the similarity matrix
all call it (on floats or on numpy arrays of any shape).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmexplorer.core.relevance import noisy_or
from mmexplorer.core.types import Component

#: The source relevance at which a derived component counts fully (the cutoff: "the pixels alone
#: would call it a match"). Measured against 0.25 and 1.0 in bench_fusion --captions.
SUPPORT_FULL = 0.5
RULES = ("noisy-or", "max")


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of evidence: a way an item reaches a space.

    Attributes:
        space: the space's key ("image", "text", "sound", "lexical").
        via: what of the item matched ("pixels", "chunk", "caption", "transcript", "sound", ...).
        label: how the window and explain name it ("Photo caption").
        calibrate: (encoder, query kind) -> core.relevance.CalibrationData of this kind, for its own
            relevance map; None: the space's own map (data of the same kind, e.g. a transcript is
            read like a note).
        source: the (space, via) this evidence is read from (a caption from the pixels), or None
            for independent evidence.
    """

    space: str
    via: str
    label: str
    calibrate: Callable[[Any, str], Any] | None = None
    source: tuple[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.space, self.via)


def _caption_calibration(encoder: Any, kind: str) -> Any:
    from mmexplorer.core.calibration.captions import caption_data

    return caption_data(encoder.encode)


EVIDENCE: dict[tuple[str, str], EvidenceKind] = {}


def register(kind: EvidenceKind) -> EvidenceKind:
    """Add (or replace) a kind of evidence; a new component kind arrives with its calibration here."""
    EVIDENCE[kind.key] = kind
    return kind


def unregister(space: str, via: str) -> None:
    EVIDENCE.pop((space, via), None)


def kind_of(space: str, via: str) -> EvidenceKind | None:
    return EVIDENCE.get((space, via))


for _kind in (
    EvidenceKind("image", "pixels", "Photo pixels"),
    EvidenceKind("text", "chunk", "Note text (best chunk)"),
    EvidenceKind("text", "caption", "Photo caption", calibrate=_caption_calibration, source=("image", "pixels")),
    EvidenceKind("text", "transcript", "Spoken words (transcript)"),
    EvidenceKind("sound", "sound", "Sound"),
    EvidenceKind("lexical", "name", "File or folder name"),
    EvidenceKind("lexical", "words", "Exact words"),
):
    register(_kind)


def support(relevance_of_source: Any) -> Any:
    """How far a derived component counts, given its source's relevance (floats or arrays)."""
    return np.minimum(1.0, np.asarray(relevance_of_source, dtype=np.float64) / SUPPORT_FULL)


def with_support(components: Sequence[Component], *, informative: Callable[[str], bool] = lambda space: True) -> list[Component]:
    """The components with each derived one's `support` set from its source on the same item.

    `informative(space)`: whether that space's relevance is evidence at all; a source from an
    uninformative space (or a missing one) leaves the derived component standing alone.
    """
    by_kind = {(c.space, c.via): c for c in components}
    out = []
    for c in components:
        kind = EVIDENCE.get((c.space, c.via))
        src = by_kind.get(kind.source) if kind is not None and kind.source is not None else None
        s = 1.0
        if src is not None and informative(src.space):
            s = float(support(src.relevance))
        out.append(c if s == c.support else dataclasses.replace(c, support=s))
    return out


def counted(component: Component) -> float:
    """What one component adds: weight (clamped to [0, 1]) x relevance x support."""
    return min(1.0, max(0.0, component.weight)) * component.relevance * component.support


def fuse(parts: Iterable[Any], *, rule: str = "noisy-or") -> Any:
    """The fused relevance of counted parts (floats, or numpy arrays of one shape): noisy-OR or max."""
    parts = list(parts)
    if rule != "max":
        return noisy_or(parts)
    if not parts:
        return 0.0
    out = np.max([np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0) for p in parts], axis=0)
    return float(out) if np.ndim(out) == 0 else out


def fuse_components(components: Sequence[Component], *, rule: str = "noisy-or") -> float:
    """An item's relevance from its components (support already set by `with_support`)."""
    return float(fuse([counted(c) for c in components], rule=rule))


def label(component: Component) -> str:
    """What a kind of evidence is called on screen ("Photo pixels", "Photo caption")."""
    kind = EVIDENCE.get((component.space, component.via))
    return kind.label if kind is not None else f"{component.space.title()} ({component.via})"


def support_note(component: Component) -> str:
    """In words, how far a derived component counts ("" for independent evidence that counts fully).

    "The caption says so, but the photo's pixels do not: not counted" for a caption of a near miss.
    """
    kind = EVIDENCE.get((component.space, component.via))
    if kind is None or kind.source is None or component.support >= 0.995:
        return ""
    source = EVIDENCE.get(kind.source)
    what = source.label.lower() if source is not None else "its source"
    if component.support < 0.05:
        return f"not counted: the {what} do not show what the {kind.label.lower()} says"
    return f"counts {component.support:.0%}: the {what} only partly show what the {kind.label.lower()} says"
