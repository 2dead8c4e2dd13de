"""The one bridge between Qt and core: a Worker on a long-lived QThread that owns the Engine.

Threading model (STYLE.md, convention 1):
- `Worker` lives on its own QThread. The Engine (models, FAISS spaces, the SQLite catalog) is
  created in a slot on that thread and never touched from another, so SQLite stays on one thread.
- Requests arrive as queued signals with a request id; results leave as past-tense signals that
  carry frozen dataclasses from core.types. `WorkerHost` is the GUI-side face: it owns the thread,
  hands out request ids, and re-emits results on the GUI thread, dropping stale searches.
- Cancelling an index run cannot be a queued call: the worker's event loop is blocked inside
  `Engine.index` until it returns. So each run gets a `threading.Event` that the GUI sets directly
  and the engine's `cancel` callable polls between batches.
- Searches and item details do not wait for an index run to end: they go to a one-slot inbox per
  kind (a newer request replaces an older one) that the worker drains when woken by a queued
  signal and also between index batches, from the engine's progress callback (the indexer calls
  it after each batch is committed, so catalog and FAISS agree at that point).
- Thumbnails are stateless, so they do not queue behind the engine: `ThumbnailLoader` runs them on
  a QThreadPool and delivers QImages (safe to build off the GUI thread; QPixmap is not).

core.engine is imported inside the slot that creates the Engine, on the worker thread, so the GUI
thread never pays for importing torch and the window shows at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage

from mmexplorer.core.errors import Cancelled, MMExplorerError, ModelUnavailableError
from mmexplorer.core.types import (
    IndexReport,
    ItemDetail,
    LibraryStatus,
    ModelInfo,
    ModelStatus,
    Progress,
    SearchResult,
)

log = logging.getLogger(__name__)

#: Builds an Engine: (data_dir, *, image_model, device, on_model_status) -> Engine-like object.
EngineFactory = Callable[..., Any]

#: The longest a progress signal is held back, so a fast index run cannot flood the GUI thread.
_PROGRESS_INTERVAL_S = 0.08
#: How often the library counts are refreshed while indexing.
_STATUS_INTERVAL_S = 1.5


def default_engine_factory(
    data_dir: str, *, image_model: str | None, device: str, on_model_status: Callable[[ModelStatus], None]
) -> Any:
    """Create the real core Engine. Runs on the worker thread; this is where torch gets imported."""
    from mmexplorer.core.engine import Engine

    return Engine(data_dir, image_model=image_model, device=device, on_model_status=on_model_status)


def _describe(exc: BaseException) -> tuple[str, str]:
    """A one-line message and the details behind a button, for an error shown to the user."""
    if isinstance(exc, ModelUnavailableError):
        return f"Model “{exc.model}” is not available on this computer", exc.hint
    if isinstance(exc, MMExplorerError):
        return str(exc), "".join(traceback.format_exception(exc))
    return f"Unexpected error: {type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))


class Worker(QObject):
    """Owns the Engine; every slot runs on the worker thread, one request at a time."""

    engine_opened = Signal(str)  # data dir
    engine_closed = Signal()
    model_status_changed = Signal(object)  # ModelStatus
    models_ready = Signal(object)  # tuple[ModelInfo, ...]
    status_changed = Signal(object)  # LibraryStatus
    index_started = Signal(int)
    index_progressed = Signal(int, object)  # request id, Progress
    index_finished = Signal(int, object)  # request id, IndexReport
    search_finished = Signal(int, object)  # request id, list[SearchResult]
    detail_finished = Signal(int, object)  # request id, ItemDetail
    failed = Signal(int, str, str)  # request id (0: not tied to a request), message, details

    def __init__(self, engine_factory: EngineFactory = default_engine_factory) -> None:
        super().__init__()
        self._factory = engine_factory
        self._engine: Any = None
        # One-slot inboxes, written by the GUI thread, drained here: typing fast never builds a
        # backlog, since only the newest search (and the newest detail request) is kept.
        self._inbox_lock = threading.Lock()
        self._inbox: dict[str, tuple[Any, ...]] = {}
        self._last_status_emit = 0.0

    # --- helpers -------------------------------------------------------------------------------

    def _fail(self, request_id: int, exc: BaseException) -> None:
        message, details = _describe(exc)
        if isinstance(exc, MMExplorerError):
            log.warning("request %s failed: %s", request_id, exc)
        else:
            log.error("request %s failed unexpectedly", request_id, exc_info=exc)
        self.failed.emit(request_id, message, details)

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
        self.model_status_changed.emit(status)

    def post(self, kind: str, request: tuple[Any, ...] | None) -> None:
        """Put a request in the `kind` inbox (any thread); None empties it. Wake with `drain`."""
        with self._inbox_lock:
            if request is None:
                self._inbox.pop(kind, None)
            else:
                self._inbox[kind] = request

    def _take(self) -> list[tuple[str, tuple[Any, ...]]]:
        with self._inbox_lock:
            taken = list(self._inbox.items())
            self._inbox.clear()
        return taken

    def _run_search(self, request_id: int, how: str, value: Any, k: int, modality: str | None) -> None:
        try:
            engine = self._require_engine()
            if how == "text":
                results = engine.search_text(value, k=k, modality=modality)
            elif how == "image":
                results = engine.search_image(value, k=k, modality=modality)
            elif how == "similar":
                results = engine.similar(int(value), k=k, modality=modality)
            else:
                raise ValueError(f"unknown search kind {how!r}")
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
            return
        self.search_finished.emit(request_id, list(results))

    def _run_detail(self, request_id: int, item_id: int) -> None:
        try:
            detail = self._require_engine().item(item_id)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
            return
        self.detail_finished.emit(request_id, detail)

    # --- slots ---------------------------------------------------------------------------------

    @Slot()
    def drain(self) -> None:
        """Run whatever waits in the inboxes (at most one search and one detail request)."""
        for kind, request in self._take():
            if kind == "search":
                self._run_search(*request)
            elif kind == "detail":
                self._run_detail(*request)

    @Slot(str, object, str)
    def open_engine(self, data_dir: str, image_model: str | None, device: str) -> None:
        """Create (or re-create) the Engine for a data dir, then publish the library's status."""
        threading.current_thread().name = "mmexplorer-worker"  # for log lines
        self.close_engine(quit_thread=False)
        try:
            self._engine = self._factory(
                data_dir, image_model=image_model, device=device, on_model_status=self._on_model_status
            )
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(0, e)
            return
        self.engine_opened.emit(data_dir)
        self._emit_status()

    @Slot()
    def load_models(self) -> None:
        """Load the encoders now (else the first search or index would); reports ModelStatus."""
        try:
            engine = self._require_engine()
            engine.load_models()
            infos = tuple(engine.model_info())
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(0, e)
            return
        self.models_ready.emit(infos)
        self._emit_status()

    @Slot(int, object)
    def add_roots(self, request_id: int, roots: list[str]) -> None:
        try:
            self._require_engine().add_roots(list(roots))
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
        self._emit_status()

    @Slot(int, str)
    def remove_root(self, request_id: int, root: str) -> None:
        try:
            self._require_engine().remove_root(root)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
        self._emit_status()

    @Slot(int, object, object)
    def index(self, request_id: int, roots: list[str] | None, cancel: threading.Event) -> None:
        """Run one index pass; progress is throttled, cancel polls the GUI-owned event."""
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
            report = self._require_engine().index(
                roots, progress=on_progress, cancel=cancel.is_set, background_rebuild=True
            )
        except Cancelled:
            report = IndexReport(cancelled=True)
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            self._fail(request_id, e)
        self.index_finished.emit(request_id, report)
        self._emit_status()

    @Slot()
    def refresh_status(self) -> None:
        self._emit_status()

    @Slot()
    def shutdown(self) -> None:
        """Close the engine (saving what it holds) and end the thread's event loop."""
        self.close_engine(quit_thread=True)

    def close_engine(self, *, quit_thread: bool = False) -> None:
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:
                log.exception("closing the engine failed")
            self._engine = None
            self.engine_closed.emit()
        if quit_thread:
            # Quit from inside the thread, after the close above: a quit() from the GUI thread
            # could end the event loop before this queued shutdown ran.
            thread = self.thread()
            if thread is not None:
                thread.quit()


class WorkerHost(QObject):
    """The GUI thread's handle on the worker: starts its thread, numbers requests, relays results.

    Results are re-emitted from this object (a GUI-thread QObject), so any receiver, including a
    plain function, runs on the GUI thread. Search results older than the newest search are dropped.
    """

    # requests (GUI thread -> worker thread, queued)
    open_requested = Signal(str, object, str)
    load_models_requested = Signal()
    add_roots_requested = Signal(int, object)
    remove_root_requested = Signal(int, str)
    index_requested = Signal(int, object, object)
    drain_requested = Signal()
    status_requested = Signal()
    shutdown_requested = Signal()

    # results, re-emitted on the GUI thread
    engine_opened = Signal(str)
    model_status_changed = Signal(object)
    models_ready = Signal(object)
    status_changed = Signal(object)
    index_started = Signal(int)
    index_progressed = Signal(object)
    index_finished = Signal(object)
    search_started = Signal(int)
    search_finished = Signal(int, object)
    detail_finished = Signal(int, object)
    failed = Signal(int, str, str)
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
        self._pending_searches = 0
        self.models_loaded = False
        self.model_infos: tuple[ModelInfo, ...] = ()
        self.status: LibraryStatus | None = None
        self.data_dir: str | None = None
        self.last_progress: Progress | None = None
        self._closed = False

        q = Qt.ConnectionType.QueuedConnection
        w = self.worker
        self.open_requested.connect(w.open_engine, q)
        self.load_models_requested.connect(w.load_models, q)
        self.add_roots_requested.connect(w.add_roots, q)
        self.remove_root_requested.connect(w.remove_root, q)
        self.index_requested.connect(w.index, q)
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
        self.open_requested.emit(data_dir, image_model, device)
        self.load_models_requested.emit()

    def add_roots(self, roots: Iterable[str], *, index: bool = True) -> int:
        """Add folders to the library and (by default) index them. Returns the add's request id."""
        rid = self._next()
        self.add_roots_requested.emit(rid, [str(r) for r in roots])
        if index:
            self.index()
        return rid

    def remove_root(self, root: str) -> int:
        rid = self._next()
        self.remove_root_requested.emit(rid, str(root))
        return rid

    def index(self, roots: list[str] | None = None) -> int:
        """Queue an index pass over `roots` (None: every root of the library)."""
        rid = self._next()
        event = threading.Event()
        before = self.busy
        self._cancels[rid] = event
        self.index_requested.emit(rid, roots, event)
        if self.busy != before:
            self.busy_changed.emit(self.busy)
        return rid

    def cancel_index(self) -> None:
        """Cancel the running index pass and any queued one. Takes effect at the next batch."""
        for event in self._cancels.values():
            event.set()

    def _search(self, how: str, value: Any, k: int, modality: str | None) -> int:
        rid = self._next()
        self._latest_search = rid
        self.search_started.emit(rid)
        self._set_pending(+1)
        self.worker.post("search", (rid, how, value, k, modality))
        self.drain_requested.emit()
        return rid

    def search_text(self, query: str, *, k: int = 60, modality: str | None = None) -> int:
        """Search by text; the answer comes as search_finished(request_id, results)."""
        return self._search("text", query, k, modality)

    def search_image(self, path: str, *, k: int = 60, modality: str | None = None) -> int:
        """Search by an example image file."""
        return self._search("image", str(path), k, modality)

    def similar(self, item_id: int, *, k: int = 60, modality: str | None = None) -> int:
        """Search for an indexed item's neighbours."""
        return self._search("similar", int(item_id), k, modality)

    def cancel_search(self) -> None:
        """Forget the search in flight: its answer will be dropped, a queued one is not run."""
        self._latest_search = self._next()
        self.worker.post("search", None)
        self._set_pending(-self._pending_searches)

    def item_detail(self, item_id: int) -> int:
        rid = self._next()
        self._latest_detail = rid
        self.worker.post("detail", (rid, int(item_id)))
        self.drain_requested.emit()
        return rid

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
        self.worker.post("search", None)
        self.worker.post("detail", None)
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

    @Slot(str)
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

    @Slot(int, str, str)
    def _on_failed(self, rid: int, message: str, details: str) -> None:
        if rid == self._latest_search:
            self._set_pending(-self._pending_searches)
        self.failed.emit(rid, message, details)


class _ThumbSignals(QObject):
    done = Signal(str, int, object)  # path, side, QImage
    failed = Signal(str, int, str)  # path, side, reason


class _ThumbJob(QRunnable):
    def __init__(self, signals: _ThumbSignals, path: str, side: int, cache_dir: Path) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._signals = signals
        self._path = path
        self._side = side
        self._cache_dir = cache_dir

    def run(self) -> None:  # runs on a pool thread
        from mmexplorer.core import thumbnails

        try:
            file = thumbnails.make_thumbnail(self._path, self._cache_dir, side=self._side)
            image = QImage(str(file))
            if image.isNull():
                raise MMExplorerError(f"cannot read thumbnail {file}")
        except Exception as e:  # noqa: BLE001 - the worker boundary reports every failure
            reason = getattr(e, "reason", None) or str(e)
            self._signals.failed.emit(self._path, self._side, reason)
            return
        self._signals.done.emit(self._path, self._side, image)


class ThumbnailLoader(QObject):
    """Makes thumbnails on a small thread pool and hands back QImages on the GUI thread.

    Requests are de-duplicated; `clear_pending` drops the queue when the results change, so
    scrolling through many searches never makes the pool work on images nobody sees.
    """

    ready = Signal(str, int, object)  # path, side, QImage
    failed = Signal(str, int, str)  # path, side, reason

    def __init__(self, cache_dir: Path | None = None, *, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._signals = _ThumbSignals(self)
        q = Qt.ConnectionType.QueuedConnection
        self._signals.done.connect(self._on_done, q)
        self._signals.failed.connect(self._on_failed, q)
        self._pending: set[tuple[str, int]] = set()
        self.cache_dir = cache_dir

    def request(self, path: str, side: int, *, priority: int = 0) -> None:
        """Ask for a thumbnail; `ready` or `failed` follows once (unless cleared first)."""
        key = (path, side)
        if key in self._pending or self.cache_dir is None:
            return
        self._pending.add(key)
        self._pool.start(_ThumbJob(self._signals, path, side, self.cache_dir), priority)

    def is_pending(self, path: str, side: int) -> bool:
        return (path, side) in self._pending

    def clear_pending(self) -> None:
        """Drop queued (not yet started) jobs."""
        self._pool.clear()
        self._pending.clear()

    def wait_idle(self, timeout_ms: int = 10_000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))

    @Slot(str, int, object)
    def _on_done(self, path: str, side: int, image: QImage) -> None:
        self._pending.discard((path, side))
        self.ready.emit(path, side, image)

    @Slot(str, int, str)
    def _on_failed(self, path: str, side: int, reason: str) -> None:
        self._pending.discard((path, side))
        self.failed.emit(path, side, reason)
