"""open_clip's inputs without torch: its eval transform in PIL and numpy (`clip_preprocess`), and its
CLIP BPE tokenizer (`ClipBpeTokenizer`, what open_clip's SimpleTokenizer does, from its own vocabulary
file). CLIP text is cut after the last end-of-text token of a batch (`truncate_at_eot`): the text
tower is causal and pools at that token, so the embeddings are the same and a short query costs a
fraction of 77 positions."""

from __future__ import annotations

import contextlib
import functools
import gzip
import html
import importlib.util
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core.fsutil import atomic_write

if TYPE_CHECKING:
    from PIL import Image


def clip_preprocess(img: Image.Image, cfg: dict[str, Any]) -> np.ndarray:
    """open_clip's eval transform without torch: resize, centre crop, to [0, 1], normalise -> (3, S, S).

    `cfg`: size, mean, std, interpolation ("bicubic"/"bilinear"), resize_mode ("shortest"/"squash"),
    as recorded at export from the model's preprocess config. For a PIL image torchvision's Resize is
    PIL's resize with the same sizes, so the pixels agree with the torch transform.
    """
    from PIL import Image as PILImage

    size = int(cfg["size"])
    resample = PILImage.Resampling.BILINEAR if cfg.get("interpolation") == "bilinear" else PILImage.Resampling.BICUBIC
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    if cfg.get("resize_mode") == "squash":
        img = img.resize((size, size), resample)
    else:
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), resample)
        w, h = img.size
        top, left = round((h - size) / 2.0), round((w - size) / 2.0)
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.float32) * np.float32(1.0 / 255.0)
    mean = np.asarray(cfg["mean"], dtype=np.float32)
    std = np.asarray(cfg["std"], dtype=np.float32)
    return np.ascontiguousarray(((arr - mean) / std).transpose(2, 0, 1), dtype=np.float32)


def open_clip_bpe_path() -> Path | None:
    """open_clip's BPE vocabulary file, found without importing open_clip (which imports torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipBpeTokenizer:
    """What open_clip's SimpleTokenizer does (OpenAI CLIP's BPE, MIT licence), without torch.

    Args:
        bpe_path: open_clip's bpe_simple_vocab_16e6.txt.gz.
        context_length: tokens per row (77 for CLIP).
        clean: "lower" (open_clip's default) or "whitespace".
    """

    def __init__(
        self, bpe_path: Path, *, context_length: int = 77, clean: str = "lower", tables: Path | None = None
    ) -> None:
        import regex

        if clean not in ("lower", "whitespace"):
            raise ValueError(f"clean={clean!r} is not replicated here")
        self.clean = clean
        self.context_length = context_length
        self.byte_encoder = _bytes_to_unicode()
        specials = ["<start_of_text>", "<end_of_text>"]
        vocab, merges = self._tables(bpe_path, specials, tables)
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache: dict[str, str] = {t: t for t in specials}
        self.pat = regex.compile(
            "|".join(specials) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE
        )
        self.sot_token_id = self.encoder[specials[0]]
        self.eot_token_id = self.encoder[specials[1]]
        self.vocab_size = len(self.encoder)

    def _tables(self, bpe_path: Path, specials: list[str], tables: Path | None) -> tuple[list[str], list[tuple[str, ...]]]:
        """Vocabulary and merges: from `tables` (a JSON copy an export keeps, 5x quicker to read) or the BPE file."""
        if tables is not None:
            try:
                data = json.loads(tables.read_text(encoding="utf-8"))
                return data["vocab"], [tuple(m.split(" ")) for m in data["merges"]]
            except (OSError, ValueError, KeyError):
                pass
        with gzip.open(bpe_path) as fh:
            lines = fh.read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges] + specials
        if tables is not None:
            with contextlib.suppress(OSError):
                atomic_write(tables, json.dumps({"vocab": vocab, "merges": [" ".join(m) for m in merges]}).encode())
        return vocab, merges

    def _clean(self, text: str) -> str:
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        text = " ".join(text.split()).strip()
        return text.lower() if self.clean == "lower" else text

    def _bpe(self, token: str) -> str:
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        word: tuple[str, ...] = (*token[:-1], token[-1] + "</w>")
        pairs = set(itertools.pairwise(word))
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word: list[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = set(itertools.pairwise(word))
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self.pat.findall(self._clean(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(token).split(" "))
        return ids

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        """(n, context_length) int64 token ids, as open_clip returns them (zero padded, EOT kept last)."""
        if isinstance(texts, str):
            texts = [texts]
        ctx = context_length or self.context_length
        out = np.zeros((len(texts), ctx), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = [self.sot_token_id, *self.encode(text), self.eot_token_id]
            if len(tokens) > ctx:
                tokens = tokens[:ctx]
                tokens[-1] = self.eot_token_id
            out[i, : len(tokens)] = tokens
        return out


def truncate_at_eot(tokens: np.ndarray) -> np.ndarray:
    """Drop the padding after the last end-of-text token of a batch (the highest id in each row)."""
    if tokens.size == 0:
        return tokens
    last = int(np.max(np.argmax(tokens, axis=1))) + 1
    return np.ascontiguousarray(tokens[:, :last])
