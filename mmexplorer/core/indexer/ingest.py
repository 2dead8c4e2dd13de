"""What an ingest handler is: it turns one modality's files into chunks and vectors for its spaces.

The pipeline (core.indexer.pipeline) does not know modalities. For each file it asks the handler of
the file's modality to `prepare` it in the decode pool (read, check, decode, preprocess: CPU work
that may run beside the encoder), then hands batches of prepared files to the handler's `ingest`
on the pipeline's thread (encode), and commits what comes back the same way for every modality:
the item's row, its chunks per space, and their vectors.

A handler:
- names its modality and the spaces it feeds (`spaces`), whose encoders `load` makes ready;
- `prepare(path)` -> `Prepared` (raises DecodeError for a bad file, OSError for an unreadable one);
- `ingest(batch)` -> one `Ingested` per prepared file, in order;
- `device`: where its encoder runs (None when it uses no model), so the pipeline can keep decode
  threads off the cores the encoder uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.types import Chunk, Modality, Space


@dataclass
class Prepared:
    """A file made ready for encoding, in the decode pool.

    payload: what `ingest` needs (a preprocessed tensor, a note's text, ...).
    fields: catalog columns known from decoding (width, height).
    """

    payload: Any = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ingested:
    """What to commit for one file.

    chunks: per space, the item's chunks (None: one whole-item vector, as for a photo).
    vectors: per space, one unit row per chunk, in the same order.
    Spaces the item had chunks in and that are absent here lose them.
    """

    status: str = cat.INDEXED
    error: str | None = None
    chunks: dict[Space, list[Chunk | None]] = field(default_factory=dict)
    vectors: dict[Space, np.ndarray] = field(default_factory=dict)

    @property
    def encoded(self) -> bool:
        return self.status == cat.INDEXED


class EncodingSpace(Protocol):
    """What a handler needs of a vector space (core.spaces.VectorSpace): its key and its encoder."""

    key: Space

    @property
    def loaded(self) -> bool: ...

    def encoder(self) -> Any: ...


class IngestHandler(Protocol):
    """One modality's way into the library's spaces."""

    modality: Modality

    @property
    def spaces(self) -> tuple[Space, ...]: ...

    @property
    def device(self) -> str | None: ...

    def load(self) -> None:
        """Make the encoders of its spaces ready (raises ModelUnavailableError)."""

    def prepare(self, path: Path) -> Prepared:
        """Read and decode one file (runs in the decode pool; thread-safe)."""

    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        """Encode a batch of prepared files (runs on the pipeline's thread)."""
