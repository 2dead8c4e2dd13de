"""Which per-query calibration fuses the image and text spaces best? Measured on labelled generated data.

A mixed library (shape photos with known captions + notes with known queries) is indexed with the
aligned test model (image space) and all-MiniLM-L6-v2 (text space). Every labelled query is run with
each calibration method; we report top-1 accuracy and mean reciprocal rank over all modalities.

    python tests/bench/bench_fusion.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mmexplorer.core.engine import Engine
from mmexplorer.core.search import Searcher
from mmexplorer.core.types import TextQuery
from mmexplorer.devtools import synth
from mmexplorer.devtools.aligned import ensure_aligned_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--copies", type=int, default=2, help="photos per colour x shape pair")
    args = parser.parse_args()
    model_dir = ensure_aligned_model()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lib"
        n = len(synth.COLOURS) * len(synth.SHAPES) * args.copies
        photos = synth.make_photo_library(root / "photos", n=n, seed=11, size=(96, 96))
        notes = synth.make_note_library(root / "notes")
        labelled = [(cap, {str(p) for p, c in photos if c == cap}) for cap in sorted({c for _p, c in photos})]
        labelled += [(q, {str(notes[key])}) for q, key in synth.NOTE_QUERIES]
        out: dict[str, object] = {"photos": n, "notes": len(notes), "queries": len(labelled)}
        with Engine(Path(tmp) / "data", image_model=str(model_dir)) as engine:
            engine.index([root])
            for method in ("raw", "standard", "robust"):
                engine.searcher = Searcher(engine.catalog, engine.spaces, method=method)
                top1 = rr = 0.0
                for query, right in labelled:
                    ranked = [r.path for r in engine.search(TextQuery(query), k=50)]
                    rank = next((i for i, p in enumerate(ranked) if p in right), None)
                    top1 += rank == 0
                    rr += 0.0 if rank is None else 1.0 / (rank + 1)
                out[method] = {"top1": round(top1 / len(labelled), 3), "mrr": round(rr / len(labelled), 3)}
                print(f"{method:>9}: top-1 {out[method]['top1']:.3f}  MRR {out[method]['mrr']:.3f}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
