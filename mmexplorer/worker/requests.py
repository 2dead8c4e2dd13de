"""What the GUI asks the worker for, and the facts the worker reports unasked.

Every request is a frozen dataclass carrying its request id; the worker answers it with
`finished(request_id, payload)` or `failed(request_id, ErrorInfo)` (a long run, index or caption,
also `started` and `progressed`, and always ends with `finished`, after a `failed` too). The payload
of each request type is named in its docstring. Facts nobody asked for (the library's counts, a
model's loading state) leave as `reported(fact)`.

Two ways in, chosen by the request's type: ordered requests (`ORDERED`) run one after another in
the order they were submitted; latest-wins requests (`LATEST_WINS`) wait in a one-slot inbox per
type, so a newer one replaces an older one not yet run (typing fast or dragging a slider never
builds a backlog), and are also served between the batches of an index or caption run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mmexplorer.core.types import FusionWeights, Query

# --- ordered requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenRequest:
    """Open (or switch to) the library in `data_dir` with these model choices. Payload: `Opened`."""

    data_dir: str
    image_model: str | None = None
    device: str = "auto"
    request_id: int = 0


@dataclass(frozen=True)
class LoadModelsRequest:
    """Load the encoders now (else the first search or index would). Payload: tuple[ModelInfo, ...]."""

    request_id: int = 0


@dataclass(frozen=True)
class AddRootsRequest:
    """Add folders to the library. Payload: None (a `LibraryStatus` is reported after it)."""

    request_id: int
    roots: tuple[str, ...]


@dataclass(frozen=True)
class RemoveRootRequest:
    """Remove a folder from the library. Payload: None."""

    request_id: int
    root: str


@dataclass(frozen=True)
class IndexRequest:
    """One index pass over `roots` (None: every root). `cancel` is set by the GUI thread directly.

    started, progressed(Progress)..., finished(IndexReport).
    """

    request_id: int
    roots: tuple[str, ...] | None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class CaptionRequest:
    """Caption the library's photos (Engine.caption_photos), after indexing and below it in priority.

    `cancel` and `pause` are set by the GUI thread directly: an index request cancels a running
    caption run (the host starts a new one when the index run is done); `pause` holds it.
    progressed(Progress)..., finished(CaptionReport).
    """

    request_id: int
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    pause: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class CaptionSettingsRequest:
    """Turn captioning on or off for the library, optionally with another captioner spec. Payload: None."""

    request_id: int
    enabled: bool
    model: str | None = None


@dataclass(frozen=True)
class StatusRequest:
    """Report the library's counts now (as `reported(LibraryStatus)`). Payload: None."""

    request_id: int = 0


@dataclass(frozen=True)
class ShutdownRequest:
    """Close the engine (saving what it holds) and end the worker thread's event loop. No answer."""

    request_id: int = 0


# --- latest-wins requests (one inbox slot per type) ------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """A search. Payload: list[SearchResult]."""

    request_id: int
    query: Query
    k: int = 60
    modality: str | None = None


@dataclass(frozen=True)
class DetailRequest:
    """One item's details. Payload: ItemDetail."""

    request_id: int
    item_id: int


@dataclass(frozen=True)
class SetWeightsRequest:
    """Store new fusion weights in the library (Engine.set_fusion_weights); later searches use them.

    Payload: FusionWeights as stored (clamped to [0, 1]).
    """

    request_id: int
    weights: FusionWeights


@dataclass(frozen=True)
class TranscribeRequest:
    """Recognise a spoken query (Engine.hear_query). Payload: Heard.

    audio: float32 mono samples at `sample_rate` (a numpy array the GUI no longer touches).
    """

    request_id: int
    audio: Any = field(compare=False)
    sample_rate: int = 16_000


@dataclass(frozen=True)
class SaveRecentRequest:
    """Write the library's recent text queries (newest first) into its data dir. No answer."""

    queries: tuple[str, ...]
    request_id: int = 0


@dataclass(frozen=True)
class ExplainRequest:
    """Why item `b` matched `a` (Engine.explain): a query text, an item id, or a photo's path.

    Payload: Explanation.
    """

    request_id: int
    a: str | int
    b: int


@dataclass(frozen=True)
class CompareRequest:
    """Two items side by side (Engine.explain(a, b) of two item ids); its own inbox slot, so the
    Compare window and the detail pane never replace each other's explanation. Payload: Explanation."""

    request_id: int
    a: int
    b: int


@dataclass(frozen=True)
class RelatedRequest:
    """An item's neighbours in every modality (Engine.related). Payload: dict[Modality, list[SearchResult]]."""

    request_id: int
    item_id: int
    k: int = 8


@dataclass(frozen=True)
class MatrixRequest:
    """Calibrated pairwise relevance of a selection (Engine.similarity_matrix). Payload: (n, n) float32 array."""

    request_id: int
    item_ids: tuple[int, ...]
    calibrated: bool = True  # False: raw cosines


#: Requests that run in the order they were submitted.
OrderedRequest = (
    OpenRequest
    | LoadModelsRequest
    | AddRootsRequest
    | RemoveRootRequest
    | IndexRequest
    | CaptionRequest
    | CaptionSettingsRequest
    | StatusRequest
    | ShutdownRequest
)
#: Requests that go through the one-slot-per-type inbox instead of the queue.
InboxRequest = (
    SearchRequest
    | DetailRequest
    | SetWeightsRequest
    | SaveRecentRequest
    | ExplainRequest
    | CompareRequest
    | RelatedRequest
    | MatrixRequest
    | TranscribeRequest
)
#: The one envelope the worker accepts.
Request = OrderedRequest | InboxRequest

#: The order a drain serves the inbox in: weights before searches (a search asked for after a
#: weight change must see the new weights), the cheap file write last. Explanations (up to a
#: second each) come after the detail a click waits for; related items after the explanation (the
#: first related answer of a library fits its alignment maps, which takes much longer).
LATEST_WINS: tuple[type, ...] = (
    SetWeightsRequest,
    TranscribeRequest,  # a spoken query is being waited for: its words come before any search
    SearchRequest,
    DetailRequest,
    ExplainRequest,
    RelatedRequest,
    CompareRequest,
    MatrixRequest,
    SaveRecentRequest,
)
#: What a long step (an explanation's first embedding of the concept vocabulary) answers between
#: its batches: everything the user waits on that is not itself an explanation.
SERVED_BETWEEN: tuple[type, ...] = (
    SetWeightsRequest,
    TranscribeRequest,
    SearchRequest,
    DetailRequest,
    SaveRecentRequest,
)
#: Long runs: they report `started`/`progressed` and always end with `finished` (after `failed` too).
LONG_RUNS: tuple[type, ...] = (IndexRequest, CaptionRequest)


# --- answers and facts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """The payload of an OpenRequest: the library that is open, and its recent text queries."""

    data_dir: Any  # raw: a Qt string would drop undecodable bytes
    recent: tuple[str, ...] = ()


@dataclass(frozen=True)
class WarmedUp:
    """Reported when Engine.warm_up has nothing left: the first explain and related are quick."""


@dataclass(frozen=True)
class EngineClosed:
    """Reported when the open library's engine was closed."""
