"""What the window needs from the rest of the app, as Protocols the UI owns.

`Host` is the worker bridge seen from the GUI thread (mmexplorer.worker.WorkerHost implements it):
requests go out as method calls that return a request id, answers come back as signals on the GUI
thread. `ThumbnailSource` makes thumbnails off the GUI thread (ui.thumbs.ThumbnailLoader). The ui
never imports the worker module; the composition root (app.py) hands both in, and a test can hand
in stand-ins.

Signals (PySide6 `SignalInstance`s on the object) and their arguments:

Host:
    engine_opened(str data_dir), model_status_changed(ModelStatus), models_ready(tuple[ModelInfo]),
    status_changed(LibraryStatus), index_started(int request_id), index_progressed(Progress),
    index_finished(IndexReport), search_finished(int request_id, list[SearchResult]),
    detail_finished(int request_id, ItemDetail), weights_changed(int request_id, FusionWeights),
    recent_loaded(tuple[str] recent text queries of the opened library, newest first),
    failed(int request_id or 0, ErrorInfo), busy_changed(bool),
    explain_finished(int request_id, Explanation), compare_finished(int request_id, Explanation),
    related_finished(int request_id, dict[Modality, list[SearchResult]]),
    matrix_finished(int request_id, numpy (n, n) float32 relevance); only the newest of each is relayed.
    transcribed(int request_id, Heard): the words of the newest spoken query (issue 9).
ThumbnailSource:
    ready(str path, int side, QImage), failed(str path, int side, str reason).
Paths in signals are raw (a non-UTF-8 name keeps its bytes as surrogates), so they are declared
`object`, never `str` (a Qt string drops those bytes); widgets show them through display_path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import SignalInstance

from mmexplorer.core.types import FusionWeights, LibraryStatus, Query


class Host(Protocol):
    """The worker, seen from the GUI thread."""

    engine_opened: SignalInstance
    model_status_changed: SignalInstance
    models_ready: SignalInstance
    status_changed: SignalInstance
    index_started: SignalInstance
    index_progressed: SignalInstance
    index_finished: SignalInstance
    search_finished: SignalInstance
    detail_finished: SignalInstance
    weights_changed: SignalInstance
    recent_loaded: SignalInstance
    failed: SignalInstance
    busy_changed: SignalInstance
    explain_finished: SignalInstance
    compare_finished: SignalInstance
    related_finished: SignalInstance
    matrix_finished: SignalInstance
    transcribed: SignalInstance

    @property
    def models_loaded(self) -> bool:
        """The open library's models finished loading."""
        ...

    @property
    def status(self) -> LibraryStatus | None:
        """The newest library status (None until the library is open)."""
        ...

    @property
    def data_dir(self) -> str | None:
        """The data dir asked for last."""
        ...

    @property
    def indexing(self) -> bool:
        """An index run is queued or running."""
        ...

    @property
    def search_pending(self) -> bool:
        """A search was asked for and its answer has not come yet."""
        ...

    def add_roots(self, roots: Iterable[str], *, index: bool = True) -> int: ...

    def remove_root(self, root: str) -> int: ...

    def index(self, roots: Iterable[str] | None = None) -> int: ...

    def cancel_index(self) -> None: ...

    def search(self, query: Query, *, k: int = 60, modality: str | None = None) -> int: ...

    def cancel_search(self) -> None: ...

    def item_detail(self, item_id: int) -> int: ...

    def set_weights(self, weights: FusionWeights) -> int:
        """Store the library's fusion weights; a search asked for afterwards uses them."""
        ...

    def save_recent(self, queries: Iterable[str]) -> None:
        """Keep the recent text queries (newest first) with the open library, not in global settings."""
        ...

    def explain(self, a: str | int, b: int) -> int:
        """Why item `b` matched `a` (query text, item id, or a photo's path)."""
        ...

    def compare(self, a: int, b: int) -> int:
        """Explain two items against each other (the Compare window's own request)."""
        ...

    def related(self, item_id: int, k: int = 8) -> int: ...

    def similarity_matrix(self, item_ids: Iterable[int], *, calibrated: bool = True) -> int: ...

    def transcribe(self, audio: object, *, sample_rate: int = 16_000) -> int:
        """Recognise a spoken query (float32 mono samples) on the worker; `transcribed` follows."""
        ...

    def cancel_transcribe(self) -> None: ...

    def shutdown(self, timeout_ms: int = 30_000) -> bool: ...


class ThumbnailSource(Protocol):
    """Thumbnails of photos, made off the GUI thread; `ready` or `failed` follows each request."""

    ready: SignalInstance
    failed: SignalInstance
    cache_dir: Path | None

    @property
    def pending(self) -> int:
        """How many requested thumbnails have not arrived yet."""
        ...

    def request(self, path: str, side: int, *, priority: int = 0) -> None: ...

    def clear_pending(self) -> None: ...

    def wait_idle(self, timeout_ms: int = 10_000) -> bool: ...
