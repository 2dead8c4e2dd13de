"""Search at library scale: latency, recall against exact search, build time and memory.

    python tests/bench/bench_search.py --json --n 1000000

Builds a library of n synthetic 512-d embeddings drawn like a real collection (a mixture of a few
thousand clusters on the unit sphere, see `synthetic_embeddings`), with a real catalog (one item
and one chunk row per vector, in mmexplorer's SQLite schema), indexes it with the index kind the
app would choose at that size (`choose_index_spec`), and measures in one run:

- `p50_ms`, `p95_ms`: one query vector -> ranked results with paths (index search + catalog lookup);
- `e2e_p95_ms`: one query text -> ranked results with paths, through the real ViT-B-32 text tower
  (random weights: the real ones cannot be downloaded here, and only the timing matters) on torch;
  `onnx_e2e_p95_ms` the same through the ONNX Runtime export (`--backend`; tokens cut at EOT);
- `recall_at_20` of the index against exact inner-product search, on a subset of the queries;
- `build_s` (train + add), `bytes_per_vector` (faiss.serialize_index + the id array, divided by n)
  and `rss_bytes_per_vector` (resident memory of a fresh process opening the saved index);
- `exact_p50_ms` and `speedup_vs_exact`, the ratio this shared machine can report honestly.

Prints one JSON object on stdout with --json; progress goes to stderr. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import faiss

from mmexplorer.core.index import VectorIndex, choose_index_spec
from tests.bench.common import log

K = 20

QUERY_TEXTS = [
    "a dog playing on the beach at sunset",
    "birthday cake with candles",
    "snowy mountains and a frozen lake",
    "my grandmother's kitchen",
    "receipt from the hardware store",
    "children playing football in the park",
    "a red car parked in front of a house",
    "screenshot of a train timetable",
    "wedding photos in the garden",
    "cat sleeping on a keyboard",
    "whiteboard notes from the planning meeting",
    "the view from the hotel balcony in Lisbon",
    "close-up of a sunflower",
    "people around a campfire at night",
    "old black and white family portrait",
    "plate of pasta with tomato sauce",
]


# ---------------------------------------------------------------------------------------------
# data


def synthetic_embeddings(
    n: int, dim: int = 512, *, n_clusters: int | None = None, seed: int = 0, batch: int = 65_536
) -> tuple[np.ndarray, Callable[[np.ndarray, float], np.ndarray]]:
    """n unit vectors shaped like a photo collection's CLIP embeddings, and a query perturber.

    - a few thousand themes (n/250 clusters, at most 4000) with lognormal sizes: some themes
      (the cat, the kids) dominate, many are rare;
    - a shared mean direction, so unrelated items still have cosine ~0.35 (CLIP's "cone");
    - anisotropic spread (variance spectrum ~ i^-0.8), as learned embeddings concentrate their
      variance in a minority of directions; items sit at cosine ~0.7 from their theme's other items.
    Uniform noise would be unrealistically hard for any ANN index and make recall meaningless.

    Returns:
        (vectors float32 (n, dim), perturb(x, sigma) -> unit vectors near x).
    """
    rng = np.random.default_rng(seed)
    if n_clusters is None:
        n_clusters = int(min(4000, max(20, n // 250)))
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = np.arange(1, dim + 1, dtype=np.float64) ** -0.4
    spectrum /= np.sqrt((spectrum**2).sum())
    basis = (spectrum[:, None] * rotation.T).astype(np.float32)  # z @ basis: E|.|^2 = 1
    mean = rng.standard_normal(dim).astype(np.float32)
    mean /= np.linalg.norm(mean)
    centres = mean + rng.standard_normal((n_clusters, dim)).astype(np.float32) @ basis
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, n_clusters)
    weights /= weights.sum()
    spread = rng.lognormal(np.log(0.65), 0.25, n_clusters).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        c = rng.choice(n_clusters, size=m, p=weights)
        v = centres[c] + spread[c, None] * (rng.standard_normal((m, dim), dtype=np.float32) @ basis)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[start : start + m] = v

    qrng = np.random.default_rng(seed + 1)

    def perturb(x: np.ndarray, sigma: float = 0.45) -> np.ndarray:
        q = x + sigma * (qrng.standard_normal(x.shape, dtype=np.float32) @ basis)
        return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)

    return out, perturb


def fake_path(i: int) -> str:
    year = 2008 + (i * 7919) % 17
    month = 1 + (i * 104729) % 12
    return f"/home/user/Pictures/{year}/{month:02d}/IMG_{i:08d}.jpg"


class Rows:
    """The catalog side of a search: chunk ids -> (item id, path), through mmexplorer's Catalog.

    mmexplorer.core.catalog has no bulk insert, and a million upsert_item + replace_chunks calls
    would measure Python rather than search, so the rows go in with executemany on a second
    connection to the same file, after Catalog created the schema; lookups use Catalog's own
    methods, as the search module does. If the catalog module cannot be imported, a plain
    SQLite table (id, path, modality) stands in, and `catalog` in the JSON says so.
    """

    def __init__(self, path: Path, n: int) -> None:
        try:
            from mmexplorer.core.catalog import Catalog
        except ImportError as e:  # the module is written in parallel; keep the benchmark usable
            log(f"mmexplorer.core.catalog not importable ({e}); using a plain SQLite table")
            Catalog = None
        self.kind = "mmexplorer.core.catalog.Catalog" if Catalog is not None else "plain sqlite table"
        self._catalog = Catalog(path) if Catalog is not None else None
        db = sqlite3.connect(path, isolation_level=None)
        if self._catalog is not None:  # the catalog's triggers call its SQL functions
            from mmexplorer.core.catalog import register_functions

            register_functions(db)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        if self._catalog is not None:
            db.executemany(
                "INSERT INTO items(id, path, modality, size, mtime_ns, content_hash, status, width, height)"
                " VALUES(?, ?, 'photo', ?, ?, NULL, 'indexed', 4032, 3024)",
                (
                    (i, fake_path(i), 2_000_000 + i % 3_000_000, 1_600_000_000_000_000_000 + i)
                    for i in range(n)
                ),
            )
            db.executemany(
                "INSERT INTO chunks(id, item_id, space, ord) VALUES(?, ?, 'image', 0)",
                ((i, i) for i in range(n)),
            )
        else:
            db.execute(
                "CREATE TABLE rows(id INTEGER PRIMARY KEY, path TEXT NOT NULL, modality TEXT NOT NULL)"
            )
            db.executemany("INSERT INTO rows VALUES(?, ?, 'photo')", ((i, fake_path(i)) for i in range(n)))
        db.execute("COMMIT")
        if self._catalog is not None:
            db.close()
            self._db = None
        else:
            self._db = db

    def lookup(self, ids: np.ndarray, scores: np.ndarray) -> list[tuple[str, str, float]]:
        """Ranked (path, modality, score) for the ids of one query, in rank order."""
        wanted = [int(i) for i in ids if i >= 0]
        if self._catalog is not None:
            chunks = self._catalog.chunks(wanted)
            items = self._catalog.items({c.item_id for c in chunks.values()})
            out = []
            for vid, score in zip(wanted, scores):
                chunk = chunks.get(vid)
                item = items.get(chunk.item_id) if chunk is not None else None
                if item is not None:
                    out.append((item.path, item.modality, float(score)))
            return out
        marks = ",".join("?" * len(wanted))
        found = {
            r[0]: r[1:]
            for r in self._db.execute(f"SELECT id, path, modality FROM rows WHERE id IN ({marks})", wanted)
        }
        return [(found[v][0], found[v][1], float(s)) for v, s in zip(wanted, scores) if v in found]

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
        if self._db is not None:
            self._db.close()


# ---------------------------------------------------------------------------------------------
# text tower


def load_text_tower(workdir: Path, backend: str = "torch") -> tuple[Callable[[str], np.ndarray], str]:
    """ViT-B-32's text tower with random weights, through mmexplorer's loader when it exists.

    The loader path ("ViT-B-32=<checkpoint>") is the one a user with a local checkpoint takes, so
    tokenizer, device and dtype choices are the app's; the checkpoint is written here, offline.
    """
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    try:
        from mmexplorer.core.models import load_image_model
    except ImportError as e:
        log(f"mmexplorer.core.models not importable ({e}); timing open_clip directly")
        load_image_model = None
    if load_image_model is not None:
        from safetensors.torch import save_file

        ckpt = workdir / "vit-b-32-random.safetensors"
        if not ckpt.exists():
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
        del model
        os.environ.setdefault("MMEXPLORER_ONNX_CACHE", str(workdir / "onnx"))  # exported here, first use
        encoder = load_image_model(f"ViT-B-32={ckpt}", backend=backend)
        return (
            lambda text: encoder.encode_texts([text])[0]
        ), f"mmexplorer {type(encoder).__name__} ViT-B-32 ({encoder.device}, {encoder.dtype}, random weights)"
    model.eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)

    def encode(text: str) -> np.ndarray:
        with torch.inference_mode():
            f = model.encode_text(tokenizer([text]).to(device)).float()
            f = f / f.norm(dim=-1, keepdim=True)
        return f[0].cpu().numpy()

    return encode, f"open_clip ViT-B-32 ({device}, random weights)"


# ---------------------------------------------------------------------------------------------
# measurement


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def rss_per_vector(index_dir: Path, space: str, dim: int, n: int) -> float | None:
    """Resident memory a fresh process needs to open the saved index (ids cached), per vector."""
    code = (
        "import sys, faiss\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from mmexplorer.core.index import VectorIndex\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "before = rss()\n"
        f"vi = VectorIndex.open({str(index_dir)!r}, {space!r}, {dim}, use_gpu=False)\n"
        "vi.ids()\n"
        "print(rss() - before)\n"
    )
    if not Path("/proc/self/status").exists():
        return None
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
        )
        return int(out.stdout.strip().splitlines()[-1]) / n
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        log(f"could not measure resident memory: {e}")
        return None


def run(args: argparse.Namespace) -> dict:
    n, dim = args.n, args.dim
    result: dict = {"n": n, "dim": dim, "k": K}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mmx-bench-search-"))
    workdir.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    vectors, perturb = synthetic_embeddings(n, dim, seed=args.seed)
    result["gen_s"] = round(time.perf_counter() - t, 2)
    log(f"generated {n} x {dim} clustered vectors in {result['gen_s']} s")

    t = time.perf_counter()
    rows = Rows(workdir / "catalog.sqlite3", n)
    result["catalog"] = rows.kind
    result["catalog_s"] = round(time.perf_counter() - t, 2)
    log(f"catalog rows ({rows.kind}) in {result['catalog_s']} s")

    spec = args.spec or choose_index_spec(n, dim)
    ids = np.arange(n, dtype=np.int64)
    t = time.perf_counter()
    built = VectorIndex.build(ids, vectors, spec=spec, space="image", directory=workdir / "index")
    result["build_s"] = round(time.perf_counter() - t, 2)
    log(f"built {spec} in {result['build_s']} s")
    t = time.perf_counter()
    built.save()
    result["save_s"] = round(time.perf_counter() - t, 2)
    serialized = faiss.serialize_index(built._index).nbytes
    id_bytes = built.ids().nbytes
    result["bytes_per_vector"] = round((serialized + id_bytes) / n, 1)
    del built
    gc.collect()

    t = time.perf_counter()
    index = VectorIndex.open(workdir / "index", "image", dim)
    index.ids()  # the id cache is part of what a search-ready index holds
    result["open_s"] = round(time.perf_counter() - t, 2)
    result["index_kind"] = index.kind
    result["nprobe"] = index.nprobe
    result["faiss_threads"] = faiss.omp_get_max_threads()
    result["index_on_gpu"] = False
    if not args.no_rss:
        rss = rss_per_vector(workdir / "index", "image", dim, n)
        result["rss_bytes_per_vector"] = None if rss is None else round(rss, 1)
    log(f"opened in {result['open_s']} s; {result['bytes_per_vector']} bytes/vector serialized")

    rng = np.random.default_rng(args.seed + 2)
    sources = rng.choice(n, size=args.queries, replace=False)
    queries = perturb(vectors[sources])

    # Exact ground truth (faiss.knn: exhaustive inner product, no index copy of the library).
    nr = min(args.recall_queries, args.queries)
    t = time.perf_counter()
    _, truth = faiss.knn(queries[:nr], vectors, K, metric=faiss.METRIC_INNER_PRODUCT)
    log(f"exact ground truth for {nr} queries in {time.perf_counter() - t:.1f} s")
    _, found = index.search(queries[:nr], K)
    result["recall_at_20"] = round(
        float(np.mean([len(set(f) & set(g)) / K for f, g in zip(found, truth)])), 4
    )

    exact_ms = []
    for q in queries[: args.exact_queries]:
        t = time.perf_counter()
        faiss.knn(q[None], vectors, K, metric=faiss.METRIC_INNER_PRODUCT)
        exact_ms.append((time.perf_counter() - t) * 1e3)

    # Single-query latency: vector -> ranked results with paths.
    search_ms, total_ms = [], []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        scores, hit = index.search(q[None], K)
        t1 = time.perf_counter()
        results = rows.lookup(hit[0], scores[0])
        t2 = time.perf_counter()
        if i >= args.warmup:
            search_ms.append((t1 - t0) * 1e3)
            total_ms.append((t2 - t0) * 1e3)
        if len(results) != min(K, n):
            raise RuntimeError(f"query {i}: {len(results)} results with paths, expected {min(K, n)}")
    result["index_on_gpu"] = index.on_gpu
    result["p50_ms"], result["p95_ms"] = (round(v, 3) for v in percentiles(total_ms))
    result["search_p50_ms"], result["search_p95_ms"] = (round(v, 3) for v in percentiles(search_ms))
    result["exact_p50_ms"] = round(float(np.median(exact_ms)), 2)
    result["speedup_vs_exact"] = round(result["exact_p50_ms"] / result["search_p50_ms"], 1)
    log(
        f"{index.kind} nprobe={index.nprobe}: p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms "
        f"(exact {result['exact_p50_ms']:.1f} ms), recall@20 {result['recall_at_20']:.4f}"
    )

    for backend in [] if args.no_e2e else args.backend.split(","):
        # Rows per backend, side by side: e2e_* for torch, onnx_e2e_* for ONNX Runtime.
        pre = "" if backend == "torch" else f"{backend}_"
        if args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
            from mmexplorer.core.models import onnx as onnx_backend

            onnx_backend.set_threads(args.torch_threads)
        encode, model_name = load_text_tower(workdir, backend)
        result["torch_threads"] = _torch_threads()
        result[f"{pre}text_model"] = model_name
        enc_ms, e2e_ms = [], []
        texts = QUERY_TEXTS * max(1, -(-args.text_queries // len(QUERY_TEXTS)))
        for i, text in enumerate(texts[: args.text_queries + 3]):
            t0 = time.perf_counter()
            qv = encode(text)
            t1 = time.perf_counter()
            scores, hit = index.search(qv[None].astype(np.float32), K)
            rows.lookup(hit[0], scores[0])
            t2 = time.perf_counter()
            if i >= 3:
                enc_ms.append((t1 - t0) * 1e3)
                e2e_ms.append((t2 - t0) * 1e3)
        result[f"{pre}text_encoder_p50_ms"], result[f"{pre}text_encoder_p95_ms"] = (
            round(v, 2) for v in percentiles(enc_ms)
        )
        result[f"{pre}e2e_p50_ms"], result[f"{pre}e2e_p95_ms"] = (round(v, 2) for v in percentiles(e2e_ms))
        log(f"text -> results: p50 {result[f'{pre}e2e_p50_ms']} ms, p95 {result[f'{pre}e2e_p95_ms']} ms ({model_name})")

    rows.close()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "faiss": getattr(faiss, "__version__", "?"),
        "gpus": faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0,
    }
    result["queries"] = {"latency": len(total_ms), "recall": nr, "exact": len(exact_ms), "sigma": 0.45}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="library size (default 100000)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=500, help="single-vector queries timed")
    p.add_argument("--recall-queries", type=int, default=200, help="queries checked against exact search")
    p.add_argument("--exact-queries", type=int, default=10, help="queries timed with exact search")
    p.add_argument("--text-queries", type=int, default=40, help="text queries timed end to end")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--spec", help="faiss factory key instead of choose_index_spec's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="where the catalog and index go (default: a new temp dir)")
    p.add_argument("--threads", type=int, help="faiss.omp_set_num_threads before measuring")
    p.add_argument("--torch-threads", type=int, help="torch.set_num_threads for the text tower")
    p.add_argument("--no-e2e", action="store_true", help="skip the text-encoder end-to-end figure")
    p.add_argument("--backend", default="torch,onnx", help="text-tower backends for the e2e rows (default torch,onnx)")
    p.add_argument("--no-rss", action="store_true", help="skip the resident-memory subprocess")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
