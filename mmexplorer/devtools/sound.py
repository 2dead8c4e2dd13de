"""Synthesized sounds and a small audio-text model (CLAP's real classes) the test suite trains on them.

No model hub is reachable on the development machines, yet tests must assert sound semantics
("a low hum" finds the low-tone recording). So core.calibration.sounds synthesizes a few kinds of
sound (pure low and high tones, rising and falling chirps, noise bursts, clicks, repeated beeps),
each with several captions, and this module trains a tiny transformers `ClapModel` on them in well under two
minutes on two CPU threads. The folder it saves (ClapModel + ClapProcessor `save_pretrained`,
with a byte-level BPE tokenizer built offline by the `tokenizers` package) loads through the
app's real loader as a local folder, and is what `--sound-model` accepts:

    folder = ensure_test_sound_model()
    encoder = load_sound_model(str(folder), device="cpu")
    print(evaluate_sound_recall(encoder))          # caption -> held-out sound recall@1

The model hears at 16 kHz in 2-second windows with 32 mel bands (the feature extractor allows
small mel settings; LAION's CLAP uses 48 kHz, 10 s, 64 bands). It knows these sounds and nothing
else: its similarities mean something only for them.

The cache follows devtools.aligned: $MMEXPLORER_TEST_CACHE or ~/.cache/mmexplorer-tests, keyed by
SOUND_VERSION and a hash of the synthesizer (core.calibration.sounds) and the settings here,
written to a temp folder and renamed into place under a file lock so parallel test sessions train
once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# The sounds and their kinds live in core (calibration renders them at run time); KIND_KEYS and
# SoundKind are re-exported for scripts that read them here.
from mmexplorer.core.calibration.sounds import (  # noqa: F401
    KIND_KEYS,
    SAMPLE_RATE,
    SOUND_KINDS,
    SoundKind,
    render_sound,
    renderer_source,
)
from mmexplorer.core.calibration.text import background_sentences, everyday_words, text_pairs
from mmexplorer.devtools import model_cache
from mmexplorer.devtools.model_cache import ensure_trained

log = logging.getLogger(__name__)

SOUND_VERSION = "sound-v1"
META_NAME = "mmexplorer_sound.json"  # core.models.sound reads meaningful/note from it
WINDOW_S = 2
TRAIN_SEED = 0
HELD_OUT_SEED = 50_000  # sound seeds for evaluation start here; training uses 0..per_class-1
TARGET_RECALL = 0.9

FEATURES: dict[str, Any] = {
    "feature_size": 32,
    "sampling_rate": SAMPLE_RATE,
    "hop_length": 256,
    "max_length_s": WINDOW_S,
    "fft_window_size": 512,
    "frequency_min": 50,
    "frequency_max": 8000,
    "truncation": "rand_trunc",
    "padding": "repeatpad",
}
MAX_TOKENS = 32
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": MAX_TOKENS + 4,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
# 126 mel frames x 32 bands -> a 64 x 64 "image" (spec_size 64, freq_ratio 2), 4 x 4 patches.
AUDIO_CONFIG: dict[str, Any] = {
    "num_mel_bins": 32,
    "spec_size": 64,
    "window_size": 4,
    "depths": [1, 1],
    "num_attention_heads": [2, 4],
    "patch_embeds_hidden_size": 32,
    "hidden_size": 64,
    "patch_size": 4,
    "patch_stride": [4, 4],
    "num_classes": 1,
}
PROJECTION_DIM = 64
VOCAB_SIZE = 1200
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


# -- synthesis: core.calibration.sounds (calibration renders the same sounds at run time) ---------


def write_sound(
    path: Path | str, kind: str, *, seed: int = 0, sr: int = SAMPLE_RATE, duration: float | None = None
) -> Path:
    """Write a synthesized sound to a .wav/.flac/.ogg file (soundfile), for library tests."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), render_sound(kind, seed=seed, sr=sr, duration=duration), sr)
    return path


def synth_id() -> str:
    """A hash of the synthesizer and the model settings: the cached model is retrained when they change."""
    source = renderer_source()
    source += repr(SOUND_KINDS) + repr(FEATURES) + repr(AUDIO_CONFIG) + repr(TEXT_CONFIG)
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# -- texts ---------------------------------------------------------------------------------------

_SOUND_WORDS = {
    "hum", "tone", "beep", "beeps", "beeping", "whistle", "noise", "hiss", "static", "click", "clicks", "clicking",
    "ticking", "tick", "chirp", "sweep", "drone", "pitch", "alarm", "tapping", "sound", "sounds", "whine", "low",
    "high", "rising", "falling", "buzz",
}  # fmt: skip


def negative_texts() -> list[str]:
    """Everyday sentences with no sound word: text that describes none of the synthesized sounds."""
    out = []
    for query, passage, _topic in text_pairs():
        for text in (query, passage.split(". ")[0]):
            words = {w.strip(".,;:!?()'\"").lower() for w in text.split()}
            if not words & _SOUND_WORDS:
                out.append(text)
    return list(dict.fromkeys(out))


def build_tokenizer(corpus: list[str]) -> Any:
    """A RoBERTa-style byte-level BPE tokenizer (what CLAP's text tower uses), trained offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizer

    core = Tokenizer(models.BPE())
    # add_prefix_space=False as RoBERTa's own: RobertaTokenizer.from_pretrained rebuilds these parts
    # with its defaults, and a saved tokenizer must split text as the one it was trained with.
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(corpus, trainer)
    core.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    return RobertaTokenizer(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_TOKENS,
    )


def _tokenizer_corpus(negatives: list[str]) -> list[str]:
    corpus = [c for k in SOUND_KINDS for c in k.captions] * 20
    return corpus + negatives + background_sentences() + everyday_words()


# -- cache ---------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$MMEXPLORER_TEST_CACHE/<SOUND_VERSION>, else ~/.cache/mmexplorer-tests/<SOUND_VERSION>."""
    return model_cache.cache_dir(SOUND_VERSION)


def read_meta(folder: Path | str) -> dict[str, Any] | None:
    """The training record saved beside the weights (recall, seconds), or None."""
    return model_cache.read_meta(folder, META_NAME)


def _is_current(folder: Path) -> bool:
    meta = read_meta(folder)
    return bool(
        meta
        and meta.get("version") == SOUND_VERSION
        and meta.get("synth_id") == synth_id()
        and (folder / "model.safetensors").is_file()
        and (folder / "config.json").is_file()
    )


def ensure_test_sound_model(
    cache_dir: Path | str | None = None, *, steps: int = 300, on_log: Callable[[str], None] | None = None
) -> Path:
    """The folder of the trained test sound model, training and saving it first if needed.

    The folder holds what ClapModel and ClapProcessor `save_pretrained` write (config.json,
    model.safetensors, processor_config.json with the feature extractor's settings, tokenizer.json,
    tokenizer_config.json) plus mmexplorer_sound.json with the training record. It loads with
    `load_sound_model(str(folder))` and is accepted by `--sound-model`.

    Args:
        cache_dir: the model folder; default `default_cache_dir()`.
        steps: optimiser steps when training.
        on_log: receives progress lines while training.
    """
    target = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return ensure_trained(target, _is_current, lambda tmp: train_sound_model(tmp, steps=steps, on_log=on_log))


# -- training ------------------------------------------------------------------------------------


def _mel_bank(
    extractor: Any, pad: Callable[[np.ndarray], np.ndarray], *, per_class: int, seed0: int
) -> tuple[Any, Any]:
    import torch

    clips, labels = [], []
    for label, kind in enumerate(SOUND_KINDS):
        for i in range(per_class):
            clips.append(pad(render_sound(kind.key, seed=seed0 + i)))
            labels.append(label)
    feats = extractor(clips, sampling_rate=SAMPLE_RATE, truncation="rand_trunc", return_tensors="pt")
    return feats["input_features"].float(), torch.tensor(labels)


def train_sound_model(
    out_dir: Path | str,
    *,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    per_class: int = 48,
    captions_per_kind: int = 2,
    negatives_per_step: int = 16,
    scale: float = 16.0,
    on_log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train the test sound model from scratch and save it to `out_dir`; returns the training record.

    Both towers are trained towards fixed anchors: one unit vector per sound kind plus one "no
    sound" anchor, orthonormal. A sound's vector is pulled to its kind's anchor, a caption's to its
    kind's, an everyday sentence's to the "no sound" anchor (softmax over all anchors each time).
    Matched caption and sound then meet at one point while unrelated text sits orthogonal to every
    sound. Measured: the usual in-batch contrastive loss, with both towers starting from random
    weights, sat at chance for ~150 steps and reached recall@1 0.43 in 300 steps; anchors decouple
    the towers and converge within the budget. AdamW, warmup then cosine decay. After saving, the
    folder is loaded back through `load_sound_model` and scored with `evaluate_sound_recall` on
    held-out sounds, so the recorded recall is what the app will see.
    """
    import torch
    import torch.nn.functional as F
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    from mmexplorer.core.models.sound import load_sound_model

    say = on_log or log.info
    out = Path(out_dir)
    started = time.monotonic()
    negatives = negative_texts()
    extractor = ClapFeatureExtractor(**FEATURES)
    # Saved first and read back: training tokenizes exactly as the loader will.
    out.mkdir(parents=True, exist_ok=True)
    ClapProcessor(
        feature_extractor=extractor, tokenizer=build_tokenizer(_tokenizer_corpus(negatives))
    ).save_pretrained(str(out))
    processor = ClapProcessor.from_pretrained(str(out), local_files_only=True)
    tokenizer, extractor = processor.tokenizer, processor.feature_extractor
    config = ClapConfig(
        text_config={**TEXT_CONFIG, "vocab_size": len(tokenizer)},
        audio_config=AUDIO_CONFIG,
        projection_dim=PROJECTION_DIM,
    )
    window = WINDOW_S * SAMPLE_RATE

    def pad(clip: np.ndarray) -> np.ndarray:  # repeatpad, as SoundEncoder.pad does for a short recording
        clip = np.tile(clip, window // len(clip))[:window]
        return np.pad(clip, (0, window - len(clip)))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        model = ClapModel(config)
        mels, labels = _mel_bank(extractor, pad, per_class=per_class, seed0=0)
        bank_seconds = time.monotonic() - started
        n_kinds = len(SOUND_KINDS)
        anchors = torch.linalg.qr(torch.randn(PROJECTION_DIM, n_kinds + 1))[
            0
        ].T.contiguous()  # (kinds + 1, dim)
        rng = random.Random(TRAIN_SEED)
        say(
            f"sound: {len(mels)} sounds of {n_kinds} kinds, {len(negatives)} negative sentences ({bank_seconds:.0f}s)"
        )
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embeddings" not in n]
        no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embeddings" not in n)]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
            lr=lr,
            betas=(0.9, 0.98),
        )
        warmup = max(1, steps // 10)
        gen = torch.Generator().manual_seed(TRAIN_SEED)
        no_sound = torch.zeros((batch_size, 1), dtype=torch.bool)
        model.train()
        train_started = time.monotonic()
        cpu_started = time.process_time()
        for step in range(steps):
            if step < warmup:
                factor = (step + 1) / warmup
            else:
                factor = 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr * factor
            idx = torch.randint(0, len(mels), (batch_size,), generator=gen)
            texts, targets = [], []
            for label, kind in enumerate(SOUND_KINDS):
                for caption in rng.sample(kind.captions, captions_per_kind):
                    texts.append(caption)
                    targets.append(label)
            texts += rng.sample(negatives, min(negatives_per_step, len(negatives)))
            targets += [n_kinds] * (len(texts) - len(targets))
            tokens = tokenizer(
                texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            a = model.get_audio_features(input_features=mels[idx], is_longer=no_sound)
            t = model.get_text_features(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            )
            a = F.normalize(getattr(a, "pooler_output", a), dim=-1)
            t = F.normalize(getattr(t, "pooler_output", t), dim=-1)
            loss_audio = F.cross_entropy(scale * a @ anchors.T, labels[idx])
            loss_text = F.cross_entropy(scale * t @ anchors.T, torch.tensor(targets))
            loss = (loss_audio + loss_text) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % 50 == 0 or step == steps - 1:
                elapsed = time.monotonic() - train_started
                say(f"sound: step {step + 1}/{steps} loss {loss.item():.3f} ({elapsed:.0f}s)")
        train_seconds = time.monotonic() - train_started
        train_cpu_seconds = time.process_time() - cpu_started

    model.eval()
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar in a test run's output
    try:
        model.save_pretrained(str(out))
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    meta: dict[str, Any] = {
        "version": SOUND_VERSION,
        "synth_id": synth_id(),
        "meaningful": True,
        "note": "small test model trained on synthesized tones, chirps, noise, clicks and beeps; it knows nothing else",
        "kinds": {k.key: list(k.captions) for k in SOUND_KINDS},
    }
    (out / META_NAME).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    encoder = load_sound_model(str(out), device="cpu")
    recall = evaluate_sound_recall(encoder)
    meta.update(
        {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "train_sounds_per_kind": per_class,
            "bank_seconds": round(bank_seconds, 1),
            "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(train_cpu_seconds, 1),
            "total_seconds": round(time.monotonic() - started, 1),
            "torch_threads": torch.get_num_threads(),
            "recall_at_1": recall,
            "held_out_seed": HELD_OUT_SEED,
            "model_id": encoder.model_id,
            "torch": torch.__version__,
        }
    )
    (out / META_NAME).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    say(
        f"sound: caption->sound recall@1 {recall['canonical']:.3f} (all captions {recall['all_captions']:.3f}), trained in {train_seconds:.0f}s"
    )
    return meta


def held_out_gallery(*, n_per_kind: int = 4, seed: int = HELD_OUT_SEED) -> tuple[list[np.ndarray], list[int]]:
    """Sounds never trained on (seeds from `seed`), and the SOUND_KINDS index of each."""
    clips, owner = [], []
    for label, kind in enumerate(SOUND_KINDS):
        for i in range(n_per_kind):
            clips.append(render_sound(kind.key, seed=seed + i))
            owner.append(label)
    return clips, owner


def evaluate_sound_recall(
    encoder: Any, *, n_per_kind: int = 4, seed: int = HELD_OUT_SEED
) -> dict[str, float]:
    """Caption -> sound recall@1 on held-out sounds: the share of captions whose top sound is of their kind.

    Returns {"canonical": over each kind's first caption, "all_captions": over every caption}.
    """
    clips, owner = held_out_gallery(n_per_kind=n_per_kind, seed=seed)
    audio = encoder.encode_audio(clips)
    owners = np.asarray(owner)
    canonical = encoder.encode_texts([k.captions[0] for k in SOUND_KINDS])
    hits = owners[np.argmax(canonical @ audio.T, axis=1)] == np.arange(len(SOUND_KINDS))
    texts = [(c, label) for label, k in enumerate(SOUND_KINDS) for c in k.captions]
    every = encoder.encode_texts([c for c, _l in texts])
    all_hits = owners[np.argmax(every @ audio.T, axis=1)] == np.asarray([label for _c, label in texts])
    return {"canonical": float(hits.mean()), "all_captions": float(all_hits.mean())}
