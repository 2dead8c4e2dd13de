"""Recordings: which audio formats this machine can decode, and decoding them safely.

Every recording is decoded through PyAV (FFmpeg; faster-whisper depends on it) into 16 kHz mono
float32, the rate Whisper (and CLAP's resampler) start from. A short recording is decoded whole;
a long one is streamed in windows cut at quiet moments (`windows`), so an hours-long file never
sits in memory at once. A file that is empty, not audio, or cut short raises `DecodeError` with a
line a person can read; a silent one decodes fine (and gets an empty transcript).

`kinds` imports this module to build RECORDING_EXTENSIONS, and the GUI imports `kinds`: keep the
module-level imports stdlib-only, and import decoders (soundfile, PyAV, numpy) inside functions.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer.core.errors import DecodeError

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000
# Decoded whole in the decode pool up to this length; longer recordings are streamed in windows.
EAGER_MAX_S = 60.0
WINDOW_S = 600.0  # a long recording is transcribed ten minutes at a time
_SEARCH_CUT_S = 15.0  # a window ends at the quietest moment of its last 15 s
_TRUNCATED_SHARE = 0.97  # decoded less than this share of the declared length: cut short


# Audio-only containers FFmpeg reads that voice memos come in: phones' and Windows' m4a (AAC),
# WhatsApp and Telegram voice notes (.opus, .oga), raw AAC, old phones' AMR, macOS's AIFF and CAF,
# Windows Media audio. Video containers (.mp4, .webm, .3gp) are left out: a film is not a memo.
AV_ONLY_EXTENSIONS = frozenset({".m4a", ".opus", ".oga", ".aac", ".amr", ".aif", ".aiff", ".caf", ".wma"})


def decodable_extensions() -> frozenset[str]:
    """Audio formats we can decode here: libsndfile's, plus what PyAV (FFmpeg) adds when installed."""
    exts = {".wav", ".mp3", ".flac", ".ogg"}
    has_av = importlib.util.find_spec("av") is not None
    if has_av:
        exts |= AV_ONLY_EXTENSIONS
    else:
        try:
            import soundfile

            if "OPUS" in soundfile.available_subtypes("OGG"):
                exts.add(".opus")
        except (ImportError, OSError):  # no libsndfile: keep the formats the loader may still try
            pass
    return frozenset(exts)


@dataclass(frozen=True)
class AudioInfo:
    """What a recording's container says about it, checked before decoding."""

    duration_s: float | None  # None: the container does not say (decode to find out)
    codec: str
    sample_rate: int
    channels: int


def probe(path: Path | str) -> AudioInfo:
    """Open a recording and check it has an audio stream that is not cut short.

    Raises:
        DecodeError: empty, not audio, no audio stream, or a header promising more than the file holds.
    """
    path = Path(path)
    _check_size(path)
    _check_wav_header(path)
    container = _open(path)
    try:
        stream = _audio_stream(container, path)
        return AudioInfo(
            duration_s=_declared_duration(container, stream),
            codec=stream.codec_context.name,
            sample_rate=int(stream.codec_context.sample_rate or 0),
            channels=int(stream.codec_context.channels or 0),
        )
    finally:
        container.close()


def stream_audio(path: Path | str, *, sample_rate: int = SAMPLE_RATE, block_s: float = 30.0) -> Iterator[np.ndarray]:
    """Decode a recording into mono float32 blocks of about `block_s` seconds at `sample_rate`.

    Raises:
        DecodeError: the file cannot be decoded, or decodes to far less than its header declares.
    """
    import av
    import numpy as np

    path = Path(path)
    _check_size(path)
    _check_wav_header(path)
    container = _open(path)
    try:
        stream = _audio_stream(container, path)
        declared = _declared_duration(container, stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        block = int(block_s * sample_rate)
        parts: list[np.ndarray] = []
        held = 0
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    held += out.samples
                if held >= block:
                    joined = np.concatenate(parts)
                    total += len(joined)
                    yield joined
                    parts, held = [], 0
        except av.error.InvalidDataError as e:
            raise DecodeError(path, f"truncated or corrupt audio after {(total + held) / sample_rate:.1f} s ({e})") from e
        except av.error.FFmpegError as e:
            raise DecodeError(path, f"cannot decode audio: {e}") from e
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
            held += out.samples
        if parts:
            joined = np.concatenate(parts)
            total += len(joined)
            yield joined
        got = total / sample_rate
        if declared is not None and declared > 1.0 and got < _TRUNCATED_SHARE * declared:
            raise DecodeError(path, f"truncated: audio ends at {got:.1f} s of the {declared:.1f} s its header declares")
    finally:
        container.close()


def load_audio(path: Path | str, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole recording as one mono float32 array at `sample_rate` (raises DecodeError)."""
    import numpy as np

    blocks = list(stream_audio(path, sample_rate=sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def windows(
    path: Path | str, *, window_s: float = WINDOW_S, sample_rate: int = SAMPLE_RATE
) -> Iterator[tuple[float, np.ndarray]]:
    """A long recording as (offset_s, samples) windows of about `window_s`, each cut at a quiet moment.

    Memory stays bounded by about two windows whatever the file's length. A window ends at the
    quietest half second of its last few seconds, so a word is rarely cut in two.
    """
    import numpy as np

    size = int(window_s * sample_rate)
    pending = np.zeros(0, np.float32)
    offset = 0
    for block in stream_audio(path, sample_rate=sample_rate, block_s=min(30.0, window_s)):
        pending = np.concatenate([pending, block]) if len(pending) else block
        while len(pending) >= size + int(_SEARCH_CUT_S * sample_rate):
            cut = quiet_cut(pending, size, sample_rate=sample_rate)
            yield offset / sample_rate, pending[:cut]
            offset += cut
            pending = pending[cut:]
    if len(pending):
        yield offset / sample_rate, pending


def quiet_cut(samples: np.ndarray, near: int, *, sample_rate: int = SAMPLE_RATE) -> int:
    """Where to cut `samples` close to (at most) `near`: the middle of the quietest 0.2 s of the last few seconds."""
    import numpy as np

    hop = max(1, sample_rate // 50)  # 20 ms frames
    lo = max(0, near - int(_SEARCH_CUT_S * sample_rate))
    n = (near - lo) // hop
    if n < 10:
        return near
    energy = (samples[lo : lo + n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1)
    smooth = np.convolve(energy, np.ones(10) / 10, mode="valid")  # 0.2 s windows
    quietest = int(np.argmin(smooth))
    return lo + (quietest + 5) * hop


def resample(samples: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono (or (n, channels)) samples at `from_rate` -> mono float32 at `to_rate`."""
    import numpy as np

    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise DecodeError("audio", f"expected mono or (samples, channels) audio, got shape {audio.shape}")
    if from_rate <= 0:
        raise DecodeError("audio", f"invalid sample rate {from_rate}")
    if from_rate == to_rate or not len(audio):
        return audio
    import av

    # FFmpeg's resampler (libswresample), as for decoded files; fed in blocks it keeps no state beyond its filter.
    resampler = av.AudioResampler(format="flt", layout="mono", rate=int(to_rate))
    parts = []
    step = int(from_rate) * 10
    for at in range(0, len(audio), step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, at : at + step]), format="flt", layout="mono")
        frame.sample_rate = int(from_rate)
        parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)


# -- internals ------------------------------------------------------------------------------
def _check_size(path: Path) -> None:
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"not an audio file this app can read ({_first_line(e)})") from e


def _audio_stream(container: Any, path: Path) -> Any:
    if not container.streams.audio:
        raise DecodeError(path, "no audio stream in the file")
    return container.streams.audio[0]


# Raw streams without a length in any header: FFmpeg guesses their duration from the bit rate
# (a 3.6 s ADTS AAC memo "declares" 4.0 s), so it is no evidence of a cut: decode to find out.
_GUESSED_DURATION_FORMATS = frozenset({"aac", "amr", "ac3", "eac3"})


def _declared_duration(container: Any, stream: Any) -> float | None:
    if getattr(container.format, "name", "") in _GUESSED_DURATION_FORMATS:
        return None
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1e6
    return None


def _check_wav_header(path: Path) -> None:
    """A RIFF/WAVE file whose data chunk promises more bytes than the file holds was cut short.

    FFmpeg and libsndfile both quietly shorten such a file, so the header is read here.
    """
    if path.suffix.lower() not in (".wav", ".wave"):
        return
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF: let the decoder say what it is
        at = 12
        while at + 8 <= size:
            f.seek(at)
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            cid, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if length in (0, 0xFFFFFFFF):  # written by a streaming tool that never came back to it
                    return
                present = size - at - 8
                if present < length * _TRUNCATED_SHARE:
                    raise DecodeError(
                        path, f"truncated: the file holds {present:,} of the {length:,} bytes of audio its header declares"
                    )
                return
            at += 8 + length + (length & 1)


def _first_line(e: BaseException) -> str:
    """The decoder's reason in a line a person can read: FFmpeg's text without its errno and the path
    ("[Errno 1094995529] Invalid data found when processing input: '/x.mp3'" -> "invalid data")."""
    text = getattr(e, "strerror", None) or str(e)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(str(text).split()))
    text = re.sub(r"(?i)\s*when processing input.*$", "", text)
    return text[:200] or type(e).__name__
