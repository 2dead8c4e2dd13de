"""Notes: text chunks (sentence-based, with character offsets) into the text space.

`NoteHandler` serves any modality whose files are read as text (its `read` function): a note, or
another text file kind a modality entry declares.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmexplorer.core.indexer.ingest import EncodingSpace, Ingested, Prepared
from mmexplorer.core.media import notes
from mmexplorer.core.text.chunking import chunk_text
from mmexplorer.core.types import Chunk, Modality


class NoteHandler:
    modality = Modality.NOTE

    def __init__(
        self,
        text_space: EncodingSpace,
        *,
        modality: Modality | None = None,
        read: Callable[[Path], str] = notes.read_note,
    ) -> None:
        self.text = text_space
        if modality is not None:
            self.modality = modality
        self.read = read

    @property
    def spaces(self) -> tuple:
        return (self.text.key,)

    @property
    def device(self) -> str | None:
        return str(self.text.encoder().device) if self.text.loaded else None

    def load(self) -> None:
        self.text.encoder()

    def prepare(self, path: Path) -> Prepared:
        return Prepared(self.read(path))

    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        encoder = self.text.encoder()
        chunked: list[list[Chunk]] = [
            chunk_text(p.payload or "", max_tokens=encoder.max_tokens, count_tokens=encoder.count_tokens)
            for p in batch
        ]
        flat = [c.text for chunks in chunked for c in chunks]
        vectors = encoder.encode(flat) if flat else np.zeros((0, encoder.dim), np.float32)
        out, at = [], 0
        key = self.text.key
        for chunks in chunked:
            out.append(Ingested(chunks={key: list(chunks)}, vectors={key: vectors[at : at + len(chunks)]}))
            at += len(chunks)
        return out
