"""The results grid's model: SearchResults as rows, strong matches first, the weak ones behind a fold."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage, QPixmap

from mmexplorer.core.names import display_path
from mmexplorer.core.types import SearchResult
from mmexplorer.ui import desktop, views
from mmexplorer.ui.host import ThumbnailSource
from mmexplorer.ui.result_text import (
    SORT_DATE,
    SORT_RELEVANCE,
    describe_matches,
    display_name,
    format_date,
    format_relevance,
    modality_label,
    sort_strong,
    strength_label,
)
from mmexplorer.ui.roles import THUMB_SIDE, DurationRole, FoldRole, ResultRole, ThumbRole, ThumbStateRole

#: core.thumbnails.DURATION_KEY: the waveform PNG's text chunk with the length (not imported from
#: there: core.thumbnails brings PIL, which stays off the GUI thread's startup path).
DURATION_KEY = "duration"


class _Fold:
    """The model row of the "Show N weaker matches" card."""

    __slots__ = ()


FOLD = _Fold()


class PixmapCache:
    """A small LRU of QPixmaps keyed by (path, side). GUI thread only."""

    def __init__(self, capacity: int = 300) -> None:  # ~200 KB each at 256 px: about 60 MB
        self._items: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._failed: dict[tuple[str, int], str] = {}
        self._durations: dict[str, float] = {}
        self.capacity = capacity

    def duration(self, path: str) -> float | None:
        """A recording's length in seconds, known once its waveform thumbnail arrived."""
        return self._durations.get(path)

    def get(self, path: str, side: int) -> QPixmap | None:
        key = (path, side)
        pm = self._items.get(key)
        if pm is not None:
            self._items.move_to_end(key)
        return pm

    def put(self, path: str, side: int, image: QImage) -> QPixmap:
        duration = image.text(DURATION_KEY)  # a recording's waveform says how long it is
        if duration:
            try:
                self._durations[path] = float(duration)
            except ValueError:
                pass
        pm = QPixmap.fromImage(image)
        self._items[(path, side)] = pm
        self._items.move_to_end((path, side))
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        self._failed.pop((path, side), None)
        return pm

    def fail(self, path: str, side: int, reason: str) -> None:
        self._failed[(path, side)] = reason

    def failure(self, path: str, side: int) -> str | None:
        return self._failed.get((path, side))

    def clear(self) -> None:
        self._items.clear()
        self._failed.clear()


class ResultsModel(QAbstractListModel):
    """SearchResults as the grid shows them: strong matches in `sort` order, then the weak-match fold.

    Rows are the strong matches, then (when there are weak ones) the fold card, then (when
    `weak_shown`) the weak matches by relevance. `result(row)` is None for the fold row. Asks
    `loader` for photo thumbnails the first time one is needed.
    """

    def __init__(
        self, loader: ThumbnailSource | None = None, cache: PixmapCache | None = None, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._strong: list[SearchResult] = []
        self._weak: list[SearchResult] = []
        self._rows: list[SearchResult | _Fold] = []
        self._rows_by_path: dict[str, list[int]] = {}
        self._loader = loader
        self.cache = cache or PixmapCache()
        self.sort = SORT_RELEVANCE
        self.weak_shown = False
        if loader is not None:
            loader.ready.connect(self._on_thumbnail)
            loader.failed.connect(self._on_thumbnail_failed)

    # --- content -------------------------------------------------------------------------------

    def set_results(self, results: list[SearchResult], *, keep_fold: bool = False) -> None:
        """Show a new answer. `keep_fold`: the same query again (more results, new weights), so
        weak matches the user unfolded stay unfolded."""
        self.beginResetModel()
        self._strong = sort_strong([r for r in results if r.relevant], self.sort)
        self._weak = sorted((r for r in results if not r.relevant), key=lambda r: -r.relevance)
        if not keep_fold:
            self.weak_shown = False
        self._rows = self._layout()
        self._index_paths()
        self.endResetModel()

    def set_sort(self, key: str) -> None:
        """Order the strong matches by relevance or date; selections and the fold stay as they are."""
        key = SORT_DATE if key == SORT_DATE else SORT_RELEVANCE
        if key == self.sort:
            return
        self.sort = key
        self.layoutAboutToBeChanged.emit()
        old = self._rows
        self._strong = sort_strong(self._strong, key)
        self._rows = self._layout()
        where = {id(obj): row for row, obj in enumerate(self._rows)}
        for pi in self.persistentIndexList():
            new = where.get(id(old[pi.row()])) if 0 <= pi.row() < len(old) else None
            self.changePersistentIndex(pi, self.index(new) if new is not None else QModelIndex())
        self._index_paths()
        self.layoutChanged.emit()

    def set_weak_shown(self, shown: bool) -> None:
        """Unfold (or fold) the weak matches after the fold card."""
        if shown == self.weak_shown or not self._weak:
            self.weak_shown = shown if self._weak else False
            return
        fold = self.fold_row()
        first, last = fold + 1, fold + len(self._weak)
        if shown:
            self.beginInsertRows(QModelIndex(), first, last)
            self.weak_shown = True
            self._rows = self._layout()
            self.endInsertRows()
        else:
            self.beginRemoveRows(QModelIndex(), first, last)
            self.weak_shown = False
            self._rows = self._layout()
            self.endRemoveRows()
        self._index_paths()
        idx = self.index(fold)
        self.dataChanged.emit(idx, idx)

    def _layout(self) -> list[SearchResult | _Fold]:
        rows: list[SearchResult | _Fold] = list(self._strong)
        if self._weak:
            rows.append(FOLD)
            if self.weak_shown:
                rows.extend(self._weak)
        return rows

    def _index_paths(self) -> None:
        self._rows_by_path = {}
        for row, r in enumerate(self._rows):
            if isinstance(r, SearchResult):
                self._rows_by_path.setdefault(r.path, []).append(row)

    def results(self) -> list[SearchResult]:
        """Every result of the answer: strong ones in their order, then the weak ones (folded or not)."""
        return [*self._strong, *self._weak]

    def visible_results(self) -> list[SearchResult]:
        """The results that have a card on screen now, in grid order."""
        return [r for r in self._rows if isinstance(r, SearchResult)]

    @property
    def strong_count(self) -> int:
        return len(self._strong)

    @property
    def weak_count(self) -> int:
        return len(self._weak)

    def result(self, row: int) -> SearchResult | None:
        r = self._rows[row] if 0 <= row < len(self._rows) else None
        return r if isinstance(r, SearchResult) else None

    def fold_row(self) -> int:
        """The row of the "Show N weaker matches" card (-1: there are no weak matches)."""
        return len(self._strong) if self._weak else -1

    def is_fold(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        return index.isValid() and index.row() == self.fold_row()

    def fold_text(self) -> tuple[str, str]:
        """The fold card's title and subtitle."""
        n = len(self._weak)
        plural = "es" if n != 1 else ""
        if not self.weak_shown:
            return f"Show {n} weaker match{plural}", "Below the relevance cutoff"
        if not self._strong:
            return f"Hide the nearest {n}", "None of them is a good match"
        return f"Hide {n} weaker match{plural}", "The cards after this one are weak matches"

    def row_of_path(self, path: str) -> int:
        rows = self._rows_by_path.get(path)
        return rows[0] if rows else -1

    # --- Qt model API ---------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self.is_fold(index):
            # Reachable (it can be the current item) but never selected: it is a button, not an item.
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if self.is_fold(index):
            title, subtitle = self.fold_text()
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                return title
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{title}: {subtitle.lower()} (Enter or click)"
            if role == FoldRole:
                return True
            return None
        r = self.result(index.row()) if index.isValid() else None
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return display_name(r.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            head = f"{modality_label(r.modality)} · relevance {format_relevance(r.relevance)} ({strength_label(r)})"
            lines = [display_path(r.path), head]
            if r.taken_at is not None:
                lines.append(format_date(r.taken_at))
            if r.caption:
                lines.append(f"“{r.caption}”")
            why = describe_matches(r)
            if why:
                lines.append(why)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return (
                f"{modality_label(r.modality)} {display_name(r.path)}, "
                f"relevance {format_relevance(r.relevance)}, {strength_label(r)}"
            )
        if role == FoldRole:
            return False
        if role == ResultRole:
            return r
        if role == ThumbRole:
            return self.thumbnail(r.path) if views.view_for(r.modality).card_thumbnail else None
        if role == DurationRole:
            return self.cache.duration(r.path)
        if role == ThumbStateRole:
            if self.cache.get(r.path, THUMB_SIDE) is not None:
                return "ready"
            return "failed" if self.cache.failure(r.path, THUMB_SIDE) else "loading"
        return None

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        paths = [r.path for i in indexes if (r := self.result(i.row())) is not None]
        mime.setUrls([desktop.file_url(p) for p in paths])  # the real bytes, for the receiving app
        mime.setText("\n".join(display_path(p) for p in paths))
        return mime

    # --- thumbnails ----------------------------------------------------------------------------

    def thumbnail(self, path: str) -> QPixmap | None:
        pm = self.cache.get(path, THUMB_SIDE)
        if pm is None and self._loader is not None and self.cache.failure(path, THUMB_SIDE) is None:
            self._loader.request(path, THUMB_SIDE)
        return pm

    def _changed(self, path: str) -> None:
        for row in self._rows_by_path.get(path, ()):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [ThumbRole, ThumbStateRole])

    def _on_thumbnail(self, path: str, side: int, image: QImage) -> None:
        if side != THUMB_SIDE:
            return
        self.cache.put(path, side, image)
        self._changed(path)

    def _on_thumbnail_failed(self, path: str, side: int, reason: str) -> None:
        if side != THUMB_SIDE:
            return
        self.cache.fail(path, side, reason)
        self._changed(path)
