"""The results grid: a list model of SearchResults, a delegate that draws cards, and the view.

The strong matches (`SearchResult.relevant`) come first, ordered by relevance or by date; the
weaker ones sit behind one "Show N weaker matches" card at the end of the grid (a row of the model
like the others, so the keyboard reaches it), and appear after it, nearest first, when it is
activated. A card shows the result's relevance as the CLI prints it (two decimals) and a bar of
that length: relevance is in [0, 1] and comparable across queries, so it is never rescaled to the
result set.

Thumbnails are requested lazily, when a card is first painted, from the ThumbnailSource (a thread
pool); until one arrives the card shows a placeholder. Notes show the matching chunk as a snippet;
recordings show their waveform (a PNG made by core.thumbnails, tinted here for the theme) with the
matched stretch in full colour, the matched words, where they are and the recording's length.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView

# The grid's parts live in modules of their own; their public names stay importable from here.
from mmexplorer.ui.cards import ResultDelegate
from mmexplorer.ui.result_text import (
    SORT_DATE,
    SORT_RELEVANCE,
    component_label,
    describe_component,
    describe_matches,
    display_name,
    format_date,
    format_relevance,
    format_weight,
    modality_icon_name,
    modality_label,
    sort_strong,
    strength_label,
)
from mmexplorer.ui.results_model import DURATION_KEY, FOLD, PixmapCache, ResultsModel
from mmexplorer.ui.roles import THUMB_SIDE, DurationRole, FoldRole, ResultRole, ThumbRole, ThumbStateRole

__all__ = [
    "DURATION_KEY",
    "FOLD",
    "SORT_DATE",
    "SORT_RELEVANCE",
    "THUMB_SIDE",
    "DurationRole",
    "FoldRole",
    "PixmapCache",
    "ResultDelegate",
    "ResultRole",
    "ResultsModel",
    "ResultsView",
    "ThumbRole",
    "ThumbStateRole",
    "component_label",
    "describe_component",
    "describe_matches",
    "display_name",
    "format_date",
    "format_relevance",
    "format_weight",
    "modality_icon_name",
    "modality_label",
    "sort_strong",
    "strength_label",
]


class ResultsView(QListView):
    """An icon-mode list of cards that stretch to fill the width; Enter opens the current item.

    The weak-match fold card is a button: a click, Enter or Space on it emits `fold_activated`
    (and leaves the selection alone).
    """

    open_requested = Signal(QModelIndex)
    fold_activated = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("ResultsView")
        self._delegate = ResultDelegate(self)
        self.setItemDelegate(self._delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        # Ctrl+click adds a second card (Compare) or more (the similarity matrix)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setSpacing(0)
        self.setContentsMargins(8, 8, 8, 8)
        self.setViewportMargins(8, 8, 8, 8)
        self.doubleClicked.connect(self.open_requested)
        self._relayout(self.MIN_WIDTH_HINT)

    MIN_WIDTH_HINT = 600

    def _relayout(self, width: int) -> None:
        min_w = ResultDelegate.MIN_CARD_WIDTH
        usable = max(min_w, width - 2)
        cols = max(1, usable // min_w)
        card_w = usable // cols
        size = QSize(card_w, ResultDelegate.card_height(min(card_w, 240)))
        if size != self._delegate.card_size:
            self._delegate.card_size = size
            self.setGridSize(size)
            self._delegate.sizeHintChanged.emit(QModelIndex())

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._relayout(self.viewport().width())
        super().resizeEvent(event)

    def _is_fold(self, index: QModelIndex) -> bool:
        return index.isValid() and bool(index.data(FoldRole))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if self._is_fold(index):
            if event.button() == Qt.MouseButton.LeftButton:
                # current (for the keyboard) but not selected: the selection and the detail pane stay
                self.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.fold_activated.emit()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._is_fold(self.indexAt(event.position().toPoint())):
            event.accept()  # the press already toggled it
            return
        super().mouseDoubleClickEvent(event)

    def event(self, event: QEvent) -> bool:
        # Space on the fold card unfolds it, even where Space is also a window shortcut (play/pause)
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and self._is_fold(self.currentIndex())
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        current = self.currentIndex()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self._is_fold(current):
            self.fold_activated.emit()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and current.isValid():
            self.open_requested.emit(current)
            event.accept()
            return
        super().keyPressEvent(event)

    def card_rect(self, row: int) -> QRect:
        return self.visualRect(self.model().index(row, 0))
