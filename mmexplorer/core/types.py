"""Plain, frozen data that crosses layer boundaries (core -> worker -> ui, core -> cli).

Nothing here imports torch, faiss or Qt, so the UI may import this module freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, Self


class _ModalityNames(type):
    """The class of `Modality`: iterating it gives the known modalities, in the order they were defined."""

    def __iter__(cls) -> Iterator[Modality]:
        return iter(list(cls._known.values()))

    def __len__(cls) -> int:
        return len(cls._known)

    def __contains__(cls, value: object) -> bool:
        return isinstance(value, str) and value in cls._known


class Modality(str, metaclass=_ModalityNames):
    """A kind of item (photo, note, recording, ...): its name, a string.

    An open set: what a modality is (its files, ingest handler, spaces, how a hit is located) is its
    entry in `core.modalities`, which defines the name here when it registers one. The built-ins
    are attributes (`Modality.PHOTO`); `Modality("photo")` gives the same object, and an unknown
    name raises ValueError, as an Enum's lookup does. `.value` is the plain name.
    """

    __slots__ = ()
    _known: ClassVar[dict[str, Modality]] = {}
    PHOTO: ClassVar[Modality]
    NOTE: ClassVar[Modality]
    RECORDING: ClassVar[Modality]

    def __new__(cls, value: str) -> Self:
        known = cls._known.get(value)
        if known is None:
            raise ValueError(f"{value!r} is not a known modality ({', '.join(cls._known)})")
        return known

    @classmethod
    def define(cls, name: str) -> Modality:
        """The modality of this name, made known (core.modalities calls this when it registers one)."""
        if name not in cls._known:
            if not name or name != name.lower() or not name.isidentifier():
                raise ValueError(f"a modality's name is a lower-case identifier, not {name!r}")
            cls._known[name] = str.__new__(cls, name)
        return cls._known[name]

    @classmethod
    def forget(cls, name: str) -> None:
        """Make a registered name unknown again (the built-ins stay)."""
        if name not in ("photo", "note", "recording"):
            cls._known.pop(name, None)

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper()

    def __repr__(self) -> str:
        return f"<Modality.{self.name}: {self.value!r}>"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __reduce__(self) -> tuple:
        return (Modality, (self.value,))


Modality.PHOTO = Modality.define("photo")
Modality.NOTE = Modality.define("note")
Modality.RECORDING = Modality.define("recording")


class Space(str, Enum):
    """A vector space an item or a query can be encoded into."""

    IMAGE = "image"
    TEXT = "text"
    SOUND = "sound"


@dataclass(frozen=True)
class Chunk:
    """A piece of a note's text: `text == full_text[start:end]`.

    A transcript chunk also covers a stretch of its recording: start_s/end_s in seconds (its
    start/end are then offsets in the transcript's text).
    """

    ord: int
    start: int
    end: int
    text: str | None  # None: a sound window (no text; only its times)
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    phase: "scanning" (walking the folders), "encoding" (decode + encode + commit), "done".
    done/total: files handled so far / files that need work in this run (unchanged files excluded).
    rate: files per second over the encoding phase so far; eta_s: None until a rate is known.
    """

    phase: str
    done: int
    total: int
    current: str | None = None
    rate: float = 0.0
    eta_s: float | None = None
    skipped: int = 0
    detail: str = ""  # what is done to the current file, e.g. "transcribing 12:30 of 48:00"

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


@dataclass(frozen=True)
class IndexReport:
    """What one `index` run did, counted in files."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    skipped: int = 0
    unchanged: int = 0
    cancelled: bool = False
    elapsed_s: float = 0.0
    encoded: int = 0
    waiting: int = 0  # files left pending because their model is not available
    notice: str = ""  # one line for the user when something could not be done


@dataclass(frozen=True)
class Component:
    """One way an item matched a query: a space, and how the item reached it.

    space: "image", "text", "sound" or "lexical" (exact words and names).
    via: what of the item matched: "pixels", "chunk" (a note's best chunk), "caption",
        "transcript", "sound", "name" (file or folder name), "words" (exact words of its text).
    raw: the space's own score (a cosine; for lexical, the share of query words found).
    relevance: `raw` calibrated into [0, 1] for this model and query.
    weight: the library's fusion weight for the space, in [0, 1].
    support: how far this component counts, in [0, 1]: 1 for independent evidence; for evidence
        read from other evidence (a caption is read from the pixels) the support its source gives
        it on this item (core.evidence). The item's relevance fuses weight * relevance * support.
    """

    space: str
    via: str
    raw: float
    relevance: float
    weight: float = 1.0
    support: float = 1.0


@dataclass(frozen=True)
class Segment:
    """A stretch of a recording: times in seconds, and its transcript text (None: matched by sound)."""

    start_s: float
    end_s: float
    text: str | None = None


@dataclass(frozen=True)
class SearchResult:
    """One item found by a query. `relevance` is in [0, 1] and comparable across spaces and queries.

    relevant: judged a real match (above the query's cutoff); weaker ones are kept for "show more".
    taken_at: when the photo was taken (EXIF DateTimeOriginal), else the file's mtime (for date sort).
    """

    item_id: int
    path: str
    modality: Modality
    relevance: float
    components: tuple[Component, ...] = ()
    relevant: bool = True
    chunk_text: str | None = None
    chunk_start: int | None = None
    chunk_end: int | None = None
    caption: str | None = None
    segment: Segment | None = None
    taken_at: float | None = None

    @property
    def score(self) -> float:
        """The same number as `relevance` (kept for scripts that read `score`)."""
        return self.relevance

    @property
    def spaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.space for c in self.components))


# -- queries: what a search starts from ------------------------------------------------------------
@dataclass(frozen=True)
class TextQuery:
    """Typed words: reaches every space with a text tower, plus the lexical component."""

    text: str


@dataclass(frozen=True)
class Heard:
    """What a spoken query said: the recogniser's best reading and its next-best ones.

    text: the best reading (searched, and shown in the search field to edit).
    alternatives: the beam's next-best readings of the same audio, best first (some may differ
        from `text` only in case or punctuation; `distinct_alternatives` leaves those out). The
        window offers them to click when the best reading is wrong ("How do I make a low?" /
        "How do I make a loaf?").
    language: the language it was heard in.
    """

    text: str
    alternatives: tuple[str, ...] = ()
    language: str | None = None

    def query(self) -> TextQuery:
        """The search for the best reading."""
        return TextQuery(self.text)

    def distinct_alternatives(self) -> list[str]:
        """The alternatives that read differently from `text` and each other (case and punctuation aside)."""
        seen = {_reading_key(self.text)}
        out = []
        for a in self.alternatives:
            key = _reading_key(a)
            if key and key not in seen:
                seen.add(key)
                out.append(a.strip())
        return out


def _reading_key(text: str) -> str:
    words = ("".join(ch for ch in word if ch.isalnum() or ch == "'") for word in text.lower().split())
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class ImageQuery:
    """Search by example: a photo file, or encoded image bytes (a pasted image; nothing is written)."""

    path: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class ItemQuery:
    """Neighbours of an indexed item (Find similar), itself excluded."""

    item_id: int


Query = TextQuery | ImageQuery | ItemQuery


@dataclass(frozen=True)
class FusionWeights:
    """How much each space counts in an item's relevance, each in [0, 1] (1: fully).

    lexical: exact words and names; kept at 1 by default so an exact match is never hidden.
    """

    image: float = 1.0
    text: float = 1.0
    sound: float = 1.0
    lexical: float = 1.0

    def for_space(self, space: str) -> float:
        return float(getattr(self, space, 1.0))


class ErrorKind(str, Enum):
    """What kind of failure a request met, so a UI can decide what to offer without parsing text."""

    MODEL = "model"  # a model is missing or failed to load: Settings can fix it
    USAGE = "usage"  # the request made no sense
    DECODE = "decode"  # a file could not be read
    CATALOG = "catalog"  # the library's database is unusable
    BUSY = "busy"  # another process is writing the library
    CANCELLED = "cancelled"
    UNEXPECTED = "unexpected"  # a bug: details carry the traceback


@dataclass(frozen=True)
class ErrorInfo:
    """A failure as the UI shows it: one-line message, how to fix it, and the details behind a button."""

    kind: ErrorKind
    message: str
    hint: str = ""
    details: str = ""


@dataclass(frozen=True)
class SkippedFile:
    path: str
    modality: str | None
    reason: str


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded in one space. `meaningful` is False for the tiny-random test model."""

    space: str
    name: str
    model_id: str
    device: str
    dtype: str
    dim: int
    meaningful: bool = True
    note: str = ""


@dataclass(frozen=True)
class ModelStatus:
    """Loading news for the status bar: state is loading|downloading|ready|failed."""

    space: str
    name: str
    state: str
    fraction: float | None = None
    message: str = ""


@dataclass(frozen=True)
class LibraryStatus:
    data_dir: str
    roots: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    skipped: tuple[SkippedFile, ...] = ()
    pending: int = 0
    pending_reason: str = ""
    models: tuple[ModelInfo, ...] = ()
    index_kinds: dict[str, str] = field(default_factory=dict)
    weights: FusionWeights = field(default_factory=FusionWeights)
    captions: CaptionStatus | None = None  # photo captioning progress (issue 10)


@dataclass(frozen=True)
class ItemDetail:
    item_id: int
    path: str
    modality: Modality
    size: int
    mtime: float
    status: str
    width: int | None = None
    height: int | None = None
    error: str | None = None
    text: str | None = None
    caption: str | None = None  # a photo's generated caption (issue 10)
    duration_s: float | None = None  # a recording's length
    transcript: Transcript | None = None  # a recording's transcript (issue 9)


# -- recordings: transcripts (issue 9) -------------------------------------------------------------
@dataclass(frozen=True)
class TranscriptionStatus:
    """How far a library's recordings are transcribed, and why the others are not.

    waiting: recordings left pending, each with its reason (e.g. the speech model is missing offline).
    languages: transcribed recordings per detected language.
    """

    total: int = 0
    transcribed: int = 0
    pending: int = 0
    skipped: int = 0
    model: str = ""
    waiting: tuple[SkippedFile, ...] = ()
    languages: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    """What was said in a recording: Whisper segments in order, and the language detected."""

    segments: tuple[Segment, ...] = ()
    language: str | None = None
    model: str = ""  # the speech model that made it

    @property
    def text(self) -> str:
        return " ".join(s.text or "" for s in self.segments).strip()


# -- explanations: why two things matched (issue 10) -----------------------------------------------
@dataclass(frozen=True)
class Heatmap:
    """Where in a photo a match is: `rows` x `cols` non-negative weights summing to 1.

    Row 0 is the top; the grid covers the whole photo as displayed (EXIF orientation applied).
    """

    rows: int
    cols: int
    grid: tuple[tuple[float, ...], ...]

    def as_lists(self) -> list[list[float]]:
        return [list(r) for r in self.grid]


@dataclass(frozen=True)
class Span:
    """A stretch of a note's text (`text == full_text[start:end]`) and how much it carries the match."""

    start: int
    end: int
    text: str
    weight: float


@dataclass(frozen=True)
class TimedWeight:
    """A stretch of a recording (a transcript segment or a sound window) and its share of the match."""

    start_s: float
    end_s: float
    text: str | None
    weight: float


@dataclass(frozen=True)
class Explanation:
    """Why item (or query) A matched item B: the fused relevance, its components, and where.

    heatmap: for a photo B; heatmap_a: for a photo A. spans: for a note B (the matched chunk's words).
    segments: for a recording B. shared_concepts: vocabulary words both sides are closest to.
    """

    relevance: float
    components: tuple[Component, ...] = ()
    heatmap: Heatmap | None = None
    heatmap_a: Heatmap | None = None
    spans: tuple[Span, ...] = ()
    segments: tuple[TimedWeight, ...] = ()
    shared_concepts: tuple[str, ...] = ()
    a_path: str | None = None  # None: A is a query text
    a_text: str | None = None
    b_path: str = ""
    b_modality: Modality | None = None


# -- captions: generated descriptions of photos (issue 10) ------------------------------------------
@dataclass(frozen=True)
class CaptionStatus:
    """Where a library's photo captioning stands.

    enabled: captioning is on for this library. model: the captioner spec it uses.
    captioned/total: indexed photos captioned by that model for their current content / all.
    reason: why photos are left uncaptioned (the model is not available offline, ...); "" if none.
    approx_mb: the captioner's download size; s_per_photo: an estimate on this machine (None: unknown).
    """

    enabled: bool
    model: str
    captioned: int = 0
    total: int = 0
    reason: str = ""
    approx_mb: int | None = None
    s_per_photo: float | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.captioned)


@dataclass(frozen=True)
class CaptionReport:
    """What one captioning run did, counted in photos (progress phase "captioning")."""

    captioned: int = 0
    embedded: int = 0  # captions (new or stored) put into the text space
    failed: int = 0  # photos that could not be decoded now (left with an empty caption)
    remaining: int = 0
    cancelled: bool = False
    elapsed_s: float = 0.0
    model: str = ""
    reason: str = ""  # why nothing (or not everything) was captioned
