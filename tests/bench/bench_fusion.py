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
- photo_precision / photo_recall: of what a photo (caption-like) query returns as relevant, the
  share that is right, and the share of its right photos returned (targets >= 0.8 and >= 0.9);
- for a tiny-random library: the share of photo queries that return any photo as relevant (must be 0).

`--captions on` indexes every world with the suite's test captioner too (`ensure_test_captioner`), so
each photo also matches by its caption (text via caption, a derived kind of evidence: core.evidence);
`--captions both` runs each world both ways. `--support` compares the rule for derived evidence:
"gate" (the chosen: a caption counts as far as the pixels support it), "independent" (plain
noisy-OR over the components, as before issue 24).

`--alternatives` also runs the other relevance methods and fusion rules of core.search on the
mixed worlds, for the table in core/search.py's docstring.

    python tests/bench/bench_fusion.py --json [--worlds mixed,note-heavy] [--alternatives]
        [--captions off|on|both] [--support gate,independent]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mmexplorer.core import evidence
from mmexplorer.core.engine import Engine
from mmexplorer.core.search import Searcher
from mmexplorer.core.types import TextQuery
from mmexplorer.devtools import worlds
from mmexplorer.devtools.aligned import ensure_aligned_model
from mmexplorer.devtools.captioner import ensure_test_captioner

K = 200


def _relevant(engine: Engine, query: str, k: int = K) -> list[str]:
    return [r.path for r in engine.search(TextQuery(query), k=k) if r.relevant]


@contextlib.contextmanager
def _support_rule(rule: str) -> Any:
    """Swap the caption's kind of evidence for the rule being measured, then put it back."""
    kind = evidence.kind_of("text", "caption")
    assert kind is not None
    if rule == "independent":
        evidence.register(dataclasses.replace(kind, source=None))
    elif rule != "gate":
        raise SystemExit(f"unknown support rule {rule!r}")
    try:
        yield
    finally:
        evidence.register(kind)


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

    precisions, recalls = [], []
    for query, right in world.photo_queries:
        right = {str(p) for p in right}
        found = set(_relevant(engine, query, k=max(K, 2 * len(right))))
        recalls.append(len(found & right) / len(right))
        precisions.append(len(found & right) / len(found) if found else 0.0)
    out: dict[str, Any] = {
        "photo_top1": top1(world.photo_queries),
        "photo_precision": round(sum(precisions) / max(1, len(precisions)), 3),
        "photo_recall": round(sum(recalls) / max(1, len(recalls)), 3),
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


def run_world(root: Path, name: str, args: Any, *, seed: int, captioner: str | None) -> dict[str, Any]:
    """Index one world (with the test captioner when given) and measure it under each support rule."""
    photos, notes = worlds.WORLD_SIZES[name] if name in worlds.WORLD_SIZES else map(int, name.split("x"))
    world = worlds.make_world(root / "lib", photos=photos, notes=notes, seed=seed)
    started = time.perf_counter()
    with Engine(root / "data", image_model=str(ensure_aligned_model())) as engine:
        if captioner:
            engine.set_caption_model(captioner)
        else:
            engine.set_captions_enabled(False)
        engine.index([root / "lib"])
        if captioner:
            engine.caption_photos()
        row: dict[str, Any] = {"photos": photos, "notes": notes, "index_s": round(time.perf_counter() - started, 1)}
        for rule in args.support.split(","):
            with _support_rule(rule):
                prefix = "" if rule == "gate" else f"support:{rule}:"
                row.update({prefix + k: v for k, v in evaluate(engine, world).items()})
        row["misses"] = failures(engine, world)
        if args.alternatives and name in ("mixed", "photo-heavy", "note-heavy"):
            for method in ("fitted-gap-all", "fitted-nogap", "robust", "raw"):
                engine.searcher = Searcher(engine.catalog, engine.spaces, method=method, cache=engine.searcher.cache)
                row[f"alt:{method}"] = evaluate(engine, world)
            engine.searcher = Searcher(engine.catalog, engine.spaces, rule="max", cache=engine.searcher.cache)
            row["alt:max"] = evaluate(engine, world)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worlds", default=",".join(worlds.WORLD_SIZES), help="names from worlds.WORLD_SIZES, or PHOTOSxNOTES (24x6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alternatives", action="store_true", help="also the other methods and fusion rules")
    parser.add_argument("--captions", choices=("off", "on", "both"), default="off")
    parser.add_argument("--support", default="gate", help="comma-separated: gate, independent")
    parser.add_argument("--skip-tiny", action="store_true", help="leave out the tiny-random library")
    args = parser.parse_args()
    captioner = str(ensure_test_captioner()) if args.captions != "off" else None
    table: dict[str, Any] = {}
    runs = {"off": [False], "on": [True], "both": [False, True]}[args.captions]
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.worlds.split(",")):
            for captions in runs:
                label = f"{name}+captions" if captions else name
                table[label] = run_world(Path(tmp) / label, name, args, seed=args.seed + i,
                                         captioner=captioner if captions else None)
                row = table[label]
                print(f"{label}: {json.dumps({k: v for k, v in row.items() if k != 'misses'})}", file=sys.stderr)
        if args.skip_tiny:
            if args.json:
                print(json.dumps(table))
            return 0
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
