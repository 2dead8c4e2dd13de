"""Photos: pixels into the image space (one whole-photo vector each).

Decoding runs in the decode pool: JPEG draft decoding at the smallest scale that still covers the
model's input, a box reduce for other formats, then the model's own preprocessing. Captions into
the text space will be a second output of this handler.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from mmexplorer.core.indexer.ingest import EncodingSpace, Ingested, Prepared
from mmexplorer.core.media import photos
from mmexplorer.core.types import Modality

_DATETIME_ORIGINAL = 0x9003
_DATETIME = 0x0132
_EXIF_IFD = 0x8769


def taken_at(path: Path) -> float | None:
    """When the photo was taken (EXIF DateTimeOriginal, else DateTime), as local-time seconds; None if unknown."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            exif = img.getexif()
            value = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    except Exception:  # noqa: BLE001 - a date is a nicety; the photo was already decoded
        return None
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip()[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except ValueError:
        return None


class PhotoHandler:
    modality = Modality.PHOTO

    def __init__(self, image_space: EncodingSpace) -> None:
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
        return Prepared(tensor, {"width": width, "height": height, "taken_at": taken_at(path)})

    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        payloads = [p.payload for p in batch]
        if isinstance(payloads[0], np.ndarray):  # the ONNX backend preprocesses into numpy
            stacked = np.stack(payloads)
        else:
            import torch

            stacked = torch.stack(payloads)
        vectors = self.image.encoder().encode_image_tensors(stacked)
        key = self.image.key
        return [Ingested(chunks={key: [None]}, vectors={key: vectors[i : i + 1]}) for i in range(len(batch))]
