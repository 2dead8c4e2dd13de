"""WorkerHost: the GUI thread's handle on the worker (it implements mmexplorer.ui.host.Host).

It owns the worker's thread, numbers requests, submits them to `Worker.submit`, and turns the
worker's request-keyed answers back into the window's signals on the GUI thread: it remembers
each request it sent by id, so `finished(request_id, payload)` is routed by the request's type.
Answers older than the newest request of their type (search, detail, spoken query, explain,
compare, related, matrix) are dropped.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from mmexplorer.core.types import (
    CaptionReport,
    ErrorInfo,
    FusionWeights,
    IndexReport,
    LibraryStatus,
    ModelInfo,
    ModelStatus,
    Progress,
    Query,
)
from mmexplorer.worker.engine_worker import EngineFactory, Worker, default_engine_factory
from mmexplorer.worker.requests import (
    LONG_RUNS,
    AddRootsRequest,
    CaptionRequest,
    CaptionSettingsRequest,
    CompareRequest,
    DetailRequest,
    EngineClosed,
    ExplainRequest,
    IndexRequest,
    LoadModelsRequest,
    MatrixRequest,
    Opened,
    OpenRequest,
    RelatedRequest,
    RemoveRootRequest,
    Request,
    SaveRecentRequest,
    SearchRequest,
    SetWeightsRequest,
    ShutdownRequest,
    StatusRequest,
    TranscribeRequest,
    WarmedUp,
)

log = logging.getLogger(__name__)

#: Request types whose answers are relayed only when they answer the newest request of the type.
_NEWEST_ONLY: tuple[type, ...] = (
    SearchRequest,
    DetailRequest,
    TranscribeRequest,
    ExplainRequest,
    CompareRequest,
    RelatedRequest,
    MatrixRequest,
)


class WorkerHost(QObject):
    """The GUI thread's handle on the worker: starts its thread, numbers requests, relays results.

    Results are re-emitted from this object (a GUI-thread QObject), so any receiver, including a
    plain function, runs on the GUI thread. Search results older than the newest search are dropped.
    It implements the `mmexplorer.ui.host.Host` protocol the window is written against.
    """

    # results, re-emitted on the GUI thread
    engine_opened = Signal(object)  # data dir
    engine_closed = Signal()
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
        self._sent: dict[int, Request] = {}  # requests whose answer has not come yet, by id
        self._latest: dict[type, int] = {}  # newest request id per newest-only request type
        self._cancels: dict[int, threading.Event] = {}
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
        # what each answer means, by the type of the request it answers
        self._on_finished: dict[type, Callable[[Any, Any], None]] = {
            OpenRequest: self._opened,
            LoadModelsRequest: self._models_ready,
            IndexRequest: self._index_finished,
            CaptionRequest: self._caption_finished,
            SearchRequest: self._search_finished,
            DetailRequest: lambda r, detail: self.detail_finished.emit(r.request_id, detail),
            SetWeightsRequest: lambda r, weights: self.weights_changed.emit(r.request_id, weights),
            TranscribeRequest: lambda r, heard: self.transcribed.emit(r.request_id, heard),
            ExplainRequest: lambda r, answer: self.explain_finished.emit(r.request_id, answer),
            CompareRequest: lambda r, answer: self.compare_finished.emit(r.request_id, answer),
            RelatedRequest: lambda r, answer: self.related_finished.emit(r.request_id, answer),
            MatrixRequest: lambda r, answer: self.matrix_finished.emit(r.request_id, answer),
        }

        q = Qt.ConnectionType.QueuedConnection
        w = self.worker
        w.started.connect(self._on_started, q)
        w.progressed.connect(self._on_progressed, q)
        w.finished.connect(self._on_finished_answer, q)
        w.failed.connect(self._on_failed, q)
        w.reported.connect(self._on_reported, q)
        self._thread.start()

    # --- requests ------------------------------------------------------------------------------

    def _next(self) -> int:
        return next(self._ids)

    def _send(self, request: Request) -> int:
        """Submit a request to the worker, remembering it until its answer comes."""
        if request.request_id:
            self._sent[request.request_id] = request
            if isinstance(request, _NEWEST_ONLY):
                # the one it replaces is answered (stale, dropped) or never run: forget it either way
                self._sent.pop(self._latest.get(type(request), 0), None)
                self._latest[type(request)] = request.request_id
        self.worker.submit(request)
        return request.request_id

    def open(self, data_dir: str, *, image_model: str | None = None, device: str = "auto") -> None:
        """Open (or switch to) a library, then load its models in the background."""
        self.models_loaded = False
        self.model_infos = ()
        self.status = None
        self.data_dir = data_dir
        self._send(OpenRequest(data_dir, image_model, device, request_id=self._next()))
        self._send(LoadModelsRequest(self._next()))

    def add_roots(self, roots: Iterable[str], *, index: bool = True) -> int:
        """Add folders to the library and (by default) index them. Returns the add's request id."""
        rid = self._send(AddRootsRequest(self._next(), tuple(str(r) for r in roots)))
        if index:
            self.index()
        return rid

    def remove_root(self, root: str) -> int:
        return self._send(RemoveRootRequest(self._next(), str(root)))

    def index(self, roots: Iterable[str] | None = None) -> int:
        """Queue an index pass over `roots` (None: every root of the library)."""
        request = IndexRequest(self._next(), None if roots is None else tuple(str(r) for r in roots))
        self.cancel_captions()  # indexing comes first; captioning starts again when it is done
        before = self.busy
        self._cancels[request.request_id] = request.cancel
        self._send(request)
        if self.busy != before:
            self.busy_changed.emit(self.busy)
        return request.request_id

    def caption(self) -> int:
        """Queue a caption run (Engine.caption_photos); progress comes as caption_progressed."""
        request = CaptionRequest(self._next())
        if self.captions_paused:
            request.pause.set()
        self._captions[request.request_id] = request
        return self._send(request)

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
        if not enabled:
            self.cancel_captions()
        rid = self._send(CaptionSettingsRequest(self._next(), enabled, model))
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
        self.search_started.emit(rid)
        self._set_pending(+1)
        return self._send(SearchRequest(rid, query, k, modality))

    def cancel_search(self) -> None:
        """Forget the search in flight: its answer will be dropped, a queued one is not run."""
        self._forget(SearchRequest)
        self._set_pending(-self._pending_searches)

    def _forget(self, kind: type) -> None:
        """Drop the answer of the newest request of this type, and do not run it if it waits."""
        self._sent.pop(self._latest.get(kind, 0), None)
        self._latest[kind] = self._next()
        self.worker.discard(kind)

    def item_detail(self, item_id: int) -> int:
        return self._send(DetailRequest(self._next(), int(item_id)))

    def transcribe(self, audio: Any, *, sample_rate: int = 16_000) -> int:
        """Recognise a spoken query on the worker; transcribed(request_id, Heard) or failed follows.

        Only the newest one is answered: a query spoken again replaces one not yet recognised.
        """
        return self._send(TranscribeRequest(self._next(), audio, int(sample_rate)))

    def cancel_transcribe(self) -> None:
        """Forget the spoken query being recognised: its words will not come."""
        self._forget(TranscribeRequest)

    def set_weights(self, weights: FusionWeights) -> int:
        """Store new fusion weights in the library; weights_changed(request_id, stored) follows.

        A search asked for after this call runs with the new weights.
        """
        return self._send(SetWeightsRequest(self._next(), weights))

    def explain(self, a: str | int, b: int) -> int:
        """Why item `b` matched `a` (a query text, an item id or a photo's path); explain_finished follows.

        A newer explain replaces one still waiting, and only the newest answer is relayed.
        """
        return self._send(ExplainRequest(self._next(), a, int(b)))

    def compare(self, a: int, b: int) -> int:
        """Explain two items against each other for the Compare window; compare_finished follows."""
        return self._send(CompareRequest(self._next(), int(a), int(b)))

    def related(self, item_id: int, k: int = 8) -> int:
        """An item's neighbours in each modality; related_finished(request_id, {modality: results})."""
        return self._send(RelatedRequest(self._next(), int(item_id), int(k)))

    def similarity_matrix(self, item_ids: Iterable[int], *, calibrated: bool = True) -> int:
        """Pairwise relevance (or raw cosine) of these items; matrix_finished(request_id, array) follows."""
        return self._send(MatrixRequest(self._next(), tuple(int(i) for i in item_ids), calibrated))

    @property
    def weights(self) -> FusionWeights | None:
        """The open library's fusion weights as last reported (None until its status arrived)."""
        return self.status.weights if self.status is not None else None

    def save_recent(self, queries: Iterable[str]) -> None:
        """Keep these recent text queries (newest first) with the open library."""
        self._send(SaveRecentRequest(tuple(queries)))

    def refresh_status(self) -> None:
        self._send(StatusRequest())

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
        for kind in _NEWEST_ONLY:
            self.worker.discard(kind)
        self._send(ShutdownRequest())
        ok = self._thread.wait(timeout_ms)
        if not ok:
            log.error("the worker thread did not stop within %d ms", timeout_ms)
        return bool(ok)

    # --- answers -------------------------------------------------------------------------------

    def _set_pending(self, delta: int) -> None:
        before = self.busy
        self._pending_searches = max(0, self._pending_searches + delta)
        if self.busy != before:
            self.busy_changed.emit(self.busy)

    @Slot(int)
    def _on_started(self, rid: int) -> None:
        if isinstance(self._sent.get(rid), IndexRequest):
            self.last_progress = None
            self.index_started.emit(rid)

    @Slot(int, object)
    def _on_progressed(self, rid: int, progress: Progress) -> None:
        request = self._sent.get(rid)
        if isinstance(request, IndexRequest):
            self.last_progress = progress
            self.index_progressed.emit(progress)
        elif isinstance(request, CaptionRequest):
            self.caption_progress = progress
            self.caption_progressed.emit(progress)

    @Slot(int, object)
    def _on_finished_answer(self, rid: int, payload: object) -> None:
        request = self._sent.pop(rid, None)
        if request is None:
            return
        if isinstance(request, _NEWEST_ONLY) and rid != self._latest.get(type(request)):
            return  # a newer request of its type is on its way; this answer is stale
        handler = self._on_finished.get(type(request))
        if handler is not None:
            handler(request, payload)

    @Slot(int, object)
    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        request = self._sent.get(rid)
        if request is not None and not isinstance(request, LONG_RUNS):
            del self._sent[rid]  # a long run still ends with `finished`; anything else ends here
        if isinstance(request, SearchRequest) and rid == self._latest.get(SearchRequest):
            self._set_pending(-self._pending_searches)
        # opening the library and loading its models are no user request: the window sees id 0
        self.failed.emit(0 if isinstance(request, (OpenRequest, LoadModelsRequest)) else rid, info)

    @Slot(object)
    def _on_reported(self, fact: object) -> None:
        if isinstance(fact, LibraryStatus):
            self.status = fact
            self.status_changed.emit(fact)
        elif isinstance(fact, ModelStatus):
            self.model_status_changed.emit(fact)
        elif isinstance(fact, WarmedUp):
            self.warmed_up.emit()
        elif isinstance(fact, EngineClosed):
            self.engine_closed.emit()

    def _opened(self, request: OpenRequest, opened: Opened) -> None:
        self.engine_opened.emit(opened.data_dir)
        self.recent_loaded.emit(tuple(opened.recent))

    def _models_ready(self, request: LoadModelsRequest, infos: tuple[ModelInfo, ...]) -> None:
        self.models_loaded = True
        self.model_infos = tuple(infos)
        self.models_ready.emit(self.model_infos)

    def _index_finished(self, request: IndexRequest, report: IndexReport) -> None:
        before = self.busy
        self._cancels.pop(request.request_id, None)
        self.index_finished.emit(report)
        if self.busy != before:
            self.busy_changed.emit(self.busy)
        if self.auto_caption and not self._closed and not self._cancels and not report.cancelled:
            self.caption()

    def _caption_finished(self, request: CaptionRequest, report: CaptionReport) -> None:
        self._captions.pop(request.request_id, None)
        self.caption_progress = None
        self.caption_finished.emit(report)

    def _search_finished(self, request: SearchRequest, results: list) -> None:
        self._set_pending(-self._pending_searches)
        self.search_finished.emit(request.request_id, results)
