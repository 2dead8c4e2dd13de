"""The one bridge between Qt and core: a Worker on a long-lived QThread that owns the Engine.

Threading model (STYLE.md, convention 1):
- `Worker` lives on its own QThread. The Engine (models, FAISS spaces, the SQLite catalog) is
  created in a slot on that thread and never touched from another, so SQLite stays on one thread.
- Requests are frozen dataclasses (`OpenRequest`, `SearchRequest`, `IndexRequest`, ...) that carry
  their request id; results leave as past-tense signals that carry frozen dataclasses from
  core.types, and failures as an `ErrorInfo` record (core.errors.error_info) so the UI decides by
  its kind. `WorkerHost` is the GUI-side face: it owns the thread, hands out request ids, and
  re-emits results on the GUI thread, dropping stale searches.
- Cancelling an index run cannot be a queued call: the worker's event loop is blocked inside
  `Engine.index` until it returns. So each run gets a `threading.Event` that the GUI sets directly
  and the engine's `cancel` callable polls between batches.
- Searches, item details, fusion-weight changes and recent-query saves do not wait for an index
  run to end: they go to a one-slot inbox per request type (a newer request replaces an older one,
  so dragging a weight slider or typing fast never builds a backlog) that the worker drains when
  woken by a queued signal and also between index batches, from the engine's progress callback
  (the indexer calls it after each batch is committed, so catalog and FAISS agree at that point).
  A drain applies new weights before it runs a search, so a search asked for after a weight change
  always sees the new weights.
- Recent queries belong to the library: the worker reads them from the data dir when it opens
  and writes them back there (mmexplorer.settings), never into the user's global settings.
- Thumbnails are stateless and not the engine's business: ui/thumbs.py makes them on a thread pool.
  This module imports QtCore only.

core.engine is imported inside the slot that creates the Engine, on the worker thread, so the GUI
thread never pays for importing torch and the window shows at once.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from mmexplorer import settings as settings_mod
from mmexplorer.core.errors import Cancelled, MMExplorerError, error_info
from mmexplorer.core.types import (
    CaptionReport,
    ErrorInfo,
    FusionWeights,
    Heard,
    IndexReport,
    ItemDetail,
    LibraryStatus,
    ModelInfo,
    ModelStatus,
    Progress,
    Query,
    SearchResult,
)

log = logging.getLogger(__name__)

#: Builds an Engine: (data_dir, *, image_model, device, on_model_status) -> Engine-like object.
EngineFactory = Callable[..., Any]

#: The longest a progress signal is held back, so a fast index run cannot flood the GUI thread.
_PROGRESS_INTERVAL_S = 0.08
#: How often the library counts are refreshed while indexing.
_STATUS_INTERVAL_S = 1.5


# --- requests: what the GUI asks the worker for ---------------------------------------------------


@dataclass(frozen=True)
class OpenRequest:
    """Open (or switch to) the library in `data_dir` with these model choices."""

    data_dir: str
    image_model: str | None = None
    device: str = "auto"


@dataclass(frozen=True)
class AddRootsRequest:
    request_id: int
    roots: tuple[str, ...]


@dataclass(frozen=True)
class RemoveRootRequest:
    request_id: int
    root: str


@dataclass(frozen=True)
class IndexRequest:
    """One index pass over `roots` (None: every root). `cancel` is set by the GUI thread directly."""

    request_id: int
    roots: tuple[str, ...] | None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class CaptionRequest:
    """Caption the library's photos (Engine.caption_photos), after indexing and below it in priority.

    `cancel` and `pause` are set by the GUI thread directly: an index request cancels a running
    caption run (the host starts a new one when the index run is done); `pause` holds it.
    """

    request_id: int
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    pause: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class CaptionSettingsRequest:
    """Turn captioning on or off for the library, optionally with another captioner spec."""

    request_id: int
    enabled: bool
    model: str | None = None


@dataclass(frozen=True)
class SearchRequest:
    request_id: int
    query: Query
    k: int = 60
    modality: str | None = None


@dataclass(frozen=True)
class DetailRequest:
    request_id: int
    item_id: int


@dataclass(frozen=True)
class SetWeightsRequest:
    """Store new fusion weights in the library (Engine.set_fusion_weights); later searches use them."""

    request_id: int
    weights: FusionWeights


@dataclass(frozen=True)
class TranscribeRequest:
    """Recognise a spoken query (Engine.hear_query); `transcribed(request_id, Heard)` follows.

    audio: float32 mono samples at `sample_rate` (a numpy array the GUI no longer touches).
    """

    request_id: int
    audio: Any = field(compare=False)
    sample_rate: int = 16_000


@dataclass(frozen=True)
class SaveRecentRequest:
    """Write the library's recent text queries (newest first) into its data dir."""

    queries: tuple[str, ...]


@dataclass(frozen=True)
class ExplainRequest:
    """Why item `b` matched `a` (Engine.explain): a query text, an item id, or a photo's path."""

    request_id: int
    a: str | int
    b: int


@dataclass(frozen=True)
class CompareRequest:
    """Two items side by side (Engine.explain(a, b) of two item ids); its own inbox slot, so the
    Compare window and the detail pane never replace each other's explanation."""

    request_id: int
    a: int
    b: int


@dataclass(frozen=True)
class RelatedRequest:
    """An item's neighbours in every modality (Engine.related)."""

    request_id: int
    item_id: int
    k: int = 8


@dataclass(frozen=True)
class MatrixRequest:
    """Calibrated pairwise relevance of a selection (Engine.similarity_matrix)."""

    request_id: int
    item_ids: tuple[int, ...]
    calibrated: bool = True  # False: raw cosines


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
#: The order a drain serves the inbox in: weights before searches (a search asked for after a
#: weight change must see the new weights), the cheap file write last. Explanations (up to a
#: second each) come after the detail a click waits for; related items after the explanation (the
#: first related answer of a library fits its alignment maps, which takes much longer).
_DRAIN_ORDER: tuple[type, ...] = (
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
_SERVED_BETWEEN: tuple[type, ...] = (
    SetWeightsRequest,
    TranscribeRequest,
    SearchRequest,
    DetailRequest,
    SaveRecentRequest,
)


def default_engine_factory(
    data_dir: str, *, image_model: str | None, device: str, on_model_status: Callable[[ModelStatus], None]
) -> Any:
    """Create the real core Engine. Runs on the worker thread; this is where torch gets imported."""
    from mmexplorer.core.engine import Engine

    return Engine(data_dir, image_model=image_model, device=device, on_model_status=on_model_status)


class Worker(QObject):
    """Owns the Engine; every slot runs on the worker thread, one request at a time."""

    engine_opened = Signal(object)  # data dir (raw: a Qt string would drop undecodable bytes)
    engine_closed = Signal()
    model_status_changed = Signal(object)  # ModelStatus
    models_ready = Signal(object)  # tuple[ModelInfo, ...]
    status_changed = Signal(object)  # LibraryStatus
    index_started = Signal(int)
    index_progressed = Signal(int, object)  # request id, Progress
    index_finished = Signal(int, object)  # request id, IndexReport
    search_finished = Signal(int, object)  # request id, list[SearchResult]
    detail_finished = Signal(int, object)  # request id, ItemDetail
    weights_changed = Signal(int, object)  # request id, FusionWeights (as stored: clamped to [0, 1])
    recent_loaded = Signal(object)  # tuple[str, ...]: the opened library's recent queries
    transcribed = Signal(int, object)  # request id, Heard: what a spoken query said
    explain_finished = Signal(int, object)  # request id, Explanation
    compare_finished = Signal(int, object)  # request id, Explanation
    related_finished = Signal(int, object)  # request id, dict[Modality, list[SearchResult]]
    matrix_finished = Signal(int, object)  # request id, (n, n) float32 numpy array
    caption_progressed = Signal(int, object)  # request id, Progress (phase "captioning")
    caption_finished = Signal(int, object)  # request id, CaptionReport
    warmed_up = Signal()  # Engine.warm_up has nothing left: the first explain and related are quick
    failed = Signal(int, object)  # request id (0: not tied to a request), ErrorInfo

    def __init__(self, engine_factory: EngineFactory = default_engine_factory) -> None:
        super().__init__()
        self._factory = engine_factory
        self._engine: Any = None
        self._data_dir: str | None = None
        # One-slot inboxes keyed by request type, written by the GUI thread, drained here: typing
        # fast never builds a backlog, since only the newest search (and detail request) is kept.
        self._inbox_lock = threading.Lock()
        self._inbox: dict[type[InboxRequest], InboxRequest] = {}
        self._last_status_emit = 0.0
        self._warming = False  # a step of Engine.warm_up is scheduled

    # --- helpers -------------------------------------------------------------------------------

    def _fail(self, request_id: int, exc: BaseException) -> None:
        if isinstance(exc, MMExplorerError):
            log.warning("request %s failed: %s", request_id, exc)
        else:
            log.error("request %s failed unexpectedly", request_id, exc_info=exc)
        self.failed.emit(request_id, error_info(exc))

    def _require_engine(self) -> Any:
        if self._engine is None:
            raise MMExplorerError("The library is not open yet")
        return self._engine

    def _emit_status(self) -> None:
        if self._engine is None:
            return
        try:
            self.status_changed.emit(self._engine.status())
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(0, e)

    def _on_model_status(self, status: ModelStatus) -> None:
        # The engine may call this from a download thread; emitting from any thread is safe.
        if status.state == "loading":
            quiet_heap.loading(status.space)
        elif status.state in ("ready", "failed"):
            quiet_heap.loaded(status.space)
        self.model_status_changed.emit(status)

    def post(self, request: InboxRequest) -> None:
        """Put a request in its type's inbox, replacing an older one (any thread). Wake with `drain`."""
        with self._inbox_lock:
            self._inbox[type(request)] = request

    def discard(self, kind: type[InboxRequest]) -> None:
        """Empty the inbox of one request type (any thread): a waiting request will not run."""
        with self._inbox_lock:
            self._inbox.pop(kind, None)

    def _take(self, kinds: tuple[type, ...] = _DRAIN_ORDER) -> list[InboxRequest]:
        """Empty the inboxes of these request types; their requests, in `kinds` order."""
        with self._inbox_lock:
            return [self._inbox.pop(kind) for kind in kinds if kind in self._inbox]

    def _run(self, request: InboxRequest) -> None:
        if isinstance(request, SetWeightsRequest):
            self._run_set_weights(request)
        elif isinstance(request, SearchRequest):
            self._run_search(request)
        elif isinstance(request, DetailRequest):
            self._run_detail(request)
        elif isinstance(request, TranscribeRequest):
            self._run_transcribe(request)
        elif isinstance(request, ExplainRequest | CompareRequest | RelatedRequest | MatrixRequest):
            self._run_explaining(request)
        else:
            self._run_save_recent(request)

    def _run_explaining(
        self, request: ExplainRequest | CompareRequest | RelatedRequest | MatrixRequest
    ) -> None:
        """Explain, Compare, Related and the matrix: one engine call each, answered by its signal."""
        try:
            engine = self._require_engine()
            if isinstance(request, ExplainRequest | CompareRequest):
                call, args, done = "explain", (request.a, request.b), (
                    self.explain_finished if isinstance(request, ExplainRequest) else self.compare_finished
                )
            elif isinstance(request, RelatedRequest):
                call, args, done = "related", (request.item_id,), self.related_finished
            else:
                call, args, done = "similarity_matrix", (list(request.item_ids),), self.matrix_finished
            method = getattr(engine, call, None)
            if method is None:
                raise MMExplorerError(f"This library cannot answer {call.replace('_', ' ')} yet")
            if isinstance(request, RelatedRequest):
                answer = method(*args, k=request.k, between=self._serve_waiting)
            elif isinstance(request, MatrixRequest):
                answer = method(*args, calibrated=request.calibrated)
            elif isinstance(request, ExplainRequest):
                # the detail pane draws B's heatmap only; Compare shows both photos' maps
                answer = method(*args, with_heatmap_a=False, between=self._serve_waiting)
            else:
                answer = method(*args, between=self._serve_waiting)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        done.emit(request.request_id, answer)

    def _run_search(self, request: SearchRequest) -> None:
        try:
            results = self._require_engine().search(request.query, k=request.k, modality=request.modality)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        self.search_finished.emit(request.request_id, list(results))

    def _run_detail(self, request: DetailRequest) -> None:
        try:
            detail = self._require_engine().item(request.item_id)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        self.detail_finished.emit(request.request_id, detail)

    def _run_transcribe(self, request: TranscribeRequest) -> None:
        try:
            engine = self._require_engine()
            if not hasattr(engine, "hear_query"):
                raise MMExplorerError("This library cannot recognise speech: no speech model is available")
            heard = engine.hear_query(request.audio, sample_rate=request.sample_rate)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        self.transcribed.emit(request.request_id, heard)

    def _run_set_weights(self, request: SetWeightsRequest) -> None:
        try:
            stored = self._require_engine().set_fusion_weights(request.weights)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        self.weights_changed.emit(request.request_id, stored)
        self._emit_status()

    def _run_save_recent(self, request: SaveRecentRequest) -> None:
        if self._data_dir is None:
            return  # no library open: nothing to remember them with
        try:
            settings_mod.save_recent_queries(self._data_dir, request.queries)
        except OSError as e:
            # Not worth a notice: the queries are still in the window, only not kept for next time.
            log.warning("could not save recent queries in %s: %s", self._data_dir, e)

    # --- slots ---------------------------------------------------------------------------------

    def _serve_waiting(self) -> None:
        """Between the batches of a long explanation: answer a waiting search, detail or weight change."""
        for request in self._take(_SERVED_BETWEEN):
            self._run(request)

    def _warm_later(self) -> None:
        """While idle, embed the concept vocabulary and the alignment anchors and fit the maps, a
        step at a time (Engine.warm_up), so the first "why" and the first Related are quick.

        Each step is its own event (one batch: under a second on a laptop CPU with a CLIP text
        tower), so a search, an index run or a close asked for meanwhile waits for one step at most.
        """
        if not self._warming and hasattr(self._engine, "warm_up"):
            self._warming = True
            QTimer.singleShot(0, self._warm_step)

    @Slot()
    def _warm_step(self) -> None:
        engine = self._engine
        done = True
        if engine is not None and hasattr(engine, "warm_up"):
            try:
                done = engine.warm_up(batches=1)
            except Exception as e:  # noqa: BLE001 - warming is optional: the first use does it itself
                log.warning("could not prepare explanations and related items ahead of time: %s", e)
            else:
                if done:
                    self.warmed_up.emit()
        self._warming = not done
        if not done:
            QTimer.singleShot(0, self._warm_step)

    @Slot()
    def drain(self) -> None:
        """Run whatever waits in the inboxes (at most one request of each type), weights first."""
        for request in self._take():
            self._run(request)
            quiet_heap.unstick()  # a model a search began to load and that raised without saying so

    @Slot(object)
    def open_engine(self, request: OpenRequest) -> None:
        """Create (or re-create) the Engine for a data dir, then publish the library's status."""
        threading.current_thread().name = "mmexplorer-worker"  # for log lines
        self.close_engine(quit_thread=False)
        try:
            self._engine = self._factory(
                request.data_dir,
                image_model=request.image_model,
                device=request.device,
                on_model_status=self._on_model_status,
            )
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(0, e)
            return
        self._data_dir = request.data_dir
        self.engine_opened.emit(request.data_dir)
        self.recent_loaded.emit(settings_mod.load_recent_queries(request.data_dir))
        self._emit_status()

    @Slot()
    def load_models(self) -> None:
        """Load the encoders now (else the first search or index would); reports ModelStatus."""
        try:
            engine = self._require_engine()
            engine.load_models()
            infos = tuple(engine.model_info())
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            quiet_heap.settle()
            self._fail(0, e)
            return
        quiet_heap.settle()
        self.models_ready.emit(infos)
        self._emit_status()
        self._warm_later()

    @Slot(object)
    def add_roots(self, request: AddRootsRequest) -> None:
        try:
            self._require_engine().add_roots(list(request.roots))
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
        self._emit_status()

    @Slot(object)
    def remove_root(self, request: RemoveRootRequest) -> None:
        try:
            self._require_engine().remove_root(request.root)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
        self._emit_status()

    @Slot(object)
    def index(self, request: IndexRequest) -> None:
        """Run one index pass; progress is throttled, cancel polls the GUI-owned event."""
        request_id, cancel = request.request_id, request.cancel
        self.index_started.emit(request_id)
        last_emit = 0.0
        last_phase = ""

        def on_progress(p: Progress) -> None:
            nonlocal last_emit, last_phase
            now = time.monotonic()
            final = p.total > 0 and p.done >= p.total
            if p.phase != last_phase or final or now - last_emit >= _PROGRESS_INTERVAL_S:
                last_emit, last_phase = now, p.phase
                self.index_progressed.emit(request_id, p)
            if p.phase == "encoding" and p.done > 0:
                # Between batches: serve a waiting search, refresh the counts now and then.
                self.drain()
                if now - self._last_status_emit >= _STATUS_INTERVAL_S:
                    self._last_status_emit = now
                    self._emit_status()

        report = IndexReport(cancelled=True)
        try:
            if cancel.is_set():
                raise Cancelled("cancelled before it started")
            roots = list(request.roots) if request.roots is not None else None
            report = self._require_engine().index(
                roots, progress=on_progress, cancel=cancel.is_set, background_rebuild=True
            )
        except Cancelled:
            report = IndexReport(cancelled=True)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
        quiet_heap.settle()
        self.index_finished.emit(request_id, report)
        self._emit_status()
        self._warm_later()

    @Slot(object)
    def caption(self, request: CaptionRequest) -> None:
        """Caption photos in small batches; searches and details are served between batches."""
        request_id = request.request_id
        last_emit = 0.0

        def on_progress(p: Progress) -> None:
            nonlocal last_emit
            now = time.monotonic()
            if p.phase != "captioning" or now - last_emit >= _PROGRESS_INTERVAL_S or p.done >= p.total:
                last_emit = now
                self.caption_progressed.emit(request_id, p)
            self.drain()

        report = CaptionReport(cancelled=True)
        try:
            engine = self._require_engine()
            if request.cancel.is_set():
                raise Cancelled("cancelled before it started")
            if not hasattr(engine, "caption_photos"):
                report = CaptionReport(reason="this library cannot caption photos")
            else:
                report = engine.caption_photos(progress=on_progress, cancel=request.cancel.is_set, pause=request.pause)
        except Cancelled:
            report = CaptionReport(cancelled=True)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
        quiet_heap.settle()
        self.caption_finished.emit(request_id, report)
        self._emit_status()

    @Slot(object)
    def set_captions(self, request: CaptionSettingsRequest) -> None:
        try:
            engine = self._require_engine()
            if request.model:
                engine.set_caption_model(request.model)
            engine.set_captions_enabled(request.enabled)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
        self._emit_status()

    @Slot()
    def refresh_status(self) -> None:
        self._emit_status()

    @Slot()
    def shutdown(self) -> None:
        """Close the engine (saving what it holds) and end the thread's event loop."""
        self.close_engine(quit_thread=True)

    def close_engine(self, *, quit_thread: bool = False) -> None:
        # A weight change or a recent-queries save still waiting belongs to the library being
        # closed (the user made it there): carry it out before the engine goes.
        for request in self._take((SetWeightsRequest, SaveRecentRequest)):
            if self._engine is not None or isinstance(request, SaveRecentRequest):
                self._run(request)
        self._data_dir = None
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:
                log.exception("closing the engine failed")
            self._engine = None
            quiet_heap.thaw()
            self.engine_closed.emit()
        if quit_thread:
            # Quit from inside the thread, after the close above: a quit() from the GUI thread
            # could end the event loop before this queued shutdown ran.
            thread = self.thread()
            if thread is not None:
                thread.quit()


class _QuietHeap:
    """Keeps the garbage collector from walking loaded models, so the GUI thread is not stalled.

    Loaded models are hundreds of thousands of long-lived objects (430,000 with the small test
    models; importing torch, transformers and open_clip brings most). A full collection walks all
    of them, 0.2-0.7 s here, holding the interpreter lock, so the GUI thread cannot run: measured
    as the window's longest stalls (386 ms while results loaded; 380 ms in a collection that fired
    while the captioner imported torch). So: no automatic collection while a model loads (from its
    `loading` news to `ready` or `failed`), then `gc.freeze()` moves what the load made, and
    everything alive before it, out of the collector's reach for good. Later collections only look
    at what is new. `thaw` gives it all back when the engine closes, so a closed library's models
    can be collected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: set[str] = set()  # the spaces whose model is loading now (ready may rename it)

    def loading(self, key: str) -> None:
        with self._lock:
            self._loading.add(key)
            gc.disable()

    def loaded(self, key: str) -> None:
        with self._lock:
            self._loading.discard(key)
            if not self._loading:
                self._settle()

    def settle(self) -> None:
        """Freeze what is alive now (after a run that may have loaded models) and collect again."""
        with self._lock:
            self._loading.clear()  # a loader that raised without saying `failed` must not keep gc off
            self._settle()

    def unstick(self) -> None:
        """Collect again if a load began and never ended (its loader raised without `failed`)."""
        if self._loading:
            self.settle()

    def thaw(self) -> None:
        with self._lock:
            gc.unfreeze()

    @staticmethod
    def _settle() -> None:
        gc.freeze()
        gc.enable()


quiet_heap = _QuietHeap()


class WorkerHost(QObject):
    """The GUI thread's handle on the worker: starts its thread, numbers requests, relays results.

    Results are re-emitted from this object (a GUI-thread QObject), so any receiver, including a
    plain function, runs on the GUI thread. Search results older than the newest search are dropped.
    It implements the `mmexplorer.ui.host.Host` protocol the window is written against.
    """

    # requests (GUI thread -> worker thread, queued), each carrying its request dataclass
    open_requested = Signal(object)  # OpenRequest
    load_models_requested = Signal()
    add_roots_requested = Signal(object)  # AddRootsRequest
    remove_root_requested = Signal(object)  # RemoveRootRequest
    index_requested = Signal(object)  # IndexRequest
    caption_requested = Signal(object)  # CaptionRequest
    caption_settings_requested = Signal(object)  # CaptionSettingsRequest
    drain_requested = Signal()
    status_requested = Signal()
    shutdown_requested = Signal()

    # results, re-emitted on the GUI thread
    engine_opened = Signal(object)  # data dir
    model_status_changed = Signal(object)
    models_ready = Signal(object)
    status_changed = Signal(object)
    index_started = Signal(int)
    index_progressed = Signal(object)
    index_finished = Signal(object)
    search_started = Signal(int)
    search_finished = Signal(int, object)
    detail_finished = Signal(int, object)
    weights_changed = Signal(int, object)  # request id, FusionWeights as stored
    recent_loaded = Signal(object)  # tuple[str, ...]
    transcribed = Signal(int, object)  # request id, Heard (the newest spoken query's only)
    explain_finished = Signal(int, object)  # request id, Explanation (the newest explain only)
    warmed_up = Signal()  # the library's explanations and related items are prepared (Engine.warm_up)
    compare_finished = Signal(int, object)  # request id, Explanation (the newest compare only)
    related_finished = Signal(int, object)  # request id, dict[Modality, list[SearchResult]]
    matrix_finished = Signal(int, object)  # request id, (n, n) float32 array
    caption_progressed = Signal(object)  # Progress of the running caption run
    caption_finished = Signal(object)  # CaptionReport
    failed = Signal(int, object)  # request id (0: not tied to a request), ErrorInfo
    busy_changed = Signal(bool)

    def __init__(
        self, engine_factory: EngineFactory = default_engine_factory, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("mmexplorer-worker")
        self.worker = Worker(engine_factory)
        self.worker.moveToThread(self._thread)
        self._thread.finished.connect(self.worker.deleteLater)
        self._cancels: dict[int, threading.Event] = {}
        self._latest_search = 0
        self._latest_detail = 0
        self._latest_transcribe = 0
        self._latest: dict[type, int] = {}  # newest request id per explain-like request type
        self._pending_searches = 0
        self.models_loaded = False
        self.model_infos: tuple[ModelInfo, ...] = ()
        self.status: LibraryStatus | None = None
        self.data_dir: str | None = None
        self.last_progress: Progress | None = None
        self._closed = False
        self.auto_caption = True  # caption photos after each index run (the library may have it off)
        self._captions: dict[int, CaptionRequest] = {}  # queued or running caption runs
        self.captions_paused = False
        self.caption_progress: Progress | None = None

        q = Qt.ConnectionType.QueuedConnection
        w = self.worker
        self.open_requested.connect(w.open_engine, q)
        self.load_models_requested.connect(w.load_models, q)
        self.add_roots_requested.connect(w.add_roots, q)
        self.remove_root_requested.connect(w.remove_root, q)
        self.index_requested.connect(w.index, q)
        self.caption_requested.connect(w.caption, q)
        self.caption_settings_requested.connect(w.set_captions, q)
        self.drain_requested.connect(w.drain, q)
        self.status_requested.connect(w.refresh_status, q)
        self.shutdown_requested.connect(w.shutdown, q)

        w.engine_opened.connect(self._on_engine_opened, q)
        w.model_status_changed.connect(self.model_status_changed, q)
        w.models_ready.connect(self._on_models_ready, q)
        w.status_changed.connect(self._on_status, q)
        w.index_started.connect(self._on_index_started, q)
        w.index_progressed.connect(self._on_index_progressed, q)
        w.index_finished.connect(self._on_index_finished, q)
        w.search_finished.connect(self._on_search_finished, q)
        w.detail_finished.connect(self._on_detail_finished, q)
        w.weights_changed.connect(self._on_weights_changed, q)
        w.recent_loaded.connect(self._on_recent_loaded, q)
        w.transcribed.connect(self._on_transcribed, q)
        w.explain_finished.connect(self._on_explain_finished, q)
        w.compare_finished.connect(self._on_compare_finished, q)
        w.related_finished.connect(self._on_related_finished, q)
        w.matrix_finished.connect(self._on_matrix_finished, q)
        w.caption_progressed.connect(self._on_caption_progressed, q)
        w.caption_finished.connect(self._on_caption_finished, q)
        w.warmed_up.connect(self.warmed_up, q)
        w.failed.connect(self._on_failed, q)
        self._thread.start()

    # --- requests ------------------------------------------------------------------------------

    def _next(self) -> int:
        return next(self._ids)

    def open(self, data_dir: str, *, image_model: str | None = None, device: str = "auto") -> None:
        """Open (or switch to) a library, then load its models in the background."""
        self.models_loaded = False
        self.model_infos = ()
        self.status = None
        self.data_dir = data_dir
        self.open_requested.emit(OpenRequest(data_dir, image_model, device))
        self.load_models_requested.emit()

    def add_roots(self, roots: Iterable[str], *, index: bool = True) -> int:
        """Add folders to the library and (by default) index them. Returns the add's request id."""
        rid = self._next()
        self.add_roots_requested.emit(AddRootsRequest(rid, tuple(str(r) for r in roots)))
        if index:
            self.index()
        return rid

    def remove_root(self, root: str) -> int:
        rid = self._next()
        self.remove_root_requested.emit(RemoveRootRequest(rid, str(root)))
        return rid

    def index(self, roots: Iterable[str] | None = None) -> int:
        """Queue an index pass over `roots` (None: every root of the library)."""
        request = IndexRequest(self._next(), None if roots is None else tuple(str(r) for r in roots))
        self.cancel_captions()  # indexing comes first; captioning starts again when it is done
        before = self.busy
        self._cancels[request.request_id] = request.cancel
        self.index_requested.emit(request)
        if self.busy != before:
            self.busy_changed.emit(self.busy)
        return request.request_id

    def caption(self) -> int:
        """Queue a caption run (Engine.caption_photos); progress comes as caption_progressed."""
        request = CaptionRequest(self._next())
        if self.captions_paused:
            request.pause.set()
        self._captions[request.request_id] = request
        self.caption_requested.emit(request)
        return request.request_id

    def pause_captions(self, paused: bool = True) -> None:
        """Hold (or resume) captioning between batches; searches are still served."""
        self.captions_paused = paused
        for request in self._captions.values():
            (request.pause.set if paused else request.pause.clear)()

    def cancel_captions(self) -> None:
        for request in self._captions.values():
            request.cancel.set()

    @property
    def captioning(self) -> bool:
        return bool(self._captions)

    def set_captions(self, enabled: bool, model: str | None = None) -> int:
        """Turn captioning on or off for the open library (and maybe choose its captioner)."""
        rid = self._next()
        if not enabled:
            self.cancel_captions()
        self.caption_settings_requested.emit(CaptionSettingsRequest(rid, enabled, model))
        if enabled and not self.indexing:
            self.caption()
        return rid

    def cancel_index(self) -> None:
        """Cancel the running index pass and any queued one. Takes effect at the next batch."""
        for event in self._cancels.values():
            event.set()

    def search(self, query: Query, *, k: int = 60, modality: str | None = None) -> int:
        """Search by any query; the answer comes as search_finished(request_id, results)."""
        rid = self._next()
        self._latest_search = rid
        self.search_started.emit(rid)
        self._set_pending(+1)
        self.worker.post(SearchRequest(rid, query, k, modality))
        self.drain_requested.emit()
        return rid

    def cancel_search(self) -> None:
        """Forget the search in flight: its answer will be dropped, a queued one is not run."""
        self._latest_search = self._next()
        self.worker.discard(SearchRequest)
        self._set_pending(-self._pending_searches)

    def item_detail(self, item_id: int) -> int:
        rid = self._next()
        self._latest_detail = rid
        self.worker.post(DetailRequest(rid, int(item_id)))
        self.drain_requested.emit()
        return rid

    def transcribe(self, audio: Any, *, sample_rate: int = 16_000) -> int:
        """Recognise a spoken query on the worker; transcribed(request_id, Heard) or failed follows.

        Only the newest one is answered: a query spoken again replaces one not yet recognised.
        """
        rid = self._next()
        self._latest_transcribe = rid
        self.worker.post(TranscribeRequest(rid, audio, int(sample_rate)))
        self.drain_requested.emit()
        return rid

    def cancel_transcribe(self) -> None:
        """Forget the spoken query being recognised: its words will not come."""
        self._latest_transcribe = self._next()
        self.worker.discard(TranscribeRequest)

    def set_weights(self, weights: FusionWeights) -> int:
        """Store new fusion weights in the library; weights_changed(request_id, stored) follows.

        A search asked for after this call runs with the new weights.
        """
        rid = self._next()
        self.worker.post(SetWeightsRequest(rid, weights))
        self.drain_requested.emit()
        return rid

    def _post_latest(self, request: ExplainRequest | CompareRequest | RelatedRequest | MatrixRequest) -> int:
        self._latest[type(request)] = request.request_id
        self.worker.post(request)
        self.drain_requested.emit()
        return request.request_id

    def explain(self, a: str | int, b: int) -> int:
        """Why item `b` matched `a` (a query text, an item id or a photo's path); explain_finished follows.

        A newer explain replaces one still waiting, and only the newest answer is relayed.
        """
        return self._post_latest(ExplainRequest(self._next(), a, int(b)))

    def compare(self, a: int, b: int) -> int:
        """Explain two items against each other for the Compare window; compare_finished follows."""
        return self._post_latest(CompareRequest(self._next(), int(a), int(b)))

    def related(self, item_id: int, k: int = 8) -> int:
        """An item's neighbours in each modality; related_finished(request_id, {modality: results})."""
        return self._post_latest(RelatedRequest(self._next(), int(item_id), int(k)))

    def similarity_matrix(self, item_ids: Iterable[int], *, calibrated: bool = True) -> int:
        """Pairwise relevance (or raw cosine) of these items; matrix_finished(request_id, array) follows."""
        return self._post_latest(MatrixRequest(self._next(), tuple(int(i) for i in item_ids), calibrated))

    @property
    def weights(self) -> FusionWeights | None:
        """The open library's fusion weights as last reported (None until its status arrived)."""
        return self.status.weights if self.status is not None else None

    def save_recent(self, queries: Iterable[str]) -> None:
        """Keep these recent text queries (newest first) with the open library."""
        self.worker.post(SaveRecentRequest(tuple(queries)))
        self.drain_requested.emit()

    def refresh_status(self) -> None:
        self.status_requested.emit()

    @property
    def indexing(self) -> bool:
        """An index run is queued or running (true from the request until its index_finished)."""
        return bool(self._cancels)

    @property
    def busy(self) -> bool:
        return self.indexing or self._pending_searches > 0

    @property
    def search_pending(self) -> bool:
        return self._pending_searches > 0

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel work, close the engine on its thread and join the thread. Safe to call twice.

        Returns:
            True when the thread ended within the timeout.
        """
        if self._closed:
            return True
        self._closed = True
        self.cancel_index()
        self.cancel_captions()
        self.worker.discard(SearchRequest)
        self.worker.discard(DetailRequest)
        self.worker.discard(TranscribeRequest)
        for kind in (ExplainRequest, CompareRequest, RelatedRequest, MatrixRequest):
            self.worker.discard(kind)
        self.shutdown_requested.emit()
        ok = self._thread.wait(timeout_ms)
        if not ok:
            log.error("the worker thread did not stop within %d ms", timeout_ms)
        return bool(ok)

    # --- results -------------------------------------------------------------------------------

    def _set_pending(self, delta: int) -> None:
        before = self.busy
        self._pending_searches = max(0, self._pending_searches + delta)
        if self.busy != before:
            self.busy_changed.emit(self.busy)

    @Slot(object)
    def _on_engine_opened(self, data_dir: str) -> None:
        self.engine_opened.emit(data_dir)

    @Slot(object)
    def _on_models_ready(self, infos: tuple[ModelInfo, ...]) -> None:
        self.models_loaded = True
        self.model_infos = tuple(infos)
        self.models_ready.emit(self.model_infos)

    @Slot(object)
    def _on_status(self, status: LibraryStatus) -> None:
        self.status = status
        self.status_changed.emit(status)

    @Slot(int)
    def _on_index_started(self, rid: int) -> None:
        self.last_progress = None
        self.index_started.emit(rid)

    @Slot(int, object)
    def _on_index_progressed(self, rid: int, progress: Progress) -> None:
        self.last_progress = progress
        self.index_progressed.emit(progress)

    @Slot(int, object)
    def _on_index_finished(self, rid: int, report: IndexReport) -> None:
        before = self.busy
        self._cancels.pop(rid, None)
        self.index_finished.emit(report)
        if self.busy != before:
            self.busy_changed.emit(self.busy)
        if self.auto_caption and not self._closed and not self._cancels and not report.cancelled:
            self.caption()

    @Slot(int, object)
    def _on_caption_progressed(self, rid: int, progress: Progress) -> None:
        self.caption_progress = progress
        self.caption_progressed.emit(progress)

    @Slot(int, object)
    def _on_caption_finished(self, rid: int, report: CaptionReport) -> None:
        self._captions.pop(rid, None)
        self.caption_progress = None
        self.caption_finished.emit(report)

    @Slot(int, object)
    def _on_search_finished(self, rid: int, results: list[SearchResult]) -> None:
        if rid != self._latest_search:
            return  # a newer search is on its way; this answer is stale
        self._set_pending(-self._pending_searches)
        self.search_finished.emit(rid, results)

    @Slot(int, object)
    def _on_detail_finished(self, rid: int, detail: ItemDetail) -> None:
        if rid == self._latest_detail:
            self.detail_finished.emit(rid, detail)

    @Slot(int, object)
    def _on_weights_changed(self, rid: int, weights: FusionWeights) -> None:
        self.weights_changed.emit(rid, weights)

    # Answers to explain-like requests: relayed only when they answer the newest of their type.
    @Slot(int, object)
    def _on_explain_finished(self, rid: int, answer: object) -> None:
        if rid == self._latest.get(ExplainRequest):
            self.explain_finished.emit(rid, answer)

    @Slot(int, object)
    def _on_compare_finished(self, rid: int, answer: object) -> None:
        if rid == self._latest.get(CompareRequest):
            self.compare_finished.emit(rid, answer)

    @Slot(int, object)
    def _on_related_finished(self, rid: int, answer: object) -> None:
        if rid == self._latest.get(RelatedRequest):
            self.related_finished.emit(rid, answer)

    @Slot(int, object)
    def _on_matrix_finished(self, rid: int, answer: object) -> None:
        if rid == self._latest.get(MatrixRequest):
            self.matrix_finished.emit(rid, answer)

    @Slot(object)
    def _on_recent_loaded(self, queries: tuple[str, ...]) -> None:
        self.recent_loaded.emit(tuple(queries))

    @Slot(int, object)
    def _on_transcribed(self, rid: int, heard: Heard) -> None:
        if rid == self._latest_transcribe:
            self.transcribed.emit(rid, heard)

    @Slot(int, object)
    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        if rid == self._latest_search:
            self._set_pending(-self._pending_searches)
        self.failed.emit(rid, info)
