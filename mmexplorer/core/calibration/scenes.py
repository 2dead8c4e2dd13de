"""Rendered scenes of one coloured shape: what an image-text model is calibrated on at run time.

Deterministic given a seed, drawn with PIL alone (no model, no torch). devtools.synth builds its
test photo libraries on the same renderer, and the suite's test models are trained on it.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 160, 60),
    "blue": (35, 75, 215),
    "yellow": (240, 205, 30),
    "purple": (135, 55, 170),
    "orange": (245, 135, 25),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")


def caption(colour: str, shape: str) -> str:
    """The caption of a rendered shape, e.g. "a red circle"."""
    return f"a {colour} {shape}"


def classes() -> list[tuple[str, str]]:
    """Every (colour, shape) pair, colours outermost: the scene classes calibration renders."""
    return [(c, s) for c in COLOURS for s in SHAPES]


def polygon(cx: float, cy: float, radii: list[float], theta: float) -> list[tuple[float, float]]:
    """The corners of a polygon around (cx, cy), one per radius, turned by `theta`."""
    n = len(radii)
    return [
        (cx + r * math.cos(theta + 2 * math.pi * k / n), cy + r * math.sin(theta + 2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]


def _cross(cx: float, cy: float, r: float, theta: float) -> list[tuple[float, float]]:
    a = 0.32 * r
    local = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a)]
    local.append((-a, -a))
    c, s = math.cos(theta), math.sin(theta)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in local]


def render_shape(colour: str, shape: str, *, size: int | tuple[int, int] = 64, seed: int = 0) -> Image.Image:
    """Draw one coloured shape on a light, slightly tinted background.

    Position, scale, rotation, the exact hue and the background tint are jittered from the
    seed, so a model trained on these must learn colour and shape rather than pixels.

    Args:
        colour: a key of `COLOURS`.
        shape: one of `SHAPES`.
        size: side of the square image, or (width, height).
        seed: varies the jitter; the same arguments always give the same image.

    Returns:
        An RGB image.
    """
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; one of {sorted(COLOURS)}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {list(SHAPES)}")
    w, h = (size, size) if isinstance(size, int) else size
    rng = random.Random(f"{colour}|{shape}|{seed}")
    ss = 2  # draw at twice the size and box-reduce: cheap antialiasing
    sw, sh = w * ss, h * ss
    grey = rng.uniform(212, 246)
    bg = tuple(int(min(255, max(0, grey + rng.uniform(-10, 10)))) for _ in range(3))
    fg = tuple(int(min(255, max(0, c + rng.randint(-18, 18)))) for c in COLOURS[colour])
    img = Image.new("RGB", (sw, sh), bg)
    draw = ImageDraw.Draw(img)
    cx = sw / 2 + rng.uniform(-0.12, 0.12) * sw
    cy = sh / 2 + rng.uniform(-0.12, 0.12) * sh
    r = min(sw, sh) * rng.uniform(0.25, 0.35)
    theta = rng.uniform(0, 2 * math.pi)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fg, width=max(2, int(0.38 * r)))
    elif shape == "square":
        draw.polygon(polygon(cx, cy, [r * 1.1] * 4, theta), fill=fg)
    elif shape == "triangle":
        draw.polygon(polygon(cx, cy, [r * 1.15] * 3, theta), fill=fg)
    elif shape == "star":
        draw.polygon(polygon(cx, cy, [r * 1.15, r * 0.48] * 5, theta), fill=fg)
    else:  # cross
        draw.polygon(_cross(cx, cy, r * 1.05, theta), fill=fg)
    return img.reduce(ss)

