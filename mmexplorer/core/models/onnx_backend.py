"""The ONNX Runtime backend: graphs exported from the real loaded torch model, checked, and reused.

An encoder of the image space (open_clip: image and text towers) or the text space (a
sentence-transformers model) runs either on torch (`backend="torch"`, the reference) or on ONNX
Runtime (`"onnx"`). `"auto"` (the default) measures both on this machine at first use and remembers
the faster one. The graphs are exported once from the torch model the app loaded anyway, into the
app's own cache (`cache_root()`: $MMEXPLORER_ONNX_CACHE, else the platform's user cache dir),
in a folder keyed by the model id and the torch, onnxruntime and exporter versions, so an upgrade
exports again. Before a graph is used it is run on a fixed batch against torch (cosine >= 0.999);
its dynamic int8 version is kept only where recall@1 on the labelled sets (core.calibration:
rendered scenes and their captions for an image-text model; the paraphrase pairs for a sentence
encoder) stays within 0.01 of the fp32 graph, else fp32 (and meta.json says why).

Once an export exists, `load_cached_image` / `load_cached_text` build the encoder without torch,
open_clip, transformers or sentence-transformers: the CLIP tokenizer is replicated here
(`ClipBpeTokenizer`, what open_clip's SimpleTokenizer does, from its own vocabulary file), the
sentence encoder's is the `tokenizers` package reading the model's tokenizer.json, and photos are
preprocessed with PIL and numpy (`clip_preprocess`, what open_clip's eval transform does). CLIP text
is cut after the last end-of-text token of a batch: the text tower is causal and pools at that
token, so the embeddings are the same and a short query costs a fraction of 77 positions.

The sound space (CLAP) gets its text tower here too (`export_clap_text`, `OnnxClapEncoder`): typed
queries of a library with recordings run without torch; its audio tower stays on torch (indexing,
audio queries) and is loaded on first use. The export keeps the torch audio vectors of the fixed
calibration sounds, so fitting a library's relevance maps needs no torch either.

Missing onnxruntime, an export that fails or a graph that does not match torch: torch, with one
log line saying why. A cached graph that is stale (size or time changed) or corrupt (ONNX Runtime
cannot load it) is exported again.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import io
import itertools
import json
import logging
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core.errors import UsageError
from mmexplorer.core.fsutil import atomic_write
from mmexplorer.core.types import ModelInfo, Space

if TYPE_CHECKING:
    from PIL import Image

    from mmexplorer.core.models.base import StatusReporter

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
ENV_BACKEND = "MMEXPLORER_BACKEND"
ENV_CACHE = "MMEXPLORER_ONNX_CACHE"
ENV_THREADS = "MMEXPLORER_ONNX_THREADS"
ENV_INT8 = "MMEXPLORER_ONNX_INT8"  # auto (default: the recall rule), off, or force (benches of random models)
EXPORT_VERSION = "onnx-export-v2"  # bump when the graphs, the checks or meta.json change
OPSET = 17
MIN_COSINE = 0.999
MAX_RECALL_LOSS = 0.01
META = "meta.json"

_state = threading.Lock()
_configured: str | None = None
_threads: int | None = None


# -- configuration ----------------------------------------------------------------------------
def check_backend(name: str | None) -> str:
    """A backend name, lower-cased and checked; None is "auto"."""
    value = (name or "auto").strip().lower()
    if value not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return value


def set_backend(name: str | None) -> None:
    """The backend encoders load with from now on in this process ("auto", "torch", "onnx")."""
    global _configured
    _configured = check_backend(name) if name is not None else None


def configured_backend(explicit: str | None = None) -> str:
    """`explicit`, else what `set_backend` chose, else $MMEXPLORER_BACKEND, else "auto"."""
    if explicit is not None:
        return check_backend(explicit)
    if _configured is not None:
        return _configured
    return check_backend(os.environ.get(ENV_BACKEND) or "auto")


def set_threads(n: int | None) -> None:
    """ONNX Runtime intra-op threads for sessions opened from now on (None: ORT's default, one per core)."""
    global _threads
    _threads = None if n is None else max(1, int(n))


def threads() -> int:
    """The intra-op thread count new sessions get (0: ONNX Runtime's default)."""
    if _threads is not None:
        return _threads
    value = os.environ.get(ENV_THREADS, "")
    return int(value) if value.isdigit() else 0


def cache_root() -> Path:
    """Where exported graphs live: $MMEXPLORER_ONNX_CACHE, else <user cache dir>/onnx."""
    value = os.environ.get(ENV_CACHE)
    if value:
        return Path(value).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mmexplorer", appauthor=False)) / "onnx"


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def onnxruntime_available() -> bool:
    """Whether onnxruntime imports here (it is imported anyway whenever the ONNX path runs)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def versions() -> dict[str, str | None]:
    """What an export depends on: the exporter (torch), the runtime and this module's format."""
    return {"torch": _dist_version("torch"), "onnxruntime": _dist_version("onnxruntime"), "export": EXPORT_VERSION}


def export_dir(model_id: str, *, root: Path | None = None) -> Path:
    """The folder of a model's graphs: keyed by model id and `versions()`."""
    key = json.dumps({"model_id": model_id, **versions()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in model_id)[:60]
    return (root or cache_root()) / f"{safe}-{digest}"


# -- meta.json --------------------------------------------------------------------------------
def _file_stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_meta(folder: Path, model_id: str) -> dict[str, Any] | None:
    """A folder's meta.json if it is current and every graph it names is unchanged; else None."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("ONNX export %s is unreadable (%s): it will be exported again", folder, e)
        return None
    if meta.get("model_id") != model_id or meta.get("versions") != versions():
        return None
    for part in meta.get("graphs", {}).values():
        path = folder / part["file"]
        try:
            stamp = _file_stamp(path)
        except OSError:
            stamp = None
        if stamp != part.get("stamp"):
            log.warning("ONNX graph %s is missing or changed since it was checked: it will be exported again", path)
            return None
    return meta


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    for part in meta.get("graphs", {}).values():
        part["stamp"] = _file_stamp(folder / part["file"])
    atomic_write(folder / META, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))


def remember_choice(folder: Path, device_key: str, choice: dict[str, Any]) -> None:
    """Store the measured backend for a requested device in the export's meta.json."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    meta.setdefault("choice", {})[device_key] = choice
    atomic_write(folder / META, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One exporter per folder across processes (a second waits, then finds the export made)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    with open(lock, "a+b") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # Windows: one process at a time is the user's case anyway
            pass
        yield


# -- onnxruntime sessions ---------------------------------------------------------------------
def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_device(requested: str) -> str | None:
    """The device an ONNX session runs on for a requested device, or None when ORT cannot serve it."""
    import onnxruntime as ort

    choice = (requested or "auto").strip().lower()
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if choice == "cpu":
        return "cpu"
    if choice == "auto":
        return "cuda" if cuda else "cpu"
    if choice.startswith("cuda"):
        return choice if cuda else None
    return None  # mps: no ORT provider here


def open_session(
    path: Path, device: str = "cpu", *, spinning: bool = True, optimized: bool = False, save_optimized: Path | None = None
) -> Any:
    """An ONNX Runtime session on a graph (raises onnxruntime's error for a corrupt file).

    Args:
        optimized: the graph was saved already optimized (`save_optimized`): load it as it is.
            Optimizing at load is most of the time a session takes to open (ViT-B-32's text graph:
            2.5 s at load vs 0.5 s preoptimized here), and a command-line search pays it each time.
        save_optimized: optimize at the portable level (ORT_ENABLE_EXTENDED: no hardware-specific
            layouts) and write the result there for later loads.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    level = ort.GraphOptimizationLevel
    if optimized:
        options.graph_optimization_level = level.ORT_DISABLE_ALL
    elif save_optimized is not None:
        options.graph_optimization_level = level.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_optimized)
    else:
        options.graph_optimization_level = level.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads()
    options.log_severity_level = 3
    if not spinning:
        # Idle pool threads sleep instead of spinning, so decode threads and the window keep the CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=providers_for(device))


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(_normalised(a) * _normalised(b), axis=-1)))


# -- torch-free preprocessing and tokenizing -----------------------------------------------------
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


# -- int8 ------------------------------------------------------------------------------------
def quantize_int8(fp32: Path, out: Path) -> Path:
    """Dynamic int8 quantization of a graph's MatMul/Gemm weights, per output channel (activations float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the quantizer logs every tensor it skips on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Per-channel scales: per-tensor ones cost MiniLM a cosine of 0.94 to fp32, per-channel 0.99.
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        logging.disable(previous)
    return out


def recall_at_1(queries: np.ndarray, items: np.ndarray, positives: Sequence[frozenset[int]]) -> float:
    """Share of the queries with right answers whose nearest item is one of them."""
    rows = [i for i, pos in enumerate(positives) if pos]
    if not rows:
        return 0.0
    top = np.argmax(np.asarray(queries, np.float32)[rows] @ np.asarray(items, np.float32).T, axis=1)
    return float(np.mean([int(top[j]) in positives[i] for j, i in enumerate(rows)]))


def keep_int8(fp32_recall: float, int8_recall: float, *, max_loss: float = MAX_RECALL_LOSS) -> bool:
    """int8 is kept when its recall@1 is within `max_loss` of fp32's."""
    return int8_recall >= fp32_recall - max_loss - 1e-9


def choose_precision(
    fp32: Path,
    int8: Path,
    recall: Callable[[Path], float],
    *,
    max_loss: float = MAX_RECALL_LOSS,
) -> dict[str, Any]:
    """Quantize `fp32` into `int8`, measure `recall(graph)` of both, and keep int8 only if it holds up.

    Returns a record: file (the graph to use), precision, recall_fp32, recall_int8, reason. A refused
    int8 graph is deleted.
    """
    base = recall(fp32)
    try:
        quantize_int8(fp32, int8)
        quantized = recall(int8)
    except Exception as e:  # noqa: BLE001 -- a graph the quantizer cannot handle keeps fp32
        int8.unlink(missing_ok=True)
        log.info("int8 quantization of %s failed (%s): fp32 kept", fp32.name, e)
        return {"file": fp32.name, "precision": "fp32", "recall_fp32": base, "recall_int8": None,
                "reason": f"quantization failed: {e}"}
    if keep_int8(base, quantized, max_loss=max_loss):
        fp32.unlink(missing_ok=True)
        return {"file": int8.name, "precision": "int8", "recall_fp32": base, "recall_int8": quantized,
                "reason": f"int8 recall@1 {quantized:.3f} within {max_loss} of fp32 {base:.3f}"}
    int8.unlink(missing_ok=True)
    reason = f"int8 recall@1 {quantized:.3f} lost more than {max_loss} against fp32 {base:.3f}"
    log.info("%s: %s, fp32 kept", fp32.name, reason)
    return {"file": fp32.name, "precision": "fp32", "recall_fp32": base, "recall_int8": quantized, "reason": reason}


# -- exporting -------------------------------------------------------------------------------
def _traceable_mha(original: Callable[..., Any]) -> Callable[..., Any]:
    """`F.multi_head_attention_forward` written with reshapes over -1, for tracing.

    Traced as torch writes it, the batch size and sequence length of the sample end up as
    constants in the graph's reshapes (a ResNet's attention pool, MHA blocks), so another batch
    size fails or, worse, computes something else. Cases this does not cover go to `original`.
    """
    import torch
    import torch.nn.functional as F

    def mha(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
            add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
            need_weights=True, attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None,
            k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
            is_causal=False):
        unusual = (
            bias_k is not None or bias_v is not None or add_zero_attn or key_padding_mask is not None
            or static_k is not None or static_v is not None or need_weights or (training and dropout_p)
            or query.dim() != 3 or (attn_mask is not None and attn_mask.dim() != 2)
            or (is_causal and attn_mask is None)
        )
        if unusual:
            return original(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k,
                            bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=training,
                            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
                            use_separate_proj_weight=use_separate_proj_weight, q_proj_weight=q_proj_weight,
                            k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight, static_k=static_k,
                            static_v=static_v, average_attn_weights=average_attn_weights, is_causal=is_causal)
        heads, width = num_heads, embed_dim_to_check
        dim = width // heads
        biases = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
        if use_separate_proj_weight:
            weights = (q_proj_weight, k_proj_weight, v_proj_weight)
        else:
            weights = in_proj_weight.chunk(3)
        q, k, v = (F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases, strict=True))

        def split(t: torch.Tensor) -> torch.Tensor:  # (L, N, E) -> (N, heads, L, dim)
            return t.reshape(t.shape[0], -1, heads, dim).permute(1, 2, 0, 3)

        scores = (split(q) * dim**-0.5) @ split(k).transpose(-2, -1)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = scores.masked_fill(attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask.to(scores.dtype)
        out = (scores.softmax(dim=-1) @ split(v)).permute(2, 0, 1, 3).flatten(2)  # (L, N, E)
        return F.linear(out, out_proj_weight, out_proj_bias), None

    return mha


@contextlib.contextmanager
def _exporting() -> Iterator[None]:
    """The legacy TorchScript exporter (no onnxscript needed), MHA fast path off, attention traceable."""
    import torch
    import torch.nn.functional as F

    was = torch.backends.mha.get_fastpath_enabled()
    original = F.multi_head_attention_forward
    torch.backends.mha.set_fastpath_enabled(False)
    F.multi_head_attention_forward = _traceable_mha(original)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            yield
    finally:
        F.multi_head_attention_forward = original
        torch.backends.mha.set_fastpath_enabled(was)


def _export(module: Any, args: tuple[Any, ...], path: Path, inputs: list[str], dynamic: dict[str, dict[int, str]]) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    # A new wrapper module starts in training mode, and a trace in training mode would update a
    # BatchNorm's running statistics (a ResNet tower's) in the live model: everything in eval.
    module.eval()
    with _exporting():
        torch.onnx.export(
            module, args, str(tmp), input_names=inputs, output_names=["embedding"], dynamic_axes=dynamic,
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
    os.replace(tmp, path)


_CHECK_TEXTS = (
    "a red circle",
    "a photo of a dog running on the beach at sunset",
    "Receipt INV-2024-017, café déjà vu!",
    "the quarterly budget review meeting notes from march " * 4,
    "",
    "two blue squares and a green triangle",
)


def _check_pixels(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    return rng.standard_normal((n, 3, size, size)).astype(np.float32)


def _clip_text_module(model: Any) -> Any:
    """open_clip's CLIP text tower over tokens of any length up to the context (cut at EOT).

    The attention is written out with reshapes over -1: traced nn.MultiheadAttention bakes the
    sample's sequence length into the graph. Raises ExportRefused for blocks it does not know.
    """
    import torch
    import torch.nn.functional as F

    blocks = list(model.transformer.resblocks)
    for blk in blocks:
        attn = getattr(blk, "attn", None)
        if (
            type(blk).__name__ != "ResidualAttentionBlock"
            or not isinstance(attn, torch.nn.MultiheadAttention)
            or not attn.batch_first
            or attn.in_proj_weight is None
            or hasattr(blk, "ln_1_kv")
        ):
            raise ExportRefused("its text tower's blocks are not open_clip's standard residual attention blocks")

    def attention(blk: Any, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = blk.attn
        heads, width = a.num_heads, a.embed_dim
        dim = width // heads
        q, k, v = F.linear(x, a.in_proj_weight, a.in_proj_bias).chunk(3, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(t.shape[0], -1, heads, dim).transpose(1, 2)

        scores = (split(q) * dim**-0.5) @ split(k).transpose(-2, -1) + mask
        out = (scores.softmax(dim=-1) @ split(v)).transpose(1, 2).reshape(x.shape[0], -1, width)
        return a.out_proj(out)

    class TextTower(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            m = self.m
            n = tokens.shape[1]
            x = m.token_embedding(tokens) + m.positional_embedding[:n]
            mask = m.attn_mask[:n, :n].to(x.dtype)
            for blk in m.transformer.resblocks:
                x = x + blk.ls_1(attention(blk, blk.ln_1(x), mask))
                x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
            x = m.ln_final(x)
            x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
            return m.text_projection(x) if isinstance(m.text_projection, torch.nn.Linear) else x @ m.text_projection

    return TextTower(model)


def _clip_tokenizer_cfg(tokenizer: Any) -> dict[str, Any] | None:
    """How to replicate the torch tokenizer without torch, or None when it is not open_clip's BPE."""
    if type(tokenizer).__name__ != "SimpleTokenizer" or getattr(tokenizer, "reduction_fn", None) is not None:
        return None
    clean = {"_clean_lower": "lower", "_clean_whitespace": "whitespace"}.get(getattr(tokenizer.clean_fn, "__name__", ""))
    if clean is None or getattr(tokenizer, "vocab_size", 0) != 49408:
        return None
    return {"kind": "clip-bpe", "clean": clean, "context_length": int(tokenizer.context_length or 77)}


def _clip_preprocess_cfg(model: Any, image_size: int) -> dict[str, Any] | None:
    cfg = dict(model.visual.preprocess_cfg)
    mode = cfg.get("resize_mode", "shortest")
    interp = cfg.get("interpolation", "bicubic")
    if mode not in ("shortest", "squash") or interp not in ("bicubic", "bilinear"):
        return None
    size = cfg.get("size", image_size)
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            return None
        size = size[0]
    return {"size": int(size), "mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": interp,
            "resize_mode": mode}


class ExportRefused(Exception):
    """This model cannot run on ONNX Runtime here (the message says why)."""


def _clip_recall(image_graph: Path, text_graph: Path, tokenizer: ClipBpeTokenizer, pre: dict[str, Any]) -> float:
    from mmexplorer.core.calibration import image_text_data

    img = open_session(image_graph)
    txt = open_session(text_graph)

    def images(ims: Sequence[Any]) -> np.ndarray:
        batch = np.stack([clip_preprocess(im, pre) for im in ims])
        return _normalised(img.run(None, {"pixels": batch})[0])

    def texts(ts: Sequence[str]) -> np.ndarray:
        return _normalised(txt.run(None, {"tokens": truncate_at_eot(tokenizer(list(ts)))})[0])

    data = image_text_data(images, texts, image_size=pre["size"], kind="text")
    return recall_at_1(data.queries, data.items, data.positives)


def export_clip(encoder: Any, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export an open_clip `ClipEncoder`'s two towers into `folder`, check them, write meta.json.

    Args:
        encoder: the loaded torch encoder (core.models.clip.ClipEncoder) on any device.
        folder: the export folder (`export_dir(encoder.model_id)`).
        quantize: try int8 (kept if recall holds); None: only for meaningful models (a random
            model's recall says nothing), True: always try (benches), False: never.

    Raises:
        ExportRefused: a model this backend cannot replicate, or one whose graph does not match torch.
    """
    import torch

    model = encoder.model
    tok_cfg = _clip_tokenizer_cfg(encoder._tokenizer)
    bpe = open_clip_bpe_path()
    if tok_cfg is None or bpe is None:
        raise ExportRefused("its tokenizer is not open_clip's CLIP BPE")
    if getattr(model, "text_pool_type", "argmax") != "argmax" or getattr(model, "attn_mask", None) is None:
        raise ExportRefused("its text tower is not a causal CLIP tower pooled at the end-of-text token")
    pre = _clip_preprocess_cfg(model, encoder.image_size)
    if pre is None:
        raise ExportRefused("its image preprocessing is not replicated without torch")
    tokenizer = ClipBpeTokenizer(bpe, context_length=tok_cfg["context_length"], clean=tok_cfg["clean"])
    torch_tokens = encoder._tokenizer(list(_CHECK_TEXTS)).numpy()
    if not np.array_equal(torch_tokens, tokenizer(list(_CHECK_TEXTS))):
        raise ExportRefused("the torch-free tokenizer does not reproduce open_clip's tokens")

    folder.mkdir(parents=True, exist_ok=True)
    cpu = model.to("cpu").float() if encoder.device != "cpu" else model
    t0 = time.perf_counter()
    pixels = _check_pixels(4, encoder.image_size)

    class ImageTower(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m.encode_image(x)

    try:
        _export(ImageTower(cpu), (torch.from_numpy(pixels[:2]),), folder / "image.fp32.onnx", ["pixels"],
                {"pixels": {0: "n"}, "embedding": {0: "n"}})
        sample = torch.from_numpy(tokenizer(["a red circle", "two blue squares"]))
        _export(_clip_text_module(cpu), (sample[:, :8],), folder / "text.fp32.onnx", ["tokens"],
                {"tokens": {0: "n", 1: "length"}, "embedding": {0: "n"}})
    finally:
        if encoder.device != "cpu":
            model.to(device=encoder.device, dtype=encoder._torch_dtype)
    export_s = time.perf_counter() - t0

    ref_img = encoder.encode_image_tensors(torch.from_numpy(pixels))
    ref_txt = encoder.encode_texts(list(_CHECK_TEXTS))
    got_img = open_session(folder / "image.fp32.onnx").run(None, {"pixels": pixels})[0]
    text_session = open_session(folder / "text.fp32.onnx")
    got_txt = np.concatenate([text_session.run(None, {"tokens": truncate_at_eot(tokenizer([t]))})[0] for t in _CHECK_TEXTS])
    cos_img, cos_txt = min_cosine(ref_img, got_img), min_cosine(ref_txt, got_txt)
    if min(cos_img, cos_txt) < MIN_COSINE:
        raise ExportRefused(f"the exported graphs differ from torch (cosine {cos_img:.5f} image, {cos_txt:.5f} text)")

    graphs: dict[str, dict[str, Any]] = {
        "image": {"file": "image.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos_img},
        "text": {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos_txt},
    }
    mode = os.environ.get(ENV_INT8, "auto").strip().lower()
    try_int8 = {"off": False, "force": True}.get(mode, encoder.meaningful) if quantize is None else quantize
    if try_int8 and mode == "force" and quantize is None:
        # Benchmarks of random-weight models: int8 without the recall rule (their recall says nothing).
        checks = {"image": ("pixels", pixels), "text": ("tokens", truncate_at_eot(tokenizer(list(_CHECK_TEXTS))))}
        for tower, (name, batch) in checks.items():
            fp32, int8 = folder / f"{tower}.fp32.onnx", folder / f"{tower}.int8.onnx"
            quantize_int8(fp32, int8)
            cos = min_cosine(open_session(fp32).run(None, {name: batch})[0], open_session(int8).run(None, {name: batch})[0])
            fp32.unlink()
            graphs[tower].update({"file": int8.name, "precision": "int8", "cosine_int8_to_fp32": cos,
                                  "reason": f"forced by {ENV_INT8}=force (no recall check)"})
    elif try_int8:
        f_img, f_txt = folder / "image.fp32.onnx", folder / "text.fp32.onnx"
        base = _clip_recall(f_img, f_txt, tokenizer, pre)
        for tower in ("image", "text"):
            fp32, int8 = folder / f"{tower}.fp32.onnx", folder / f"{tower}.int8.onnx"
            if tower == "image":
                def rec(g: Path, fp32: Path = fp32, f_txt: Path = f_txt) -> float:
                    return base if g == fp32 else _clip_recall(g, f_txt, tokenizer, pre)
            else:
                def rec(g: Path, fp32: Path = fp32, f_img: Path = f_img) -> float:
                    return base if g == fp32 else _clip_recall(f_img, g, tokenizer, pre)
            chosen = choose_precision(fp32, int8, rec)
            graphs[tower].update(chosen)
            if tower == "image" and chosen["precision"] == "int8":
                f_img = int8
    else:
        reason = ("not tried: the model's similarities mean nothing" if quantize is None and mode != "off"
                  else f"not tried ({ENV_INT8}={mode})" if quantize is None else "not tried")
        for part in graphs.values():
            part["reason"] = reason
    meta = {
        "model_id": encoder.model_id,
        "family": "open_clip",
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "image_size": encoder.image_size,
        "meaningful": encoder.meaningful,
        "note": encoder.note,
        "preprocess": pre,
        "tokenizer": tok_cfg,
        "export_s": round(export_s, 2),
        "graphs": graphs,
    }
    write_meta(folder, meta)
    log.info("exported %s to ONNX in %.1f s (%s)", encoder.model_id, export_s,
             ", ".join(f"{k} {v['precision']}" for k, v in graphs.items()))
    return meta


def _sentence_recall(graph: Path, tokenizer: Any, max_len: int) -> float:
    from mmexplorer.core.calibration import sentence_encoder_data

    session = open_session(graph)
    data = sentence_encoder_data(lambda ts: _sentence_run(session, tokenizer, list(ts), 32))
    return recall_at_1(data.queries, data.items, data.positives)


def _sentence_tokenizer(folder: Path, max_len: int, *, truncate: bool = True) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if truncate:
        tok.enable_truncation(max_length=max_len)
    else:
        tok.no_truncation()
    tok.no_padding()
    return tok


def _sentence_run(session: Any, tokenizer: Any, texts: list[str], batch_size: int) -> np.ndarray:
    if not texts:
        return np.zeros((0, session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
    encoded = tokenizer.encode_batch(texts)
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")  # similar lengths share a batch
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encoded[i].ids)
            ids[j, :n] = encoded[i].ids
            mask[j, :n] = 1
        vecs = _normalised(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        for j, i in enumerate(rows):
            out[i] = vecs[j]
    return np.stack(out)  # type: ignore[arg-type]


def export_sentence(encoder: Any, model_folder: Path, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export a sentence-transformers `TextEncoder` into `folder`, check it, write meta.json.

    Args:
        encoder: the loaded torch encoder (core.models.text.TextEncoder).
        model_folder: the model's own folder (its tokenizer.json is read from there).
        folder: the export folder.
        quantize: try int8 (kept if recall on the paraphrase pairs holds); None: as $MMEXPLORER_ONNX_INT8
            says (auto: try; off: never; force: int8 without the rule, for benches).

    Raises:
        ExportRefused: no tokenizer.json, or a graph that does not match torch.
    """
    import torch

    if not (model_folder / "tokenizer.json").is_file():
        raise ExportRefused(f"{model_folder} has no tokenizer.json for the torch-free tokenizer")
    st = encoder.model
    max_len = int(st.max_seq_length)
    tokenizer = _sentence_tokenizer(model_folder, max_len)
    specials = len(tokenizer.encode("").ids)
    hf_ids = st.tokenizer(list(_CHECK_TEXTS), truncation=True, max_length=max_len)["input_ids"]
    if [list(x) for x in hf_ids] != [e.ids for e in tokenizer.encode_batch(list(_CHECK_TEXTS))]:
        raise ExportRefused("tokenizer.json does not reproduce the model's tokens")
    folder.mkdir(parents=True, exist_ok=True)

    class Sentence(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.m({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    moved = encoder.device != "cpu"
    cpu = st.to("cpu").float() if moved else st
    t0 = time.perf_counter()
    sample = tokenizer.encode_batch(["a short one", "a somewhat longer sentence for the export"])
    width = max(len(e.ids) for e in sample)
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, e in enumerate(sample):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    inner = getattr(cpu[0], "auto_model", None)
    config = getattr(inner, "config", None)
    saved_attn = getattr(config, "_attn_implementation", None)
    try:
        if config is not None and saved_attn not in (None, "eager"):
            config._attn_implementation = "eager"  # plain matmuls trace into opset-17 ONNX reliably
        _export(Sentence(cpu), (ids, mask), folder / "text.fp32.onnx", ["input_ids", "attention_mask"],
                {"input_ids": {0: "n", 1: "length"}, "attention_mask": {0: "n", 1: "length"}, "embedding": {0: "n"}})
    finally:
        if config is not None and saved_attn is not None:
            config._attn_implementation = saved_attn
        if moved:
            st.to(device=encoder.device)
    export_s = time.perf_counter() - t0
    ref = encoder.encode(list(_CHECK_TEXTS))
    got = _sentence_run(open_session(folder / "text.fp32.onnx"), tokenizer, list(_CHECK_TEXTS), 4)
    cos = min_cosine(ref, got)
    if cos < MIN_COSINE:
        raise ExportRefused(f"the exported graph differs from torch (cosine {cos:.5f})")
    graph: dict[str, Any] = {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos}
    mode = os.environ.get(ENV_INT8, "auto").strip().lower()
    if quantize is None and mode == "force":  # benches: int8 whatever its recall
        fp32, int8 = folder / "text.fp32.onnx", folder / "text.int8.onnx"
        quantize_int8(fp32, int8)
        graph.update({"file": int8.name, "precision": "int8", "reason": f"forced by {ENV_INT8}=force",
                      "recall_fp32": _sentence_recall(fp32, tokenizer, max_len),
                      "recall_int8": _sentence_recall(int8, tokenizer, max_len)})
        fp32.unlink()
    elif (quantize is None and mode != "off") or quantize:
        graph.update(choose_precision(folder / "text.fp32.onnx", folder / "text.int8.onnx",
                                      lambda g: _sentence_recall(g, tokenizer, max_len)))
    else:
        graph["reason"] = "not tried"
    meta = {
        "model_id": encoder.model_id,
        "family": "sentence-transformers",
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "max_seq_length": max_len,
        "specials": specials,
        "model_folder": str(model_folder),
        "export_s": round(export_s, 2),
        "graphs": {"text": graph},
    }
    write_meta(folder, meta)
    log.info("exported %s to ONNX in %.1f s (%s)", encoder.model_id, export_s, graph["precision"])
    return meta


# -- the encoders ------------------------------------------------------------------------------
class _Sessions:
    """Sessions opened on first use; a graph ONNX Runtime cannot load is exported again once."""

    def __init__(self, folder: Path, meta: dict[str, Any], device: str, rebuild: Callable[[], dict[str, Any]] | None):
        self.folder = folder
        self.meta = meta
        self.device = device
        self._rebuild = rebuild
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, part: str) -> Any:
        session = self._open.get(part)
        if session is not None:
            return session
        with self._lock:
            if part not in self._open:
                graph = self.meta["graphs"][part]
                path = self.folder / graph["file"]
                try:
                    if self.device == "cpu" and not graph.get("optimized"):
                        self._open[part] = self._open_optimizing(part, path)
                    else:
                        self._open[part] = open_session(
                            path, self.device, spinning=part != "image", optimized=bool(graph.get("optimized"))
                        )
                except Exception as e:  # onnxruntime raises its own types for a corrupt file
                    if self._rebuild is None:
                        raise
                    log.warning("ONNX graph %s cannot be loaded (%s): exporting it again", path, e)
                    self.meta = self._rebuild()
                    self._open.clear()
                    self._open[part] = open_session(self.folder / self.meta["graphs"][part]["file"], self.device)
            return self._open[part]

    def _open_optimizing(self, part: str, path: Path) -> Any:
        """Open a graph for the first time on the CPU and keep its optimized form in its place.

        The optimized graph replaces the exported one in meta.json (same outputs: ONNX Runtime's
        portable graph rewrites), so every later process opens it without optimizing again.
        """
        tmp = path.with_name(f"{path.stem}.opt-{os.getpid()}.tmp")
        session = open_session(path, "cpu", spinning=part != "image", save_optimized=tmp)
        name = f"{path.stem}.opt.onnx"
        try:
            with _folder_lock(self.folder):
                meta = read_meta(self.folder, self.meta["model_id"])
                if meta is None or meta["graphs"][part]["file"] != path.name or not tmp.is_file():
                    return session  # exported again meanwhile, or nothing was written
                os.replace(tmp, self.folder / name)
                meta["graphs"][part].update(file=name, optimized=True)
                write_meta(self.folder, meta)
                self.meta = meta
                path.unlink(missing_ok=True)
        except OSError as e:  # a read-only cache: this process still has its session
            log.debug("could not keep the optimized graph of %s: %s", path, e)
        finally:
            tmp.unlink(missing_ok=True)
        return session

    def close(self) -> None:
        self._open.clear()


def _precision(meta: dict[str, Any]) -> str:
    kinds = {g["precision"] for g in meta["graphs"].values()}
    return "int8" if kinds == {"int8"} else "float32" if kinds == {"fp32"} else "int8+float32"


class _OnnxEncoder:
    """What the three ONNX encoders share: the export's folder and sessions, and the torch model
    behind them, loaded on first use through `torch_loader` (explanations, a rebuild, CLAP's audio)."""

    backend = "onnx"
    _NO_TORCH = "no torch model to fall back on"

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        self.folder = folder
        self.name = name
        self.model_id = meta["model_id"]
        self.dim = int(meta["dim"])
        self.device = device
        self._torch_loader = torch_loader
        self._torch: Any = None

    def _open(self, meta: dict[str, Any]) -> None:
        """The sessions, opened on first use (last in a subclass's __init__)."""
        self._sessions = _Sessions(self.folder, meta, self.device, self._rebuild if self._torch_loader else None)
        self.dtype = _precision(meta)

    @property
    def meta(self) -> dict[str, Any]:
        return self._sessions.meta

    def _torch_encoder(self) -> Any:
        if self._torch is None:
            if self._torch_loader is None:
                raise UsageError(f"{self.model_id}: {self._NO_TORCH}")
            self._torch = self._torch_loader()
        return self._torch

    def _export(self, enc: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _rebuild(self) -> dict[str, Any]:
        enc = self._torch_encoder()
        with _folder_lock(self.folder):
            shutil.rmtree(self.folder, ignore_errors=True)
            return self._export(enc)

    @property
    def model(self) -> Any:
        """The torch model (loaded now if needed), for code that needs its internals."""
        return self._torch_encoder().model

    def release(self) -> None:
        self._sessions.close()
        if self._torch is not None:
            self._torch.release()
            self._torch = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, device={self.device!r}, dtype={self.dtype!r}, dim={self.dim})"


class OnnxClipEncoder(_OnnxEncoder):
    """An open_clip model's two towers on ONNX Runtime; the same interface as `ClipEncoder`.

    `preprocess` returns a (3, S, S) float32 numpy array; `encode_image_tensors` takes a batch of
    those (numpy or a CPU torch tensor). `model` loads the torch model on first use, for code that
    needs its internals (explanations), through the loader it was given.
    """

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(folder, meta, name=name, device=device, torch_loader=torch_loader)
        self.image_size = int(meta["image_size"])
        self.meaningful = bool(meta.get("meaningful", True))
        self.note = str(meta.get("note", ""))
        tok = meta["tokenizer"]
        self._bpe = open_clip_bpe_path()
        if self._bpe is None:
            raise ExportRefused("open_clip's vocabulary file is not installed")
        self._tok_cfg = tok
        self._tok: ClipBpeTokenizer | None = None  # built on the first query (0.1-0.3 s)
        self.context_length = int(tok["context_length"])
        self._pre = dict(meta["preprocess"])
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        return export_clip(enc, self.folder)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """The model's eval transform in numpy: (3, S, S) float32. CPU, thread-safe."""
        return clip_preprocess(img, self._pre)

    def encode_image_tensors(self, batch: Any) -> np.ndarray:
        """Preprocessed images (n, 3, S, S) -> (n, dim) float32, L2-normalised."""
        arr = np.ascontiguousarray(np.asarray(batch, dtype=np.float32))
        if arr.ndim == 3:
            arr = arr[None]
        if arr.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._sessions.get("image").run(None, {"pixels": arr})[0])

    def encode_images(self, imgs: Sequence[Image.Image], *, batch_size: int = 64) -> np.ndarray:
        if not imgs:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [
            self.encode_image_tensors(np.stack([self.preprocess(im) for im in imgs[s : s + batch_size]]))
            for s in range(0, len(imgs), batch_size)
        ]
        return np.concatenate(out, axis=0)

    @property
    def _tokenizer(self) -> ClipBpeTokenizer:
        if self._tok is None:
            assert self._bpe is not None
            self._tok = ClipBpeTokenizer(
                self._bpe, context_length=self._tok_cfg["context_length"], clean=self._tok_cfg["clean"],
                tables=self.folder / "clip_bpe_tables.json",
            )
        return self._tok

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids as open_clip makes them, cut after the batch's last end-of-text token."""
        return truncate_at_eot(self._tokenizer(list(texts)))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        """Query texts through the text tower -> (n, dim) float32, L2-normalised."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._sessions.get("text")
        out = [
            session.run(None, {"tokens": self.tokenize(texts[s : s + batch_size])})[0]
            for s in range(0, len(texts), batch_size)
        ]
        return _normalised(np.concatenate(out, axis=0))

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.IMAGE.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, meaningful=self.meaningful,
            note=" ".join(x for x in (self.note, "(ONNX Runtime)") if x),
        )


class OnnxTextEncoder(_OnnxEncoder):
    """A sentence encoder on ONNX Runtime with the `tokenizers` package; the `TextEncoder` interface."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(folder, meta, name=name, device=device, torch_loader=torch_loader)
        model_folder = Path(meta["model_folder"])
        max_len = int(meta["max_seq_length"])
        self._model_folder = model_folder
        self._max_len = max_len
        self._tokenizer = _sentence_tokenizer(model_folder, max_len)
        self._counter: Any = None  # untruncated, for count_tokens (indexing only): made on first use
        self.max_tokens = max_len - int(meta["specials"])
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        return export_sentence(enc, Path(self._sessions.meta["model_folder"]), self.folder)

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            self._counter = _sentence_tokenizer(self._model_folder, self._max_len, truncate=False)
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _sentence_run(self._sessions.get("text"), self._tokenizer, texts, batch_size)

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.TEXT.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, note="(ONNX Runtime)",
        )


# -- choosing -----------------------------------------------------------------------------------
def _device_key(requested: str) -> str:
    return (requested or "auto").strip().lower()


def _time(fn: Callable[[], Any], *, repeat: int = 3) -> float:
    fn()  # warm-up: first runs allocate
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_clip(torch_enc: Any, onnx_enc: OnnxClipEncoder) -> dict[str, Any]:
    """Seconds per image batch (8) and per single query on both backends; the ratio decides."""
    import torch

    pixels = _check_pixels(8, torch_enc.image_size)
    t_img = _time(lambda: torch_enc.encode_image_tensors(torch.from_numpy(pixels)), repeat=2)
    o_img = _time(lambda: onnx_enc.encode_image_tensors(pixels), repeat=2)
    t_txt = _time(lambda: torch_enc.encode_texts(["a photo of a red circle"]))
    o_txt = _time(lambda: onnx_enc.encode_texts(["a photo of a red circle"]))
    ratio = (o_img / t_img + o_txt / t_txt) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_image_s": t_img, "onnx_image_s": o_img, "torch_query_s": t_txt, "onnx_query_s": o_txt}


def measure_text(torch_enc: Any, onnx_enc: OnnxTextEncoder) -> dict[str, Any]:
    texts = [f"note {i}: the quarterly budget review and the plan for the garden" for i in range(16)]
    t_b = _time(lambda: torch_enc.encode(texts), repeat=2)
    o_b = _time(lambda: onnx_enc.encode(texts), repeat=2)
    t_q = _time(lambda: torch_enc.encode(["garden plans"]))
    o_q = _time(lambda: onnx_enc.encode(["garden plans"]))
    ratio = (o_b / t_b + o_q / t_q) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_batch_s": t_b, "onnx_batch_s": o_b, "torch_query_s": t_q, "onnx_query_s": o_q}


def _fallback(what: str, why: str) -> None:
    log.warning("%s runs on torch: %s", what, why)


def load_cached_image(model_id: str | None, *, name: str, device: str, backend: str,
                      torch_loader: Callable[[], Any]) -> OnnxClipEncoder | None:
    """The ONNX image encoder from an existing export, built without torch; None when torch is to run.

    None when: the backend is torch, onnxruntime is missing, no current export exists, or "auto"
    has not measured yet here or measured torch faster.
    """
    if backend == "torch" or model_id is None or not onnxruntime_available():
        return None
    dev = ort_device(device)
    if dev is None:
        return None
    folder = export_dir(model_id)
    meta = read_meta(folder, model_id)
    if meta is None or meta.get("family") != "open_clip":
        return None
    if backend == "auto" and meta.get("choice", {}).get(_device_key(device), {}).get("backend") != "onnx":
        return None
    try:
        return OnnxClipEncoder(folder, meta, name=name, device=dev, torch_loader=torch_loader)
    except Exception as e:  # noqa: BLE001 -- a broken vocabulary install: the torch path will say more
        log.warning("cannot use the ONNX export of %s (%s)", model_id, e)
        return None


def load_cached_text(model_id: str, *, name: str, device: str, backend: str,
                     torch_loader: Callable[[], Any]) -> OnnxTextEncoder | None:
    """The ONNX sentence encoder from an existing export, built without torch (see `load_cached_image`)."""
    if backend == "torch" or not onnxruntime_available():
        return None
    dev = ort_device(device)
    if dev is None:
        return None
    folder = export_dir(model_id)
    meta = read_meta(folder, model_id)
    if meta is None or meta.get("family") != "sentence-transformers":
        return None
    if backend == "auto" and meta.get("choice", {}).get(_device_key(device), {}).get("backend") != "onnx":
        return None
    try:
        return OnnxTextEncoder(folder, meta, name=name, device=dev, torch_loader=torch_loader)
    except Exception as e:  # noqa: BLE001 -- a broken tokenizer.json: the torch path will say more
        log.warning("cannot use the ONNX export of %s (%s)", model_id, e)
        return None


def adopt(
    torch_enc: Any,
    *,
    backend: str,
    requested_device: str,
    model_folder: Path | None = None,
    torch_loader: Callable[[], Any] | None = None,
    status: StatusReporter | None = None,
) -> Any:
    """Given the loaded torch encoder: export if needed, measure under "auto", return the encoder to use.

    With `torch_loader` the ONNX encoder reloads the torch model when it needs it (explanations,
    a rebuild) instead of keeping this one in memory. Any failure (no onnxruntime, an export that fails or does not match) returns `torch_enc`
    after one log line naming the model and the reason.
    """
    if backend == "torch":
        return torch_enc
    clip = hasattr(torch_enc, "encode_texts")
    what = f"{'image' if clip else 'text'} model {torch_enc.model_id}"
    if not onnxruntime_available():
        _fallback(what, "onnxruntime is not installed (pip install onnxruntime)")
        return torch_enc
    dev = ort_device(requested_device)
    if dev is None or (torch_enc.device != "cpu" and not dev.startswith("cuda")):
        if backend == "onnx":
            _fallback(what, f"ONNX Runtime has no execution provider for {torch_enc.device} here")
        return torch_enc  # auto: torch on an accelerator ORT cannot use is the faster one
    folder = export_dir(torch_enc.model_id)
    try:
        with _folder_lock(folder):
            meta = read_meta(folder, torch_enc.model_id)
            if meta is None:
                _preparing(status, torch_enc.name)
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    if clip:
                        meta = export_clip(torch_enc, folder)
                    else:
                        assert model_folder is not None
                        meta = export_sentence(torch_enc, model_folder, folder)
                except ExportRefused as e:
                    # Remembered, so later runs do not export again to find the same answer.
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir(parents=True, exist_ok=True)
                    write_meta(folder, {"model_id": torch_enc.model_id, "versions": versions(), "graphs": {},
                                        "refused": str(e)})
                    raise
            if meta.get("refused"):
                raise ExportRefused(meta["refused"])
        cls = OnnxClipEncoder if clip else OnnxTextEncoder
        onnx_enc = cls(folder, meta, name=torch_enc.name, device=dev, torch_loader=lambda: torch_enc)
        if backend == "onnx":
            return _detached(onnx_enc, torch_loader)
        key = _device_key(requested_device)
        choice = meta.get("choice", {}).get(key)
        if choice is None:
            if status is not None:
                status.loading(f"Measuring which way runs {torch_enc.name} faster here (once)…")
            choice = measure_clip(torch_enc, onnx_enc) if clip else measure_text(torch_enc, onnx_enc)
            remember_choice(folder, key, choice)
            log.info("%s: %s chosen (ONNX/torch time %.2f)", what, choice["backend"], choice["onnx_over_torch"])
        return _detached(onnx_enc, torch_loader) if choice["backend"] == "onnx" else torch_enc
    except ExportRefused as e:
        _fallback(what, f"no ONNX export ({e})")
    except Exception as e:  # the exporter or ORT failing on an unusual model must not stop the app
        log.debug("ONNX export of %s failed", torch_enc.model_id, exc_info=True)
        _fallback(what, f"the ONNX export failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    return torch_enc


def _preparing(status: StatusReporter | None, name: str) -> None:
    """Say what the first use of a model is doing for a minute: not "loading" (issue 11)."""
    if status is not None:
        status.loading(f"Preparing a faster version of {name} for this computer (once, about a minute)…")


def _detached(onnx_enc: Any, torch_loader: Callable[[], Any] | None) -> Any:
    if torch_loader is not None:
        onnx_enc._torch_loader = torch_loader  # the torch model is freed; reloaded if ever needed
    return onnx_enc


def cached_sha256(path: Path) -> str:
    """A checkpoint's SHA-256, remembered across processes by (path, size, mtime) in the cache root."""
    st = path.stat()
    key = hashlib.sha256(f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:24]
    memo = cache_root() / "digests" / key
    try:
        value = memo.read_text(encoding="ascii").strip()
        if len(value) == 64:
            return value
    except OSError:
        pass
    from mmexplorer.core.models.weights import sha256_file

    value = sha256_file(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(memo, value.encode("ascii"))
    except OSError:
        pass
    return value


# -- CLAP's text tower (the sound space's typed queries) ----------------------------------------
# A text search of a library with recordings must not import torch: CLAP's text tower (RoBERTa,
# its pooler, the text projection) runs here, tokenized by the `tokenizers` package. The audio
# tower stays on torch (indexing, audio queries); `OnnxClapEncoder` loads it on first use.
CLAP_FAMILY = "clap-text"
CLAP_TOKENIZER = "clap_tokenizer.json"  # the checked tokenizer, kept in the export folder
CLAP_AUDIO_MEMO = "clap_audio_memo.npz"  # torch audio vectors of the calibration sounds

_CLAP_CHECK_TEXTS = (
    *_CHECK_TEXTS,
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


def _clap_texts(texts: Sequence[str]) -> list[str]:
    """What SoundEncoder.encode_texts feeds the tokenizer: a blank text becomes one space."""
    return [t if t.strip() else " " for t in texts]


def clap_tokenizer(model_folder: Path) -> Any:
    """CLAP's RoBERTa byte-level BPE as a `tokenizers.Tokenizer`, without transformers.

    The folder's tokenizer.json when it has one (the test model, LAION's CLAP repos); else built
    from vocab.json + merges.txt the way transformers' RobertaTokenizer is: byte-level
    pre-tokenizer, <s> ... </s> around each text, the special tokens matched whole (<mask>
    taking the space before it). `export_clap_text` checks the ids against transformers either way.

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


def _clap_session_tokenizer(path: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok


def _clip_digest(clip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(clip, dtype=np.float32).tobytes()).hexdigest()


class _RecordingAudio:
    """encode_audio of a torch SoundEncoder that remembers each clip's vector (one clip per call)."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        keys = [_clip_digest(c) for c in clips]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            vectors = self.encoder.encode_audio([clips[i] for i in todo])
            for i, v in zip(todo, vectors, strict=True):
                self.memo[keys[i]] = np.asarray(v, dtype=np.float32)
        if not keys:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.memo[k] for k in keys])


def _clap_calibration(audio: Callable[[Sequence[np.ndarray]], np.ndarray], texts: Callable[[Sequence[str]], np.ndarray],
                      sample_rate: int, kind: str) -> Any:
    from mmexplorer.core.calibration import sound_text_data

    return sound_text_data(audio, texts, sample_rate=sample_rate, kind=kind)


def export_clap_text(encoder: Any, model_folder: Path, folder: Path, *, quantize: bool | None = None) -> dict[str, Any]:
    """Export CLAP's text tower of a torch `SoundEncoder` into `folder`, check it, write meta.json.

    The graph is `ClapModel.get_text_features` (text model, pooler, projection); rows are
    normalised after it, as `SoundEncoder.encode_texts` does. Beside it: the checked tokenizer and
    the torch audio vectors of the calibration sounds (core.calibration.sound_text_data), so a
    library's relevance maps for the sound space are fitted without torch.

    Args:
        encoder: the loaded torch encoder (core.models.sound.SoundEncoder).
        model_folder: the model's own folder (tokenizer files).
        folder: the export folder.
        quantize: try int8 (kept if recall@1 of captions -> calibration sounds holds); None: as
            $MMEXPLORER_ONNX_INT8 says (auto: try for a meaningful model; off; force: for benches).

    Raises:
        ExportRefused: no tokenizer files, tokens that differ from transformers', or a graph that
            does not match torch.
    """
    import torch

    model = encoder.model
    max_tokens = int(encoder.max_tokens)
    tokenizer = clap_tokenizer(model_folder)
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    checks = _clap_texts(_CLAP_CHECK_TEXTS)
    hf_ids = encoder._tokenizer(checks, truncation=True, max_length=max_tokens)["input_ids"]
    if [list(x) for x in hf_ids] != [e.ids for e in tokenizer.encode_batch(checks)]:
        raise ExportRefused("the torch-free tokenizer does not reproduce CLAP's tokens")
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / CLAP_TOKENIZER))

    class ClapText(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.m.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return getattr(out, "pooler_output", out)

    moved = encoder.device != "cpu"
    dtype = next(model.parameters()).dtype
    cpu = model.to("cpu").float() if moved else model
    config = getattr(cpu.text_model, "config", None)
    saved_attn = getattr(config, "_attn_implementation", None)
    sample = tokenizer.encode_batch(["a low hum", "a somewhat longer caption of a sound for the export"])
    width = max(len(e.ids) for e in sample)
    pad_id = getattr(encoder._tokenizer, "pad_token_id", None)  # what transformers pads a batch with
    pad_id = int(pad_id if pad_id is not None else getattr(model.config.text_config, "pad_token_id", 1))
    ids = torch.full((2, width), pad_id, dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, e in enumerate(sample):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    t0 = time.perf_counter()
    try:
        if config is not None and saved_attn not in (None, "eager"):
            config._attn_implementation = "eager"  # plain matmuls trace into opset-17 ONNX reliably
        _export(ClapText(cpu), (ids, mask), folder / "text.fp32.onnx", ["input_ids", "attention_mask"],
                {"input_ids": {0: "n", 1: "length"}, "attention_mask": {0: "n", 1: "length"}, "embedding": {0: "n"}})
    finally:
        if config is not None and saved_attn is not None:
            config._attn_implementation = saved_attn
        if moved:
            model.to(device=encoder.device, dtype=dtype)
    export_s = time.perf_counter() - t0
    ref = encoder.encode_texts(checks)
    got = _clap_run(open_session(folder / "text.fp32.onnx"), tokenizer, checks, 4, pad_id)
    cos = min_cosine(ref, got)
    if cos < MIN_COSINE:
        raise ExportRefused(f"the exported text tower differs from torch (cosine {cos:.5f})")

    audio = _RecordingAudio(encoder)
    for kind in ("text", "audio"):  # every clip a first search's calibration encodes
        _clap_calibration(audio, encoder.encode_texts, encoder.sample_rate, kind)
    buffer = io.BytesIO()
    np.savez(buffer, digests=np.asarray(list(audio.memo), dtype="U64"),
             vectors=np.stack(list(audio.memo.values())).astype(np.float32))
    atomic_write(folder / CLAP_AUDIO_MEMO, buffer.getvalue())

    def recall(graph: Path) -> float:
        session = open_session(graph)
        data = _clap_calibration(audio, lambda ts: _clap_run(session, tokenizer, _clap_texts(ts), 32, pad_id),
                                 encoder.sample_rate, "text")
        return recall_at_1(data.queries, data.items, data.positives)

    graph: dict[str, Any] = {"file": "text.fp32.onnx", "precision": "fp32", "cosine_to_torch": cos}
    fp32, int8 = folder / "text.fp32.onnx", folder / "text.int8.onnx"
    mode = os.environ.get(ENV_INT8, "auto").strip().lower()
    if quantize is None and mode == "force":  # benches of random weights: int8 whatever its recall
        quantize_int8(fp32, int8)
        graph.update({"file": int8.name, "precision": "int8", "reason": f"forced by {ENV_INT8}=force",
                      "recall_fp32": recall(fp32), "recall_int8": recall(int8)})
        fp32.unlink()
    elif quantize or (quantize is None and mode != "off" and encoder.meaningful):
        graph.update(choose_precision(fp32, int8, recall))
    else:
        graph["reason"] = ("not tried: the model's similarities mean nothing" if quantize is None and mode != "off"
                           else f"not tried ({ENV_INT8}={mode})" if quantize is None else "not tried")
    meta = {
        "model_id": encoder.model_id,
        "family": CLAP_FAMILY,
        "versions": versions(),
        "name": encoder.name,
        "dim": encoder.dim,
        "meaningful": encoder.meaningful,
        "note": encoder.note,
        "sample_rate": encoder.sample_rate,
        "window_samples": encoder.window_samples,
        "hop_s": encoder.hop_s,
        "max_tokens": max_tokens,
        "pad_token_id": pad_id,
        "tokenizer": CLAP_TOKENIZER,
        "audio_memo": {"file": CLAP_AUDIO_MEMO, "clips": len(audio.memo)},
        "model_folder": str(model_folder),
        "export_s": round(export_s, 2),
        "graphs": {"text": graph},
    }
    meta["audio_memo"]["stamp"] = _file_stamp(folder / CLAP_AUDIO_MEMO)
    write_meta(folder, meta)
    log.info("exported CLAP's text tower of %s to ONNX in %.1f s (%s)", encoder.model_id, export_s, graph["precision"])
    return meta


def _clap_run(session: Any, tokenizer: Any, texts: list[str], batch_size: int, pad_id: int) -> np.ndarray:
    """Texts through the exported text tower: similar lengths batched, padded with CLAP's pad id."""
    if not texts:
        return np.zeros((0, session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
    encoded = tokenizer.encode_batch(texts)
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encoded[i].ids)
            ids[j, :n] = encoded[i].ids
            mask[j, :n] = 1
        vecs = _normalised(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        for j, i in enumerate(rows):
            out[i] = vecs[j]
    return np.stack(out)  # type: ignore[arg-type]


class OnnxClapEncoder(_OnnxEncoder):
    """The sound space's CLAP with its text tower on ONNX Runtime; the `SoundEncoder` interface.

    Typed queries (`encode_texts`) run without torch or transformers. The audio tower stays on
    torch: `encode_windows`, `iter_windows`, `windows`, `pad` and `model` load the torch encoder on
    first use through `torch_loader` (indexing and audio queries need it anyway). `encode_audio`
    of clips the export embedded (the calibration sounds) returns their torch vectors from the
    export's memo, so fitting the relevance maps at a library's first text search needs no torch.
    """

    _NO_TORCH = "no torch model for the audio tower"

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(folder, meta, name=name, device=device, torch_loader=torch_loader)
        self.meaningful = bool(meta.get("meaningful", True))
        self.note = str(meta.get("note", ""))
        self.sample_rate = int(meta["sample_rate"])
        self.window_samples = int(meta["window_samples"])
        self.window_s = self.window_samples / self.sample_rate
        self.hop_s = float(meta["hop_s"])
        self.max_tokens = int(meta["max_tokens"])
        self._pad_id = int(meta["pad_token_id"])
        self._tokenizer = _clap_session_tokenizer(folder / meta["tokenizer"], self.max_tokens)
        self._memo: dict[str, np.ndarray] | None = None
        self._open(meta)

    def _export(self, enc: Any) -> dict[str, Any]:
        meta = export_clap_text(enc, Path(self._sessions.meta["model_folder"]), self.folder)
        self._tokenizer = _clap_session_tokenizer(self.folder / meta["tokenizer"], self.max_tokens)
        self._memo = None
        return meta

    # -- text: ONNX Runtime ---------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Query texts through CLAP's text tower -> (n, dim) float32 unit rows; [] gives (0, dim)."""
        texts = _clap_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _clap_run(self._sessions.get("text"), self._tokenizer, texts, batch_size, self._pad_id)

    # -- audio: torch (the memo answers the calibration sounds) ---------------------------------------
    def _audio_memo(self) -> dict[str, np.ndarray]:
        if self._memo is None:
            self._memo = {}
            part = self.meta.get("audio_memo") or {}
            path = self.folder / str(part.get("file", CLAP_AUDIO_MEMO))
            try:
                if _file_stamp(path) == part.get("stamp"):
                    with np.load(path, allow_pickle=False) as data:
                        self._memo = dict(zip(data["digests"].tolist(), np.asarray(data["vectors"], np.float32)))
            except (OSError, ValueError, KeyError) as e:
                log.info("the audio memo of %s is unusable (%s): the calibration sounds go through torch", self.model_id, e)
        return self._memo

    def encode_audio(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """Mono clips at `sample_rate` -> (n, dim) float32 unit rows (see `SoundEncoder.encode_audio`)."""
        memo = self._audio_memo()
        if clips and memo:
            found = [memo.get(_clip_digest(c)) for c in clips]
            if all(v is not None for v in found):
                return np.stack(found).astype(np.float32, copy=False)  # type: ignore[arg-type]
        return self._torch_encoder().encode_audio(clips, batch_size=batch_size)

    def encode_windows(self, clips: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        return self._torch_encoder().encode_windows(clips, batch_size=batch_size)

    def iter_windows(self, waveform: np.ndarray, sr: int) -> Iterator[tuple[float, float, np.ndarray]]:
        return self._torch_encoder().iter_windows(waveform, sr)

    def windows(self, waveform: np.ndarray, sr: int) -> list[tuple[float, float, np.ndarray]]:
        return self._torch_encoder().windows(waveform, sr)

    def pad(self, clip: np.ndarray) -> np.ndarray:
        return self._torch_encoder().pad(clip)

    # -- bookkeeping ------------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        return ModelInfo(
            space=Space.SOUND.value, name=self.name, model_id=self.model_id, device=self.device,
            dtype=self.dtype, dim=self.dim, meaningful=self.meaningful,
            note=" ".join(x for x in (self.note, "(text tower on ONNX Runtime)") if x),
        )


def measure_clap_text(torch_enc: Any, onnx_enc: OnnxClapEncoder) -> dict[str, Any]:
    """Seconds per single query and per batch of 16 captions on both backends; the ratio decides."""
    texts = [f"sound {i}: a dog barking far away while rain falls on a tin roof" for i in range(16)]
    t_b = _time(lambda: torch_enc.encode_texts(texts), repeat=2)
    o_b = _time(lambda: onnx_enc.encode_texts(texts), repeat=2)
    t_q = _time(lambda: torch_enc.encode_texts(["a low hum"]))
    o_q = _time(lambda: onnx_enc.encode_texts(["a low hum"]))
    ratio = (o_b / t_b + o_q / t_q) / 2
    return {"backend": "onnx" if ratio < 1.0 else "torch", "onnx_over_torch": round(ratio, 3),
            "torch_batch_s": t_b, "onnx_batch_s": o_b, "torch_query_s": t_q, "onnx_query_s": o_q}


def load_cached_sound(model_id: str, *, name: str, device: str, backend: str,
                      torch_loader: Callable[[], Any]) -> OnnxClapEncoder | None:
    """The sound encoder with CLAP's text tower from an existing export, built without torch (see `load_cached_image`)."""
    if backend == "torch" or not onnxruntime_available():
        return None
    dev = ort_device(device)
    if dev is None:
        return None
    folder = export_dir(model_id)
    meta = read_meta(folder, model_id)
    if meta is None or meta.get("family") != CLAP_FAMILY:
        return None
    if backend == "auto" and meta.get("choice", {}).get(_device_key(device), {}).get("backend") != "onnx":
        return None
    try:
        return OnnxClapEncoder(folder, meta, name=name, device=dev, torch_loader=torch_loader)
    except Exception as e:  # noqa: BLE001 -- a broken tokenizer file: the torch path will say more
        log.warning("cannot use the ONNX export of %s (%s)", model_id, e)
        return None


def adopt_sound(
    torch_enc: Any,
    *,
    backend: str,
    requested_device: str,
    model_folder: Path,
    torch_loader: Callable[[], Any] | None = None,
    status: StatusReporter | None = None,
) -> Any:
    """`adopt` for the sound space: export CLAP's text tower if needed, measure under "auto", choose.

    The ONNX encoder keeps `torch_enc` for the audio tower (the process that loaded it is about to
    index recordings); after `release` it reloads through `torch_loader`. Any failure returns
    `torch_enc` after one log line naming the model and the reason.
    """
    if backend == "torch":
        return torch_enc
    what = f"sound model {torch_enc.model_id}"
    if not onnxruntime_available():
        _fallback(what, "onnxruntime is not installed (pip install onnxruntime)")
        return torch_enc
    dev = ort_device(requested_device)
    if dev is None or (torch_enc.device != "cpu" and not dev.startswith("cuda")):
        if backend == "onnx":
            _fallback(what, f"ONNX Runtime has no execution provider for {torch_enc.device} here")
        return torch_enc
    folder = export_dir(torch_enc.model_id)
    try:
        with _folder_lock(folder):
            meta = read_meta(folder, torch_enc.model_id)
            if meta is None:
                _preparing(status, torch_enc.name)
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    meta = export_clap_text(torch_enc, model_folder, folder)
                except ExportRefused as e:  # remembered, as in `adopt`
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir(parents=True, exist_ok=True)
                    write_meta(folder, {"model_id": torch_enc.model_id, "versions": versions(), "graphs": {},
                                        "refused": str(e)})
                    raise
            if meta.get("refused"):
                raise ExportRefused(meta["refused"])
        onnx_enc = OnnxClapEncoder(folder, meta, name=torch_enc.name, device=dev, torch_loader=torch_loader)
        onnx_enc._torch = torch_enc
        if backend == "auto":
            key = _device_key(requested_device)
            choice = meta.get("choice", {}).get(key)
            if choice is None:
                if status is not None:
                    status.loading(f"Measuring which way runs {torch_enc.name} faster here (once)…")
                choice = measure_clap_text(torch_enc, onnx_enc)
                remember_choice(folder, key, choice)
                log.info("%s: %s chosen for queries (ONNX/torch time %.2f)", what, choice["backend"],
                         choice["onnx_over_torch"])
            if choice["backend"] != "onnx":
                return torch_enc
        return onnx_enc
    except ExportRefused as e:
        _fallback(what, f"no ONNX export ({e})")
    except Exception as e:  # the exporter or ORT failing on an unusual model must not stop the app
        log.debug("ONNX export of %s failed", torch_enc.model_id, exc_info=True)
        _fallback(what, f"the ONNX export failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    return torch_enc
