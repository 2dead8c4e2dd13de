"""The library's speech model: transcripts, spoken queries, hotwords, and re-transcribing on a new model.

The model (faster-whisper, core.models.speech) loads on first need through a `SpeechSlot`; the
spec the library's transcripts were made with is remembered in its catalog, and when another one
is asked for (`index --speech-model`), the recordings it transcribed are queued again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import ModelUnavailableError
from mmexplorer.core.lock import CHECKING, LibraryLock
from mmexplorer.core.modalities import IngestContext
from mmexplorer.core.types import Heard, Modality, ModelStatus, Segment, Transcript, TranscriptionStatus

log = logging.getLogger(__name__)

_SPEC_KEY = "spec:speech"  # the speech model the library's transcripts are made with
_MODEL_KEY = "model:speech"
_HOTWORDS_KEY = "speech_hotwords"
_KIND = Modality.RECORDING.value  # the modality whose items carry transcripts


class Speech:
    """The speech model of one library and what depends on it.

    Args:
        catalog: the library's catalog.
        write_lock: the library's write lock (a model change re-queues recordings only while writing).
        generation: the library's current write generation (hotwords are kept until it changes).
        requested: a speech model spec asked for (None: the library's, else the default).
        device: "auto", "cpu", "cuda" or "mps".
        on_status: called with loading/downloading news.
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        write_lock: LibraryLock,
        generation: Callable[[], str | None],
        *,
        requested: str | None = None,
        device: str = "auto",
        on_status: Callable[[ModelStatus], None] | None = None,
    ) -> None:
        from mmexplorer.core.models.speech import SpeechSlot

        self.catalog = catalog
        self.write_lock = write_lock
        self.generation = generation
        self.requested = _checked_spec(requested)
        self.slot = SpeechSlot(lambda: self.spec, device=device, on_status=on_status, on_load=self._adopt)
        self._hotwords: tuple[str | None, list[str]] = (None, [])

    @property
    def spec(self) -> str:
        """The speech model: asked for, else the one the library's transcripts were made with, else the default."""
        from mmexplorer.core.models.speech import DEFAULT_SPEECH_MODEL

        return self.requested or self.catalog.get_meta(_SPEC_KEY) or DEFAULT_SPEECH_MODEL

    def ingest_context(self, *, sound: bool) -> IngestContext:
        """What ingest handlers get from this service (core.modalities.IngestContext)."""
        return IngestContext(speech=self.slot, sound=sound, languages=self.languages, stored_transcript=self.stored)

    def transcript(self, item_id: int) -> Transcript | None:
        """A recording's transcript (None: not a recording, or not transcribed yet)."""
        row = self.catalog.item(item_id)
        if row is None or row.modality != _KIND or row.status != cat.INDEXED:
            return None
        return Transcript(tuple(self.catalog.segments(item_id)), row.language, row.speech_model or "")

    def hear(self, audio: np.ndarray | str | os.PathLike[str], *, sample_rate: int = 16000, biased: bool = True) -> Heard:
        """What was said in a spoken query: the best reading and the recogniser's next-best ones.

        Recognition is biased toward the library's own words (`hotwords`); see `SpeechModel.hear`.

        Args:
            audio: samples (mono, or (n, channels)) at `sample_rate`, or an audio file.
            sample_rate: the samples' rate (resampled to 16 kHz).
            biased: bias recognition toward the library's words (False: plain Whisper, to measure it).

        Raises:
            DecodeError: the file cannot be decoded. ModelUnavailableError: no speech model here.
        """
        from mmexplorer.core.media import recordings

        if isinstance(audio, (str, os.PathLike)):
            samples = recordings.load_audio(Path(audio))
        else:
            samples = recordings.resample(np.asarray(audio), sample_rate)
        model = self.slot.model()
        return model.hear(samples, hotwords=self.hotwords() if biased else (), prefer=self.languages())

    def hotwords(self, n: int = 60) -> list[str]:
        """The library's most frequent distinctive words (notes, transcripts, folder names).

        Kept in memory and in the catalog until the library is written to again.
        """
        from mmexplorer.core.models.speech import distinctive_words

        generation = self.generation()
        if self._hotwords[0] == generation and generation is not None:
            return self._hotwords[1][:n]
        stored = self.catalog.get_meta(_HOTWORDS_KEY)
        try:
            cached = json.loads(stored) if stored else None
        except ValueError:
            cached = None
        if isinstance(cached, dict) and cached.get("generation") == generation and cached.get("n", 0) >= n:
            words = [str(w) for w in cached.get("words", [])]
        else:
            texts = list(self.catalog.item_texts())
            roots = self.catalog.roots()
            folders = {os.path.dirname(p) for p in self.catalog.items_under(roots)} if roots else set()
            for folder in folders:
                below = next((folder[len(r):] for r in roots if folder.startswith(r)), folder)
                texts.append(below.replace(os.sep, " ").replace("_", " ").replace("-", " "))
            words = distinctive_words(texts, n=n)
            record = json.dumps({"generation": generation, "n": n, "words": words})
            if self.write_lock.held:
                with self.catalog.transaction():
                    self.catalog.set_meta(_HOTWORDS_KEY, record)
            elif self.write_lock.try_acquire(purpose=CHECKING):  # a cache: skipped while another process writes
                try:
                    with self.catalog.transaction():
                        self.catalog.set_meta(_HOTWORDS_KEY, record)
                finally:
                    self.write_lock.release()
        self._hotwords = (generation, words)
        return words[:n]

    def status(self) -> TranscriptionStatus:
        """The library's recordings: how many are transcribed, waiting (and why) or skipped."""
        states = self.catalog.status_counts(_KIND)
        return TranscriptionStatus(
            total=sum(states.values()),
            transcribed=states.get(cat.INDEXED, 0),
            pending=states.get(cat.PENDING, 0),
            skipped=states.get(cat.SKIPPED, 0),
            model=self.spec,
            waiting=tuple(self.catalog.pending_reasons(_KIND)),
            languages=self.catalog.languages(_KIND),
        )

    def languages(self) -> tuple[str, ...]:
        """The languages speech here is most likely in: the library's most common, then the system's."""
        from mmexplorer.core.models.speech import system_languages

        counts = self.catalog.languages(_KIND)
        most = max(counts.values(), default=0)
        library = [language for language, n in counts.items() if n == most and n > 0]
        return tuple(dict.fromkeys([*library, *system_languages()]))

    def stored(self, path: Path) -> tuple[str, str | None, list[Segment], float | None] | None:
        """A recording's transcript as stored, if the file is unchanged since: (speech model id,
        language, segments, duration). Reused when only its vectors are redone (a text model change,
        sound vectors added later), so nothing is transcribed twice by the same model."""
        row = self.catalog.item_by_path(str(path))
        if row is None or not row.speech_model:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (row.size, row.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return None
        return row.speech_model, row.language, self.catalog.segments(row.id), row.duration_s

    def prepare(self) -> None:
        """Before an index run: remember an asked-for speech model; when it differs, redo the transcripts.

        The model is loaded here only when the library holds recordings (and only then is a
        download started); if it is not available, the old transcripts stay searchable.
        """
        asked = self.requested
        stored = self.catalog.get_meta(_SPEC_KEY)
        if asked is None or asked == stored:
            return
        if self.catalog.count_modality(_KIND):
            try:
                self.slot.model()  # _adopt re-queues what the old model transcribed
            except ModelUnavailableError as e:
                log.warning("keeping the transcripts made with %s: %s", stored, e)
                return
        with self.catalog.transaction():
            self.catalog.set_meta(_SPEC_KEY, asked)

    def _adopt(self, model: Any) -> None:
        """A speech model was loaded: while indexing, recordings transcribed by another one are redone."""
        if not self.write_lock.held:
            return
        with self.catalog.transaction():
            redo = self.catalog.pending_unless_speech_model(model.model_id)
            self.catalog.set_meta(_MODEL_KEY, model.model_id)
            self.catalog.set_meta(_SPEC_KEY, self.spec)
        if redo:
            log.info("the speech model is now %s: %d recordings will be transcribed again", model.name, redo)


def _checked_spec(spec: str | None) -> str | None:
    """A speech model spec checked now (a typo is a usage error before a long scan)."""
    if spec is None:
        return None
    from mmexplorer.core.models.speech import parse_speech_spec

    parse_speech_spec(spec)
    return spec.strip()
