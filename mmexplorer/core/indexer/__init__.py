"""Indexing: the pipeline (discover, diff, decode pool, batched encode, commit) and one ingest
handler per modality (photo, note, recording)."""

from mmexplorer.core.indexer.gate import DecodeGate, decoders_while_encoding
from mmexplorer.core.indexer.ingest import Ingested, IngestHandler, Prepared
from mmexplorer.core.indexer.pipeline import Decoded, Indexer, StageTimes, default_handlers
from mmexplorer.core.indexer.plan import Plan, Task, plan, scan

__all__ = [
    "DecodeGate",
    "Decoded",
    "Indexer",
    "IngestHandler",
    "Ingested",
    "Plan",
    "Prepared",
    "StageTimes",
    "Task",
    "decoders_while_encoding",
    "default_handlers",
    "plan",
    "scan",
]
