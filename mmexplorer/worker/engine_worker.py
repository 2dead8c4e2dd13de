"""The Worker: a QObject on its own QThread that owns the Engine and answers typed requests.

One way in, `submit(request)` (any thread), and one fixed set of past-tense signals out, keyed by
request id (superqt's worker shape): `started`, `progressed`, `finished(request_id, payload)`,
`failed(request_id, ErrorInfo)`, and `reported(fact)` for what nobody asked for (the library's
counts, a model's loading state). The requests and their payloads are in worker/requests.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from mmexplorer import settings as settings_mod
from mmexplorer.core.errors import Cancelled, MMExplorerError, error_info
from mmexplorer.core.types import CaptionReport, IndexReport, ModelStatus, Progress
from mmexplorer.worker.quiet_heap import quiet_heap
from mmexplorer.worker.requests import (
    LATEST_WINS,
    LONG_RUNS,
    SERVED_BETWEEN,
    AddRootsRequest,
    CaptionRequest,
    CaptionSettingsRequest,
    CompareRequest,
    DetailRequest,
    EngineClosed,
    ExplainRequest,
    InboxRequest,
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

#: Builds an Engine: (data_dir, *, image_model, device, on_model_status) -> Engine-like object.
EngineFactory = Callable[..., Any]

#: The longest a progress signal is held back, so a fast index run cannot flood the GUI thread.
PROGRESS_INTERVAL_S = 0.08
#: How often the library counts are refreshed while indexing.
STATUS_INTERVAL_S = 1.5

#: No answer is sent for these (nobody waits on them).
_SILENT: tuple[type, ...] = (SaveRecentRequest, ShutdownRequest, StatusRequest)
#: The library's counts are reported after these succeed (or, for a long run, end).
_STATUS_AFTER: tuple[type, ...] = (OpenRequest, LoadModelsRequest, SetWeightsRequest, *LONG_RUNS)
#: After these, the worker prepares explanations and related items while idle (Engine.warm_up).
_WARM_AFTER: tuple[type, ...] = (LoadModelsRequest, IndexRequest)


def default_engine_factory(
    data_dir: str, *, image_model: str | None, device: str, on_model_status: Callable[[ModelStatus], None]
) -> Any:
    """Create the real core Engine. Runs on the worker thread; this is where torch gets imported."""
    from mmexplorer.core.engine import Engine

    return Engine(data_dir, image_model=image_model, device=device, on_model_status=on_model_status)


class Worker(QObject):
    """Owns the Engine; every request runs on the worker thread, one at a time."""

    started = Signal(int)  # request id of a long run (index) that began
    progressed = Signal(int, object)  # request id, Progress
    finished = Signal(int, object)  # request id, the request type's payload (worker/requests.py)
    failed = Signal(int, object)  # request id (0: not tied to a request), ErrorInfo
    reported = Signal(object)  # LibraryStatus | ModelStatus | WarmedUp | EngineClosed

    _woken = Signal(object)  # an ordered request to run, or None: drain the inbox (queued to self)

    def __init__(self, engine_factory: EngineFactory = default_engine_factory) -> None:
        super().__init__()
        self._factory = engine_factory
        self._engine: Any = None
        self._data_dir: str | None = None
        # One-slot inboxes keyed by request type, written by any thread, drained here: typing
        # fast never builds a backlog, since only the newest search (and detail request) is kept.
        self._inbox_lock = threading.Lock()
        self._inbox: dict[type, InboxRequest] = {}
        self._last_status_emit = 0.0
        self._warming = False  # a step of Engine.warm_up is scheduled
        self._handlers: dict[type, Callable[[Any], Any]] = {
            OpenRequest: self._open,
            LoadModelsRequest: self._load_models,
            AddRootsRequest: self._add_roots,
            RemoveRootRequest: self._remove_root,
            IndexRequest: self._index,
            CaptionRequest: self._caption,
            CaptionSettingsRequest: self._set_captions,
            StatusRequest: lambda _request: self._emit_status(),
            ShutdownRequest: lambda _request: self.close_engine(quit_thread=True),
            SearchRequest: self._search,
            DetailRequest: lambda r: self._require_engine().item(r.item_id),
            SetWeightsRequest: self._set_weights,
            TranscribeRequest: self._transcribe,
            SaveRecentRequest: self._save_recent,
            ExplainRequest: self._explaining,
            CompareRequest: self._explaining,
            RelatedRequest: self._explaining,
            MatrixRequest: self._explaining,
        }
        self._woken.connect(self._wake, Qt.ConnectionType.QueuedConnection)

    # --- the way in ------------------------------------------------------------------------------

    def submit(self, request: Request) -> None:
        """Hand the worker a request (any thread); its answer comes as `finished` or `failed`.

        A latest-wins request replaces one of its type still waiting; an ordered one is queued
        behind what was submitted before it.
        """
        if isinstance(request, LATEST_WINS):
            with self._inbox_lock:
                self._inbox[type(request)] = request
            self._woken.emit(None)
        else:
            self._woken.emit(request)

    def discard(self, kind: type) -> None:
        """Empty the inbox of one request type (any thread): a waiting request will not run."""
        with self._inbox_lock:
            self._inbox.pop(kind, None)

    @Slot(object)
    def _wake(self, request: Request | None) -> None:
        if request is None:
            self.drain()
        else:
            self._serve(request)

    @Slot()
    def drain(self) -> None:
        """Run whatever waits in the inboxes (at most one request of each type), weights first."""
        for request in self._take():
            self._serve(request)
            quiet_heap.unstick()  # a model a search began to load and that raised without saying so

    def _take(self, kinds: tuple[type, ...] = LATEST_WINS) -> list[InboxRequest]:
        """Empty the inboxes of these request types; their requests, in `kinds` order."""
        with self._inbox_lock:
            return [self._inbox.pop(kind) for kind in kinds if kind in self._inbox]

    def _serve(self, request: Request) -> None:
        """Run one request and answer it: finished(payload), or failed(error)."""
        try:
            payload = self._handlers[type(request)](request)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request.request_id, e)
            return
        if not isinstance(request, _SILENT):
            self.finished.emit(request.request_id, payload)
        if isinstance(request, _STATUS_AFTER):
            self._emit_status()  # after the answer: the host sees the run end, then the new counts
        if isinstance(request, _WARM_AFTER):
            self._warm_later()

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
            self.reported.emit(self._engine.status())
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(0, e)

    def _on_model_status(self, status: ModelStatus) -> None:
        # The engine may call this from a download thread; emitting from any thread is safe.
        if status.state == "loading":
            quiet_heap.loading(status.space)
        elif status.state in ("ready", "failed"):
            quiet_heap.loaded(status.space)
        self.reported.emit(status)

    def _serve_waiting(self) -> None:
        """Between the batches of a long explanation: answer a waiting search, detail or weight change."""
        for request in self._take(SERVED_BETWEEN):
            self._serve(request)

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
                    self.reported.emit(WarmedUp())
        self._warming = not done
        if not done:
            QTimer.singleShot(0, self._warm_step)

    # --- ordered requests --------------------------------------------------------------------------

    def _open(self, request: OpenRequest) -> Opened:
        """Create (or re-create) the Engine for a data dir, then publish the library's status."""
        threading.current_thread().name = "mmexplorer-worker"  # for log lines
        self.close_engine(quit_thread=False)
        self._engine = self._factory(
            request.data_dir,
            image_model=request.image_model,
            device=request.device,
            on_model_status=self._on_model_status,
        )
        self._data_dir = request.data_dir
        return Opened(request.data_dir, tuple(settings_mod.load_recent_queries(request.data_dir)))

    def _load_models(self, request: LoadModelsRequest) -> tuple:
        try:
            engine = self._require_engine()
            engine.load_models()
            infos = tuple(engine.model_info())
        finally:
            quiet_heap.settle()
        return infos

    def _add_roots(self, request: AddRootsRequest) -> None:
        try:
            self._require_engine().add_roots(list(request.roots))
        finally:
            self._emit_status()

    def _remove_root(self, request: RemoveRootRequest) -> None:
        try:
            self._require_engine().remove_root(request.root)
        finally:
            self._emit_status()

    def _set_captions(self, request: CaptionSettingsRequest) -> None:
        try:
            engine = self._require_engine()
            if request.model:
                engine.set_caption_model(request.model)
            engine.set_captions_enabled(request.enabled)
        finally:
            self._emit_status()

    def _index(self, request: IndexRequest) -> IndexReport:
        """Run one index pass; progress is throttled, cancel polls the GUI-owned event."""
        request_id, cancel = request.request_id, request.cancel
        self.started.emit(request_id)
        last_emit = 0.0
        last_phase = ""

        def on_progress(p: Progress) -> None:
            nonlocal last_emit, last_phase
            now = time.monotonic()
            final = p.total > 0 and p.done >= p.total
            if p.phase != last_phase or final or now - last_emit >= PROGRESS_INTERVAL_S:
                last_emit, last_phase = now, p.phase
                self.progressed.emit(request_id, p)
            if p.phase == "encoding" and p.done > 0:
                # Between batches: serve a waiting search, refresh the counts now and then.
                self.drain()
                if now - self._last_status_emit >= STATUS_INTERVAL_S:
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
        except Exception as e:  # noqa: BLE001 - a long run ends with `finished`, after `failed` too
            self._fail(request_id, e)
        quiet_heap.settle()
        return report

    def _caption(self, request: CaptionRequest) -> CaptionReport:
        """Caption photos in small batches; searches and details are served between batches."""
        request_id = request.request_id
        last_emit = 0.0

        def on_progress(p: Progress) -> None:
            nonlocal last_emit
            now = time.monotonic()
            if p.phase != "captioning" or now - last_emit >= PROGRESS_INTERVAL_S or p.done >= p.total:
                last_emit = now
                self.progressed.emit(request_id, p)
            self.drain()

        report = CaptionReport(cancelled=True)
        try:
            engine = self._require_engine()
            if request.cancel.is_set():
                raise Cancelled("cancelled before it started")
            if not hasattr(engine, "caption_photos"):
                report = CaptionReport(reason="this library cannot caption photos")
            else:
                report = engine.caption_photos(
                    progress=on_progress, cancel=request.cancel.is_set, pause=request.pause
                )
        except Cancelled:
            report = CaptionReport(cancelled=True)
        except Exception as e:  # noqa: BLE001 - a long run ends with `finished`, after `failed` too
            self._fail(request_id, e)
        quiet_heap.settle()
        return report

    def close_engine(self, *, quit_thread: bool = False) -> None:
        """Close the open engine (saving what it holds); with `quit_thread`, end the thread's loop."""
        # A weight change or a recent-queries save still waiting belongs to the library being
        # closed (the user made it there): carry it out before the engine goes.
        for request in self._take((SetWeightsRequest, SaveRecentRequest)):
            if self._engine is not None or isinstance(request, SaveRecentRequest):
                self._serve(request)
        self._data_dir = None
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:
                log.exception("closing the engine failed")
            self._engine = None
            quiet_heap.thaw()
            self.reported.emit(EngineClosed())
        if quit_thread:
            # Quit from inside the thread, after the close above: a quit() from the GUI thread
            # could end the event loop before this queued shutdown ran.
            thread = self.thread()
            if thread is not None:
                thread.quit()

    # --- latest-wins requests ------------------------------------------------------------------------

    def _search(self, request: SearchRequest) -> list:
        return list(self._require_engine().search(request.query, k=request.k, modality=request.modality))

    def _set_weights(self, request: SetWeightsRequest) -> Any:
        return self._require_engine().set_fusion_weights(request.weights)

    def _transcribe(self, request: TranscribeRequest) -> Any:
        engine = self._require_engine()
        if not hasattr(engine, "hear_query"):
            raise MMExplorerError("This library cannot recognise speech: no speech model is available")
        return engine.hear_query(request.audio, sample_rate=request.sample_rate)

    def _save_recent(self, request: SaveRecentRequest) -> None:
        if self._data_dir is None:
            return  # no library open: nothing to remember them with
        try:
            settings_mod.save_recent_queries(self._data_dir, request.queries)
        except OSError as e:
            # Not worth a notice: the queries are still in the window, only not kept for next time.
            log.warning("could not save recent queries in %s: %s", self._data_dir, e)

    def _explaining(self, request: ExplainRequest | CompareRequest | RelatedRequest | MatrixRequest) -> Any:
        """Explain, Compare, Related and the matrix: one engine call each."""
        engine = self._require_engine()
        call = {
            ExplainRequest: "explain",
            CompareRequest: "explain",
            RelatedRequest: "related",
            MatrixRequest: "similarity_matrix",
        }[type(request)]
        method = getattr(engine, call, None)
        if method is None:
            raise MMExplorerError(f"This library cannot answer {call.replace('_', ' ')} yet")
        if isinstance(request, RelatedRequest):
            return method(request.item_id, k=request.k, between=self._serve_waiting)
        if isinstance(request, MatrixRequest):
            return method(list(request.item_ids), calibrated=request.calibrated)
        if isinstance(request, ExplainRequest):
            # the detail pane draws B's heatmap only; Compare shows both photos' maps
            return method(request.a, request.b, with_heatmap_a=False, between=self._serve_waiting)
        return method(request.a, request.b, between=self._serve_waiting)
