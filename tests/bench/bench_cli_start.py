"""How soon `mmexplorer search QUERY` prints its first result, and how much of that is imports.

    python tests/bench/bench_cli_start.py --json [--n 10000] [--vit-n 300] [--runs 5]

Builds libraries once (in --workdir, reused): `--n` small generated photos plus a few notes indexed
with tiny-random, and `--vit-n` photos indexed with ViT-B-32 (random weights, the default
architecture, so the text tower a query runs through has the real size). Then, for each library
and backend, starts `python -m mmexplorer search QUERY` `--runs` times (after one warm-up run that
fits and caches the relevance maps and makes the file cache warm) and reports:

- `first_result_s`: median seconds from process start to the first line on stdout;
- `import_s` and `import_share`: the imports of that process (`python -X importtime`, summed
  over top-level modules) and their share of the first-result time;
- `process_cpu_s`: the CPU seconds the whole process used (what a quiet machine's wall time nears);
- `heavy_imports`: which of torch, open_clip, transformers, sentence_transformers it imported.

Prints one JSON object on stdout with --json; progress goes to stderr. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import log

HEAVY = ("torch", "open_clip", "transformers", "sentence_transformers", "onnxruntime", "faiss", "PIL")
QUERY = "a red circle next to the garden notes"


def _env(backend: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MMEXPLORER_BACKEND": backend}


def make_media(folder: Path, n: int) -> None:
    """n small JPEG scenes (two subfolders) and a few notes; reused when already there."""
    stamp = folder / ".bench-params"
    if stamp.is_file() and stamp.read_text() == str(n):
        return
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for i in range(n):
        sub = folder / f"part{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
        img = Image.new("RGB", (96, 72), colour)
        img.putpixel((int(rng.integers(0, 96)), int(rng.integers(0, 72))), (255, 255, 255))
        img.save(sub / f"photo{i:05d}.jpg", quality=80)
    notes = folder / "notes"
    notes.mkdir(exist_ok=True)
    for i, text in enumerate(["We planted tomatoes in the garden.", "Budget review for the kitchen.",
                              "Train timetable to the mountains.", "Birthday party planning notes."]):
        (notes / f"note{i}.txt").write_text(text)
    stamp.write_text(str(n))


def index(media: Path, data: Path, model: str, backend: str) -> float:
    if (data / ".bench-done").is_file():
        return 0.0
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "mmexplorer", "index", str(media), "--data-dir", str(data), "--model", model,
         "--backend", backend, "--no-captions"], env=_env(backend), capture_output=True, text=True, check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    (data / ".bench-done").write_text("ok")
    return time.perf_counter() - t0


def first_result(data: Path, backend: str) -> tuple[float, float]:
    """Seconds from spawning `mmexplorer search` to its first stdout line, and the CPU seconds it used in all."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmexplorer", "search", QUERY, "--data-dir", str(data), "--all", "-k", "5"],
        env=_env(backend), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not line:
        raise RuntimeError("search printed nothing")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports(data: Path, backend: str) -> tuple[float, list[str]]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mmexplorer", "search", QUERY, "--data-dir", str(data), "--all"],
        env=_env(backend), capture_output=True, text=True, check=False,
    )
    total = 0
    seen = set()
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not cumulative.isdigit():
            continue
        if not line.split("|")[2].startswith("  "):
            total += int(cumulative)  # a top-level import (not nested in another)
        seen.add(name.strip())
    return total / 1e6, [m for m in HEAVY if m in seen]


def measure(label: str, data: Path, backend: str, runs: int) -> dict[str, Any]:
    first_result(data, backend)  # warm-up: relevance maps fitted and cached, files in the page cache
    timed = [first_result(data, backend) for _ in range(runs)]
    times = [t for t, _cpu in timed]
    imp = [imports(data, backend) for _ in range(max(1, runs // 2))]
    import_s = statistics.median(i[0] for i in imp)
    first = statistics.median(times)
    row = {
        "first_result_s": round(first, 3),
        "first_result_runs": [round(t, 3) for t in times],
        # The whole process's CPU time (to its exit, so a little past the first result): on a quiet
        # machine the wall time approaches it; on a loaded one the wall time is mostly waiting.
        "process_cpu_s": round(statistics.median(c for _t, c in timed), 3),
        "import_s": round(import_s, 3),
        "import_share": round(import_s / first, 3),
        "heavy_imports": imp[0][1],
        "loadavg": round(os.getloadavg()[0], 2),
    }
    log(f"[{label} {backend}] first result {row['first_result_s']} s (CPU {row['process_cpu_s']} s), imports {row['import_s']} s "
        f"({row['import_share']:.0%}), heavy: {row['heavy_imports']}")
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="photos in the tiny-random library (default 10000)")
    p.add_argument("--vit-n", type=int, default=300, help="photos in the ViT-B-32 library (0: skip)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--backends", default="onnx,torch")
    p.add_argument("--workdir", default=str(Path.home() / ".cache" / "mmexplorer-bench" / "cli-start"))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MMEXPLORER_ONNX_CACHE", str(work / "onnx"))
    result: dict[str, Any] = {"query": QUERY, "runs": args.runs}
    libraries = [("tiny-random", args.n, "tiny-random")]
    if args.vit_n:
        from tests.bench.bench_indexing import write_random_model

        libraries.append(("ViT-B-32", args.vit_n, str(write_random_model(work / "vit-b-32-random"))))
    for label, n, model in libraries:
        media = work / f"media-{n}"
        log(f"[{label}] {n} photos: generating and indexing (once) ...")
        make_media(media, n)
        data = work / f"lib-{label}-{n}"
        index_s = index(media, data, model, "onnx")
        rows: dict[str, Any] = {"items": n + 4, "index_s": round(index_s, 1)}
        for backend in args.backends.split(","):
            rows[backend] = measure(label, data, backend, args.runs)
        result[f"{label} library"] = rows
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
