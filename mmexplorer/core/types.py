"""Plain, frozen data that crosses layer boundaries (core -> worker -> ui, core -> cli).

Nothing here imports torch, faiss or Qt, so the UI may import this module freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Modality(str, Enum):
    PHOTO = "photo"
    NOTE = "note"
    RECORDING = "recording"


class Space(str, Enum):
    """A vector space an item or a query can be encoded into."""

    IMAGE = "image"
    TEXT = "text"
    SOUND = "sound"


@dataclass(frozen=True)
class Chunk:
    """A piece of a note's text: `text == full_text[start:end]`."""

    ord: int
    start: int
    end: int
    text: str


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
class SpaceScore:
    """How an item matched in one space: raw cosine and the per-query calibrated score."""

    space: str
    raw: float
    calibrated: float


@dataclass(frozen=True)
class SearchResult:
    item_id: int
    path: str
    modality: Modality
    score: float
    matches: tuple[SpaceScore, ...] = ()
    chunk_text: str | None = None
    chunk_start: int | None = None
    chunk_end: int | None = None

    @property
    def spaces(self) -> tuple[str, ...]:
        return tuple(m.space for m in self.matches)


@dataclass(frozen=True)
class FusionWeights:
    """score = image * s_image + text * s_text + sound * s_sound, on calibrated scores."""

    image: float = 1.0
    text: float = 1.0
    sound: float = 1.0

    def for_space(self, space: str) -> float:
        return float(getattr(self, space))


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
