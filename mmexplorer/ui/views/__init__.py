"""The ui's registry of modality views: how each modality is shown, keyed by its name.

Each modality has a module here (photo.py, note.py, recording.py) whose view draws its results
card, fills the detail pane and the Compare window, and names its icon, filter label and the
models it needs; nothing else in the ui tells modalities apart. A modality without a view of its
own (core's registry is open) is shown by the generic `ModalityView`. Views are keyed by the
modality's name, `Modality.value`, so a new core modality needs no edit here to be shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mmexplorer.ui import icons
from mmexplorer.ui.views.base import ModalityView
from mmexplorer.ui.views.note import NoteModality
from mmexplorer.ui.views.photo import PhotoModality
from mmexplorer.ui.views.recording import RecordingModality

_REGISTRY: dict[str, ModalityView] = {}


def register(view: ModalityView) -> ModalityView:
    """Add (or replace) the view of `view.name`'s modality; returns it."""
    _REGISTRY[view.name] = view
    icons.set_fallback(view.icon, view.fallback_icon)
    return view


def unregister(name: str) -> None:
    """Forget a modality's view (it is shown by the generic view again)."""
    _REGISTRY.pop(name, None)


def key(modality: Any) -> str:
    """A modality (core.types.Modality, a registry entry or its name) as the registry's key."""
    return str(getattr(modality, "value", modality))


def view_for(modality: Any) -> ModalityView:
    """The view of a modality (an enum member, a record with `.value`, or its name); generic if none."""
    name = key(modality)
    view = _REGISTRY.get(name)
    return view if view is not None else ModalityView(name)


def views() -> list[ModalityView]:
    """The registered views, in their display order."""
    return sorted(_REGISTRY.values(), key=lambda v: (v.order, v.name))


def ordered(names: Iterable[Any]) -> list[Any]:
    """These modalities in display order (registered first, in their order; others after, as given)."""
    names = list(names)
    return sorted(names, key=lambda m: (view_for(m).order, names.index(m)))


def searchable_names(model_spaces: Iterable[str]) -> set[str]:
    """The registered modalities a search can find with models of these spaces loaded."""
    spaces = set(model_spaces)
    return {v.name for v in views() if v.searchable(spaces)}


def searchable_counts(counts: Mapping[str, int], model_spaces: Iterable[str]) -> dict[str, int]:
    """Of a library's counts per modality, those a search can find now."""
    spaces = set(model_spaces)
    return {k: n for k, n in counts.items() if view_for(k).searchable(spaces)}


def reaches(counts: Mapping[str, int], space: str) -> bool:
    """Some item of the library is searched in this space (a core.types.Space value)."""
    return any(n and space in view_for(k).spaces for k, n in counts.items())


for _view in (PhotoModality(), NoteModality(), RecordingModality()):
    register(_view)

__all__ = [
    "ModalityView",
    "key",
    "ordered",
    "reaches",
    "register",
    "searchable_counts",
    "searchable_names",
    "unregister",
    "view_for",
    "views",
]
