"""Explanations: heatmap quality on generated scenes per method, and seconds per explanation.

Heatmap figures (devtools.scenes.heatmap_figures) on scenes with seeds training never saw, for the
aligned test model: two objects side by side (`mass` on the named object's half, `follows`: both
queries of a scene put most of their mass on their own half) and four in the quadrants (`mass` in
the named quadrant, `peak`: the peak cell there), with the scene model (aligned-v3). Timing: seconds per photo heatmap for the aligned
model and for ViT-B-32 (its architecture with random weights: the cost is the same as the real
one's) on torch, and on ONNX Runtime with `--onnx` (export on first use); seconds per explanation
through `Engine.explain` (text against a photo, against a note).

    python tests/bench/bench_explain.py [--json] [--scenes 25] [--methods occlusion,rise,gradient] [--onnx]

The captions' figures are printed by the captioner's own benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from mmexplorer.core.explain import HEATMAP_METHOD, HEATMAP_OPTIONS
from mmexplorer.core.explain.heatmap import photo_heatmap
from mmexplorer.core.models import load_image_model
from mmexplorer.devtools import scenes
from mmexplorer.devtools.aligned import ensure_scene_model, read_meta

VARIANTS: dict[str, dict[str, Any]] = {
    "occlusion": {"window": 3},
    "occlusion-w2": {"window": 2},
    "occlusion-w1": {"window": 1},
    "rise": {"n_masks": 64},
    "rise-128": {"n_masks": 128},
    "gradient": {},
}


def _method(name: str) -> str:
    return name.split("-")[0]


def quality(encoder: Any, names: list[str], n_scenes: int) -> dict[str, Any]:
    cache: dict[str, np.ndarray] = {}
    out: dict[str, Any] = {}
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
        out[name] = {
            "pair_mass": pair["mass"],
            "pair_follows": pair["follows"],
            "quad_mass": quad["mass"],
            "quad_peak": quad["peak"],
            "s_per_heatmap": round((time.perf_counter() - started) / queries, 4),
        }
        print(f"{name}: {json.dumps(out[name])}", file=sys.stderr)
    return out


def vit_b32(backend: str) -> Any:
    import open_clip

    from mmexplorer.core.models.clip import ClipEncoder, eval_transform, quiet_open_clip

    with quiet_open_clip():
        model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    encoder = ClipEncoder(
        name="ViT-B-32 (random weights, for timing)",
        model_id="bench:vit-b-32-random",
        model=model,
        transform=eval_transform(model),
        tokenizer=open_clip.get_tokenizer("ViT-B-32"),
        device="cpu",
        meaningful=False,
    )
    if backend == "onnx":
        from mmexplorer.core.models.onnx_backend import adopt

        encoder = adopt(encoder, backend="onnx", requested_device="cpu")
    return encoder


def timing(encoder: Any, names: list[str], repeats: int = 3) -> dict[str, Any]:
    image = scenes.random_scene(4, size=640, seed=scenes.HELD_OUT_SCENE_SEED).image
    target = encoder.encode_texts(["a red circle"])[0]
    one = [image]
    encoder.encode_images(one)
    started = time.perf_counter()
    for _ in range(repeats):
        encoder.encode_images(one)
    single = (time.perf_counter() - started) / repeats
    out: dict[str, Any] = {"backend": getattr(encoder, "backend", "torch"), "s_per_image_encode": round(single, 4)}
    for name in names:
        method = _method(name)
        if method == "gradient" and getattr(encoder, "backend", "torch") != "torch":
            continue
        photo_heatmap(encoder, image, target, method=method, **VARIANTS[name])  # warm up
        started = time.perf_counter()
        for _ in range(repeats):
            photo_heatmap(encoder, image, target, method=method, **VARIANTS[name])
        s = (time.perf_counter() - started) / repeats
        out[name] = {"s_per_heatmap": round(s, 3), "in_single_encodes": round(s / single, 1)}
        print(f"timing {out['backend']} {name}: {out[name]}", file=sys.stderr)
    return out


def engine_timing(model_dir: str) -> dict[str, Any]:
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
                engine.explain(a, b)  # first call fits calibrations and embeds the concept vocabulary
                started = time.perf_counter()
                for _ in range(3):
                    engine.explain(a, b)
                out[label] = round((time.perf_counter() - started) / 3, 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scenes", type=int, default=25, help="held-out scenes per layout")
    parser.add_argument("--methods", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--onnx", action="store_true", help="also time ViT-B-32 on ONNX Runtime (exports it first)")
    parser.add_argument("--no-vit", action="store_true", help="skip the ViT-B-32 timing")
    args = parser.parse_args()
    names = [n for n in args.methods.split(",") if n]
    model_dir = str(ensure_scene_model())
    meta = read_meta(Path(model_dir)) or {}
    encoder = load_image_model(model_dir, device="cpu")
    table: dict[str, Any] = {
        "model": meta.get("version"),
        "chosen": {"method": HEATMAP_METHOD, **HEATMAP_OPTIONS},
        "quality": quality(encoder, names, args.scenes),
        "timing_aligned": timing(encoder, names),
    }
    if not args.no_vit:
        table["timing_vit_b32_torch"] = timing(vit_b32("torch"), names, repeats=2)
        if args.onnx:
            table["timing_vit_b32_onnx"] = timing(vit_b32("onnx"), names, repeats=2)
    table["engine_explain_s"] = engine_timing(model_dir)
    if args.json:
        print(json.dumps(table))
    else:
        print(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
