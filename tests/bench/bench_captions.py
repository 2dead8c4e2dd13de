"""Caption figures (issue 10): what the test captioner says about scenes it never saw, and how fast
captioners run here.

- accuracy: the share of held-out generated scenes (devtools.scenes, seeds far from training's)
  whose caption names every object, colour with shape: single objects (target >= 0.9), two side
  by side (target >= 0.7), four in the quadrants (reported, no target);
- captions_per_s: the trained test captioner through the app's loader (batch 8, greedy);
- real captioners: seconds per photo of the registry's captioners with random weights of their
  real configuration (BLIP base: ViT-B/16 at 384 px + BERT-base decoder; ViT-GPT2: ViT-B/16 at
  224 px + GPT-2 small), greedy, 20 new tokens forced (a typical caption's length), batch 8. Their
  caption quality cannot be measured here (no weights can be downloaded): "unmeasured".

    python tests/bench/bench_captions.py [--n 100] [--threads 2] [--skip-real] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _real_model(name: str) -> tuple[Any, Any]:
    """(model, pixel tensor maker) for a registry captioner with random weights of its real size."""
    import torch

    if name == "blip-base":
        from transformers import BlipConfig, BlipForConditionalGeneration

        config = BlipConfig()  # the defaults are BLIP base: ViT-B/16 at 384 px, BERT-base text decoder
        model = BlipForConditionalGeneration(config)
        side = config.vision_config.image_size
    else:
        from transformers import GPT2Config, GPT2LMHeadModel, VisionEncoderDecoderModel, ViTConfig, ViTModel

        encoder = ViTModel(ViTConfig(), add_pooling_layer=False)  # ViT-B/16 at 224 px
        decoder = GPT2LMHeadModel(GPT2Config(add_cross_attention=True))  # GPT-2 small
        model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
        model.config.decoder_start_token_id = 50256
        model.config.pad_token_id = 50256
        model.generation_config.decoder_start_token_id = 50256
        model.generation_config.pad_token_id = 50256
        side = 224
    model.eval()
    return model, lambda n: torch.randn(n, 3, side, side)


def time_real(name: str, *, device: str, batch: int = 8, repeats: int = 2) -> dict[str, Any]:
    import torch

    model, pixels = _real_model(name)
    model = model.to(device)
    x = pixels(batch).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    with torch.inference_mode():
        model.generate(pixel_values=x[:1], max_new_tokens=2, min_new_tokens=2)  # warm up
        best = float("inf")
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            model.generate(pixel_values=x, max_new_tokens=20, min_new_tokens=20, do_sample=False, num_beams=1)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
    return {"model": name, "params_m": round(n_params / 1e6, 1), "s_per_photo": round(best / batch, 3),
            "device": device, "batch": batch, "quality": "unmeasured (random weights; no download here)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="held-out scenes per layout")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-real", action="store_true", help="only the test captioner")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    out = captioner_figures(n=args.n, device=args.device, threads=args.threads)
    return _finish(out, args)


def captioner_figures(*, n: int = 100, device: str = "cpu", threads: int = 2) -> dict[str, Any]:
    """The test captioner's held-out accuracy (224 and 96 px scenes) and captions per second."""
    from mmexplorer.core.models.caption import load_caption_model
    from mmexplorer.devtools.captioner import (
        HELD_OUT_SEED,
        ensure_test_captioner,
        evaluate_captioner,
        read_meta,
    )
    from mmexplorer.devtools.scenes import random_scene

    folder = ensure_test_captioner(on_log=lambda line: print(line, file=sys.stderr))
    captioner = load_caption_model(str(folder), device=device)
    accuracy = evaluate_captioner(captioner, n_per_layout=n, seed=HELD_OUT_SEED + 100_000, size=224)
    accuracy_small = evaluate_captioner(captioner, n_per_layout=n, seed=HELD_OUT_SEED + 200_000, size=96)
    scenes = [random_scene(k, size=224, seed=HELD_OUT_SEED + 300_000 + i) for i, k in enumerate([1, 2, 4] * 22)]
    images = [s.image for s in scenes]
    captioner.caption(images[:8])
    t = time.perf_counter()
    captioner.caption(images)
    per_s = len(images) / (time.perf_counter() - t)
    meta = read_meta(folder) or {}
    out: dict[str, Any] = {
        "test_captioner": {
            "accuracy_224px": accuracy,
            "accuracy_96px": accuracy_small,
            "targets": {"single": 0.9, "pair": 0.7},
            "captions_per_s": round(per_s, 1),
            "device": device,
            "threads": threads,
            "version": meta.get("version"),
            "encoder": meta.get("encoder"),
            "steps": meta.get("steps"),
            "train_seconds": meta.get("train_seconds"),
            "train_cpu_seconds": meta.get("train_cpu_seconds"),
            "example": {"scene": scenes[1].caption, "caption": captioner.caption([images[1]])[0]},
        },
    }
    return out


def _finish(out: dict[str, Any], args: argparse.Namespace) -> int:
    started = time.monotonic()
    if not args.skip_real:
        out["real_captioners"] = [time_real(name, device=args.device) for name in ("blip-base", "vit-gpt2")]
    out["real_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
