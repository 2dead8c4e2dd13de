"""The one list of the files the app handles: each modality's `FileKind` (extensions, content).

Every part of the app that asks "is this a photo?" by name (discovery, the GUI's drop targets and
file dialogs, tests) uses these sets, and `sniff.classify` walks `file_kinds()`. A modality's entry
(core.modalities) names its FileKind; registering a modality there adds its kind here. Stdlib only,
so the GUI can import it without PIL. Extensions are lower-case, with the dot.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmexplorer.core.media.recordings import decodable_extensions

# Photo extensions and the format name error messages use for them ("not a JPEG image: ...").
# .avif is read by Pillow's own AVIF plugin (Pillow >= 11.3), HEIC/HEIF by pillow-heif.
PHOTO_FORMAT_NAMES: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WebP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tiff": "TIFF",
    ".tif": "TIFF",
    ".heic": "HEIC",
    ".heif": "HEIF",
    ".avif": "AVIF",
}
PHOTO_EXTENSIONS: frozenset[str] = frozenset(PHOTO_FORMAT_NAMES)
NOTE_EXTENSIONS: frozenset[str] = frozenset({".txt", ".md", ".markdown"})
RECORDING_EXTENSIONS: frozenset[str] = decodable_extensions()

# Formats `sniff.sniff_format` names from a file's first bytes, and the extension an audio one has.
IMAGE_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "GIF", "WebP", "BMP", "TIFF", "HEIF", "AVIF"})
AUDIO_FORMATS: dict[str, str] = {
    "WAV": ".wav", "FLAC": ".flac", "Ogg": ".ogg", "MP3": ".mp3", "M4A": ".m4a", "AIFF": ".aiff"
}


@dataclass(frozen=True)
class FileKind:
    """The files of one modality.

    Attributes:
        modality: the modality's name.
        extensions: lower-case extensions with the dot; they decide when the content does not.
        formats: formats (as `sniff_format` names them) whose content makes a file this kind
            whatever its name (a PNG named .txt is a photo).
        thumbnail: how a thumbnail is drawn: "picture" (the image itself), "waveform", or ""
            (none: the GUI shows the modality's icon).
    """

    modality: str
    extensions: frozenset[str]
    formats: frozenset[str] = frozenset()
    thumbnail: str = ""


PHOTO_KIND = FileKind("photo", PHOTO_EXTENSIONS, IMAGE_FORMATS, thumbnail="picture")
NOTE_KIND = FileKind("note", NOTE_EXTENSIONS)
RECORDING_KIND = FileKind(
    "recording",
    RECORDING_EXTENSIONS,
    frozenset(f for f, ext in AUDIO_FORMATS.items() if ext in RECORDING_EXTENSIONS),
    thumbnail="waveform",
)
_KINDS: dict[str, FileKind] = {k.modality: k for k in (PHOTO_KIND, NOTE_KIND, RECORDING_KIND)}


def file_kinds() -> tuple[FileKind, ...]:
    """The file kinds the app handles, in the order `classify` tries them."""
    return tuple(_KINDS.values())


def add_file_kind(kind: FileKind) -> None:
    """Handle one more kind of file (core.modalities.register calls this)."""
    _KINDS[kind.modality] = kind


def remove_file_kind(modality: str) -> None:
    _KINDS.pop(modality, None)


def kind_by_extension(path_or_ext: str) -> FileKind | None:
    """The kind a file name's extension says (None: not one the app handles)."""
    dot = path_or_ext.rfind(".")
    ext = path_or_ext[dot:].lower() if dot >= 0 else ""
    return next((k for k in _KINDS.values() if ext in k.extensions), None)


def all_extensions() -> frozenset[str]:
    """Every extension the app handles."""
    return frozenset().union(*(k.extensions for k in _KINDS.values()))
