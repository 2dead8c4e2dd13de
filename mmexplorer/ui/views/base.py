"""What the ui knows about one modality, and the generic view for a modality without its own.

A view is told the widget it works in (a results card's painter, the detail pane, a Compare
side) and uses that widget's public methods; it never imports those widgets, so they can import
the registry (ui/views/__init__.py) without a circle.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QStyle

from mmexplorer.core.types import ItemDetail, SearchResult
from mmexplorer.ui import paint


class ModalityView:
    """How the ui shows items of one modality. This base class is the generic view."""

    #: the modality's name (core.types.Modality's `.value`); "" for the generic view
    name: str = ""
    label: str = "Item"  # one of them, as a title ("Photo")
    plural: str = "Items"  # as a filter button or a row title ("Photos")
    icon: str = "open"  # line icon in assets/icons
    fallback_icon = QStyle.StandardPixmap.SP_FileIcon  # when the assets folder is missing
    order: int = 99  # place in filters, counts and related rows
    #: the thumbnail loader makes a picture of it that results cards show (a photo, a waveform)
    card_thumbnail: bool = False
    #: tiles (related strip, matrix) show its thumbnail instead of its icon
    tile_thumbnail: bool = False
    #: the vector spaces it is searched in (core.types.Space values)
    spaces: tuple[str, ...] = ()
    #: searchable only while a model of one of these spaces is loaded (empty: always)
    needs_models: tuple[str, ...] = ()
    #: what the filter says while it cannot be searched
    unsearchable_hint: str = ""
    #: it can be played (Space plays or pauses it in the detail pane)
    playable: bool = False
    #: its capture time is worth showing beside its file time
    shows_taken: bool = False

    def __init__(self, name: str = "") -> None:
        if name:
            self.name = name
            self.label = name.replace("_", " ").title()
            self.plural = f"{self.label}s"

    def words(self, n: int) -> str:
        """ "1 photo" or "3 photos" without the number: the singular or plural in lower case."""
        return (self.label if n == 1 else self.plural).lower()

    def searchable(self, model_spaces: set[str]) -> bool:
        """It can be searched with these models loaded (ModelInfo.space values)."""
        return not self.needs_models or bool(model_spaces & set(self.needs_models))

    # --- a results card ------------------------------------------------------------------------

    def paint_card(
        self,
        card: Any,
        painter: QPainter,
        rect: QRectF,
        index: Any,
        result: SearchResult,
        pal: QPalette,
        dark: bool,
    ) -> None:
        """Draw the card's preview area. `card` is the ResultDelegate (its scaled-pixmap cache)."""
        paint.placeholder(painter, rect, pal, dark, self.icon)

    # --- the detail pane -------------------------------------------------------------------------

    def show_in_detail(self, pane: Any, result: SearchResult) -> None:
        """Fill the pane's preview part for a search result (ui/detail.py DetailPane)."""
        pane.show_icon(self.icon)

    def detail_arrived(self, pane: Any, detail: ItemDetail) -> None:
        """The item's details came: add what the search result did not carry."""

    # --- Compare ---------------------------------------------------------------------------------

    def show_in_compare(self, side: Any, result: SearchResult) -> None:
        """Fill one side of the Compare window (ui/compare.py CompareSide)."""
        side.show_icon(self.icon)

    def wants_pixels(self) -> bool:
        """Compare loads the item's own picture for its side (and its heatmap)."""
        return False

    def shows_spans(self) -> bool:
        """An explanation's weighted words are drawn over its text."""
        return False
