"""Speech: transcription speed, spoken-query latency and recall, memo search quality. Prints JSON.

    .venv/bin/python tests/bench/bench_speech.py [--worlds 3] [--threads 2] [--out figures.json]

Rows (each world is a `devtools.speech` library of voice memos and notes, a different seed):
- transcription speed as audio seconds per wall second, int8 on the CPU with `--threads` threads,
  beam 5 and beam 1, for tiny.en (bundled) and the default multilingual model where it is in the
  cache (else marked unmeasured);
- spoken-query latency: a 3-second spoken query, from the end of speech (samples in hand, models
  warm) to results, median over the queries;
- recall@1 of spoken note queries (each spoken in four voices) with and without the library's
  hotwords; how often the best reading or one of the other readings the window offers finds the
  note first; and the same queries typed (the sentence encoder's own bound);
- typed-paraphrase top-1 of memos over all modalities, the same with every short memo heard word
  for word (the sentence encoder's bound), and the hidden sentence's start-time error.
A benchmark, never a timed test: the figures depend on the machine and its load.
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _speed(spec: str, audio, *, threads: int, beams=(5, 1)) -> dict:
    from mmexplorer.core.errors import ModelUnavailableError
    from mmexplorer.core.models.speech import load_speech_model

    try:
        model = load_speech_model(spec, device="cpu", threads=threads)
    except ModelUnavailableError as e:
        return {"model": spec, "measured": False, "why": f"unmeasured: {e.hint[:120]}"}
    seconds = len(audio) / 16000
    row = {"model": spec, "measured": True, "audio_s": round(seconds, 1), "threads": threads}
    model.transcribe(audio[: 16000 * 5])  # warm up
    for beam in beams:
        t = time.perf_counter()
        model.transcribe(audio, beam_size=beam)
        row[f"x_realtime_beam{beam}"] = round(seconds / (time.perf_counter() - t), 2)
    return row


def _world(seed: int, root: Path, threads: int, speech_model: str) -> dict:
    import numpy as np

    from mmexplorer.core.engine import Engine
    from mmexplorer.core.media import recordings
    from mmexplorer.core.types import TextQuery
    from mmexplorer.devtools import speech as sp

    world = sp.make_speech_world(root / f"lib{seed}", seed=seed, n_memos=12, n_notes=12)
    spoken = sp.spoken_queries(world.note_queries, root / f"queries{seed}")
    out: dict = {"seed": seed, "memos": len(world.memos), "notes": len(world.notes)}
    with Engine(root / f"data{seed}", image_model="tiny-random", speech_model=speech_model, device="cpu") as engine:
        engine.speech.threads = threads
        t = time.perf_counter()
        engine.index([str(world.root)])
        out["index_s"] = round(time.perf_counter() - t, 1)
        hits = 0
        for q, path in world.memo_queries:
            results = engine.search(TextQuery(q), k=5)
            hits += bool(results) and results[0].path == str(path)
        out["memo_typed_top1"] = round(hits / len(world.memo_queries), 3)
        out["memo_queries"] = len(world.memo_queries)
        out["memo_typed_top1_perfect_transcripts"] = _perfect_transcripts(world, engine, root / f"oracle{seed}")
        assert world.hidden is not None
        path, _sentence, at, query = world.hidden
        results = engine.search(TextQuery(query), k=5, modality="recording")
        top = results[0] if results else None
        out["hidden_found"] = bool(top and top.path == str(path))
        out["hidden_start_error_s"] = (
            round(abs(top.segment.start_s - at), 2) if top and top.path == str(path) and top.segment else None
        )
        typed = sum(
            bool(r) and r[0].path == str(p) for q, p in world.note_queries if (r := engine.search(TextQuery(q), k=5))
        )
        out["note_typed_top1"] = round(typed / len(world.note_queries), 3)
        engine.hotwords()  # cached, as in the app after the first spoken query
        for biased in (False, True):
            hits, offered, latencies = 0, 0, []
            for audio_path, _text, answer, _voice in spoken:
                samples = recordings.load_audio(audio_path)
                t = time.perf_counter()
                heard = engine.hear_query(samples, biased=biased)
                results = engine.search(heard.query(), k=5) if heard.text else []
                latencies.append(time.perf_counter() - t)
                hit = bool(results) and results[0].path == str(answer)
                hits += hit
                # or one of the other readings the window offers finds it (a click away)
                offered += hit or any(
                    (r := engine.search(TextQuery(a), k=1)) and r[0].path == str(answer)
                    for a in heard.distinct_alternatives()
                )
            key = "hotwords" if biased else "plain"
            out[f"spoken_note_recall1_{key}"] = round(hits / len(spoken), 3)
            out[f"spoken_note_found_with_offered_readings_{key}"] = round(offered / len(spoken), 3)
            out[f"spoken_latency_median_s_{key}"] = round(statistics.median(latencies), 3)
        out["spoken_queries"] = len(spoken)
        # A 3-second spoken query, end of speech to results.
        three = recordings.resample(sp.speak_samples("ideas for my grandmother's birthday present"), sp.SAMPLE_RATE)
        three = np.concatenate([three, np.zeros(max(0, 3 * 16000 - len(three)), np.float32)])[: 3 * 16000]
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            engine.search(engine.hear_query(three).query(), k=10)
            runs.append(time.perf_counter() - t)
        out["latency_3s_query_median_s"] = round(statistics.median(runs), 3)
    return out


def _perfect_transcripts(world, engine, folder: Path) -> float:
    """Typed-paraphrase top-1 if every short memo had been heard word for word: the sentence encoder's bound.

    The same world as notes: each memo's own text, the notes, and the long memo as it was heard.
    """
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import TextQuery

    as_note: dict[str, Path] = {}
    for i, path in enumerate(world.memos):
        if world.hidden is not None and path == world.hidden[0]:
            text = " ".join(s.text or "" for s in engine.transcript(engine.item_by_path(path).item_id).segments)
        else:
            text = world.memos[path]
        note = folder / "memos" / f"memo {i:02d}.txt"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(text + "\n", encoding="utf-8")
        as_note[str(note)] = path
    for path, text in world.notes.items():
        (folder / "notes").mkdir(parents=True, exist_ok=True)
        (folder / "notes" / path.name).write_text(text + "\n", encoding="utf-8")
    with Engine(folder / "data", image_model="tiny-random", device="cpu") as oracle:
        oracle.index([str(folder / "memos"), str(folder / "notes")])
        hits = 0
        for q, path in world.memo_queries:
            results = oracle.search(TextQuery(q), k=1)
            hits += bool(results) and as_note.get(results[0].path) == path
    return round(hits / len(world.memo_queries), 3)


def _local(spec: str) -> str:
    """"base" (the default) from the test-only PyPI packages when the hub cannot be reached."""
    from mmexplorer.core.errors import ModelUnavailableError
    from mmexplorer.core.models.speech import resolve_speech_model
    from mmexplorer.devtools.speech import whisper_base_folder

    if spec != "base":
        return spec
    try:
        resolve_speech_model(spec)
        return spec
    except ModelUnavailableError:
        folder = whisper_base_folder()
        return str(folder) if folder is not None else spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speech-model", default="base", help="the default; tiny.en is the suite's")
    parser.add_argument("--out")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from mmexplorer.core.models.speech import DEFAULT_SPEECH_MODEL
    from mmexplorer.devtools import speech as sp

    if not sp.tools_available():
        sys.exit("espeak-ng and sox are needed (apt install espeak-ng sox libsox-fmt-mp3)")
    figures: dict = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        from mmexplorer.core.media import recordings

        long_memo = root / "long.flac"
        sp.make_long_memo(long_memo, sp.HIDDEN[0][0], at_s=30.0, total_s=60.0, voice="en-us")
        audio = recordings.load_audio(long_memo)
        figures["speed"] = [
            _speed(spec, audio, threads=args.threads)
            for spec in dict.fromkeys(["tiny.en", _local(DEFAULT_SPEECH_MODEL)])
        ]
        model = _local(args.speech_model)
        figures["speech_model"] = args.speech_model
        figures["worlds"] = [_world(seed, root, args.threads, model) for seed in range(1, args.worlds + 1)]
    keys = [k for k in figures["worlds"][0] if isinstance(figures["worlds"][0][k], (int, float)) and k != "seed"]
    figures["mean"] = {
        k: round(statistics.mean(float(w[k]) for w in figures["worlds"] if w[k] is not None), 3) for k in keys
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
