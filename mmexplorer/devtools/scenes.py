"""Generated scenes of one to four coloured shapes, with compositional captions and object boxes.

Built on `synth.render_shape` (each object is a shape rendered into its own cell), so a model that
learned single shapes sees the same objects here. Layouts:
- "single": one object filling the scene;
- "pair": two objects side by side (left half, right half);
- "quad": four objects in the quadrants (top-left, top-right, bottom-left, bottom-right).

Everything is deterministic given the seed. Boxes are (left, top, right, bottom) in pixels of the
returned image, one per object, in the order of `objects`.

    scene = render_scene([("red", "circle"), ("blue", "square")], size=224, seed=3)
    scene.image, scene.caption   # PIL image, "a red circle and a blue square"
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from mmexplorer.devtools.synth import COLOURS, SHAPES, caption, render_shape

Object = tuple[str, str]  # (colour, shape)
Box = tuple[int, int, int, int]

LAYOUTS = {1: "single", 2: "pair", 4: "quad"}
SIDE_NAMES = {"pair": ("left", "right"), "quad": ("top left", "top right", "bottom left", "bottom right")}


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    objects: tuple[Object, ...]
    boxes: tuple[Box, ...]
    layout: str

    @property
    def caption(self) -> str:
        return scene_caption(self.objects)


def scene_caption(objects: Sequence[Object]) -> str:
    """"a red circle", "a red circle and a blue square", "a red circle, a blue square and a green star"."""
    parts = [caption(c, s) for c, s in objects]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def cells(layout: str, size: int) -> list[Box]:
    """The cell of each object position in a square scene of side `size`."""
    h = size // 2
    if layout == "single":
        return [(0, 0, size, size)]
    if layout == "pair":
        return [(0, h // 2, h, h // 2 + h), (h, h // 2, size, h // 2 + h)]
    if layout == "quad":
        return [(0, 0, h, h), (h, 0, size, h), (0, h, h, size), (h, h, size, size)]
    raise ValueError(f"unknown layout {layout!r}; one of single, pair, quad")


def render_scene(objects: Sequence[Object], *, size: int = 224, seed: int = 0) -> Scene:
    """Draw 1, 2 or 4 objects (pair: side by side; quad: quadrants) on one light background."""
    layout = LAYOUTS.get(len(objects))
    if layout is None:
        raise ValueError("a scene has 1, 2 or 4 objects")
    rng = random.Random(f"scene|{seed}|{objects!r}")
    grey = int(rng.uniform(214, 244))
    scene = Image.new("RGB", (size, size), (grey, grey, grey))
    boxes = []
    for i, ((colour, shape), box) in enumerate(zip(objects, cells(layout, size), strict=True)):
        w, h = box[2] - box[0], box[3] - box[1]
        tile = render_shape(colour, shape, size=(w, h), seed=seed * 7 + i)
        scene.paste(tile, box[:2])
        boxes.append(box)
    return Scene(image=scene, objects=tuple(objects), boxes=tuple(boxes), layout=layout)


def random_objects(n: int, rng: random.Random, *, distinct: bool = True) -> list[Object]:
    """n objects; with `distinct`, no two share both colour and shape, nor (for n <= 6) a colour."""
    colours = list(COLOURS)
    out: list[Object] = []
    while len(out) < n:
        c, s = rng.choice(colours), rng.choice(SHAPES)
        if distinct and (any(c == oc for oc, _ in out) or (c, s) in out):
            continue
        out.append((c, s))
    return out


def random_scene(n: int, *, size: int = 224, seed: int = 0) -> Scene:
    """A scene of n (1, 2 or 4) distinct objects chosen from the seed."""
    rng = random.Random(f"objects|{n}|{seed}")
    return render_scene(random_objects(n, rng), size=size, seed=seed)


# -- measuring heatmaps on scenes (core.explain; tests/bench/bench_explain.py) ---------------------
HELD_OUT_SCENE_SEED = 50_000  # scene seeds for measuring start here; training uses 0..a few thousand


def box_mass(grid: Sequence[Sequence[float]], box: Box, size: int) -> float:
    """The share of a heatmap's mass inside a box of a square scene (cells split by overlap area).

    Args:
        grid: rows x cols weights over the whole scene, row 0 at the top.
        box: (left, top, right, bottom) in pixels of the scene.
        size: the scene's side in pixels.
    """
    import numpy as np

    g = np.asarray(grid, dtype=np.float64)
    rows, cols = g.shape
    ys, xs = np.linspace(0, size, rows + 1), np.linspace(0, size, cols + 1)
    over_y = np.clip(np.minimum(ys[1:], box[3]) - np.maximum(ys[:-1], box[1]), 0, None) / np.diff(ys)
    over_x = np.clip(np.minimum(xs[1:], box[2]) - np.maximum(xs[:-1], box[0]), 0, None) / np.diff(xs)
    total = float(g.sum()) or 1.0
    return float((g * over_y[:, None] * over_x[None, :]).sum() / total)


def region_of(scene: Scene, i: int) -> Box:
    """Object i's region for measuring: its half of a pair scene (full height), its quadrant of a quad."""
    size = scene.image.size[0]
    left, _top, right, _bottom = scene.boxes[i]
    if scene.layout == "pair":
        return (left, 0, right, size)
    return scene.boxes[i]


def heatmap_figures(
    heatmap_of: Callable[[Image.Image, str], Sequence[Sequence[float]]],
    *,
    n: int = 2,
    scenes: int = 25,
    seed: int = HELD_OUT_SCENE_SEED,
    size: int = 224,
) -> dict[str, float]:
    """How well heatmaps find the named object in scenes of n (2 or 4) objects never trained on.

    For every object of every scene, `heatmap_of(image, caption)` is asked for that object's caption.
    Returns `mass`: the mean share of the mass in the object's region (its half, its quadrant);
    `follows` (pairs): the share of scenes where each query puts more than half of its mass on
    its own object's half; `peak` (quads): the share of queries whose peak cell is in the object's
    quadrant.
    """
    import numpy as np

    masses, peaks, follows = [], [], []
    for k in range(scenes):
        scene = random_scene(n, size=size, seed=seed + k)
        own = []
        for i, (colour, shape) in enumerate(scene.objects):
            grid = np.asarray(heatmap_of(scene.image, caption(colour, shape)), dtype=np.float64)
            region = region_of(scene, i)
            m = box_mass(grid, region, size)
            own.append(m)
            masses.append(m)
            r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
            cy, cx = (r + 0.5) * size / grid.shape[0], (c + 0.5) * size / grid.shape[1]
            peaks.append(region[0] <= cx < region[2] and region[1] <= cy < region[3])
        follows.append(all(m > 0.5 for m in own))
    out = {"mass": round(float(np.mean(masses)), 3), "queries": len(masses)}
    if n == 2:
        out["follows"] = round(float(np.mean(follows)), 3)
    else:
        out["peak"] = round(float(np.mean(peaks)), 3)
    return out
