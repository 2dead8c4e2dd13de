"""What every encoder offers, and the one way model loaders report their progress.

The Protocols say what the spaces, the indexer and search may rely on, whatever family a model
comes from (open_clip, sentence-transformers; CLAP next). `StatusReporter` sends one model's
loading news (loading, downloading with a fraction, ready, failed) as `ModelStatus` records, so
every loader and the weights resolver tell the status bar the same story.

Cheap to import: no torch, PIL or numpy at runtime (types only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mmexplorer.core.errors import MMExplorerError
from mmexplorer.core.types import ModelInfo, ModelStatus

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

StatusCallback = Callable[[ModelStatus], None]


@runtime_checkable
class Encoder(Protocol):
    """A loaded model that embeds something into one vector space.

    Attributes:
        name: the spec as the user typed it.
        model_id: stable id of the weights; the catalog re-embeds when it changes.
        dim: embedding size.
        device, dtype: where and in which precision the model runs ("cuda", "float16").
    """

    name: str
    model_id: str
    dim: int
    device: str
    dtype: str

    def info(self) -> ModelInfo:
        """What is loaded, for `mmexplorer status` and the GUI."""
        ...

    def release(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        ...


@runtime_checkable
class ImageEncoder(Encoder, Protocol):
    """Photos and query text into an image space (open_clip's two towers).

    Attributes:
        image_size: side of the square the model sees, in pixels.
        meaningful: False for test models whose similarities mean nothing (tiny-random).
    """

    image_size: int
    meaningful: bool

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """The model's eval transform; CPU, thread-safe (called from the decode pool)."""
        ...

    def encode_image_tensors(self, batch: torch.Tensor) -> np.ndarray:
        """Preprocessed images (n, 3, H, W) -> (n, dim) float32, L2-normalised."""
        ...

    def encode_images(self, imgs: Sequence[Image.Image], *, batch_size: int = ...) -> np.ndarray:
        """PIL images -> (n, dim) float32, L2-normalised."""
        ...

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = ...) -> np.ndarray:
        """Query texts through the text tower -> (n, dim) float32, L2-normalised."""
        ...


@runtime_checkable
class SentenceEncoder(Encoder, Protocol):
    """Text into a text space (notes, transcripts, captions, queries).

    Attributes:
        max_tokens: tokens one chunk may hold (the model truncates beyond it).
    """

    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`, in the unit `max_tokens` is in."""
        ...

    def encode(self, texts: Sequence[str], *, batch_size: int = ...) -> np.ndarray:
        """Texts -> (n, dim) float32, L2-normalised; empty input gives (0, dim)."""
        ...


class StatusReporter:
    """One model's loading news, sent to an optional callback as `ModelStatus` records.

    The sequence a loader sends: `loading` (again after each download), `downloading` with a
    fraction while bytes arrive, then `ready`, or `failed` with the error's message.

    Args:
        on_status: where the news goes; None drops it.
        space: the vector space the model serves ("image", "text", ...).
        name: the model's name as the user typed it.
    """

    def __init__(self, on_status: StatusCallback | None, *, space: str, name: str) -> None:
        self.on_status = on_status
        self.space = space
        self.name = name

    def _send(
        self, state: str, *, name: str | None = None, fraction: float | None = None, message: str = ""
    ) -> None:
        if self.on_status is not None:
            status = ModelStatus(self.space, name or self.name, state, fraction=fraction, message=message)
            self.on_status(status)

    def loading(self, message: str = "") -> None:
        self._send("loading", message=message or f"loading {self.name}")

    def downloading(self, message: str, *, fraction: float | None = None) -> None:
        self._send("downloading", fraction=fraction, message=message)

    def ready(self, *, name: str | None = None, message: str = "") -> None:
        """The model is loaded; `name` when it resolved to another display name than requested."""
        self._send("ready", name=name, fraction=1.0, message=message)

    def failed(self, error: BaseException | str) -> None:
        self._send("failed", message=str(error))

    @contextlib.contextmanager
    def reporting_failure(self) -> Iterator[None]:
        """Report an MMExplorerError raised inside as `failed`, and let it propagate."""
        try:
            yield
        except MMExplorerError as e:
            self.failed(e)
            raise
