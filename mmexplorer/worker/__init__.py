"""The one bridge between Qt and core: a Worker on a long-lived QThread that owns the Engine.

Threading model (STYLE.md, convention 1):
- `Worker` (engine_worker.py) lives on its own QThread. The Engine (models, FAISS spaces, the
  SQLite catalog) is created there and never touched from another thread, so SQLite stays on one.
- One way in: `Worker.submit(request)`, where a request is a frozen dataclass carrying its request
  id (requests.py). One fixed set of past-tense signals out, keyed by request id:
  `started`, `progressed`, `finished(request_id, payload)`, `failed(request_id, ErrorInfo)`
  (ErrorInfo: core.errors.error_info, so the UI decides by its kind), and `reported(fact)` for
  what nobody asked for. `WorkerHost` (host.py) is the GUI-side face: it owns the thread, hands
  out request ids, routes each answer by the type of the request it answers and re-emits it on
  the GUI thread, dropping stale ones.
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
  This package imports QtCore only.

core.engine is imported inside the function that creates the Engine, on the worker thread, so the
GUI thread never pays for importing torch and the window shows at once.
"""

from __future__ import annotations

from mmexplorer.worker.engine_worker import EngineFactory, Worker, default_engine_factory
from mmexplorer.worker.host import WorkerHost
from mmexplorer.worker.quiet_heap import quiet_heap
from mmexplorer.worker.requests import (
    AddRootsRequest,
    CaptionRequest,
    CaptionSettingsRequest,
    CompareRequest,
    DetailRequest,
    ExplainRequest,
    IndexRequest,
    LoadModelsRequest,
    MatrixRequest,
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
)

__all__ = [
    "AddRootsRequest",
    "CaptionRequest",
    "CaptionSettingsRequest",
    "CompareRequest",
    "DetailRequest",
    "EngineFactory",
    "ExplainRequest",
    "IndexRequest",
    "LoadModelsRequest",
    "MatrixRequest",
    "OpenRequest",
    "RelatedRequest",
    "RemoveRootRequest",
    "Request",
    "SaveRecentRequest",
    "SearchRequest",
    "SetWeightsRequest",
    "ShutdownRequest",
    "StatusRequest",
    "TranscribeRequest",
    "Worker",
    "WorkerHost",
    "default_engine_factory",
    "quiet_heap",
]
