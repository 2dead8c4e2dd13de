"""Labelled benchmark of relevance and fusion over several generated libraries (worlds).

Each world (mmexplorer.devtools.worlds) mixes shape photos and everyday notes in other proportions
and sizes, with queries written as a person would: photo descriptions, paraphrased note queries,
off-topic queries, exact words and file names, and queries with several right answers. The app is
the real one: the aligned test model (image space), the real all-MiniLM-L6-v2 (text space), FTS5
(lexical), the default search over every modality. It prints, per world and overall:

- photo_top1 / note_top1: the first result is a right one (target >= 0.95 each);
- offtopic_empty: the share of off-topic queries that return nothing relevant (target >= 0.8);
- multi_recall / multi_precision: of the returned relevant set, for queries with several right
  answers (targets >= 0.9 and >= 0.7);
- exact_top1: exact-word and file-name queries find their file first;
- for a tiny-random library: the share of photo queries that return any photo as relevant (must be 0).

`--alternatives` also runs the other relevance methods and fusion rules of core.search on the
mixed worlds, for the table in core/search.py's docstring.

    python tests/bench/bench_fusion.py --json [--worlds mixed,note-heavy] [--alternatives]
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

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mmexplorer.core.engine import Engine
from mmexplorer.core.search import Searcher
from mmexplorer.core.types import TextQuery
from mmexplorer.devtools import worlds
from mmexplorer.devtools.aligned import ensure_aligned_model

K = 200


def _relevant(engine: Engine, query: str, k: int = K) -> list[str]:
    return [r.path for r in engine.search(TextQuery(query), k=k) if r.relevant]


def evaluate(engine: Engine, world: Any) -> dict[str, Any]:
    """The figures of one world under the engine's current searcher."""

    def top1(labelled: list[tuple[str, set]]) -> float | None:
        if not labelled:
            return None
        hits = 0
        for query, right in labelled:
            found = _relevant(engine, query)
            hits += bool(found) and found[0] in {str(p) for p in right}
        return round(hits / len(labelled), 3)

    out: dict[str, Any] = {
        "photo_top1": top1(world.photo_queries),
        "note_top1": top1(world.note_queries),
        "exact_top1": top1(world.exact_queries),
    }
    if world.offtopic_queries:
        empty = sum(not _relevant(engine, q) for q in world.offtopic_queries)
        out["offtopic_empty"] = round(empty / len(world.offtopic_queries), 3)
    recalls, precisions = [], []
    for query, right in world.multi_queries:
        right = {str(p) for p in right}
        found = set(_relevant(engine, query, k=max(K, 2 * len(right))))  # room for every right answer
        recalls.append(len(found & right) / len(right))
        precisions.append(len(found & right) / len(found) if found else 0.0)
    if recalls:
        out["multi_recall"] = round(sum(recalls) / len(recalls), 3)
        out["multi_precision"] = round(sum(precisions) / len(precisions), 3)
    out["queries"] = sum(
        len(x)
        for x in (world.photo_queries, world.note_queries, world.exact_queries, world.offtopic_queries, world.multi_queries)
    )
    return out


def failures(engine: Engine, world: Any, limit: int = 6) -> list[str]:
    """A few misses, to say in words what still falls short."""
    lines = []
    for query, right in list(world.photo_queries) + list(world.note_queries):
        results = [r for r in engine.search(TextQuery(query), k=5)]
        strong = [r for r in results if r.relevant]
        if not strong or strong[0].path not in {str(p) for p in right}:
            top = results[0] if results else None
            lines.append(
                f"{query!r}: first {Path(top.path).name if top else '-'} ({top.relevance:.2f})" if top else f"{query!r}: nothing"
            )
        if len(lines) >= limit:
            break
    for query in world.offtopic_queries:
        strong = [r for r in engine.search(TextQuery(query), k=3) if r.relevant]
        if strong and len(lines) < 2 * limit:
            lines.append(f"off-topic {query!r}: {Path(strong[0].path).name} {strong[0].relevance:.2f}")
    for query, right in world.exact_queries:
        strong = [r for r in engine.search(TextQuery(query), k=3) if r.relevant]
        if (not strong or strong[0].path not in {str(p) for p in right}) and len(lines) < 3 * limit:
            got = f"{Path(strong[0].path).name} {strong[0].relevance:.2f}" if strong else "nothing relevant"
            lines.append(f"exact {query!r}: {got}")
    for query, right in world.multi_queries[:limit]:
        right = {str(p) for p in right}
        results = engine.search(TextQuery(query), k=K)
        found = {r.path for r in results if r.relevant}
        missed = [r.relevance for r in results if r.path in right and not r.relevant]
        lines.append(
            f"multi {query!r}: {len(found & right)}/{len(right)} right, {len(found - right)} wrong; "
            f"missed ones at {np.median(missed) if missed else float('nan'):.2f} median"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worlds", default=",".join(worlds.WORLD_SIZES), help="names from worlds.WORLD_SIZES")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alternatives", action="store_true", help="also the other methods and fusion rules")
    args = parser.parse_args()
    model_dir = str(ensure_aligned_model())
    table: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.worlds.split(",")):
            photos, notes = worlds.WORLD_SIZES[name]
            root = Path(tmp) / name
            world = worlds.make_world(root / "lib", photos=photos, notes=notes, seed=args.seed + i)
            started = time.perf_counter()
            with Engine(root / "data", image_model=model_dir) as engine:
                engine.index([root / "lib"])
                index_s = time.perf_counter() - started
                row = {"photos": photos, "notes": notes, "index_s": round(index_s, 1), **evaluate(engine, world)}
                row["misses"] = failures(engine, world)
                if args.alternatives and name in ("mixed", "photo-heavy", "note-heavy"):
                    for method in ("fitted-gap-all", "fitted-nogap", "robust", "raw"):
                        engine.searcher = Searcher(engine.catalog, engine.spaces, method=method, cache=engine.searcher.cache)
                        row[f"alt:{method}"] = evaluate(engine, world)
                    engine.searcher = Searcher(engine.catalog, engine.spaces, rule="max", cache=engine.searcher.cache)
                    row["alt:max"] = evaluate(engine, world)
            table[name] = row
            print(f"{name}: {json.dumps({k: v for k, v in row.items() if k != 'misses'})}", file=sys.stderr)
        # tiny-random: its photo similarities mean nothing, so no photo may be judged relevant.
        world = worlds.make_world(Path(tmp) / "tiny" / "lib", photos=72, notes=10, seed=args.seed + 99)
        with Engine(Path(tmp) / "tiny" / "data", image_model="tiny-random") as engine:
            engine.index([Path(tmp) / "tiny" / "lib"])
            judged = 0
            for query, _right in world.photo_queries:
                judged += any(r.relevant and r.modality.value == "photo" for r in engine.search(TextQuery(query), k=K))
            table["tiny-random"] = {"photo_queries_with_a_relevant_photo": round(judged / max(1, len(world.photo_queries)), 3)}
            print(f"tiny-random: {table['tiny-random']}", file=sys.stderr)
    if args.json:
        print(json.dumps(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
