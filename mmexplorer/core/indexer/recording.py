"""Recordings: catalogued today (hashed, counted, listed); transcripts and sound vectors come next.

The recordings issue fills `prepare` (decode, resample) and `ingest` (transcript segments into the
text space, sound windows into the sound space) without touching the pipeline.
"""

from __future__ import annotations

from pathlib import Path

from mmexplorer.core import catalog as cat
from mmexplorer.core.indexer.ingest import Ingested, Prepared
from mmexplorer.core.types import Modality

UNSUPPORTED_RECORDING = "recordings are catalogued; searching by sound or speech is not built yet"


class RecordingHandler:
    modality = Modality.RECORDING
    spaces: tuple = ()
    device = None

    def load(self) -> None:
        return None

    def prepare(self, path: Path) -> Prepared:
        return Prepared()

    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        return [Ingested(status=cat.UNSUPPORTED, error=UNSUPPORTED_RECORDING) for _ in batch]
