"""The one list of the files the app handles, by extension: photos, notes and recordings.

Every part of the app that asks "is this a photo?" by name (discovery, the GUI's drop targets and
file dialogs, tests) uses these sets. Stdlib only, so the GUI can import it without PIL.
Extensions are lower-case, with the dot.
"""

from __future__ import annotations

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
