"""Recordings: what was said (time-coded transcript chunks in the text space) and how they sound
(CLAP windows in the sound space).

`prepare` (decode pool) checks the file and decodes a short recording whole into 16 kHz mono
float32 (`RecordingAudio.samples`); a long one is left to be streamed in windows at ingest, so
memory stays bounded whatever its length. `ingest` transcribes (faster-whisper, voice-activity
filtered), stores every Whisper segment with its times, and embeds windows of a few segments that
overlap by one (`transcript_chunks`) into the text space; a recording's text score is its best
window. A silent recording is indexed with an empty transcript and no chunks.

The catalog columns known only after transcribing (language, duration, the speech model's id, the
segments) are added to the prepared file's `fields`, which the pipeline writes with the item's row.
Each space's chunks and vectors are built by a small method of its own (`text_part`, `sound_part`)
from the same decoded samples. The sound space is optional: turned off for the library
(`--no-sound`), or its model missing offline, recordings are still indexed by what was said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import DecodeError
from mmexplorer.core.indexer.ingest import Ingested, Prepared
from mmexplorer.core.media import recordings
from mmexplorer.core.types import Chunk, Modality, Segment, Space

if TYPE_CHECKING:
    from mmexplorer.core.models.speech import SpeechModel, SpeechSlot

log = logging.getLogger(__name__)

WINDOW_SEGMENTS = 3  # segments per transcript chunk
WINDOW_STRIDE = 2  # consecutive chunks share one segment


@dataclass
class RecordingAudio:
    """A recording made ready in the decode pool.

    samples: the whole recording, 16 kHz mono float32 (None: a long one, streamed at ingest).
    """

    path: Path
    duration_s: float | None
    samples: np.ndarray | None = None


def clock(seconds: float) -> str:
    """12:30, or 1:02:03 past an hour."""
    s = round(max(0.0, seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def transcript_chunks(
    segments: Sequence[Segment],
    *,
    size: int = WINDOW_SEGMENTS,
    stride: int = WINDOW_STRIDE,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Overlapping windows of `size` segments, `stride` apart, as time-coded chunks.

    A chunk's start/end are offsets in the transcript's text (segments joined by one space), and
    start_s/end_s its stretch of the recording. A window that would exceed `max_tokens` holds fewer
    segments (at least one).
    """
    texts = [s.text or "" for s in segments]
    offsets, at = [], 0
    for t in texts:
        offsets.append(at)
        at += len(t) + 1
    chunks: list[Chunk] = []
    i, n = 0, len(segments)
    while i < n:
        j = min(n, i + size)
        while count_tokens and max_tokens and j - i > 1 and count_tokens(" ".join(texts[i:j])) > max_tokens:
            j -= 1
        start, end = offsets[i], offsets[j - 1] + len(texts[j - 1])
        chunks.append(
            Chunk(len(chunks), start, end, " ".join(texts[i:j]), segments[i].start_s, segments[j - 1].end_s)
        )
        if j >= n:
            break
        i = max(i + 1, min(i + stride, j - 1)) if j - i > 1 else j
    return chunks


class RecordingHandler:
    """Recordings into the text space through their transcripts.

    Args:
        spaces: the library's spaces (the text space takes the transcript windows).
        speech: the library's speech model slot (None: the default model, loaded on first use).
        beam_size: Whisper's beam (5: its default; 1 is faster).
    """

    modality = Modality.RECORDING

    def __init__(
        self, spaces: Any, speech: SpeechSlot | None = None, *, beam_size: int = 5, sound: bool = True
    ) -> None:
        from mmexplorer.core.models.speech import SpeechSlot

        self.text = spaces[Space.TEXT]
        self.sound = spaces[Space.SOUND] if sound and Space.SOUND in spaces else None
        self.speech = speech if speech is not None else SpeechSlot()
        self.beam_size = beam_size
        self.sound_error: str | None = None  # why this run makes no sound vectors (model missing)
        self.load_attempted = False  # load() ran: the run had recordings to index
        # (path, "transcribing 12:30 of 48:00"): news about a long file, for the progress line.
        self.on_detail: Callable[[str, str], None] | None = None
        # The languages recordings here are most likely in (the library's, the system's), asked once
        # per recording: an unsure language detection leans toward them (speech.choose_language).
        self.languages: Callable[[], Sequence[str]] | None = None
        # The transcript stored for an unchanged file: (speech model id, language, segments,
        # duration). A recording re-queued for its vectors alone is not transcribed again.
        self.stored: Callable[[Path], tuple[str, str | None, list[Segment], float | None] | None] | None = None

    @property
    def spaces(self) -> tuple:
        return (self.text.key,) + ((self.sound.key,) if self.sound is not None else ())

    @property
    def device(self) -> str | None:
        return self.speech.device

    def load(self) -> None:
        """Whisper and the text encoder are needed; the sound model is optional.

        Without the sound model (not downloaded, offline) recordings are still transcribed and
        searchable by what was said; the reason is kept in `sound_error` for `status`.
        """
        from mmexplorer.core.errors import ModelUnavailableError

        self.load_attempted = True
        self.speech.model()
        self.text.encoder()
        if self.sound is not None and self.sound_error is None:
            try:
                self.sound.encoder()
            except ModelUnavailableError as e:
                self.sound_error = str(e)
                log.warning("recordings get no sound vectors this run: %s", e)

    # -- decode pool --------------------------------------------------------------------------
    def prepare(self, path: Path) -> Prepared:
        info = recordings.probe(path)
        duration = info.duration_s
        samples = None
        if duration is None or duration <= recordings.EAGER_MAX_S:
            samples = recordings.load_audio(path)
            duration = len(samples) / recordings.SAMPLE_RATE
        return Prepared(RecordingAudio(Path(path), duration, samples), {"duration_s": duration})

    # -- pipeline thread ------------------------------------------------------------------------
    def ingest(self, batch: list[Prepared]) -> list[Ingested]:
        model = self.speech.model()
        out: list[Ingested] = []
        for p in batch:
            audio: RecordingAudio = p.payload
            result = Ingested()
            sound: list[tuple[list[tuple[float, float]], np.ndarray]] = []
            known = self.stored(audio.path) if self.stored is not None else None
            try:
                if known is not None and known[0] == model.model_id:
                    segments, language = known[2], known[1]
                    duration = self.sound_only(audio, sound) or known[3] or 0.0
                else:
                    segments, language, duration = self.transcribe(model, audio, sound_windows=sound)
            except DecodeError as e:  # a long file found cut short while streaming it
                out.append(Ingested(status=cat.SKIPPED, error=e.reason))
                continue
            p.fields.update(
                duration_s=duration, language=language, speech_model=model.model_id, segments=tuple(segments)
            )
            self.text_part(segments, result)
            self.sound_part(sound, result)
            out.append(result)
        return out

    @property
    def _sound_on(self) -> bool:
        return self.sound is not None and self.sound_error is None

    def _sound_windows(self, samples: np.ndarray, offset_s: float, into: list) -> None:
        """The sound windows of one stretch of samples (16 kHz), their times shifted by `offset_s`."""
        if not self._sound_on or samples.size == 0:
            return
        from mmexplorer.core.models.sound import sound_chunks

        times, vectors = sound_chunks(self.sound.encoder(), samples, recordings.SAMPLE_RATE)
        into.append(([(a + offset_s, b + offset_s) for a, b in times], vectors))

    def sound_part(self, windows: list[tuple[list[tuple[float, float]], np.ndarray]], result: Ingested) -> None:
        """The recording's sound windows in the sound space: one chunk per window, with its times."""
        if not self._sound_on or not windows:
            return
        times = [t for part, _v in windows for t in part]
        if not times:
            return
        vectors = np.concatenate([v for _t, v in windows]).astype(np.float32)
        key = self.sound.key
        result.chunks[key] = [Chunk(i, 0, 0, None, start_s=a, end_s=b) for i, (a, b) in enumerate(times)]
        result.vectors[key] = vectors

    def transcribe(
        self, model: SpeechModel, audio: RecordingAudio, *, sound_windows: list | None = None
    ) -> tuple[list[Segment], str | None, float]:
        """Segments, language and length of one recording (a long one window by window).

        With `sound_windows`, the sound space's windows of the same samples are added to it, so a
        long recording is decoded once for both.
        """
        prefer = tuple(self.languages()) if self.languages is not None else ()
        if audio.samples is not None:
            segments, language = model.transcribe(audio.samples, beam_size=self.beam_size, prefer=prefer)
            if sound_windows is not None:
                self._sound_windows(audio.samples, 0.0, sound_windows)
            return segments, language, len(audio.samples) / recordings.SAMPLE_RATE
        segments = []
        language: str | None = None
        end = 0.0
        total = clock(audio.duration_s or 0.0)
        for offset, samples in recordings.windows(audio.path):
            if self.on_detail is not None:
                self.on_detail(str(audio.path), f"transcribing {clock(offset)} of {total}")
            found, language = model.transcribe(
                samples, offset_s=offset, language=language, beam_size=self.beam_size, prefer=prefer
            )
            segments += found
            if sound_windows is not None:
                self._sound_windows(samples, offset, sound_windows)
            end = offset + len(samples) / recordings.SAMPLE_RATE
        return segments, language, end

    def sound_only(self, audio: RecordingAudio, sound_windows: list) -> float | None:
        """The sound windows of a recording whose transcript is kept; its length (None: not decoded)."""
        if not self._sound_on:
            return audio.duration_s
        if audio.samples is not None:
            self._sound_windows(audio.samples, 0.0, sound_windows)
            return len(audio.samples) / recordings.SAMPLE_RATE
        end = 0.0
        for offset, samples in recordings.windows(audio.path):
            self._sound_windows(samples, offset, sound_windows)
            end = offset + len(samples) / recordings.SAMPLE_RATE
        return end

    def text_part(self, segments: Sequence[Segment], result: Ingested) -> None:
        """The transcript's windows and their vectors in the text space (none for a silent recording)."""
        if not segments:
            return
        encoder = self.text.encoder()
        chunks = transcript_chunks(segments, count_tokens=encoder.count_tokens, max_tokens=encoder.max_tokens)
        key = self.text.key
        result.chunks[key] = list(chunks)
        result.vectors[key] = encoder.encode([c.text for c in chunks])
