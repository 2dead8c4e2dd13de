"""Background captioning: indexed photos get a generated caption, stored and embedded in the text space.

Captioning runs after a folder's photos are indexed (they are searchable by pixels first) and is
lower priority than indexing: a run works in small batches, checks `cancel` between them (the GUI
worker cancels it when an index job arrives, and starts it again afterwards) and waits while
`pause` is set. Each caption is stored in the catalog with the captioner's model id and the
photo's content hash, so it is redone when the caption model changes or the photo does; it goes
into the text space as one chunk of the photo, so a note-like query reaches the photo through its
caption as one more search component (via "caption").

A captioner that cannot be had (offline, not cached) leaves the photos uncaptioned: the run
returns a report with the reason, which `status` shows; search works without captions.

    report = CaptionPass(catalog, spaces[Space.TEXT], lambda: load_caption_model(spec)).run()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import DecodeError, ModelUnavailableError, UsageError
from mmexplorer.core.names import display_path
from mmexplorer.core.spaces import VectorSpace
from mmexplorer.core.types import CaptionReport, Chunk, Progress

log = logging.getLogger(__name__)

PHASE = "captioning"
DECODE_SIDE = 384  # BLIP's input side: JPEGs are draft-decoded no smaller than this
SAVE_EVERY_S = 10.0  # the text index is saved at least this often during a long run
PAUSE_POLL_S = 0.1

ProgressFn = Callable[[Progress], None]


def caption_chunk(text: str) -> Chunk:
    """A photo's caption as its one text-space chunk (offsets into the caption itself)."""
    return Chunk(ord=0, start=0, end=len(text), text=text)


class CaptionPass:
    """One captioning run over a library's indexed photos.

    Args:
        catalog: the library's catalog (captions are stored there).
        text_space: the space captions are embedded in (Space.TEXT).
        load_captioner: () -> a loaded `core.models.caption.Captioner` (raises ModelUnavailableError).
        batch_size: photos per `caption` call; small, so cancel and pause answer quickly.
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        text_space: VectorSpace,
        load_captioner: Callable[[], Any],
        *,
        batch_size: int = 8,
    ) -> None:
        self.catalog = catalog
        self.text = text_space
        self.load_captioner = load_captioner
        self.batch_size = max(1, int(batch_size))

    def run(
        self,
        *,
        progress: ProgressFn | None = None,
        cancel: Callable[[], bool] | None = None,
        pause: threading.Event | None = None,
    ) -> CaptionReport:
        """Caption every photo that needs it, and embed every stored caption not in the text space yet.

        Args:
            progress: receives `Progress(phase="captioning", ...)` after each batch.
            cancel: asked between batches; True stops the run (what is done stays done).
            pause: while set, the run waits between batches (cancel still answers).

        Returns:
            A `CaptionReport`; `reason` says why photos were left uncaptioned, if they were.
        """
        started = time.monotonic()
        cancel = cancel or (lambda: False)
        try:
            captioner = self.load_captioner()
        except (ModelUnavailableError, UsageError) as e:
            log.info("photos are left uncaptioned: %s", e)  # the report carries it; callers say it once
            remaining = len(self.catalog.photos_to_caption(""))
            return CaptionReport(remaining=remaining, elapsed_s=time.monotonic() - started, reason=str(e))
        model_id = captioner.model_id
        self.text.encoder()  # adopt the text model first: a change re-queues what it embedded
        embedded = self._embed_stored(model_id)
        todo = self.catalog.photos_to_caption(model_id)
        total = len(todo)
        done = failed = captioned = 0
        last_save = time.monotonic()
        caption_started = time.monotonic()
        cancelled = False
        emit = progress or (lambda _p: None)
        emit(Progress(PHASE, 0, total))
        for start in range(0, total, self.batch_size):
            if _wait_while_paused(pause, cancel) or cancel():
                cancelled = True
                break
            batch = todo[start : start + self.batch_size]
            images, rows = [], []
            for row in batch:
                image = _decode(row.path)
                if image is None:
                    failed += 1
                    with self.catalog.transaction():  # an empty caption: not retried until the photo changes
                        self.catalog.set_caption(row.id, "", model_id=model_id, content_hash=row.content_hash)
                    continue
                images.append(image)
                rows.append(row)
            texts = captioner.caption(images) if images else []
            self._commit(rows, texts, model_id)
            captioned += len(rows)
            embedded += sum(1 for t in texts if t)
            done += len(batch)
            elapsed = time.monotonic() - caption_started
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else None
            emit(Progress(PHASE, done, total, current=batch[-1].path, rate=rate, eta_s=eta, skipped=failed))
            if time.monotonic() - last_save > SAVE_EVERY_S:
                self.text.save()
                last_save = time.monotonic()
        self.text.save()
        if not cancelled:
            emit(Progress("done", done, total, skipped=failed))
        return CaptionReport(
            captioned=captioned,
            embedded=embedded,
            failed=failed,
            remaining=total - done,
            cancelled=cancelled,
            elapsed_s=time.monotonic() - started,
            model=captioner.name,
        )

    def _embed_stored(self, model_id: str) -> int:
        """Put stored captions of this model into the text space where they are missing (its model changed)."""
        pending = [(i, t) for i, t in self.catalog.captions_to_embed(model_id, self.text.key.value) if t]
        for start in range(0, len(pending), 64):
            part = pending[start : start + 64]
            vectors = self.text.encode_texts([t for _i, t in part])
            self._write_chunks([i for i, _t in part], [t for _i, t in part], vectors)
        return len(pending)

    def _commit(self, rows: Sequence[cat.ItemRow], texts: Sequence[str], model_id: str) -> None:
        if not rows:
            return
        with_text = [(r, t) for r, t in zip(rows, texts, strict=True) if t]
        vectors = self.text.encode_texts([t for _r, t in with_text]) if with_text else None
        with self.catalog.transaction():
            for row, text in zip(rows, texts, strict=True):
                self.catalog.set_caption(row.id, text, model_id=model_id, content_hash=row.content_hash)
        if vectors is not None:
            self._write_chunks([r.id for r, _t in with_text], [t for _r, t in with_text], vectors)

    def _write_chunks(self, item_ids: Sequence[int], texts: Sequence[str], vectors: np.ndarray) -> None:
        """Each photo's caption chunk replaces its old one, in the catalog and in the text index."""
        removed: list[int] = []
        added: list[int] = []
        with self.catalog.transaction():
            for item_id, text in zip(item_ids, texts, strict=True):
                old, new = self.catalog.replace_chunks(item_id, self.text.key.value, [caption_chunk(text)])
                removed += old
                added += new
        self.text.remove(removed)
        if added:
            self.text.writable_index().add(np.asarray(added, dtype=np.int64), np.asarray(vectors, dtype=np.float32))


def _wait_while_paused(pause: threading.Event | None, cancel: Callable[[], bool]) -> bool:
    """Block while `pause` is set; True if cancelled meanwhile."""
    while pause is not None and pause.is_set():
        if cancel():
            return True
        time.sleep(PAUSE_POLL_S)
    return False


def _decode(path: str) -> Any:
    """The photo, upright and RGB, at no less than the captioner's input side; None if unreadable now."""
    from mmexplorer.core.media import photos

    try:
        image = photos.load_image(Path(path), min_side=DECODE_SIDE)
        return photos.reduce_for_model(image, DECODE_SIDE)
    except (DecodeError, OSError) as e:
        log.warning("cannot caption %s: %s", display_path(path), e)
        return None
