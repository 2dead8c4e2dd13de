"""core.index on real FAISS: ids, updates, persistence, atomic saves, kind switches."""

from __future__ import annotations

import os
import threading
import time

import faiss
import numpy as np
import pytest

from mmexplorer.core.errors import CatalogError, UsageError
from mmexplorer.core.index import FLAT_KEY, VectorIndex, choose_index_spec, needs_rebuild
from mmexplorer.core.index import vector as index_mod

DIM = 32


@pytest.fixture(autouse=True, scope="module")
def _one_faiss_thread():
    """These indexes are tiny: OpenMP's spinning threads cost more than they bring, and on a
    shared, oversubscribed machine they made k-means 5-40x slower (measured)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def clustered(n: int, dim: int = DIM, *, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few cluster centres, like an embedding collection (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ x.T), axis=1)[:, :k]]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


# Every kind choose_index_spec can return at small sizes: exact, IVF+SQ8, and the budget codes.
SMALL_KINDS = [
    choose_index_spec(3000, DIM, flat_threshold=10_000),
    choose_index_spec(3000, DIM, flat_threshold=500),
    choose_index_spec(3000, DIM, flat_threshold=500, budget_bytes=3000 * 30),
    choose_index_spec(3000, DIM, flat_threshold=500, budget_bytes=3000 * 16),
]


def test_small_kinds_cover_every_family() -> None:
    assert SMALL_KINDS == [FLAT_KEY, "IVF64,SQ8", "IVF64,SQ4", "IVF64,PQ4"]


@pytest.mark.parametrize(
    ("n", "dim", "kwargs", "key"),
    [
        (0, 512, {}, FLAT_KEY),
        (1, 512, {}, FLAT_KEY),
        (20_000, 512, {}, FLAT_KEY),
        (20_001, 512, {}, "IVF512,SQ8"),
        (50_000, 512, {}, "IVF1024,SQ8"),
        (200_000, 512, {}, "IVF2048,SQ8"),
        (1_000_000, 512, {}, "IVF4096,SQ8"),
        (4_000_000, 512, {}, "IVF8192,SQ8"),
        (10_000_000, 512, {}, "IVF16384_HNSW32,SQ8"),
        (1_000_000, 384, {}, "IVF4096,SQ8"),
        (2000, 64, {"flat_threshold": 1000}, "IVF32,SQ8"),
        # the flat index would not fit: IVF below the threshold
        (10_000, 512, {"budget_bytes": 10_000 * 600}, "IVF256,SQ8"),
        # 1M under 300 MB: 4-bit codes
        (1_000_000, 512, {"budget_bytes": 300_000_000}, "IVF4096,SQ4"),
        (1_000_000, 512, {"budget_bytes": 100_000_000}, "IVF4096,PQ64"),
        # a big budget still gets exact search while small
        (15_000, 512, {"budget_bytes": 10**12}, FLAT_KEY),
    ],
)
def test_choose_index_spec(n: int, dim: int, kwargs: dict, key: str) -> None:
    assert choose_index_spec(n, dim, **kwargs) == key
    # every key is one faiss can build
    assert faiss.index_factory(dim, key, faiss.METRIC_INNER_PRODUCT).d == dim


@pytest.mark.parametrize(("n", "dim", "kwargs"), [(-1, 512, {}), (10, 0, {}), (10, 8, {"budget_bytes": 0})])
def test_choose_index_spec_rejects_bad_input(n: int, dim: int, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        choose_index_spec(n, dim, **kwargs)


def test_needs_rebuild_has_hysteresis() -> None:
    assert needs_rebuild(FLAT_KEY, 20_000, 512) is None
    assert needs_rebuild(FLAT_KEY, 20_001, 512) == "IVF512,SQ8"
    # shrinking a little below the threshold keeps IVF; far below goes back to exact
    assert needs_rebuild("IVF512,SQ8", 15_000, 512) is None
    assert needs_rebuild("IVF512,SQ8", 9_000, 512) == FLAT_KEY
    # IVF1024 is right for 40k..131k vectors: a margin of 30% around the boundary, then re-layout
    assert needs_rebuild("IVF1024,SQ8", 140_000, 512) is None
    assert needs_rebuild("IVF1024,SQ8", 200_000, 512) == "IVF2048,SQ8"
    assert needs_rebuild("IVF2048,SQ8", 120_000, 512) is None
    assert needs_rebuild("IVF2048,SQ8", 90_000, 512) == "IVF1024,SQ8"
    assert needs_rebuild("IVF1024,SQ8", 1_000_000, 512) == "IVF4096,SQ8"
    # a new budget changes the code
    assert needs_rebuild("IVF4096,SQ8", 1_000_000, 512, budget_bytes=300_000_000) == "IVF4096,SQ4"


def test_add_search_remove_persist_round_trip(tmp_path) -> None:
    x = clustered(500)
    ids = np.arange(500, dtype=np.int64) * 10 + 7  # sparse ids, like catalog chunk ids
    vi = VectorIndex.open(tmp_path, "image", DIM)
    assert (vi.kind, vi.ntotal, vi.dim, vi.space) == (FLAT_KEY, 0, DIM, "image")
    vi.add(ids, x)
    scores, found = vi.search(x[:5], 3)
    assert found[:, 0].tolist() == ids[:5].tolist()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert vi.remove([ids[0], ids[1], 999_999]) == 2
    _, found = vi.search(x[:2], 10)
    assert ids[0] not in found and ids[1] not in found
    vi.save()

    again = VectorIndex.open(tmp_path, "image", DIM)
    assert again.kind == FLAT_KEY and again.ntotal == 498
    assert again.ids().tolist() == sorted(ids[2:].tolist())
    np.testing.assert_allclose(again.reconstruct(ids[2:4]), x[2:4], atol=1e-6)
    _, found = again.search(x[2:7], 1)
    assert found[:, 0].tolist() == ids[2:7].tolist()


def test_search_edges(tmp_path) -> None:
    vi = VectorIndex.open(tmp_path, "text", DIM)
    scores, found = vi.search(clustered(2), 4)
    assert (found == -1).all() and np.isneginf(scores).all()
    vi.add([1, 2], clustered(2))
    scores, found = vi.search(clustered(1)[0], 4)  # a single (dim,) query
    assert sorted(found[0, :2].tolist()) == [1, 2] and (found[0, 2:] == -1).all()
    assert np.isneginf(scores[0, 2:]).all()
    with pytest.raises(UsageError):
        vi.search(np.zeros((1, DIM + 1), np.float32), 3)
    with pytest.raises(UsageError):
        vi.search(clustered(1), 0)
    with pytest.raises(UsageError):
        vi.add([3, 3], clustered(2))
    with pytest.raises(UsageError):
        vi.add([-1], clustered(1))
    with pytest.raises(UsageError):
        vi.add([4], np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(UsageError, match="not in the text index"):
        vi.reconstruct([1, 77])


@pytest.mark.parametrize("spec", SMALL_KINDS)
def test_every_kind_adds_removes_reconstructs_without_duplicates(tmp_path, spec: str) -> None:
    x = clustered(3000)
    ids = np.arange(3000, dtype=np.int64) * 3 + 1
    vi = VectorIndex.build(ids, x, spec=spec, space="image", directory=tmp_path / "new")
    assert vi.kind == spec and vi.ntotal == 3000

    # Re-adding existing ids replaces them: no duplicate, the new vector wins.
    vi.add(ids[:10], x[100:110])
    assert vi.ntotal == 3000
    _, found = vi.search(x[100:101], 50)
    assert len(set(found[0][found[0] >= 0])) == len(found[0][found[0] >= 0])
    assert {int(ids[0]), int(ids[100])} <= set(found[0].tolist())

    removed = ids[::7]
    assert vi.remove(removed) == len(removed)
    assert vi.remove(removed) == 0
    assert vi.ntotal == 3000 - len(removed)
    assert not vi.contains(removed).any()
    _, found = vi.search(x[::7][:20], 20)
    assert not np.isin(found, removed).any()
    kept = np.setdiff1d(ids, removed)
    wanted = np.concatenate([kept[::-97], kept[20:23]])  # any order, repeats allowed
    err = np.abs(vi.reconstruct(wanted) - x[(wanted - 1) // 3]).max()
    assert err < {"Flat": 1e-5, "SQ8": 0.02, "SQ4": 0.2}.get(spec.split(",")[1], 0.6)

    # A search for every vector returns each id exactly once (`search -k N` in the CLI).
    _, everything = vi.search(x[:1], vi.ntotal)
    assert sorted(everything[0].tolist()) == kept.tolist()

    vi.save()
    again = VectorIndex.open(tmp_path / "new", "image", DIM)
    assert again.kind == spec and again.ids().tolist() == kept.tolist()
    assert again.nprobe == vi.nprobe


def test_rebuild_across_threshold_keeps_ids_and_recall(tmp_path) -> None:
    x = clustered(4000, clusters=60, seed=1)
    ids = np.arange(4000, dtype=np.int64) + 1_000_000
    vi = VectorIndex.open(tmp_path, "image", DIM, flat_threshold=1000)
    vi.add(ids[:900], x[:900])
    assert not vi.maybe_rebuild() and vi.kind == FLAT_KEY
    vi.add(ids[900:], x[900:])
    assert vi.target_spec() == choose_index_spec(4000, DIM, flat_threshold=1000)
    assert vi.maybe_rebuild()
    assert vi.kind.startswith("IVF") and vi.ids().tolist() == ids.tolist()

    rng = np.random.default_rng(2)
    q = x[rng.choice(4000, 100, replace=False)] + 0.1 * rng.standard_normal((100, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, found = vi.search(q, 10)
    r = recall(found, exact_top(x, ids, q, 10))
    print(f"recall@10 after flat -> {vi.kind} (nprobe {vi.nprobe}): {r:.3f}")
    assert r >= 0.9
    # The partition itself is good, not only the exhaustive scan nprobe = nlist gives here.
    vi.nprobe = 8
    _, found = vi.search(q, 10)
    r8 = recall(found, exact_top(x, ids, q, 10))
    print(f"recall@10 at nprobe 8 of {vi.kind}: {r8:.3f}")
    assert r8 >= 0.8
    vi.nprobe = 64

    vi.save()
    again = VectorIndex.open(tmp_path, "image", DIM, flat_threshold=1000)
    assert again.kind == vi.kind and again.ids().tolist() == ids.tolist()

    # Shrinking far below the threshold goes back to exact search.
    again.remove(ids[300:])
    assert again.maybe_rebuild() and again.kind == FLAT_KEY
    assert again.ids().tolist() == ids[:300].tolist()


def test_background_rebuild_replays_updates_and_search_keeps_working(tmp_path) -> None:
    x = clustered(3000, seed=3)
    ids = np.arange(3000, dtype=np.int64)
    vi = VectorIndex.open(tmp_path, "image", DIM, flat_threshold=1000)
    vi.add(ids[:2500], x[:2500])

    built: list[VectorIndex] = []
    worker = threading.Thread(target=lambda: built.append(vi.build_replacement()))
    worker.start()
    # Meanwhile the live index keeps answering and changing.
    searches = 0
    for start in range(2500, 3000, 100):
        vi.add(ids[start : start + 100], x[start : start + 100])
        vi.remove(ids[start - 2500 : start - 2500 + 10])
        _, found = vi.search(x[start : start + 1], 1)
        assert found[0, 0] == ids[start]
        searches += 1
    worker.join()
    assert searches == 5 and vi.kind == FLAT_KEY

    expected = vi.ids()
    vi.swap_in(built[0])
    assert vi.kind.startswith("IVF")
    assert vi.ids().tolist() == expected.tolist()
    _, found = vi.search(x[2990:2991], 1)
    assert found[0, 0] == 2990
    with pytest.raises(UsageError, match="stale"):
        vi.swap_in(built[0])

    # A newer replacement supersedes an older one.
    older = vi.build_replacement(FLAT_KEY)
    newer = vi.build_replacement(FLAT_KEY)
    with pytest.raises(UsageError, match="stale"):
        vi.swap_in(older)
    vi.swap_in(newer)
    assert vi.kind == FLAT_KEY and vi.ids().tolist() == expected.tolist()


def test_save_is_atomic(tmp_path, monkeypatch) -> None:
    x = clustered(200)
    vi = VectorIndex.open(tmp_path, "image", DIM)
    vi.add(np.arange(200), x)
    vi.save()
    before = (tmp_path / "image.faiss").read_bytes()

    # A crash mid-save leaves a stray temp file: the real file is intact, and open cleans up.
    stray = tmp_path / ".image.faiss.tmp-123-deadbeef"
    stray.write_bytes(before[: len(before) // 2])
    # A recent one may be another process's save in progress (an index run while this one
    # searches): it is left alone; one untouched for long is a dead writer's.
    assert VectorIndex.open(tmp_path, "image", DIM).ntotal == 200
    assert stray.exists()
    old = time.time() - index_mod.STRAY_AGE_S - 1
    os.utime(stray, (old, old))
    reopened = VectorIndex.open(tmp_path, "image", DIM)
    assert reopened.ntotal == 200
    assert not list(tmp_path.glob(".image.faiss.tmp-*"))

    # A write that fails half-way raises CatalogError and leaves the old file as it was.
    def broken_write(index: faiss.Index, path) -> None:
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(index_mod, "_write_index", broken_write)
    reopened.save()  # unchanged since it was opened: nothing is written
    reopened.add(np.arange(200, 300), clustered(100, seed=5))
    with pytest.raises(CatalogError, match="disk full"):
        reopened.save()
    assert (tmp_path / "image.faiss").read_bytes() == before
    assert not list(tmp_path.glob(".image.faiss.tmp-*"))
    assert VectorIndex.open(tmp_path, "image", DIM).ntotal == 200


def test_open_rejects_corrupt_and_mismatched_files(tmp_path) -> None:
    vi = VectorIndex.open(tmp_path, "image", DIM)
    vi.add([1], clustered(1))
    vi.save()
    with pytest.raises(CatalogError, match=f"holds {DIM}-d vectors .* makes 512-d"):
        VectorIndex.open(tmp_path, "image", 512)

    (tmp_path / "text.faiss").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CatalogError, match="unreadable"):
        VectorIndex.open(tmp_path, "text", DIM)

    # A stale or broken sidecar is ignored: the faiss file is the truth.
    (tmp_path / "image.json").write_text("{not json")
    assert VectorIndex.open(tmp_path, "image", DIM).kind == FLAT_KEY


def test_in_memory_index_cannot_be_saved() -> None:
    vi = VectorIndex.build([1, 2], clustered(2), spec=FLAT_KEY)
    with pytest.raises(UsageError):
        vi.save()


def test_gpu_clone_is_kept_in_step_with_updates(monkeypatch) -> None:
    """The GPU path's bookkeeping, with a CPU clone standing in for index_cpu_to_gpu."""
    clones: list[faiss.Index] = []

    def fake_clone(index: faiss.Index) -> faiss.Index:
        clones.append(faiss.clone_index(index))
        return clones[-1]

    monkeypatch.setattr(index_mod, "_gpu_clone", fake_clone)
    monkeypatch.setattr(
        index_mod, "_set_gpu_nprobe", lambda idx, n: setattr(faiss.extract_index_ivf(idx), "nprobe", n)
    )
    x = clustered(3000, seed=7)
    vi = VectorIndex.build(np.arange(2500), x[:2500], spec="IVF64,SQ8", use_gpu=True)
    _, found = vi.search(x[:1], 5)
    assert vi.on_gpu and len(clones) == 1 and found[0, 0] == 0

    # New ids go to the clone too: no second copy to the GPU.
    vi.add(np.arange(2500, 3000), x[2500:])
    _, found = vi.search(x[2999:3000], 1)
    assert len(clones) == 1 and found[0, 0] == 2999 and clones[0].ntotal == 3000

    # Removals (and re-adds, which remove first) make a fresh clone on the next search.
    vi.remove([2999])
    _, found = vi.search(x[2999:3000], 5)
    assert len(clones) == 2 and 2999 not in found
    vi.add([5], x[6])
    vi.search(x[:1], 5)
    assert len(clones) == 3

    # k beyond the GPU kernels' limit is served by the CPU index.
    _, found = vi.search(x[:1], 2999)
    assert len(clones) == 3 and sorted(found[0].tolist()) == list(range(2999))

    # A GPU that fails leaves search on the CPU.
    def broken_clone(index: faiss.Index) -> faiss.Index:
        raise RuntimeError("out of GPU memory")

    monkeypatch.setattr(index_mod, "_gpu_clone", broken_clone)
    vi.remove([0])
    _, found = vi.search(x[1:2], 1)
    assert found[0, 0] == 1 and not vi.on_gpu
