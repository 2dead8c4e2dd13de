"""Alignment maps between spaces (core.align): held-out anchor recall, fit seconds, related items.

Runs the app's real parts: the aligned test model (image space; its CLIP text tower for the
anchors) and the real all-MiniLM-L6-v2 (text space), on a fresh data dir. It prints one JSON
object with:

- `pairs`: for each ordered pair of spaces, held-out anchor recall@1 and @5 through each method
  (Procrustes, least squares with its chosen ridge), without a map ("n/a" where the dims differ),
  through a map fitted on shuffled pairs (the floor), chance, the method chosen, and seconds:
  encoding the anchors (once per model) and fitting (per pair);
- `related`: on a generated library (one photo per colour and shape, one note naming each colour
  and shape in an everyday sentence, and unrelated notes), the share of photos whose first related
  note is the one naming them (through the image -> text map), and of notes whose first related
  photo shows what they name (through CLIP's text tower, as `similar`, and through the text ->
  image map), the mean relevance of right and wrong first answers, and seconds per `related` call
  once the maps exist.

    python tests/bench/bench_align.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The notes of the bench library: a colour and a shape inside everyday sentences (not the wording
# of tests/core/test_align.py, nor of the calibration pairs).
FRAMES = (
    "On the walk home I spotted a {c} {s} painted on the garage door.",
    "The new rug in the hall has one big {c} {s} in the middle.",
    "Lena's birthday card had a {c} {s} glued on the front.",
    "There is a {c} {s} sticker on the lid of the blue toolbox.",
    "At the market they sold biscuits shaped like a {c} {s}.",
    "The parking sign by the school is a {c} {s} now.",
)
OTHER = (
    "Remember to renew the car insurance before the end of March.",
    "Meeting notes: the budget review moves to next Thursday.",
    "The plumber said the boiler needs a new pressure valve.",
    "Books to read this summer: two novels and a history of tea.",
    "The train to the coast leaves at 7:40 from platform three.",
    "Ideas for the garden: more lavender, fewer weeds, a bench.",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from mmexplorer.core import align
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import Modality, Space
    from mmexplorer.devtools import synth
    from mmexplorer.devtools.aligned import ensure_aligned_model

    model = str(ensure_aligned_model())
    out: dict[str, object] = {"model": "aligned test model + all-MiniLM-L6-v2", "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lib"
        (root / "photos").mkdir(parents=True)
        (root / "notes").mkdir()
        classes = [(c, s) for c in synth.COLOURS for s in synth.SHAPES]
        for i, (c, s) in enumerate(classes):
            synth.render_shape(c, s, size=96, seed=900 + i).save(root / "photos" / f"p{i:02d}.png")
            (root / "notes" / f"n{i:02d}.txt").write_text(FRAMES[i % len(FRAMES)].format(c=c, s=s), encoding="utf-8")
        for i, text in enumerate(OTHER):
            (root / "notes" / f"other{i}.txt").write_text(text, encoding="utf-8")
        with Engine(Path(tmp) / "data", image_model=model, device="cpu") as engine:
            engine.index([root])
            aligner = engine.aligner
            t0 = time.perf_counter()
            for key in (Space.IMAGE, Space.TEXT):
                engine.space(key).encoder()
            t1 = time.perf_counter()
            encode_s = {}
            for key in (Space.IMAGE, Space.TEXT):
                start = time.perf_counter()
                aligner.anchor_vectors(key)
                encode_s[key.value] = round(time.perf_counter() - start, 2)
            pairs = []
            for source, target in aligner.pairs():
                m = aligner.map(source, target)
                q = m.quality
                pairs.append({
                    "pair": f"{source.value} -> {target.value}",
                    "dims": list(m.linear.weight.shape),
                    "chosen": m.linear.method,
                    **{f"{name}_r1": round(v["r1"], 3) for name, v in q.methods.items()},
                    **{f"{name}_r5": round(v["r5"], 3) for name, v in q.methods.items()},
                    "lstsq_ridge": q.methods["lstsq"]["ridge"],
                    "no_map_r1": "n/a" if q.no_map is None else round(q.no_map["r1"], 3),
                    "shuffled_r1": round(q.shuffled_r1, 3),
                    "chance_r1": round(q.chance_r1, 4),
                    "n_anchors": q.n_train + q.n_held_out,
                    "n_held_out": q.n_held_out,
                    "fit_s": round(m.fit_s, 3),
                })
            out["anchors"] = len(aligner.phrases)
            out["load_models_s"] = round(t1 - t0, 2)
            out["encode_anchors_s"] = encode_s
            out["pairs"] = pairs

            photo_ids = {i: engine.item_by_path(root / "photos" / f"p{i:02d}.png").item_id for i in range(len(classes))}
            note_ids = {i: engine.item_by_path(root / "notes" / f"n{i:02d}.txt").item_id for i in range(len(classes))}
            engine.related(photo_ids[0], k=1)  # fits the maps' relevance: not timed below
            engine.related(note_ids[0], k=1)
            related: dict[str, object] = {}
            start = time.perf_counter()
            right, r_right, r_wrong = 0, [], []
            for i, item in photo_ids.items():
                top = engine.related(item, k=3)[Modality.NOTE][0]
                ok = top.item_id == note_ids[i]
                right += ok
                (r_right if ok else r_wrong).append(top.relevance)
            related["photo_to_note_top1_map"] = round(right / len(classes), 3)
            related["photo_to_note_relevance_right"] = round(sum(r_right) / max(1, len(r_right)), 3)
            related["photo_to_note_relevance_wrong"] = round(sum(r_wrong) / max(1, len(r_wrong)), 3)
            related["seconds_per_call"] = round((time.perf_counter() - start) / len(classes), 3)
            for name, towers in (("text_tower", True), ("map", False)):
                right, rel = 0, []
                for i, item in note_ids.items():
                    top = align.related(engine.searcher, aligner, item, k=3, text_towers=towers)[Modality.PHOTO][0]
                    right += top.item_id == photo_ids[i]
                    rel.append(top.relevance)
                related[f"note_to_photo_top1_{name}"] = round(right / len(classes), 3)
                related[f"note_to_photo_relevance_{name}"] = round(sum(rel) / len(rel), 3)
            # The same through maps that skip recentring items by their space's item mean (the modality gap).
            plain = align.Aligner(engine.catalog, engine.spaces, None, item_mean=None)
            for name, source_ids, target_ids, want in (
                ("photo_to_note_top1_map_not_recentred", photo_ids, note_ids, Modality.NOTE),
                ("note_to_photo_top1_map_not_recentred", note_ids, photo_ids, Modality.PHOTO),
            ):
                right = 0
                for i, item in source_ids.items():
                    top = align.related(engine.searcher, plain, item, k=3, text_towers=False)[want][0]
                    right += top.item_id == target_ids[i]
                related[name] = round(right / len(classes), 3)
            related["chance_top1"] = round(1 / len(classes), 3)
            out["related"] = related
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
