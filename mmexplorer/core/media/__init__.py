"""Find the user's media files, tell what they are, fingerprint them and decode them safely.

Everything here only reads: nothing is ever written beside the user's files. Bad files raise
`DecodeError` with a one-line reason the UI and `mmexplorer status` can show as is.

- `kinds`: the one list of photo, note and recording extensions (stdlib only).
- `discover`: the read-only, loop-safe folder walk.
- `sniff`: content signatures and `classify` (modality from content and extension).
- `hashing`: `content_hash`, to recognise a file after a move.
- `photos`: `load_image`, `image_dimensions`, `displayed_size`, `reduce_for_model` (PIL).
- `notes`: `read_note`, text in any common encoding.
- `recordings`: which audio formats this machine decodes.

Text chunking lives in `core.text.chunking` and is re-exported here. `photos` (and so PIL and
pillow-heif) loads on first use, so importing `kinds` or `classify` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmexplorer.core.errors import DecodeError
from mmexplorer.core.lazy import lazy_attributes
from mmexplorer.core.media.discover import walk
from mmexplorer.core.media.hashing import content_hash
from mmexplorer.core.media.kinds import NOTE_EXTENSIONS, PHOTO_EXTENSIONS, RECORDING_EXTENSIONS
from mmexplorer.core.media.notes import read_note
from mmexplorer.core.media.sniff import JPEG_MAGIC, classify
from mmexplorer.core.text.chunking import approx_token_count, chunk_text

if TYPE_CHECKING:
    from mmexplorer.core.media.photos import (
        HEIF_AVAILABLE,
        displayed_size,
        image_dimensions,
        load_image,
        reduce_for_model,
    )

_LAZY = {
    name: "mmexplorer.core.media.photos"
    for name in ("HEIF_AVAILABLE", "displayed_size", "image_dimensions", "load_image", "reduce_for_model")
}

__all__ = [
    "HEIF_AVAILABLE",
    "JPEG_MAGIC",
    "NOTE_EXTENSIONS",
    "PHOTO_EXTENSIONS",
    "RECORDING_EXTENSIONS",
    "DecodeError",
    "approx_token_count",
    "chunk_text",
    "classify",
    "content_hash",
    "displayed_size",
    "image_dimensions",
    "load_image",
    "read_note",
    "reduce_for_model",
    "walk",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
