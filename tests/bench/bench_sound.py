"""The sound space's speed: CLAP vectors per second, for the test sound model and a CLAP of the real size.

    python tests/bench/bench_sound.py --json [--threads 2] [--windows 8] [--skip-real]

Measured in one run, on CPU:

- `test_model`: the suite's own small CLAP (devtools.sound, 16 kHz, 2 s windows): audio windows
  per second end to end (`sound_chunks` on a recording: resample + features + model) and model
  only (precomputed features), text queries per second, and recording seconds per wall second;
- `real_size`: transformers' `ClapModel` with the default config (the laion/clap-htsat-unfused
  architecture: HTSAT audio tower, RoBERTa-base text tower, 512-d) and *random weights* (the real
  ones cannot be downloaded here), with LAION's feature-extractor settings (48 kHz, 10 s windows,
  64 mel bands): the same figures. Only the timing means anything here; real CLAP semantics are
  `unmeasured`.

Prints one JSON object on stdout with --json; progress goes to stderr. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUERIES = [
    "dog barking",
    "rain on a window",
    "a low hum",
    "a high beep",
    "people talking in a cafe",
    "a door closing",
]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _recording(seconds: float, sr: int = 16_000) -> np.ndarray:
    from mmexplorer.devtools.sound import KIND_KEYS, render_sound

    parts, total = [], 0
    i = 0
    while total < seconds * sr:
        clip = render_sound(KIND_KEYS[i % len(KIND_KEYS)], seed=900 + i, sr=sr)
        parts += [clip, np.zeros(sr // 4, np.float32)]
        total += len(clip) + sr // 4
        i += 1
    return np.concatenate(parts)[: int(seconds * sr)]


def measure(encoder, *, windows: int, batch_size: int) -> dict:
    import torch

    from mmexplorer.core.models.sound import sound_chunks

    seconds = encoder.window_s + (windows - 1) * encoder.hop_s
    wave = _recording(seconds)
    sound_chunks(encoder, wave[:16_000], 16_000, batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    times, vectors = sound_chunks(encoder, wave, 16_000, batch_size=batch_size)
    e2e = time.perf_counter() - t0
    clips = [x for _a, _b, x in encoder.windows(wave, 16_000)]
    t0 = time.perf_counter()
    feats = [encoder._features_of(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
    features_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for f in feats:
            encoder.model.get_audio_features(**f)
    model_s = time.perf_counter() - t0
    encoder.encode_texts(QUERIES[:1])
    t0 = time.perf_counter()
    for q in QUERIES:
        encoder.encode_texts([q])
    text_s = time.perf_counter() - t0
    return {
        "model_id": encoder.model_id,
        "sample_rate": encoder.sample_rate,
        "window_s": encoder.window_s,
        "hop_s": encoder.hop_s,
        "dim": encoder.dim,
        "params_m": round(sum(p.numel() for p in encoder.model.parameters()) / 1e6, 1),
        "windows": len(times),
        "batch_size": batch_size,
        "audio_vectors_per_s_e2e": round(len(times) / e2e, 2),
        "audio_vectors_per_s_model_only": round(len(times) / model_s, 2),
        "features_share_of_e2e": round(features_s / e2e, 3),
        "recording_s_per_wall_s": round(seconds / e2e, 2),
        "text_queries_per_s": round(len(QUERIES) / text_s, 2),
        "text_query_ms": round(1000 * text_s / len(QUERIES), 1),
        "vectors_unit_norm": bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)),
    }


def baseline_choice(encoder) -> dict:
    """Whether the per-query baseline helps the sound space: fitted on the calibration set, scored on
    held-out sounds (other seeds) against their captions and unrelated sentences the fit never saw."""
    from mmexplorer.core import relevance as rel
    from mmexplorer.core.calibration import background_sentences, sound_text_data
    from mmexplorer.devtools.sound import HELD_OUT_SEED, SOUND_KINDS, held_out_gallery

    calib = sound_text_data(
        encoder.encode_audio, encoder.encode_texts, sample_rate=encoder.sample_rate, kind="text"
    )
    clips, owner = held_out_gallery(n_per_kind=3, seed=HELD_OUT_SEED + 1000)
    items = encoder.encode_audio(clips)
    queries = [c for k in SOUND_KINDS for c in k.captions]
    positives = [
        frozenset(i for i, o in enumerate(owner) if o == label)
        for label, k in enumerate(SOUND_KINDS)
        for _c in k.captions
    ]
    unrelated = background_sentences()[1::2]  # the calibration set takes the other half
    held = rel.CalibrationData(
        queries=encoder.encode_texts(queries + unrelated),
        items=items,
        positives=positives + [frozenset()] * len(unrelated),
        background=calib.background,
        source="held-out sounds",
    )
    out = {}
    for gap in (False, True):
        model = rel.fit(calib, model_id=encoder.model_id, kind="text", gap=gap)
        x, y, _w = rel.features(held, gap=gap)
        p = 1.0 / (1.0 + np.exp(-(model.bias + x @ np.array([model.w_raw, model.w_gap, model.w_z]))))
        judged = p >= rel.RELEVANT
        out["with_baseline" if gap else "without_baseline"] = {
            "calibration_auc": round(model.auc, 4),
            "held_out_auc": round(rel.auc(p, y), 4),
            "held_out_true_positive_rate": round(float(judged[y > 0].mean()), 3),
            "held_out_false_positive_rate": round(float(judged[y == 0].mean()), 4),
        }
    return out


def real_size_folder(folder: Path) -> Path:
    """A random ClapModel of the default (clap-htsat-unfused) architecture with LAION's processor settings."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    from mmexplorer.devtools.sound import build_tokenizer

    tokenizer = build_tokenizer(QUERIES * 10)
    tokenizer.model_max_length = 512
    extractor = ClapFeatureExtractor(
        feature_size=64, sampling_rate=48_000, hop_length=480, max_length_s=10, fft_window_size=1024,
        frequency_min=50, frequency_max=14_000, truncation="rand_trunc", padding="repeatpad",
    )  # fmt: skip
    config = ClapConfig(text_config={"vocab_size": 50265}, audio_config={}, projection_dim=512)
    torch.manual_seed(0)
    model = ClapModel(config).eval()
    model.save_pretrained(str(folder))
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--windows", type=int, default=8, help="windows of the real-size model to time")
    parser.add_argument("--skip-real", action="store_true", help="time the test model only")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from mmexplorer.core.models.sound import load_sound_model
    from mmexplorer.devtools.sound import ensure_test_sound_model, read_meta

    out: dict = {"threads": args.threads, "device": "cpu", "torch": torch.__version__}
    folder = ensure_test_sound_model(on_log=_say)
    meta = read_meta(folder) or {}
    _say("timing the test sound model")
    out["test_model"] = measure(load_sound_model(str(folder), device="cpu"), windows=64, batch_size=16)
    out["test_model"]["train_seconds"] = meta.get("train_seconds")
    out["test_model"]["train_cpu_seconds"] = meta.get("train_cpu_seconds")
    out["test_model"]["recall_at_1"] = meta.get("recall_at_1")
    _say("measuring the relevance map with and without the per-query baseline")
    out["test_model"]["relevance"] = baseline_choice(load_sound_model(str(folder), device="cpu"))
    if args.skip_real:
        out["real_size"] = "unmeasured (--skip-real)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _say("writing a random ClapModel of the default config (about 600 MB)")
            real = real_size_folder(Path(tmp) / "clap-random")
            _say(f"timing it on {args.windows} windows")
            out["real_size"] = measure(
                load_sound_model(str(real), device="cpu"), windows=args.windows, batch_size=4
            )
            out["real_size"]["weights"] = "random (the architecture and processor of clap-htsat-unfused)"
    out["real_clap_semantics"] = "unmeasured: the real CLAP weights cannot be downloaded on this machine"
    print(json.dumps(out, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
