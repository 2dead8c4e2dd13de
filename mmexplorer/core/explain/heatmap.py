"""Where in a photo a match is: heatmaps over the whole displayed photo, by occlusion, RISE or gradient.

Every method works on a letterboxed canvas: the upright photo (EXIF orientation applied by the
decoder) scaled so its long side fits the model's square input and padded with its own median
colour, so the grid covers the whole photo as displayed, never only the model's centre crop. The
grid (`grid_shape`) has at least 8 cells on the short side, near-square cells, row 0 at the top;
its values are >= 0 and sum to 1.

- "occlusion", coarse to fine: windows of `window` x `window` cells (`stride` cells apart) are
  painted with the fill colour; a cell's weight is the mean drop of the similarity to the target
  over the windows that cover it; then the `refine` small windows where that coarse map is highest
  are painted too, and their map is added to the coarse one (`occlusion`). 14 encodes for a
  square photo (8 x 8), 17 for 4:3, where the exhaustive 3x3-window map took 37 and 55.
- "rise": random coarse binary masks (RISE, Petsiuk et al. 2018), one batch; a cell's weight is
  the mean similarity of the masks that show it minus that of the masks that hide it.
- "gradient": |d similarity / d input x (input - fill)| summed per cell; one forward and one
  backward pass through the torch model (needs `encoder.model` and `encoder.preprocess`; other
  backends fall back to occlusion).

Masked copies are made by `Masker`: in tensor space from one preprocessed canvas when the encoder
has `preprocess` and `encode_image_tensors` (torch and ONNX encoders both do), each pass in one
batched encode; through `encode` (painted PIL images) otherwise.
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


def window_starts(n: int, window: int, stride: int = 1) -> list[int]:
    """First cells of `window`-cell windows over `n` cells, evenly spread, at most `stride` apart,
    the first flush with the start and the last with the end."""
    window = max(1, min(window, n))
    last = n - window
    if last == 0:
        return [0]
    count = -(-last // max(1, stride)) + 1
    return sorted({int(x) for x in np.round(np.linspace(0, last, count))})


class Masker:
    """Similarities to a target of the canvas with sets of grid cells painted in the fill colour.

    With an encoder that has `preprocess` and `encode_image_tensors` (torch and ONNX alike) the
    canvas is preprocessed once and every masked copy is made in tensor space (the fill colour's
    normalised value painted over the cells' pixels), then all go through one batched encode; that
    is the same input as painting the canvas and preprocessing each copy, without decoding or
    preprocessing the photo again per copy. Any other `encode` (images -> unit vectors) gets painted
    PIL copies.
    """

    def __init__(
        self,
        encoder: Any,
        canvas: Canvas,
        target: np.ndarray,
        *,
        encode: Callable[[Sequence[Image.Image]], np.ndarray] | None = None,
    ) -> None:
        self.canvas = canvas
        self.target = np.asarray(target, dtype=np.float32)
        self.encodes = 0  # images encoded so far, for benchmarks
        self._encode = encode
        self._encoder = encoder
        self._tensors = False
        if encode is None and hasattr(encoder, "preprocess") and hasattr(encoder, "encode_image_tensors"):
            x = encoder.preprocess(canvas.image)
            # The canvas is the model's square input, so preprocessing leaves its pixels where they
            # are; a tiny model's canvas can be bigger than its input (resized): painted copies then.
            if tuple(x.shape[-2:]) == (canvas.side, canvas.side):
                self._tensors = True
                self._torch = not isinstance(x, np.ndarray)
                self._x = _as_numpy(x)
                self._fill = _as_numpy(encoder.preprocess(Image.new("RGB", canvas.image.size, canvas.fill)))
        if not self._tensors:
            self._encode = encode or encoder.encode_images
            self._pixels = np.asarray(canvas.image)
        self._row_of = _cell_of_pixel(canvas.row_edges(), canvas.side)
        self._col_of = _cell_of_pixel(canvas.col_edges(), canvas.side)

    def _pixel_mask(self, hidden: np.ndarray) -> np.ndarray:
        """(side, side) bool: the pixels of the hidden cells (a (rows, cols) bool)."""
        padded = np.zeros((hidden.shape[0] + 1, hidden.shape[1] + 1), dtype=bool)
        padded[:-1, :-1] = hidden  # index -1 (outside the photo's box) is never hidden
        return padded[self._row_of[:, None], self._col_of[None, :]]

    def similarities(self, hidden: Sequence[np.ndarray], *, base: bool = False) -> np.ndarray:
        """Similarity to the target of the canvas (first, with `base`) and of each masked copy."""
        if self._tensors:
            batch = [self._x] if base else []
            batch += [np.where(self._pixel_mask(h)[None], self._fill, self._x) for h in hidden]
            arr = np.stack(batch).astype(np.float32, copy=False)
            if self._torch:
                import torch

                vecs = self._encoder.encode_image_tensors(torch.from_numpy(arr))
            else:
                vecs = self._encoder.encode_image_tensors(arr)
            self.encodes += len(arr)
        else:
            images = [self.canvas.image] if base else []
            for h in hidden:
                arr = self._pixels.copy()
                arr[self._pixel_mask(h)] = self.canvas.fill
                images.append(Image.fromarray(arr))
            assert self._encode is not None
            vecs = self._encode(images)
            self.encodes += len(images)
        return np.asarray(vecs, dtype=np.float32) @ self.target


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _cell_of_pixel(edges: np.ndarray, side: int) -> np.ndarray:
    """For each of `side` pixels, the index of the cell it lies in (-1 outside the edges)."""
    out = np.full(side, -1, dtype=np.int64)
    for i in range(len(edges) - 1):
        out[max(0, edges[i]) : max(0, min(side, edges[i + 1]))] = i
    return out


def _window_mask(rows: int, cols: int, r: int, c: int, wr: int, wc: int) -> np.ndarray:
    m = np.zeros((rows, cols), dtype=bool)
    m[r : r + wr, c : c + wc] = True
    return m


def occlusion(
    masker: Masker,
    *,
    window: int = 4,
    stride: int = 3,
    refine: int = 4,
    refine_window: int = 2,
) -> np.ndarray:
    """(rows, cols) similarity drops when windows of cells are painted over, coarse to fine.

    The coarse pass: windows of `window` x `window` cells starting every `stride` cells (the last
    flush with the edge), with the unmasked canvas, in one batch; a cell's drop is the mean over
    the windows that cover it. With `refine` > 0 a second batch paints the `refine` windows of
    `refine_window` x `refine_window` cells (stride one) where the coarse map is highest, and the
    result is the coarse map plus the fine one (each summing to 1): the whole photo keeps the
    coarse pass's share and the place the match is gets the fine pass's detail. The defaults are
    the measured choice (core.explain); `window=3, stride=1, refine=0` is the exhaustive
    3x3-window map it replaced (37 encodes on an 8 x 8 grid against 14, 17 on 8 x 11).
    """
    rows, cols = masker.canvas.rows, masker.canvas.cols
    wr, wc = min(window, rows), min(window, cols)
    positions = [(r, c) for r in window_starts(rows, wr, stride) for c in window_starts(cols, wc, stride)]
    sims = masker.similarities([_window_mask(rows, cols, r, c, wr, wc) for r, c in positions], base=True)
    coarse = _mean_drop(rows, cols, positions, sims[0] - sims[1:], wr, wc)
    if refine <= 0:
        return coarse
    fr, fc = min(refine_window, rows), min(refine_window, cols)
    candidates = [(r, c) for r in window_starts(rows, fr) for c in window_starts(cols, fc)]
    score = np.asarray([coarse[r : r + fr, c : c + fc].sum() for r, c in candidates])
    chosen = [candidates[i] for i in np.argsort(-score, kind="stable")[:refine]]
    fine_sims = masker.similarities([_window_mask(rows, cols, r, c, fr, fc) for r, c in chosen])
    fine = np.clip(_mean_drop(rows, cols, chosen, sims[0] - fine_sims, fr, fc), 0.0, None)
    if not fine.sum() > 0:
        return coarse  # painting the hot spot costs nothing: the coarse map is all there is
    return normalised(coarse) + normalised(fine)


def _mean_drop(
    rows: int, cols: int, positions: Sequence[tuple[int, int]], drops: np.ndarray, wr: int, wc: int
) -> np.ndarray:
    total = np.zeros((rows, cols))
    count = np.zeros((rows, cols))
    for (r, c), d in zip(positions, drops, strict=True):
        total[r : r + wr, c : c + wc] += d
        count[r : r + wr, c : c + wc] += 1
    return total / np.maximum(count, 1)


def rise(
    masker: Masker,
    *,
    n_masks: int = 48,
    p_keep: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """(rows, cols) mean similarity of masks showing a cell minus that of masks hiding it."""
    rng = np.random.default_rng(seed)
    rows, cols = masker.canvas.rows, masker.canvas.cols
    keep = rng.random((n_masks, rows, cols)) < p_keep
    sims = masker.similarities([~m for m in keep]).astype(np.float64)
    shown = keep.reshape(n_masks, -1).astype(np.float64)
    mean_shown = (sims[:, None] * shown).sum(0) / np.maximum(shown.sum(0), 1)
    mean_hidden = (sims[:, None] * (1 - shown)).sum(0) / np.maximum((1 - shown).sum(0), 1)
    return (mean_shown - mean_hidden).reshape(rows, cols)


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
        encode: images -> unit vectors, for painted PIL copies (the reference path). Default:
            masks in tensor space through `encoder.preprocess` and `encoder.encode_image_tensors`
            where the encoder has them, else `encoder.encode_images`.
        options: the method's own settings (occlusion `window`, `stride`, `refine`,
            `refine_window`; rise `n_masks`, `p_keep`, `seed`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown heatmap method {method!r}; one of {', '.join(METHODS)}")
    side = int(getattr(encoder, "image_size", 224) or 224)
    canvas = letterbox(image, side, cells=cells)
    target = np.asarray(target, dtype=np.float32)
    if method == "gradient" and not (hasattr(encoder, "model") and hasattr(encoder, "preprocess")):
        log.debug("no torch model behind %r: occlusion instead of gradient", encoder)
        method = "occlusion"
    if method == "gradient":
        values = gradient(encoder, canvas, target)
    elif method == "rise":
        values = rise(Masker(encoder, canvas, target, encode=encode), **options)
    else:
        values = occlusion(Masker(encoder, canvas, target, encode=encode), **options)
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
