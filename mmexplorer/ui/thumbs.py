"""Thumbnails on a small thread pool, handed to the GUI thread as QImages.

Stateless work, so it does not queue behind the engine on the worker thread: each job calls
core.thumbnails (pure PIL, cached in the data dir) and reads the cached JPEG into a QImage, which is
safe to build off the GUI thread (a QPixmap is not; the GUI thread makes those). Paths travel as
`object` in the signals: a Qt string would drop the undecodable bytes of a non-UTF-8 name, and
the answer would no longer match its request.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QImage

# The most GUI-thread time handed-back thumbnails may take in one turn of the event loop. Queued
# signals are delivered in one batch, so a hundred thumbnails made while the window was busy
# painting would otherwise be turned into pixmaps back to back (measured: 60-85 ms stalls while
# 300 results loaded); the rest wait for the next turn, after input and timers.
BUDGET_S = 0.006


class _ThumbSignals(QObject):
    done = Signal(object, int, object)  # path, side, QImage
    failed = Signal(object, int, str)  # path, side, reason


class _ThumbJob(QRunnable):
    def __init__(self, signals: _ThumbSignals, path: str, side: int, cache_dir: Path) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._signals = signals
        self._path = path
        self._side = side
        self._cache_dir = cache_dir

    def run(self) -> None:  # runs on a pool thread
        # Imported here, on a pool thread: PIL stays off the GUI thread's startup path.
        from mmexplorer.core import thumbnails

        try:
            file = thumbnails.make_thumbnail(self._path, self._cache_dir, side=self._side)
            image = QImage(str(file))
            if image.isNull():
                raise OSError(f"cannot read thumbnail {file}")
        except Exception as e:  # noqa: BLE001 - a failed thumbnail is shown as such, never raised
            reason = getattr(e, "reason", None) or str(e)
            self._signals.failed.emit(self._path, self._side, reason)
            return
        self._signals.done.emit(self._path, self._side, image)


class ThumbnailLoader(QObject):
    """Makes thumbnails on a small thread pool and hands back QImages on the GUI thread.

    Requests are de-duplicated; `clear_pending` drops the queue when the results change, so
    scrolling through many searches never makes the pool work on images nobody sees. It implements
    the `mmexplorer.ui.host.ThumbnailSource` protocol.
    """

    ready = Signal(object, int, object)  # raw path, side, QImage
    failed = Signal(object, int, str)  # raw path, side, reason

    def __init__(self, cache_dir: Path | None = None, *, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._signals = _ThumbSignals(self)
        q = Qt.ConnectionType.QueuedConnection
        self._signals.done.connect(self._on_done, q)
        self._signals.failed.connect(self._on_failed, q)
        self._pending: set[tuple[str, int]] = set()
        self._arrived: deque[tuple[str, int, QImage]] = deque()
        self._hand_over = QTimer(self)
        self._hand_over.setSingleShot(True)
        self._hand_over.setInterval(0)
        self._hand_over.timeout.connect(self._deliver)
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

    @property
    def pending(self) -> int:
        """How many requested thumbnails have not arrived yet."""
        return len(self._pending)

    def clear_pending(self) -> None:
        """Drop queued (not yet started) jobs, and made ones not handed over yet."""
        self._pool.clear()
        self._pending.clear()
        self._arrived.clear()

    def wait_idle(self, timeout_ms: int = 10_000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))

    @Slot(object, int, object)
    def _on_done(self, path: str, side: int, image: QImage) -> None:
        if (path, side) not in self._pending:
            return  # cleared meanwhile: the results it was for are gone
        self._arrived.append((path, side, image))
        if not self._hand_over.isActive():
            self._hand_over.start()

    def _deliver(self) -> None:
        """Hand over arrived thumbnails for at most BUDGET_S, then let the event loop breathe."""
        deadline = time.perf_counter() + BUDGET_S
        while self._arrived:
            path, side, image = self._arrived.popleft()
            self._pending.discard((path, side))
            self.ready.emit(path, side, image)
            if time.perf_counter() >= deadline:
                break
        if self._arrived:
            self._hand_over.start()

    @Slot(object, int, str)
    def _on_failed(self, path: str, side: int, reason: str) -> None:
        self._pending.discard((path, side))
        self.failed.emit(path, side, reason)
