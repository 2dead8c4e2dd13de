"""The registry of modalities: what a photo, a note or a recording is, one record each.

`MODALITY_REGISTRY` sits beside `core.spaces.SPACE_REGISTRY`. A `ModalityEntry` says which files
are the modality's (a `media.kinds.FileKind`: extensions, content sniffing), how its files get into
the library (its ingest handler), which spaces it reaches and through which components (`via`:
"pixels", "chunk", "caption", "transcript", "sound"), how a hit inside an item is located, and
what a result and an item's detail carry. The indexer, search, explain, the engine and the CLI ask
the entry and never tell modalities apart themselves; a new modality is its own modules (media
decoder, ingest handler) plus one `register(ModalityEntry(...))`.

`core.types.Modality` is the name: `register` defines it there, so `Modality("todo")` works (and
iterating `Modality` lists it) while the entry is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmexplorer.core.media import kinds
from mmexplorer.core.media.kinds import FileKind
from mmexplorer.core.types import Modality, Space

#: How a hit inside an item is located (`ModalityEntry.locate`).
LOCATE_CHUNK = "chunk"  # a stretch of text: character offsets (SearchResult.chunk_start/chunk_end)
LOCATE_SEGMENT = "segment"  # a stretch of time: SearchResult.segment {start_s, end_s, text}
LOCATE_PAGE = "page"  # a page of a document (1-based), with its chunk
LOCATE_REGION = "region"  # a region of a picture (explain's heatmap)


@dataclass(frozen=True)
class IngestContext:
    """What a library gives ingest handlers beyond its spaces (core.services provide it).

    Attributes:
        speech: the library's speech model slot (None: a handler that needs one loads the default).
        sound: whether recordings get sound vectors in this library.
        languages: the languages speech here is most likely in (asked per recording).
        stored_transcript: the transcript stored for an unchanged file (not transcribed twice).
    """

    speech: Any = None
    sound: bool = True
    languages: Callable[[], Any] | None = None
    stored_transcript: Callable[[Path], Any] | None = None


@dataclass(frozen=True)
class ModalityEntry:
    """What a modality is.

    Attributes:
        name: the modality's name ("photo"), lower case; `Modality(name)` while registered.
        files: its file kind (extensions, content formats, thumbnail style).
        handler: (the library's spaces, IngestContext) -> its ingest handler (core.indexer.ingest).
        reaches: the spaces its items have vectors in, each with the components (`via`) that
            reach it: {Space.IMAGE: ("pixels",), Space.TEXT: ("caption",)}.
        locate: how a hit inside an item is located: LOCATE_CHUNK, LOCATE_SEGMENT, LOCATE_PAGE
            or LOCATE_REGION.
        text_via: what one of its text chunks is called in a result's components ("chunk",
            "caption", "transcript").
        read_text: the file's whole text (a note's), for an item's detail and for explaining a
            file that is not indexed; None when the file is not text.
        pictured: the file is a picture: explain decodes it (heatmaps) and encodes its pixels.
        captioned: its items get generated captions (a result's and a detail's `caption`).
        result_fields: the SearchResult fields its results fill beyond path, modality, relevance
            and components.
        plural: the plural of its name, in words for people.
    """

    name: str
    files: FileKind
    handler: Callable[[Any, IngestContext], Any]
    reaches: Mapping[Space, tuple[str, ...]]
    locate: str = LOCATE_CHUNK
    text_via: str = "chunk"
    read_text: Callable[[Path], str] | None = None
    pictured: bool = False
    captioned: bool = False
    result_fields: tuple[str, ...] = ()
    plural: str = ""

    @property
    def modality(self) -> Modality:
        return Modality.define(self.name)

    @property
    def thumbnail(self) -> str:
        """How its thumbnail is drawn: "picture", "waveform" or "" (the GUI's icon)."""
        return self.files.thumbnail

    def vias(self, space: Space | str) -> tuple[str, ...]:
        """The components through which this modality reaches a space (empty: it does not)."""
        return self.reaches.get(Space(space), ())


# -- the built-in modalities --------------------------------------------------------------------
def _photo_handler(spaces: Any, context: IngestContext) -> Any:
    from mmexplorer.core.indexer.photo import PhotoHandler

    return PhotoHandler(spaces[Space.IMAGE])


def _note_handler(spaces: Any, context: IngestContext) -> Any:
    from mmexplorer.core.indexer.note import NoteHandler

    return NoteHandler(spaces[Space.TEXT])


def _recording_handler(spaces: Any, context: IngestContext) -> Any:
    from mmexplorer.core.indexer.recording import RecordingHandler

    handler = RecordingHandler(spaces, context.speech, sound=context.sound)
    handler.languages = context.languages
    handler.stored = context.stored_transcript
    return handler


def _read_note(path: Path) -> str:
    from mmexplorer.core.media import notes

    return notes.read_note(path)


MODALITY_REGISTRY: dict[Modality, ModalityEntry] = {}


def register(entry: ModalityEntry) -> Modality:
    """Add a modality (or replace the one of that name): its name, its file kind, its entry.

    Returns:
        The modality's name as a `Modality`.
    """
    modality = Modality.define(entry.name)
    if entry.files.modality != entry.name:
        raise ValueError(f"the {entry.name} entry names the file kind of {entry.files.modality!r}")
    kinds.add_file_kind(entry.files)
    MODALITY_REGISTRY[modality] = entry
    return modality


def unregister(name: str) -> None:
    """Remove a modality registered with `register` (its files are no longer indexed)."""
    MODALITY_REGISTRY.pop(Modality.define(name), None)
    kinds.remove_file_kind(name)
    Modality.forget(name)


def entry_of(modality: Modality | str) -> ModalityEntry:
    """The entry of a modality (raises KeyError for one that is not registered)."""
    return MODALITY_REGISTRY[Modality(modality)]


def find(name: str) -> ModalityEntry | None:
    """The entry of a modality by name (None: not registered, e.g. a row left by an unregistered one)."""
    return next((e for m, e in MODALITY_REGISTRY.items() if m.value == name), None)


def names() -> tuple[str, ...]:
    """The registered modalities' names, in the order they were registered."""
    return tuple(m.value for m in MODALITY_REGISTRY)


def in_words(joiner: str = "or") -> str:
    """The modalities' names for a message: "photo, note or recording"."""
    listed = names()
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} {joiner} {listed[-1]}"


def reaching(space: Space | str) -> tuple[Modality, ...]:
    """The modalities whose items have vectors in a space."""
    key = Space(space)
    return tuple(m for m, e in MODALITY_REGISTRY.items() if key in e.reaches)


def default_handlers(spaces: Any, context: IngestContext | None = None) -> dict[Modality, Any]:
    """One ingest handler per registered modality, fed by the library's spaces."""
    context = context or IngestContext()
    return {m: e.handler(spaces, context) for m, e in MODALITY_REGISTRY.items()}


for _entry in (
    ModalityEntry(
        name="photo",
        files=kinds.PHOTO_KIND,
        handler=_photo_handler,
        # pixels through the image encoder; its generated caption through the text space (issue 10)
        reaches={Space.IMAGE: ("pixels",), Space.TEXT: ("caption",)},
        locate=LOCATE_REGION,
        text_via="caption",
        pictured=True,
        captioned=True,
        result_fields=("caption",),
        plural="photos",
    ),
    ModalityEntry(
        name="note",
        files=kinds.NOTE_KIND,
        handler=_note_handler,
        reaches={Space.TEXT: ("chunk",)},
        locate=LOCATE_CHUNK,
        text_via="chunk",
        read_text=_read_note,
        result_fields=("chunk_text", "chunk_start", "chunk_end"),
        plural="notes",
    ),
    ModalityEntry(
        name="recording",
        files=kinds.RECORDING_KIND,
        handler=_recording_handler,
        # what was said (transcript windows, issue 9) and what it sounds like (CLAP windows)
        reaches={Space.TEXT: ("transcript",), Space.SOUND: ("sound",)},
        locate=LOCATE_SEGMENT,
        text_via="transcript",
        result_fields=("chunk_text", "segment"),
        plural="recordings",
    ),
):
    register(_entry)
del _entry

__all__ = [
    "LOCATE_CHUNK",
    "LOCATE_PAGE",
    "LOCATE_REGION",
    "LOCATE_SEGMENT",
    "MODALITY_REGISTRY",
    "IngestContext",
    "ModalityEntry",
    "default_handlers",
    "entry_of",
    "find",
    "in_words",
    "names",
    "reaching",
    "register",
    "unregister",
]
