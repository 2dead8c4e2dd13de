"""Where in a photo a match is: heatmaps over the whole displayed photo, by occlusion, RISE or gradient.

Every method works on a letterboxed canvas: the upright photo (EXIF orientation applied by the
decoder) scaled so its long side fits the model's square input and padded with its own median
colour, so the grid covers the whole photo as displayed, never only the model's centre crop. The
grid (`grid_shape`) has at least 8 cells on the short side, near-square cells, row 0 at the top;
its values are >= 0 and sum to 1.

- "occlusion": windows of `window` x `window` cells (stride one cell) are painted with the fill
  colour; a cell's weight is the mean drop of the similarity to the target over the windows that
  cover it. All masked canvases go through the encoder's public `encode_images` in one batch, so
  any backend (torch, ONNX) serves it.
- "rise": random coarse binary masks (RISE, Petsiuk et al. 2018), one batch; a cell's weight is
  the mean similarity of the masks that show it minus that of the masks that hide it.
- "gradient": |d similarity / d input x (input - fill)| summed per cell; one forward and one
  backward pass through the torch model (needs `encoder.model` and `encoder.preprocess`; other
  backends fall back to occlusion).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mmexplorer.core.types import Heatmap

log = logging.getLogger(__name__)

METHODS = ("occlusion", "rise", "gradient")
MIN_CELLS = 8
MAX_CELLS = 32


@dataclass(frozen=True)
class Canvas:
    """A photo letterboxed into the model's square input.

    image: side x side RGB; box: (left, top, right, bottom) of the photo inside it, in pixels;
    rows/cols: the grid over the box; fill: the padding (and occlusion) colour.
    """

    image: Image.Image
    box: tuple[int, int, int, int]
    rows: int
    cols: int
    fill: tuple[int, int, int]

    @property
    def side(self) -> int:
        return self.image.size[0]

    def row_edges(self) -> np.ndarray:
        top, bottom = self.box[1], self.box[3]
        return np.round(np.linspace(top, bottom, self.rows + 1)).astype(int)

    def col_edges(self) -> np.ndarray:
        left, right = self.box[0], self.box[2]
        return np.round(np.linspace(left, right, self.cols + 1)).astype(int)


def grid_shape(width: int, height: int, *, cells: int = MIN_CELLS) -> tuple[int, int]:
    """(rows, cols): `cells` on the short side, near-square cells, at most MAX_CELLS on the long side."""
    cells = max(MIN_CELLS, cells)
    if width >= height:
        return cells, min(MAX_CELLS, max(cells, round(cells * width / max(1, height))))
    return min(MAX_CELLS, max(cells, round(cells * height / max(1, width)))), cells


def letterbox(image: Image.Image, side: int, *, cells: int = MIN_CELLS) -> Canvas:
    """The photo scaled to fit a side x side square, centred, padded with its median colour."""
    image = image.convert("RGB")
    w, h = image.size
    rows, cols = grid_shape(w, h, cells=cells)
    # A cell must be at least one model pixel; tiny inputs (a 32 px test model) get a bigger canvas.
    side = max(side, 2 * max(rows, cols))
    scale = side / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=2.0)
    fill = tuple(int(v) for v in np.median(np.asarray(small).reshape(-1, 3), axis=0))
    canvas = Image.new("RGB", (side, side), fill)  # type: ignore[arg-type]
    left, top = (side - nw) // 2, (side - nh) // 2
    canvas.paste(small, (left, top))
    return Canvas(canvas, (left, top, left + nw, top + nh), rows, cols, fill)  # type: ignore[arg-type]


def normalised(values: np.ndarray) -> np.ndarray:
    """Non-negative, summing to 1 (uniform when nothing is positive)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, None)
    total = float(v.sum())
    if total <= 0 or not math.isfinite(total):
        return np.full(v.shape, 1.0 / v.size)
    return v / total


def to_heatmap(values: np.ndarray) -> Heatmap:
    grid = normalised(values)
    rows, cols = grid.shape
    return Heatmap(rows=rows, cols=cols, grid=tuple(tuple(float(x) for x in row) for row in grid))


def _similarities(encode: Callable[[Sequence[Image.Image]], np.ndarray], images: list[Image.Image], target: np.ndarray) -> np.ndarray:
    vecs = np.asarray(encode(images), dtype=np.float32)
    return vecs @ target.astype(np.float32)


def occlusion(
    encode: Callable[[Sequence[Image.Image]], np.ndarray],
    canvas: Canvas,
    target: np.ndarray,
    *,
    window: int = 2,
) -> np.ndarray:
    """(rows, cols) mean similarity drops when windows of `window` x `window` cells are greyed out."""
    base = np.asarray(canvas.image)
    re, ce = canvas.row_edges(), canvas.col_edges()
    wr, wc = min(window, canvas.rows), min(window, canvas.cols)
    positions = [(r, c) for r in range(canvas.rows - wr + 1) for c in range(canvas.cols - wc + 1)]
    images = [canvas.image]
    for r, c in positions:
        arr = base.copy()
        arr[re[r] : re[r + wr], ce[c] : ce[c + wc]] = canvas.fill
        images.append(Image.fromarray(arr))
    sims = _similarities(encode, images, target)
    drop = sims[0] - sims[1:]
    total = np.zeros((canvas.rows, canvas.cols))
    count = np.zeros((canvas.rows, canvas.cols))
    for (r, c), d in zip(positions, drop, strict=True):
        total[r : r + wr, c : c + wc] += d
        count[r : r + wr, c : c + wc] += 1
    return total / np.maximum(count, 1)


def rise(
    encode: Callable[[Sequence[Image.Image]], np.ndarray],
    canvas: Canvas,
    target: np.ndarray,
    *,
    n_masks: int = 48,
    p_keep: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """(rows, cols) mean similarity of masks showing a cell minus that of masks hiding it."""
    rng = np.random.default_rng(seed)
    base = np.asarray(canvas.image).astype(np.float32)
    fill = np.asarray(canvas.fill, dtype=np.float32)
    re, ce = canvas.row_edges(), canvas.col_edges()
    keep = rng.random((n_masks, canvas.rows, canvas.cols)) < p_keep
    images = []
    for m in keep:
        pixel = np.ones(base.shape[:2], dtype=np.float32)
        for r in range(canvas.rows):
            for c in range(canvas.cols):
                if not m[r, c]:
                    pixel[re[r] : re[r + 1], ce[c] : ce[c + 1]] = 0.0
        arr = base * pixel[..., None] + fill * (1.0 - pixel[..., None])
        images.append(Image.fromarray(arr.round().astype(np.uint8)))
    sims = _similarities(encode, images, target).astype(np.float64)
    shown = keep.reshape(n_masks, -1).astype(np.float64)
    mean_shown = (sims[:, None] * shown).sum(0) / np.maximum(shown.sum(0), 1)
    mean_hidden = (sims[:, None] * (1 - shown)).sum(0) / np.maximum((1 - shown).sum(0), 1)
    return (mean_shown - mean_hidden).reshape(canvas.rows, canvas.cols)


def gradient(encoder: Any, canvas: Canvas, target: np.ndarray) -> np.ndarray:
    """(rows, cols) summed |gradient x (input - fill)| of the similarity to the target (torch only)."""
    import torch

    model = encoder.model
    # an ONNX encoder preprocesses to numpy and loads its torch model on demand for this
    x = torch.as_tensor(np.asarray(encoder.preprocess(canvas.image))).unsqueeze(0)
    fill = torch.as_tensor(np.asarray(encoder.preprocess(Image.new("RGB", canvas.image.size, canvas.fill)))).unsqueeze(0)
    param = next(model.parameters())
    x = x.to(device=param.device, dtype=param.dtype).requires_grad_(True)
    t = torch.as_tensor(target, dtype=param.dtype, device=param.device)
    with torch.enable_grad():
        feats = model.encode_image(x)
        sim = torch.nn.functional.normalize(feats.float(), dim=-1)[0] @ t.float()
        (grad,) = torch.autograd.grad(sim, x)
    saliency = (grad * (x.detach() - fill.to(x.device, x.dtype))).abs().sum(1)[0].float().cpu().numpy()
    # the model's input may differ from the canvas side (it resizes): map the grid edges onto it
    scale = saliency.shape[0] / canvas.side
    re = np.round(canvas.row_edges() * scale).astype(int)
    ce = np.round(canvas.col_edges() * scale).astype(int)
    out = np.zeros((canvas.rows, canvas.cols))
    for r in range(canvas.rows):
        for c in range(canvas.cols):
            out[r, c] = saliency[re[r] : max(re[r + 1], re[r] + 1), ce[c] : max(ce[c + 1], ce[c] + 1)].sum()
    return out


def photo_heatmap(
    encoder: Any,
    image: Image.Image,
    target: np.ndarray,
    *,
    method: str = "occlusion",
    cells: int = MIN_CELLS,
    encode: Callable[[Sequence[Image.Image]], np.ndarray] | None = None,
    **options: Any,
) -> Heatmap:
    """A heatmap over the whole upright photo of where it matches `target` (a unit vector).

    Args:
        encoder: the image space's encoder (`encode_images`, `image_size`; `model` and
            `preprocess` for "gradient").
        image: the photo as displayed (EXIF orientation applied).
        target: what it matched, in the same space (a query text's or another photo's vector).
        method: "occlusion", "rise" or "gradient" (falls back to occlusion without a torch model).
        cells: grid cells on the photo's short side (>= 8).
        encode: images -> unit vectors (default `encoder.encode_images`).
        options: the method's own settings (occlusion `window`; rise `n_masks`, `p_keep`, `seed`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown heatmap method {method!r}; one of {', '.join(METHODS)}")
    side = int(getattr(encoder, "image_size", 224) or 224)
    canvas = letterbox(image, side, cells=cells)
    encode = encode or encoder.encode_images
    target = np.asarray(target, dtype=np.float32)
    if method == "gradient" and not (hasattr(encoder, "model") and hasattr(encoder, "preprocess")):
        log.debug("no torch model behind %r: occlusion instead of gradient", encoder)
        method = "occlusion"
    if method == "gradient":
        values = gradient(encoder, canvas, target)
    elif method == "rise":
        values = rise(encode, canvas, target, **options)
    else:
        values = occlusion(encode, canvas, target, **options)
    return to_heatmap(values)


def overlay(image: Image.Image, heatmap: Heatmap, *, opacity: float = 0.55) -> Image.Image:
    """The photo with its heatmap laid over it (transparent blue-to-red), for `explain --out`."""
    image = image.convert("RGB")
    grid = np.asarray(heatmap.as_lists(), dtype=np.float32)
    peak = float(grid.max()) or 1.0
    small = Image.fromarray(np.uint8(np.clip(grid / peak, 0, 1) * 255), mode="L")
    level = np.asarray(small.resize(image.size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    # a simple "jet"-like ramp: blue (cold) -> yellow -> red (hot)
    red = np.clip(1.5 - np.abs(4 * level - 3), 0, 1)
    green = np.clip(1.5 - np.abs(4 * level - 2), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * level - 1), 0, 1)
    colour = np.stack([red, green, blue], axis=-1) * 255
    alpha = (opacity * (0.25 + 0.75 * level))[..., None]
    out = np.asarray(image, dtype=np.float32) * (1 - alpha) + colour * alpha
    return Image.fromarray(np.uint8(np.clip(out, 0, 255)))
