"""CLAP's text tokenizer without transformers: RoBERTa's byte-level BPE as a `tokenizers.Tokenizer`,
read from the model's tokenizer.json or built from vocab.json + merges.txt as transformers does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmexplorer.core.models.onnx.export import CHECK_TEXTS, ExportRefused

CLAP_CHECK_TEXTS = (  # what an export checks the tokenizer and the graph on
    *CHECK_TEXTS,
    "a low hum",
    "dog barking in the distance, then rain on a window",
    "   leading and trailing spaces   ",
    "<s> literal </s> special <mask> tokens <pad> <unk>",
    "emoji 🐶🌅 and CJK 日本語のテキスト",
    "can't won't they're I'll we've she'd",
    "tab\tseparated\nnew line",
    "numbers 12345 and 3.14159, dates 2024-05-01",
    "UPPER lower MiXeD",
    "x" * 700,
    " ".join(["word"] * 700),
)


def clap_texts(texts: Sequence[str]) -> list[str]:
    """What SoundEncoder.encode_texts feeds the tokenizer: a blank text becomes one space."""
    return [t if t.strip() else " " for t in texts]


def clap_tokenizer(model_folder: Path) -> Any:
    """CLAP's RoBERTa byte-level BPE as a `tokenizers.Tokenizer`, without transformers.

    The folder's tokenizer.json when it has one (the test model, LAION's CLAP repos); else built
    from vocab.json + merges.txt the way transformers' RobertaTokenizer is: byte-level
    pre-tokenizer, <s> ... </s> around each text, the special tokens matched whole (<mask>
    taking the space before it). `clap.export_clap_text` checks the ids against transformers either way.

    Raises:
        ExportRefused: neither tokenizer.json nor vocab.json + merges.txt is there.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if (model_folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(model_folder / "tokenizer.json"))
    vocab, merges = model_folder / "vocab.json", model_folder / "merges.txt"
    if not (vocab.is_file() and merges.is_file()):
        raise ExportRefused(f"{model_folder} has neither tokenizer.json nor vocab.json + merges.txt")
    def read(name: str) -> dict[str, Any]:
        try:
            data = json.loads((model_folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    cfg, specials_map = read("tokenizer_config.json"), read("special_tokens_map.json")
    # A special token's flags (lstrip: "<mask>" taking the space before it) as transformers reads
    # them: added_tokens_decoder, then the token entries of tokenizer_config, then special_tokens_map.
    flags: dict[str, dict[str, bool]] = {}
    for entry in (cfg.get("added_tokens_decoder") or {}).values():
        if isinstance(entry, dict) and "content" in entry:
            flags[str(entry["content"])] = entry
    names: dict[str, str] = {}
    for key, default in (("bos_token", "<s>"), ("eos_token", "</s>"), ("unk_token", "<unk>"), ("sep_token", "</s>"),
                         ("cls_token", "<s>"), ("pad_token", "<pad>"), ("mask_token", "<mask>")):
        for source in (cfg, specials_map):
            value = source.get(key)
            if isinstance(value, dict) and "content" in value:
                names[key] = str(value["content"])
                flags[names[key]] = value
            elif isinstance(value, str):
                names[key] = value
        names.setdefault(key, default)
    prefix = bool(cfg.get("add_prefix_space", False))
    tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([
        AddedToken(t, special=True, normalized=False, lstrip=bool(flags.get(t, {}).get("lstrip", False)),
                   rstrip=bool(flags.get(t, {}).get("rstrip", False)),
                   single_word=bool(flags.get(t, {}).get("single_word", False)))
        for t in dict.fromkeys(names.values())
    ])
    sep, cls = names["sep_token"], names["cls_token"]
    tok.post_processor = processors.RobertaProcessing(
        (sep, tok.token_to_id(sep)), (cls, tok.token_to_id(cls)), trim_offsets=bool(cfg.get("trim_offsets", True)),
        add_prefix_space=prefix,
    )
    return tok


def session_tokenizer(path: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok
