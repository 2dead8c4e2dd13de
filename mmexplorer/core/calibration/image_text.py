"""Labelled pairs for an image-text model (open_clip): rendered scenes and their captions.

"text" queries: each scene's caption in a few phrasings, colour-only and shape-only queries with
several right answers, and everyday sentences and short everyday queries that match no scene.
"image" queries: renders against renders of the same scene. Background: a second set of renders.
For the app's real CLIP models these scenes are what they can label themselves offline; how well
the fit transfers to real photos is not measured here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mmexplorer.core.calibration.scenes import classes, render_shape
from mmexplorer.core.calibration.text import unrelated_queries
from mmexplorer.core.relevance import CalibrationData

SEEDS = {"items": 7_100_000, "background": 7_200_000, "queries": 7_300_000}
Queries = tuple[np.ndarray, list[frozenset[int]], str]  # query vectors, the right items of each, a description


def scene_renders(seed0: int, size: int) -> tuple[list[Any], list[tuple[str, str]]]:
    """One render of every scene class (`scenes.classes()`), seeds from `seed0`; and the classes."""
    pairs = classes()
    images = [render_shape(c, s, size=size, seed=seed0 + i) for i, (c, s) in enumerate(pairs)]
    return images, pairs


def _scene_queries(encode_images: Any, encode_texts: Any, pairs: list[tuple[str, str]], size: int) -> Queries:
    """"image" queries: other renders of each scene, each with its own scene as the one right answer."""
    probes, _ = scene_renders(SEEDS["queries"], size)
    return (
        np.asarray(encode_images(probes), np.float32),
        [frozenset({i}) for i in range(len(pairs))],
        f"{len(pairs)} rendered scenes against renders of the same scenes",
    )


def _caption_queries(encode_images: Any, encode_texts: Any, pairs: list[tuple[str, str]], size: int) -> Queries:
    """"text" queries: captions in a few phrasings, colour-only and shape-only queries, and unrelated text."""
    queries: list[str] = []
    positives: list[frozenset[int]] = []
    for i, (colour, shape) in enumerate(pairs):
        for phrase in (f"a {colour} {shape}", f"{colour} {shape}", f"a photo of a {colour} {shape}"):
            queries.append(phrase)
            positives.append(frozenset({i}))
    colours = dict.fromkeys(c for c, _s in pairs)
    shapes = dict.fromkeys(s for _c, s in pairs)
    for colour in colours:
        queries.append(f"something {colour}")
        positives.append(frozenset(i for i, (c, _s) in enumerate(pairs) if c == colour))
    for shape in shapes:
        queries.append(f"a {shape}")
        positives.append(frozenset(i for i, (_c, s) in enumerate(pairs) if s == shape))
    unrelated = unrelated_queries()
    queries += unrelated
    positives += [frozenset()] * len(unrelated)
    return (
        np.asarray(encode_texts(queries), np.float32),
        positives,
        f"captions of {len(pairs)} rendered scenes and {len(unrelated)} unrelated queries",
    )


# The queries of each query kind; any other kind (a mapped one) asks in words.
QUERY_KINDS: dict[str, Callable[[Any, Any, list[tuple[str, str]], int], Queries]] = {
    "image": _scene_queries,
    "text": _caption_queries,
}


def image_text_data(encode_images: Any, encode_texts: Any, *, image_size: int, kind: str) -> CalibrationData:
    """Pairs for an image-text model; kind "text" (captions -> scenes) or "image" (scene -> scene)."""
    size = max(64, int(image_size))
    items, pairs = scene_renders(SEEDS["items"], size)
    background, _ = scene_renders(SEEDS["background"], size)
    item_vecs = np.asarray(encode_images(items), np.float32)
    back_vecs = np.asarray(encode_images(background), np.float32)
    queries, positives, source = QUERY_KINDS.get(kind, _caption_queries)(encode_images, encode_texts, pairs, size)
    return CalibrationData(queries=queries, items=item_vecs, positives=positives, background=back_vecs, source=source)
