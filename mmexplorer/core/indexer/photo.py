"""Photos: pixels into the image space (one whole-photo vector each).

Decoding runs in the decode pool: JPEG draft decoding at the smallest scale that still covers the
model's input, a box reduce for other formats, then the model's own preprocessing. Captions into
the text space will be a second output of this handler.
"""

from __future__ import annotations

from pathlib import Path

from mmexplorer.core.indexer.ingest import Ingested, Prepared
from mmexplorer.core.media import photos
from mmexplorer.core.spaces import VectorSpace
from mmexplorer.core.types import Modality


class PhotoHandler:
    modality = Modality.PHOTO

    def __init__(self, image_space: VectorSpace) -> None:
        self.image = image_space

    @property
    def spaces(self) -> tuple:
        return (self.image.key,)

    @property
    def device(self) -> str | None:
        return str(self.image.encoder().device) if self.image.loaded else None

    def load(self) -> None:
        self.image.encoder()

    def prepare(self, path: Path) -> Prepared:
        encoder = self.image.encoder()
        image = photos.load_image(path, min_side=encoder.image_size)
        width, height = photos.displayed_size(path, image)
        tensor = encoder.preprocess(photos.reduce_for_model(image, encoder.image_size))
        return Prepared(tensor, {"width": width, "height": height})

    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        import torch

        vectors = self.image.encoder().encode_image_tensors(torch.stack([p.payload for p in batch]))
        key = self.image.key
        return [Ingested(chunks={key: [None]}, vectors={key: vectors[i : i + 1]}) for i in range(len(batch))]
