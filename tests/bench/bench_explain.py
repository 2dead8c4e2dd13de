"""Explanations: heatmap quality on generated scenes per method, and seconds per explanation.

Heatmap figures on scenes with seeds training never saw, for the scene test model (aligned-v3,
`devtools.ensure_scene_model()`):
- on the grid (devtools.scenes.heatmap_figures): two objects side by side (`pair_mass` on the named
  object's half, `pair_follows`: both queries of a scene put most of their mass on their own half)
  and four in the quadrants (`quad_mass` in the named quadrant, `quad_peak`: the peak cell there).
  Those objects sit exactly on the 8 x 8 grid's halves and quadrants;
- off the grid (`shifted_*`, the same figures): each scene pasted at a random offset into a wider
  canvas of its background, so the objects' edges fall inside cells and the grid is 8 x 9-12. A
  method whose windows happen to match the scene layout gains nothing here;
- `encodes`: images encoded per heatmap of a square photo (8 x 8 grid).

Timing, ViT-B-32 (its architecture with random weights, `bench_indexing.write_random_model`: the
cost is the real one's) on torch, ONNX Runtime fp32 and ONNX Runtime int8 (int8 forced: random
weights have no recall for the app's int8 rule to check), `--threads` threads for torch and ORT:
seconds per image encode, per heatmap of the chosen method and of the one it replaced, and per
explanation through `Engine.explain` on an indexed library: a query text against a photo, a photo
against a photo with both heatmaps (the CLI, Compare) and with B's only (the detail pane). Each
figure is wall seconds (`s`), the process's CPU seconds (`cpu_s`, all threads) and the 1-minute
load average measured with it (the machine is shared: under load, CPU seconds at one thread are
the better guide to an idle machine).

    python tests/bench/bench_explain.py [--json] [--scenes 25] [--methods occlusion,occlusion-w3,...]
        [--backends torch,onnx-fp32,onnx-int8] [--no-vit] [--threads 2] [--workdir DIR]

The captions' figures are printed by the captioner's own benchmark (bench_captions.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np
from PIL import Image

from mmexplorer.core.explain import HEATMAP_METHOD, HEATMAP_OPTIONS
from mmexplorer.core.explain.heatmap import photo_heatmap
from mmexplorer.core.models import load_image_model
from mmexplorer.devtools import scenes
from mmexplorer.devtools.aligned import ensure_scene_model, read_meta
from tests.bench.common import loadavg, log

VARIANTS: dict[str, dict[str, Any]] = {
    "occlusion": dict(HEATMAP_OPTIONS),  # the app's choice: coarse 4x4-cell windows, then 4 fine 2x2
    "occlusion-w3": {"window": 3, "stride": 1, "refine": 0},  # the exhaustive map it replaced
    "occlusion-w3s2": {"window": 3, "stride": 2, "refine": 0},
    "occlusion-coarse": {"window": 4, "stride": 3, "refine": 0},  # the chosen one's first pass alone
    "occlusion-w2": {"window": 2, "stride": 1, "refine": 0},
    "rise": {"n_masks": 64},
    "gradient": {},
}
BACKENDS = {"torch": ("torch", "auto"), "onnx-fp32": ("onnx", "off"), "onnx-int8": ("onnx", "force")}


def _method(name: str) -> str:
    return name.split("-")[0]


class CountingEncoder:
    """The real encoder, counting the images it is asked to encode (for `encodes`)."""

    def __init__(self, encoder: Any) -> None:
        self.inner = encoder
        self.image_size = encoder.image_size
        self.images = 0
        if hasattr(encoder, "preprocess"):
            self.preprocess = encoder.preprocess
        if hasattr(encoder, "model") and getattr(encoder, "backend", "torch") == "torch":
            self.model = encoder.model

    def encode_image_tensors(self, batch: Any) -> np.ndarray:
        self.images += len(batch)
        return self.inner.encode_image_tensors(batch)

    def encode_images(self, images: Any) -> np.ndarray:
        self.images += len(images)
        return self.inner.encode_images(images)


def shifted_figures(
    heatmap_of: Callable[[Image.Image, str], Any], *, n: int, scenes_n: int, seed: int = scenes.HELD_OUT_SCENE_SEED + 900
) -> dict[str, float]:
    """heatmap_figures on scenes moved off the grid: pasted at a random offset into a wider canvas."""
    size = 224
    masses, hits, follows = [], [], []
    for k in range(scenes_n):
        scene = scenes.random_scene(n, size=size, seed=seed + k)
        rng = random.Random(seed + k)
        pad = rng.randint(30, 100)
        left = rng.randint(0, pad)
        canvas = Image.new("RGB", (size + pad, size), scene.image.getpixel((1, 1)))
        canvas.paste(scene.image, (left, 0))
        own = []
        for i, (colour, shape) in enumerate(scene.objects):
            grid = np.asarray(heatmap_of(canvas, scenes.caption(colour, shape)), dtype=np.float64)
            x0, y0, x1, y1 = scenes.region_of(scene, i)
            x0, x1 = x0 + left, x1 + left
            rows, cols = grid.shape
            ys, xs = np.linspace(0, size, rows + 1), np.linspace(0, size + pad, cols + 1)
            oy = np.clip(np.minimum(ys[1:], y1) - np.maximum(ys[:-1], y0), 0, None) / np.diff(ys)
            ox = np.clip(np.minimum(xs[1:], x1) - np.maximum(xs[:-1], x0), 0, None) / np.diff(xs)
            m = float((grid * oy[:, None] * ox[None, :]).sum() / grid.sum())
            own.append(m)
            masses.append(m)
            r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
            cy, cx = (r + 0.5) * size / rows, (c + 0.5) * (size + pad) / cols
            hits.append(x0 <= cx < x1 and y0 <= cy < y1)
        follows.append(all(m > 0.5 for m in own))
    out = {"mass": round(float(np.mean(masses)), 3)}
    out["follows" if n == 2 else "peak"] = round(float(np.mean(follows if n == 2 else hits)), 3)
    return out


def quality(encoder: Any, names: list[str], n_scenes: int) -> dict[str, Any]:
    cache: dict[str, np.ndarray] = {}
    out: dict[str, Any] = {}
    square = scenes.random_scene(4, size=224, seed=scenes.HELD_OUT_SCENE_SEED).image
    for name in names:
        options = VARIANTS[name]

        def heat(image: Any, caption: str, name: str = name, options: dict[str, Any] = options) -> list[list[float]]:
            if caption not in cache:
                cache[caption] = encoder.encode_texts([caption])[0]
            return photo_heatmap(encoder, image, cache[caption], method=_method(name), **options).as_lists()

        started = time.perf_counter()
        pair = scenes.heatmap_figures(heat, n=2, scenes=n_scenes)
        quad = scenes.heatmap_figures(heat, n=4, scenes=n_scenes)
        queries = pair["queries"] + quad["queries"]
        spent = time.perf_counter() - started
        s_pair = shifted_figures(heat, n=2, scenes_n=n_scenes)
        s_quad = shifted_figures(heat, n=4, scenes_n=n_scenes)
        counting = CountingEncoder(encoder)
        photo_heatmap(counting, square, encoder.encode_texts(["a red circle"])[0], method=_method(name), **options)
        out[name] = {
            "pair_mass": pair["mass"],
            "pair_follows": pair["follows"],
            "quad_mass": quad["mass"],
            "quad_peak": quad["peak"],
            "shifted_pair_mass": s_pair["mass"],
            "shifted_pair_follows": s_pair["follows"],
            "shifted_quad_mass": s_quad["mass"],
            "shifted_quad_peak": s_quad["peak"],
            "encodes": counting.images if _method(name) != "gradient" else "1 fwd + 1 bwd",
            "s_per_heatmap": round(spent / queries, 4),
        }
        log(f"{name}: {json.dumps(out[name])}")
    return out


# -- ViT-B-32 timing ----------------------------------------------------------------------------
def _use_backend(label: str, work: Path) -> str:
    """Point the process at one backend (and, for ONNX, its precision's export cache)."""
    from mmexplorer.core.models import onnx as ob

    backend, int8 = BACKENDS[label]
    os.environ["MMEXPLORER_ONNX_CACHE"] = str(work / f"onnx-explain-{int8}")
    os.environ["MMEXPLORER_ONNX_INT8"] = int8
    ob.set_backend(backend)
    return backend


def _timed(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Wall seconds per call, the process's CPU seconds per call (all threads) and the load average.

    On a machine others load, wall time is inflated and CPU time is not (much): CPU seconds over
    the thread count is what the same call would take on an idle machine, at best.
    """
    fn()  # warm-up
    load = loadavg()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return {"s": round((time.perf_counter() - started) / repeats, 3),
            "cpu_s": round((time.process_time() - cpu) / repeats, 3), "load": load}


def vit_heatmaps(folder: Path, label: str, work: Path, repeats: int) -> dict[str, Any]:
    backend = _use_backend(label, work)
    t0 = time.perf_counter()
    encoder = load_image_model(str(folder), device="cpu", backend=backend)
    log(f"[{label}] {encoder!r} loaded in {time.perf_counter() - t0:.1f} s")
    image = scenes.random_scene(4, size=640, seed=scenes.HELD_OUT_SCENE_SEED).image
    target = encoder.encode_texts(["a red circle"])[0]
    row: dict[str, Any] = {"backend": getattr(encoder, "backend", "torch"), "dtype": encoder.dtype}
    row["image_encode"] = _timed(lambda: encoder.encode_images([image]), repeats + 1)
    for name in ("occlusion", "occlusion-w3"):
        opts = VARIANTS[name]
        row[name] = _timed(lambda opts=opts: photo_heatmap(encoder, image, target, **opts), repeats)
        log(f"  {name}: {row[name]}")
    encoder.release()
    return row


def make_library(work: Path, folder: Path) -> tuple[Path, Path, Path]:
    """Two photos indexed with the ViT-B-32 model (torch), in a library kept in the work dir."""
    from mmexplorer.core.engine import Engine

    lib = work / "explain-lib"
    data = work / "explain-data"
    lib.mkdir(parents=True, exist_ok=True)
    a, b = lib / "pair.jpg", lib / "quad.jpg"
    if not a.exists():
        scenes.random_scene(2, size=640, seed=scenes.HELD_OUT_SCENE_SEED + 7).image.save(a, quality=90)
        scenes.random_scene(4, size=800, seed=scenes.HELD_OUT_SCENE_SEED + 8).image.crop((0, 0, 800, 560)).save(b, quality=90)
    _use_backend("torch", work)
    with Engine(data, image_model=str(folder), device="cpu") as engine:
        engine.index([lib])
    return data, a, b


def vit_explanations(folder: Path, label: str, work: Path, data: Path, a: Path, b: Path, repeats: int) -> dict[str, Any]:
    from mmexplorer.core.engine import Engine

    _use_backend(label, work)
    out: dict[str, Any] = {}
    with Engine(data, image_model=str(folder), device="cpu") as engine:
        t0 = time.perf_counter()
        engine.explain("a red circle", b)  # loads the model; the first ever call fits calibrations, embeds concepts
        log(f"[{label}] first explanation {time.perf_counter() - t0:.1f} s")
        out["text_vs_photo"] = _timed(lambda: engine.explain("a red circle", b), repeats)
        out["photo_vs_photo"] = _timed(lambda: engine.explain(a, b), repeats)
        out["photo_vs_photo_pane"] = _timed(lambda: engine.explain(a, b, with_heatmap_a=False), repeats)
        info = engine.spaces["image"].encoder()
        out["encoder"] = f"{getattr(info, 'backend', 'torch')} {info.dtype}"
    log(f"  explanations: {out}")
    return out


def engine_timing_aligned(model_dir: str) -> dict[str, Any]:
    from mmexplorer.core.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        lib.mkdir()
        scenes.random_scene(2, size=480, seed=scenes.HELD_OUT_SCENE_SEED + 7).image.save(lib / "scene.png")
        (lib / "note.md").write_text("We walked along the river and watched the boats. Later it rained.", encoding="utf-8")
        with Engine(Path(tmp) / "data", image_model=model_dir, device="cpu") as engine:
            engine.index([lib])
            out = {}
            for label, a, b in (("text_vs_photo", "a red circle", lib / "scene.png"), ("text_vs_note", "boats on a river", lib / "note.md")):
                out[label] = _timed(lambda a=a, b=b: engine.explain(a, b), 3)
    return out


def _threads(n: int) -> None:
    import torch

    from mmexplorer.core.models import onnx as ob

    torch.set_num_threads(n)
    ob.set_threads(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scenes", type=int, default=25, help="held-out scenes per layout")
    parser.add_argument("--methods", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"ViT-B-32 timing on: {', '.join(BACKENDS)}")
    parser.add_argument("--no-vit", action="store_true", help="skip the ViT-B-32 timing")
    parser.add_argument("--no-quality", action="store_true", help="skip the heatmap figures")
    parser.add_argument("--no-captions", action="store_true", help="skip the test captioner's figures")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads while timing")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", default=os.environ.get("MMEXPLORER_BENCH_CACHE", str(Path.home() / ".cache" / "mmexplorer-bench")),
                        help="where the random ViT-B-32, its exports and the timing library are kept")
    args = parser.parse_args()
    names = [n for n in args.methods.split(",") if n]
    model_dir = str(ensure_scene_model())
    meta = read_meta(Path(model_dir)) or {}
    table: dict[str, Any] = {
        "model": meta.get("version"),
        "chosen": {"method": HEATMAP_METHOD, **HEATMAP_OPTIONS},
        "cpus": os.cpu_count(),
    }
    if not args.no_quality:
        _threads(1)
        encoder = load_image_model(model_dir, device="cpu", backend="torch")  # the reference backend
        table["quality"] = quality(encoder, names, args.scenes)
        table["engine_explain_aligned"] = engine_timing_aligned(model_dir)
    if not args.no_vit:
        from tests.bench.bench_indexing import write_random_model

        work = Path(args.workdir).expanduser()
        folder = write_random_model(work / "vit-b-32-random")
        _threads(1)
        data, a, b = make_library(work, folder)
        _threads(args.threads)
        vit: dict[str, Any] = {"threads": args.threads}
        for label in [x for x in args.backends.split(",") if x]:
            vit[label] = {
                "heatmap": vit_heatmaps(folder, label, work, args.repeats),
                "explain": vit_explanations(folder, label, work, data, a, b, args.repeats),
            }
        table["vit_b32"] = vit
        _threads(1)
    if not args.no_captions:  # caption accuracy and captions per second (tests/bench/bench_captions.py)
        from tests.bench.bench_captions import captioner_figures

        _threads(args.threads)
        table["captions"] = captioner_figures(threads=args.threads)["test_captioner"]
        table["captions"]["real_captioner_quality"] = "unmeasured (no weights can be downloaded here)"
    print(json.dumps(table) if args.json else json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
