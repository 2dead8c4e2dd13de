"""Sound vectors (CLAP) for recordings: on or off per library, what waits for the model, status.

The sound space itself is a `VectorSpace` (core.spaces); this service keeps the library's choice
(`--no-sound`), queues recordings indexed while the model was missing once it is here, and
remembers why a run made no sound vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from mmexplorer.core import catalog as cat
from mmexplorer.core import modalities
from mmexplorer.core.errors import ModelUnavailableError
from mmexplorer.core.spaces import Spaces
from mmexplorer.core.types import Space

log = logging.getLogger(__name__)

_ENABLED_KEY = "sound_enabled"  # "0": recordings get no sound vectors (--no-sound)
_ERROR_KEY = "sound_error"  # why the last index run made no sound vectors ("" when it did)


class Sound:
    """The sound space's lifecycle in one library.

    Args:
        catalog: the library's catalog.
        spaces: the library's spaces (the sound space among them).
        writing: `with writing():` holds the library's write lock (Engine's).
    """

    def __init__(
        self, catalog: cat.Catalog, spaces: Spaces, writing: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.writing = writing

    @property
    def enabled(self) -> bool:
        """Whether recordings get sound vectors (CLAP) in this library; on unless turned off."""
        return self.catalog.get_meta(_ENABLED_KEY) != "0"

    def set_enabled(self, enabled: bool) -> None:
        """Turn sound vectors on or off. Off: the sound index is dropped, the recordings stay
        searchable by what was said; on again: recordings are redone at the next run."""
        with self.writing():
            with self.catalog.transaction():
                self.catalog.set_meta(_ENABLED_KEY, "1" if enabled else "0")
                if enabled and self.spaces[Space.SOUND].ntotal == 0:
                    for modality in modalities.reaching(Space.SOUND):
                        self.catalog.pending_for_modality(modality.value)
            if not enabled:
                self.spaces[Space.SOUND].drop()  # the index files; the chunks below, without re-queuing items
                with self.catalog.transaction():
                    self.catalog.clear_space(Space.SOUND.value)

    def status(self) -> str:
        """One line on the sound space: off, on (with its model and windows), or why it is missing."""
        space = self.spaces[Space.SOUND]
        if not self.enabled:
            return "off for this library (index --sound turns it on)"
        error = self.catalog.get_meta(_ERROR_KEY)
        if error:
            return f"not available: {error}"
        return f"on: {space.spec}, {space.ntotal:,} sound windows"

    def queue_missing(self) -> None:
        """Recordings indexed while the sound model was missing get their sound vectors once it is here.

        Their transcripts are kept (core.services.speech: `Speech.stored`): only the sound windows
        are new work.
        """
        if not self.enabled or Space.SOUND not in self.spaces:
            return
        waiting = self.catalog.recordings_without_space(Space.SOUND.value)
        if not waiting:
            return
        try:
            self.spaces[Space.SOUND].encoder()
        except ModelUnavailableError:
            return  # still missing: they stay searchable by what was said, and status says why
        log.info("%d recordings indexed without sound vectors: adding them now", len(waiting))
        with self.catalog.transaction():
            self.catalog.set_status(waiting, cat.PENDING)

    def record_run(self, handlers: Iterable[Any]) -> None:
        """After an index run: remember why no sound vectors were made ("" when they were).

        Handlers that feed the sound space (a recording's) say so with `sound_error` once they
        tried to load its model (`load_attempted`).
        """
        tried = [h for h in handlers if getattr(h, "load_attempted", False) and hasattr(h, "sound_error")]
        if tried:
            with self.catalog.transaction():
                self.catalog.set_meta(_ERROR_KEY, next((h.sound_error for h in tried if h.sound_error), ""))
