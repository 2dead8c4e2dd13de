"""How long does the GUI thread stall while photos index and while results with thumbnails load?

A heartbeat QTimer ticks every few milliseconds on the GUI thread; the longest gap between ticks,
minus the interval, is the longest time the window could not have answered input. Runs the real
wiring (app.create_window: worker thread, Engine, thumbnail pool) on generated photos.

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_gui_stall.py [--photos 300] [--model tiny-random]
    python tests/bench/bench_gui_stall.py --model vit --photos 900 --backends torch,onnx [--profile]

`--model vit` indexes with ViT-B-32 (random weights, the default architecture), so indexing lasts
long enough (30 s and more) for the worker to compete with the window for the interpreter;
`--backends torch,onnx` runs one process per backend and prints both side by side; `--profile`
prints pyinstrument's view of the GUI thread during indexing to stderr (where a stall comes from).
The load average is printed beside the figures: on a busy machine stalls grow for reasons of its own.

Prints one JSON object with `max_stall_ms` (the worst of both phases) and per-phase details.
A benchmark, not a test: the number depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Heartbeat:
    """Records the gaps between ticks of a fast timer on the GUI thread."""

    def __init__(self, interval_ms: int) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval_ms = interval_ms
        self.gaps: list[float] = []
        self._last: float | None = None
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000.0)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = None
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        stalls = [max(0.0, g - self.interval_ms) for g in gaps]
        return {
            "ticks": len(self.gaps),
            "max_stall_ms": round(max(stalls), 1),
            "p99_gap_ms": round(gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))], 1),
            "median_gap_ms": round(statistics.median(gaps), 2),
        }


class GcPauses:
    """Times the garbage collector's passes (any thread): a long gen-2 pass holds the GIL, so the
    GUI thread cannot run while another thread collects."""

    def __init__(self) -> None:
        import gc

        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            ms = (time.perf_counter() - self._t0) * 1000.0
            self.pauses.append((info.get("generation", -1), ms))
            if ms >= 50 and os.environ.get("BENCH_GC_STACKS"):  # who made the garbage: on stderr
                import threading
                import traceback

                frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
                where = "".join(traceback.format_list(frames[:8] + frames[-3:]))
                sys.stderr.write(f"gc gen{info.get('generation')} {ms:.0f} ms on {threading.current_thread().name}:\n{where}\n")

    def take(self) -> dict[str, float]:
        pauses, self.pauses = self.pauses, []
        gen2 = [ms for g, ms in pauses if g == 2]
        return {
            "gc_passes": len(pauses),
            "gc_max_ms": round(max((ms for _, ms in pauses), default=0.0), 1),
            "gc_gen2_passes": len(gen2),
            "gc_gen2_max_ms": round(max(gen2, default=0.0), 1),
        }


def wait_until(app, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.001)
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--size", type=int, default=640, help="pixel side of the generated photos")
    ap.add_argument("--model", default="tiny-random")
    ap.add_argument("--interval-ms", type=int, default=5)
    ap.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    ap.add_argument("--backends", help="comma-separated: one run (process) per backend, printed together")
    ap.add_argument("--profile", action="store_true", help="pyinstrument on the GUI thread while indexing")
    args = ap.parse_args(argv)
    if args.backends:
        import subprocess

        rows = {}
        for backend in args.backends.split(","):
            rest = [a for a in (argv if argv is not None else sys.argv[1:])]
            i = rest.index("--backends")
            rest = rest[:i] + rest[i + 2 :]
            run = subprocess.run([sys.executable, __file__, *rest, "--backend", backend],
                                 capture_output=True, text=True, check=False)
            sys.stderr.write(run.stderr)
            rows[backend] = json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else {"error": run.stderr[-500:]}
        print(json.dumps(rows))
        return 0
    os.environ["MMEXPLORER_BACKEND"] = args.backend
    os.environ.setdefault("MMEXPLORER_ONNX_CACHE", str(Path.home() / ".cache" / "mmexplorer-bench" / "onnx"))

    from mmexplorer.app import create_window, ensure_qapplication
    from mmexplorer.devtools.synth import make_photo_library
    from mmexplorer.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="mmx-stall-"))
    if args.model == "vit":
        from tests.bench.bench_indexing import write_random_model

        # the same random weights every run (seeded): its ONNX export is made once and reused
        args.model = str(write_random_model(Path.home() / ".cache" / "mmexplorer-bench" / "vit-b-32-random"))
    data_dir = tmp / "data"
    os.environ["MMEXPLORER_DATA_DIR"] = str(data_dir)
    library = tmp / "photos"
    t0 = time.perf_counter()
    make_photo_library(library, n=args.photos, size=(args.size, round(args.size * 0.75)))
    gen_s = time.perf_counter() - t0

    app = ensure_qapplication()
    window = create_window(
        data_dir, model=args.model, settings=Settings(results_per_page=args.photos), save_settings=False
    )
    window.resize(1280, 800)
    window.show()
    if not wait_until(app, lambda: window.host.models_loaded, 300):
        print(json.dumps({"error": "models did not load"}))
        return 1
    beat = Heartbeat(args.interval_ms)
    gc_pauses = GcPauses()

    # phase 1: index the photos
    reports: list = []
    window.host.index_finished.connect(reports.append)
    load_before = os.getloadavg()[0]
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    beat.start()
    t = time.perf_counter()
    window.add_folders([str(library)])
    wait_until(app, lambda: bool(reports), 1800)
    index_s = time.perf_counter() - t
    indexing = beat.stop()
    indexing.update(gc_pauses.take())
    if profiler is not None:
        profiler.stop()
        sys.stderr.write("--- GUI thread while indexing ---\n")
        sys.stderr.write(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    info = window.host.model_info() if hasattr(window.host, "model_info") else None
    indexing["loadavg_before"] = round(load_before, 2)
    indexing.update(seconds=round(index_s, 2), files_per_s=round(args.photos / max(index_s, 1e-6), 1))

    # phase 2: a search showing every photo; thumbnails made from scratch while scrolling through
    window.search_bar.set_modality("photo")
    if args.profile:
        profiler = Profiler(interval=0.001)
        profiler.start()
    beat.start()
    t = time.perf_counter()
    window.search("a photo")
    # tiny-random judges nothing relevant: open the weak matches so their cards and thumbnails load.
    wait_until(app, lambda: window.current_page() in ("results", "no-match") and not window.host.search_pending, 120)
    window.show_weak(True)
    wait_until(app, lambda: window.current_page() == "results", 30)
    results_s = time.perf_counter() - t
    view = window.results_view
    bar = view.verticalScrollBar()
    paths = [r.path for r in window.results_model.results()]
    while True:
        wait_until(app, lambda: not window.loader.pending, 60)
        if bar.value() >= bar.maximum():
            break
        bar.setValue(bar.value() + view.viewport().height())
        app.processEvents()
    thumbs_s = time.perf_counter() - t
    thumbnails = beat.stop()
    thumbnails.update(gc_pauses.take())
    if profiler is not None:
        profiler.stop()
        sys.stderr.write("\n--- GUI thread while results and thumbnails load ---\n")
        sys.stderr.write(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    made = sum(1 for p in paths if window.thumb_cache.get(p, 256) is not None)
    thumbnails.update(
        seconds=round(thumbs_s, 2), first_results_s=round(results_s, 3), results=len(paths), thumbnails=made
    )
    window.close()

    out = {
        "benchmark": "gui_stall",
        "max_stall_ms": max(indexing["max_stall_ms"], thumbnails["max_stall_ms"]),
        "heartbeat_ms": args.interval_ms,
        "photos": args.photos,
        "photo_size": [args.size, round(args.size * 0.75)],
        "model": args.model,
        "indexing": indexing,
        "results_with_thumbnails": thumbnails,
        "generate_s": round(gen_s, 2),
        "backend": args.backend,
        "model_info": [str(m) for m in info] if info else None,
        "loadavg_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
