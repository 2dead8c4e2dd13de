"""Recordings: which audio formats this machine can decode.

`kinds` imports this module to build RECORDING_EXTENSIONS, and the GUI imports `kinds`: keep the
module-level imports stdlib-only, and import decoders (soundfile, PyAV) inside functions.
"""

from __future__ import annotations

import importlib.util


def decodable_extensions() -> frozenset[str]:
    """Audio formats we can decode here: libsndfile's, plus what PyAV (FFmpeg) adds when installed."""
    exts = {".wav", ".mp3", ".flac", ".ogg"}
    has_av = importlib.util.find_spec("av") is not None
    if has_av:
        exts |= {".m4a", ".opus"}
    else:
        try:
            import soundfile

            if "OPUS" in soundfile.available_subtypes("OGG"):
                exts.add(".opus")
        except (ImportError, OSError):  # no libsndfile: keep the formats the loader may still try
            pass
    return frozenset(exts)
