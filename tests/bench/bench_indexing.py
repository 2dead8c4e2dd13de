"""Indexing speed: `Engine.index` end to end against the image model alone, measured in one run.

    python tests/bench/bench_indexing.py --json [--n 300] [--png-n 96]

On generated 1600x1200 camera-like photos (`devtools.synth.make_camera_jpegs`: texture, edges and
sensor noise, so they decode like real photos), first as JPEG, then as PNG, it measures:

- `model_only_per_s`: the image model alone encoding already-preprocessed batches (the same number
  of images, in batches of the indexer's size, with the same torch settings);
- `end_to_end_per_s`: `Engine.index([folder])` into a new data dir: discover, diff, read, hash,
  decode, preprocess, encode, commit to the catalog, add to FAISS and save;
- `onnx_*`: the same JPEG figures with the ONNX Runtime backend (int8 export), measured in the same
  run before the torch rows, and `onnx_vs_torch_end_to_end` / `onnx_vs_torch_model_only`;
- `ratio` = end_to_end_per_s / model_only_per_s, and `stages`: the share of the end-to-end wall
  time spent scanning, planning, waiting for decode+preprocess (what overlap did not hide),
  encoding, committing and saving, as the indexer measures them on its own thread.

Other people's jobs come and go on these shared machines within seconds, so the two are measured
interleaved: the photos are split into `rounds` folders, and each round encodes half its share
model-only, indexes its folder end to end, then encodes the other half model-only. The first round
indexes into an empty data dir, later rounds add their (new) folder to the same library. Rates are
totals over all rounds; `ratio_rounds` shows the spread. Each end-to-end round pays the pipeline's
start (the first batch must be decoded before the model has work), so rounds make the ratio a
little conservative. `cpu_ratio` compares process CPU time per photo instead of wall time: a
neighbour's load hardly moves it.

The model is ViT-B-32 (the default architecture) with random weights, written to a temp folder in
open_clip's hf-hub layout and loaded through the app's own loader, exactly as a user's local model
folder is: the real weights cannot be downloaded here, and speed does not depend on them. Loading
it is reported (`load_s`) but is not part of either rate.

Prints one JSON object on stdout with --json; progress goes to stderr. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import loadavg, log

ARCH = "ViT-B-32"
SIZE = (1600, 1200)
STAGES = ("scan", "plan", "load", "decode_wait", "encode", "commit", "save")
MIN_ROUND = 48  # photos per round at least


def png_note(r: dict[str, Any]) -> str:
    """Why PNG indexes slower than JPEG, with this run's figures."""
    return (
        "PNG cannot be draft-decoded: each file is inflated at its full 1600x1200 (16x the pixels of a "
        "JPEG decoded at 1/4 scale) from a ~8x larger file that is also hashed, then box-reduced and "
        f"resized: {r['png_decode_cpu_ms_per_image']} ms of CPU per photo against "
        f"{r['decode_cpu_ms_per_image']} ms for a JPEG and the model's {r['png_model_cpu_ms_per_image']} ms, "
        f"so decoding, not the model, sets much of the pace (ratio {r['png_ratio']} against {r['ratio']})"
    )


# ---------------------------------------------------------------------------------------------
# model and data


def write_random_model(folder: Path, *, seed: int = 0) -> Path:
    """ViT-B-32 with random weights, saved in open_clip's hf-hub folder layout (config + safetensors)."""
    if (folder / "open_clip_config.json").is_file() and (folder / "open_clip_model.safetensors").is_file():
        return folder
    import open_clip
    import torch

    from mmexplorer.core.models.clip import quiet_open_clip, save_open_clip_folder

    with torch.random.fork_rng(devices=[]), quiet_open_clip():
        torch.manual_seed(seed)
        model = open_clip.create_model(ARCH, pretrained=None)
    save_open_clip_folder(
        model,
        folder,
        model_cfg=open_clip.get_model_config(ARCH),
        extra_config={
            "model_name": f"{ARCH}-random",
            "meaningful": False,
            "note": "ViT-B-32 with random weights, for speed measurements only",
        },
    )
    return folder


def split(n: int, rounds: int) -> list[int]:
    base, extra = divmod(n, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds)]


def _generate(folder: str, n: int, fmt: str, seed: int) -> None:
    from mmexplorer.devtools.synth import make_camera_jpegs

    make_camera_jpegs(folder, n=n, size=SIZE, fmt=fmt, seed=seed)


def make_photos(jobs: list[tuple[Path, int, str]]) -> float:
    """Generate the photo folders (folder, n, format) in parallel processes; returns seconds spent.

    Each round's folder is filled as two subfolders with different seeds (the indexer walks
    subfolders), so that even a single round can be generated on two cores. A folder a previous
    run left with exactly these parameters is reused (see --workdir).
    """
    todo: list[tuple[Path, int, str, int]] = []
    stamps: list[tuple[Path, str]] = []
    for j, (folder, n, fmt) in enumerate(jobs):
        stamp = folder / ".bench-params"  # a dot-file: the indexer skips it
        parts = split(n, 2)
        params = f"{parts} {SIZE[0]}x{SIZE[1]} {fmt} seed {10 * j}"
        if stamp.is_file() and stamp.read_text() == params:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        # every folder different, and the same in every run
        todo += [(folder / f"part{i}", part_n, fmt, 10 * j + i) for i, part_n in enumerate(parts)]
        stamps.append((stamp, params))
    if not todo:
        return 0.0
    started = time.perf_counter()
    with ProcessPoolExecutor(max(1, min(len(todo), os.cpu_count() or 1))) as pool:
        for future in [
            pool.submit(_generate, str(sub), part_n, fmt, seed) for sub, part_n, fmt, seed in todo
        ]:
            future.result()
    for stamp, params in stamps:
        stamp.write_text(params)
    return time.perf_counter() - started


def photo_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def preprocessed_batch(encoder: Any, folder: Path, batch_size: int) -> Any:
    """One full batch of real photos, decoded and preprocessed the way the indexer prepares them."""
    import numpy as np
    import torch

    from mmexplorer.core import media

    files = photo_files(folder)[:batch_size]
    items = [encoder.preprocess(media.load_image(p, min_side=encoder.image_size)) for p in files]
    return np.stack(items) if isinstance(items[0], np.ndarray) else torch.stack(items)  # ONNX: numpy


def batches_for(full: Any, n: int, batch_size: int) -> list[Any]:
    """The batches the indexer forms for n photos: full ones, then the remainder."""
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    return [full[:s].clone() if hasattr(full, "clone") else full[:s].copy() for s in sizes]  # torch / numpy


def encode_batches(encoder: Any, batches: list[Any]) -> tuple[float, float, int]:
    """Encode the batches; returns (wall seconds, process CPU seconds, images)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        encoder.encode_image_tensors(batch)
    return time.perf_counter() - wall, time.process_time() - cpu, sum(int(b.shape[0]) for b in batches)


# ---------------------------------------------------------------------------------------------
# one format


class _Capture:
    """Keeps the Indexer that `Engine.index` creates, to read its stage times afterwards."""

    def __init__(self, workers: int | None) -> None:
        from mmexplorer.core import engine as engine_module

        self.module = engine_module  # Engine.index builds the Indexer it imported
        self.original = engine_module.Indexer
        self.last: Any = None
        capture = self

        class Recording(self.original):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                if workers:
                    kwargs["workers"] = workers
                super().__init__(*args, **kwargs)
                capture.last = self

        self.recording = Recording

    def __enter__(self) -> Self:
        self.module.Indexer = self.recording
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.Indexer = self.original


def measure_format(
    *,
    fmt: str,
    folder: Path,
    sizes: list[int],
    model_folder: Path,
    workdir: Path,
    device: str,
    workers: int | None,
    backend: str = "torch",
) -> dict[str, Any]:
    import torch

    from mmexplorer.core.engine import Engine
    from mmexplorer.core.models import onnx as onnx_backend

    onnx_backend.set_backend(backend)
    from mmexplorer.core.indexer import StageTimes
    from mmexplorer.core.types import Space

    n = sum(sizes)
    engine = Engine(workdir / f"data-{fmt}-{backend}", image_model=str(model_folder), device=device)
    try:
        started = time.perf_counter()
        encoder = engine.space(Space.IMAGE).encoder()
        load_s = time.perf_counter() - started
        batch_size = engine.indexer_batch_size
        full = preprocessed_batch(encoder, folder / "round0", batch_size)
        encoder.encode_image_tensors(full)  # warm-up: first-call allocations, lazy inits
        load_before = loadavg()

        model_wall = model_cpu = e2e_wall = e2e_cpu = 0.0
        model_n = 0
        total = StageTimes()
        rounds: list[float] = []
        workers_used = None
        for i, size in enumerate(sizes):
            batches = batches_for(full, size, batch_size)
            half = len(batches) // 2
            w1, c1, n1 = encode_batches(encoder, batches[:half])
            log(f"[{fmt}] round {i + 1}/{len(sizes)}: index {size} photos end to end ...")
            with _Capture(workers) as capture:
                mark, cpu = time.perf_counter(), time.process_time()
                report = engine.index([str(folder / f"round{i}")])
                e2e_s, e2e_c = time.perf_counter() - mark, time.process_time() - cpu
            w2, c2, n2 = encode_batches(encoder, batches[half:])
            if report.encoded != size:
                raise RuntimeError(f"indexed {report.encoded} photos of {size} ({report})")
            times = capture.last.times
            workers_used = capture.last.workers
            for key in (*STAGES, "total", "decode_cpu", "decoded"):
                setattr(total, key, getattr(total, key) + getattr(times, key))
            model_wall += w1 + w2
            model_cpu += c1 + c2
            model_n += n1 + n2
            e2e_wall += e2e_s
            e2e_cpu += e2e_c
            rounds.append(round((size / e2e_s) / ((n1 + n2) / (w1 + w2)), 3))
            log(f"[{fmt}] round {i + 1}: ratio {rounds[-1]}")
        load_after = loadavg()

        model_only = model_n / model_wall
        end_to_end = n / e2e_wall
        stages = {k: round(getattr(total, k) / total.total, 4) for k in STAGES}
        stages["other"] = round(total.other() / total.total, 4)
        return {
            "model": f"{ARCH} (random weights, loaded from an open_clip folder)",
            "model_id": encoder.model_id,
            "backend": getattr(encoder, "backend", "torch"),
            "device": encoder.device,
            "dtype": encoder.dtype,
            "torch_threads": torch.get_num_threads(),
            "decode_workers": workers_used,
            "batch_size": batch_size,
            "n": n,
            "rounds": len(sizes),
            "model_only_per_s": round(model_only, 2),
            "end_to_end_per_s": round(end_to_end, 2),
            "ratio": round(end_to_end / model_only, 3),
            "ratio_rounds": rounds,
            "cpu_ratio": round((model_cpu / model_n) / (e2e_cpu / n), 3),
            "stages": stages,
            "model_cpu_ms_per_image": round(1000 * model_cpu / model_n, 1),
            "end_to_end_cpu_ms_per_image": round(1000 * e2e_cpu / n, 1),
            "decode_cpu_ms_per_image": round(1000 * total.decode_cpu / max(1, total.decoded), 1),
            "encode_ms_per_image_model_only": round(1000 * model_wall / model_n, 1),
            "encode_ms_per_image_end_to_end": round(1000 * total.encode / n, 1),
            "end_to_end_s": round(e2e_wall, 2),
            "load_s": round(load_s, 2),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        }
    finally:
        engine.close()


# ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    keep = args.workdir is not None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mmx-bench-indexing-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for stale in workdir.glob("data-*"):  # the end-to-end pass always starts from an empty library
            shutil.rmtree(stale)
        log(f"workdir {workdir}")
        model_folder = write_random_model(workdir / "model")
        formats = ["jpg"] if args.no_png else ["jpg", "png"]
        counts = {"jpg": args.n, "png": args.png_n}
        # Rounds of at least MIN_ROUND photos, so that each one is mostly steady state.
        sizes = {
            fmt: split(counts[fmt], max(1, min(args.rounds, counts[fmt] // MIN_ROUND))) for fmt in formats
        }
        log(f"generating {SIZE[0]}x{SIZE[1]} photos, per round: {sizes} ...")
        generate_s = make_photos(
            [(workdir / fmt / f"round{i}", n, fmt) for fmt in formats for i, n in enumerate(sizes[fmt])]
        )

        import torch

        result: dict[str, Any] = {
            "machine": f"{os.cpu_count()}-core {platform.machine()} {platform.system()}",
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
        # ONNX rows: the export is made once in the work dir (int8 forced: random weights have no
        # recall for the app's int8 rule to check; MMEXPLORER_ONNX_INT8=off measures fp32).
        os.environ.setdefault("MMEXPLORER_ONNX_CACHE", str(workdir / "onnx"))
        os.environ.setdefault("MMEXPLORER_ONNX_INT8", "force")
        for backend in args.backends.split(","):
            if backend == "torch":
                continue
            figures = measure_format(
                fmt="jpg", folder=workdir / "jpg", sizes=sizes["jpg"], model_folder=model_folder,
                workdir=workdir, device=args.device, workers=args.workers, backend=backend,
            )
            result.update({f"{backend}_{k}": v for k, v in figures.items() if k not in ("model",)})
            log(f"[jpg {backend}] ratio {figures['ratio']} ({figures['end_to_end_per_s']}/s vs "
                f"{figures['model_only_per_s']}/s)")
        for fmt in formats if "torch" in args.backends.split(",") else []:
            figures = measure_format(
                fmt=fmt,
                folder=workdir / fmt,
                sizes=sizes[fmt],
                model_folder=model_folder,
                workdir=workdir,
                device=args.device,
                workers=args.workers,
            )
            if fmt == "jpg":
                result.update(figures)
            else:
                result.update(
                    {f"png_{k}": v for k, v in figures.items() if k not in ("model", "model_id", "dtype")}
                )
                result["png_note"] = png_note(result)
            log(
                f"[{fmt}] ratio {figures['ratio']} ({figures['end_to_end_per_s']}/s vs {figures['model_only_per_s']}/s)"
            )
        if "png_ratio" in result:
            result["png_vs_jpeg_end_to_end"] = round(
                result["png_end_to_end_per_s"] / result["end_to_end_per_s"], 3
            )
        if "onnx_end_to_end_per_s" in result and "end_to_end_per_s" in result:
            result["onnx_vs_torch_end_to_end"] = round(result["onnx_end_to_end_per_s"] / result["end_to_end_per_s"], 3)
            result["onnx_vs_torch_model_only"] = round(result["onnx_model_only_per_s"] / result["model_only_per_s"], 3)
        result["generate_s"] = round(generate_s, 1)
        return result
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="JPEG photos (default 300)")
    p.add_argument(
        "--png-n", type=int, default=96, help="PNG photos (default 96; generating one takes 0.3-1.5 s here)"
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per format (default 3)")
    p.add_argument("--no-png", action="store_true", help="measure JPEG only")
    p.add_argument("--backends", default="onnx,torch", help="image-model backends measured, JPEG rows per backend")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    p.add_argument("--workers", type=int, help="decode threads (default: the indexer's own choice)")
    p.add_argument(
        "--workdir", help="keep model, photos and data dirs here and reuse them (default: a temp dir)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.n < 2 or args.png_n < 2 or args.rounds < 1:
        p.error("--n and --png-n must be at least 2, --rounds at least 1")
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
