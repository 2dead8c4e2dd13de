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

import datetime as dt
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QTextOption,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mmexplorer.core.names import display_path
from mmexplorer.core.types import Component, Modality, SearchResult
from mmexplorer.ui import desktop, icons, theme
from mmexplorer.ui.audio import format_clock
from mmexplorer.ui.host import ThumbnailSource

THUMB_SIDE = 256  # pixels of the cached thumbnail; cards show it cover-cropped
ResultRole = Qt.ItemDataRole.UserRole + 1
ThumbRole = Qt.ItemDataRole.UserRole + 2
ThumbStateRole = Qt.ItemDataRole.UserRole + 3
FoldRole = Qt.ItemDataRole.UserRole + 4  # True on the "Show N weaker matches" card
DurationRole = Qt.ItemDataRole.UserRole + 5  # a recording's length in seconds, once its waveform came
#: core.thumbnails.DURATION_KEY: the waveform PNG's text chunk with the length (not imported from
#: there: core.thumbnails brings PIL, which stays off the GUI thread's startup path).
DURATION_KEY = "duration"

SORT_RELEVANCE = "relevance"
SORT_DATE = "date"

_MODALITY_ICON = {Modality.PHOTO: "photo", Modality.NOTE: "note", Modality.RECORDING: "recording"}
_MODALITY_LABEL = {Modality.PHOTO: "Photo", Modality.NOTE: "Note", Modality.RECORDING: "Recording"}


def modality_of(result: SearchResult) -> Modality:
    try:
        return Modality(result.modality)
    except ValueError:
        return Modality.PHOTO


def modality_icon_name(modality: Modality | str) -> str:
    try:
        return _MODALITY_ICON[Modality(modality)]
    except ValueError:
        return "photo"


def modality_label(modality: Modality | str) -> str:
    try:
        return _MODALITY_LABEL[Modality(modality)]
    except ValueError:
        return str(modality).title()


def format_relevance(value: float) -> str:
    """A relevance as the CLI prints it: two decimals ("0.87")."""
    return f"{value:.2f}"


def format_weight(value: float) -> str:
    """A fusion weight with as few decimals as it needs, at least one ("1.0", "0.5", "0.75")."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


_COMPONENT_LABELS = {
    ("image", "pixels"): "Photo pixels",
    ("text", "chunk"): "Note text (best chunk)",
    ("text", "caption"): "Photo caption",
    ("text", "transcript"): "Spoken words (transcript)",
    ("sound", "sound"): "Sound",
    ("lexical", "name"): "File or folder name",
    ("lexical", "words"): "Exact words",
}


def component_label(c: Component) -> str:
    """What a way of matching is called on screen ("Photo pixels", "Exact words")."""
    return _COMPONENT_LABELS.get((c.space, c.via), f"{c.space.title()} ({c.via})")


def describe_component(c: Component) -> str:
    """ "Photo pixels 0.91 × weight 1.0" (the weight is said when it is not 1)."""
    text = f"{component_label(c)} {format_relevance(c.relevance)}"
    return text if c.weight >= 1.0 else f"{text} × weight {format_weight(c.weight)}"


def describe_matches(result: SearchResult) -> str:
    """One line per way the item matched, for tooltips."""
    return "\n".join(describe_component(c) for c in result.components)


def display_name(path: str) -> str:
    """A file's name as a person reads it (undecodable bytes as U+FFFD); never use it to open the file."""
    return Path(display_path(path)).name


def strength_label(result: SearchResult) -> str:
    return "strong match" if result.relevant else "weak match"


def format_date(timestamp: float | None) -> str:
    """ "3 May 2024" (empty when unknown)."""
    if timestamp is None:
        return ""
    try:
        d = dt.datetime.fromtimestamp(timestamp)
    except (OverflowError, OSError, ValueError):
        return ""
    return f"{d.day} {d:%b %Y}"


def sort_strong(results: list[SearchResult], key: str) -> list[SearchResult]:
    """Strong matches in the chosen order: best first, or newest first (undated ones last, best first)."""
    if key == SORT_DATE:
        return sorted(results, key=lambda r: (r.taken_at is None, -(r.taken_at or 0.0), -r.relevance))
    return sorted(results, key=lambda r: -r.relevance)


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
            head = f"{modality_label(modality_of(r))} · relevance {format_relevance(r.relevance)} ({strength_label(r)})"
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
                f"{modality_label(modality_of(r))} {display_name(r.path)}, "
                f"relevance {format_relevance(r.relevance)}, {strength_label(r)}"
            )
        if role == FoldRole:
            return False
        if role == ResultRole:
            return r
        if role == ThumbRole:
            return self.thumbnail(r.path) if modality_of(r) in (Modality.PHOTO, Modality.RECORDING) else None
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


def _top_rounded(rect: QRectF, radius: float) -> QPainterPath:
    """A rectangle with its top corners rounded: the preview's clip. Drawn directly, because path
    intersections per card per paint were most of a full repaint's cost (measured)."""
    x, y, w, h, d = rect.x(), rect.y(), rect.width(), rect.height(), 2 * radius
    path = QPainterPath()
    path.moveTo(x, y + h)
    path.lineTo(x, y + radius)
    path.arcTo(x, y, d, d, 180.0, -90.0)
    path.lineTo(x + w - radius, y)
    path.arcTo(x + w - d, y, d, d, 90.0, -90.0)
    path.lineTo(x + w, y + h)
    path.closeSubpath()
    return path


class ResultDelegate(QStyledItemDelegate):
    """Draws one result as a rounded card: preview on top, name, modality and a score bar below."""

    MIN_CARD_WIDTH = 176
    TEXT_HEIGHT = 50
    MARGIN = 6

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.card_size = QSize(self.MIN_CARD_WIDTH, self.card_height(self.MIN_CARD_WIDTH))
        self._scaled: OrderedDict[tuple[int, int, int], QPixmap] = OrderedDict()

    @classmethod
    def card_height(cls, width: int) -> int:
        thumb_h = round((width - 2 * cls.MARGIN) * 0.75)
        return thumb_h + cls.TEXT_HEIGHT + 2 * cls.MARGIN

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.card_size

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        if index.data(FoldRole):
            self._paint_fold(painter, option, index)
            return
        result: SearchResult | None = index.data(ResultRole)
        if result is None:
            return
        model = index.model()
        pal: QPalette = option.palette
        dark = theme.is_dark(pal)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)

        card = QRectF(option.rect).adjusted(self.MARGIN, self.MARGIN, -self.MARGIN, -self.MARGIN)
        radius = 10.0
        path = QPainterPath()
        path.addRoundedRect(card, radius, radius)

        base = pal.color(QPalette.ColorRole.Base)
        card_bg = base.lighter(112) if dark else base
        if selected:
            hl = QColor(pal.color(QPalette.ColorRole.Highlight))
            hl.setAlphaF(0.16 if not dark else 0.28)
            painter.fillPath(path, card_bg)
            painter.fillPath(path, hl)
        else:
            painter.fillPath(path, card_bg)

        # preview area (top), clipped to the card's rounded top corners
        thumb_rect = QRectF(card.left(), card.top(), card.width(), card.height() - self.TEXT_HEIGHT)
        painter.save()
        painter.setClipPath(_top_rounded(thumb_rect, radius))
        modality = modality_of(result)
        if modality == Modality.PHOTO:
            self._paint_photo(painter, thumb_rect, index, pal, dark)
        elif modality == Modality.NOTE:
            self._paint_note(painter, thumb_rect, result, pal, dark)
        else:
            self._paint_recording(painter, thumb_rect, index, result, pal, dark)
        if not result.relevant:
            # a weak match is washed out a little: it is there because it was asked for
            wash = QColor(pal.color(QPalette.ColorRole.Base))
            wash.setAlphaF(0.35)
            painter.fillRect(thumb_rect, wash)
        painter.restore()

        # border
        if selected:
            pen = QPen(pal.color(QPalette.ColorRole.Highlight), 2.0)
        elif hovered:
            pen = QPen(pal.color(QPalette.ColorRole.Mid), 1.2)
        else:
            pen = QPen(pal.color(QPalette.ColorRole.Midlight), 1.0)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if focused and not selected:
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 1.0, Qt.PenStyle.DotLine))
            painter.drawRoundedRect(card.adjusted(2, 2, -2, -2), radius - 2, radius - 2)

        # text area: icon + name, then score bar + number
        text_rect = QRectF(
            card.left() + 10, thumb_rect.bottom() + 6, card.width() - 20, self.TEXT_HEIGHT - 10
        )
        text_color = pal.color(QPalette.ColorRole.Text)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        icon_px = icons.pixmap(
            modality_icon_name(modality), 14, muted, dpr=painter.device().devicePixelRatioF()
        )
        painter.drawPixmap(QPoint(round(text_rect.left()), round(text_rect.top() + 2)), icon_px)
        font = QFont(option.font)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        fm = QFontMetrics(font)
        name_left = text_rect.left() + 20
        name_w = text_rect.right() - name_left
        name = fm.elidedText(display_name(result.path), Qt.TextElideMode.ElideMiddle, int(name_w))
        painter.setPen(text_color)
        painter.drawText(
            QRectF(name_left, text_rect.top(), name_w, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            name,
        )

        # second line: (the date, when sorted by date) a relevance bar, and the relevance as the CLI
        # prints it. The bar is the relevance itself: 0.9 fills nine tenths in every search.
        small = QFont(option.font)
        small.setPointSizeF(max(6.5, option.font.pointSizeF() * 0.85))
        sfm = QFontMetrics(small)
        score_txt = format_relevance(result.relevance)
        score_w = sfm.horizontalAdvance("0.00") + 2
        line_y = text_rect.top() + fm.height() + 9
        bar_left = text_rect.left()
        painter.setFont(small)
        if getattr(model, "sort", SORT_RELEVANCE) == SORT_DATE:
            date_txt = format_date(result.taken_at) or "No date"
            date_w = sfm.horizontalAdvance(date_txt)
            painter.setPen(muted)
            painter.drawText(
                QRectF(bar_left, line_y + 2.5 - sfm.height() / 2, date_w + 2, sfm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                date_txt,
            )
            bar_left += date_w + 8
        bar = QRectF(bar_left, line_y, max(12.0, text_rect.right() - score_w - 6 - bar_left), 5)
        track = QColor(pal.color(QPalette.ColorRole.Midlight))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(bar, 2.5, 2.5)
        frac = max(0.0, min(1.0, result.relevance))
        if frac > 0:
            fill = QRectF(bar.left(), bar.top(), max(5.0, bar.width() * frac), bar.height())
            # a weak match's bar is grey: the number says how weak, the colour says it is below the cutoff
            painter.setBrush(theme.accent() if result.relevant else pal.color(QPalette.ColorRole.Mid))
            painter.drawRoundedRect(fill, 2.5, 2.5)
        painter.setPen(text_color if result.relevant else muted)
        painter.drawText(
            QRectF(bar.right() + 4, bar.center().y() - sfm.height() / 2, score_w + 2, sfm.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            score_txt,
        )
        painter.restore()

    def _paint_fold(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        """The "Show N weaker matches" card: a dashed outline with the action in the link colour."""
        model = index.model()
        title, subtitle = model.fold_text() if hasattr(model, "fold_text") else (str(index.data()), "")
        pal: QPalette = option.palette
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = QRectF(option.rect).adjusted(self.MARGIN, self.MARGIN, -self.MARGIN, -self.MARGIN)
        path = QPainterPath()
        path.addRoundedRect(card, 10.0, 10.0)
        bg = pal.color(QPalette.ColorRole.AlternateBase)
        painter.fillPath(path, bg)
        if hovered or focused:
            hl = QColor(pal.color(QPalette.ColorRole.Highlight))
            hl.setAlphaF(0.10)
            painter.fillPath(path, hl)
        edge = pal.color(QPalette.ColorRole.Highlight) if focused else pal.color(QPalette.ColorRole.Mid)
        painter.setPen(QPen(edge, 1.6 if focused else 1.2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)

        link = pal.color(QPalette.ColorRole.Link)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        weak_shown = bool(getattr(model, "weak_shown", False))
        side = 28
        icon_px = icons.pixmap(
            "chevron-up" if weak_shown else "chevron-down",
            side,
            link,
            dpr=painter.device().devicePixelRatioF(),
        )
        font = QFont(option.font)
        font.setWeight(QFont.Weight.DemiBold)
        fm = QFontMetrics(font)
        small = QFont(option.font)
        small.setPointSizeF(max(6.5, option.font.pointSizeF() * 0.9))
        sfm = QFontMetrics(small)
        inner_w = card.width() - 24
        title_lines = _wrap(title, fm, inner_w, 2)
        sub_lines = _wrap(subtitle, sfm, inner_w, 2) if subtitle else []
        block_h = side + 10 + len(title_lines) * fm.lineSpacing() + 4 + len(sub_lines) * sfm.lineSpacing()
        y = card.center().y() - block_h / 2
        painter.drawPixmap(QPoint(round(card.center().x() - side / 2), round(y)), icon_px)
        y += side + 10
        y = _draw_centred_lines(painter, title_lines, font, link, card.left() + 12, y, inner_w)
        _draw_centred_lines(painter, sub_lines, small, muted, card.left() + 12, y + 4, inner_w)
        painter.restore()

    # --- previews ------------------------------------------------------------------------------

    def _placeholder(self, painter: QPainter, rect: QRectF, pal: QPalette, dark: bool, name: str) -> None:
        bg = pal.color(QPalette.ColorRole.AlternateBase) if not dark else pal.color(QPalette.ColorRole.Button)
        painter.fillRect(rect, bg)
        side = min(40.0, rect.height() * 0.35)
        px = icons.pixmap(
            name, round(side), pal.color(QPalette.ColorRole.Mid), dpr=painter.device().devicePixelRatioF()
        )
        painter.drawPixmap(
            QPoint(round(rect.center().x() - side / 2), round(rect.center().y() - side / 2)), px
        )

    def _paint_photo(self, painter: QPainter, rect: QRectF, index: Any, pal: QPalette, dark: bool) -> None:
        pm: QPixmap | None = index.data(ThumbRole)
        if pm is None or pm.isNull():
            state = index.data(ThumbStateRole)
            self._placeholder(painter, rect, pal, dark, "warning" if state == "failed" else "photo")
            return
        dpr = painter.device().devicePixelRatioF()
        w, h = round(rect.width() * dpr), round(rect.height() * dpr)
        key = (pm.cacheKey(), w, h)
        card = self._scaled.get(key)
        if card is None:
            # cover-crop (fill the preview area, cut the overflow evenly) and scale once per size:
            # smooth-scaling every card on every repaint costs the GUI thread while scrolling
            src_w, src_h = pm.width(), pm.height()
            scale = max(w / src_w, h / src_h)
            cw, ch = round(w / scale), round(h / scale)
            crop = pm.copy((src_w - cw) // 2, (src_h - ch) // 2, cw, ch)
            card = crop.scaled(
                w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            card.setDevicePixelRatio(dpr)
            self._scaled[key] = card
            while len(self._scaled) > 400:
                self._scaled.popitem(last=False)
        else:
            self._scaled.move_to_end(key)
        painter.drawPixmap(rect.topLeft(), card)
        caption = getattr(index.data(ResultRole), "caption", None)
        if caption:  # the generated caption on a dark band over the photo's foot
            fm = QFontMetrics(painter.font())
            band = QRectF(rect.left(), rect.bottom() - (fm.height() + 8), rect.width(), fm.height() + 8)
            painter.fillRect(band, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            text = fm.elidedText(caption, Qt.TextElideMode.ElideRight, int(band.width()) - 12)
            painter.drawText(band.adjusted(6, 0, -6, 0), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), text)

    def _paint_note(
        self, painter: QPainter, rect: QRectF, result: SearchResult, pal: QPalette, dark: bool
    ) -> None:
        paper = QColor("#2a2b22") if dark else QColor("#fffdf3")
        painter.fillRect(rect, paper)
        rule = QColor(pal.color(QPalette.ColorRole.Midlight))
        rule.setAlphaF(0.6)
        inner = rect.adjusted(12, 10, -12, -8)
        font = QFont(painter.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.88))
        painter.setFont(font)
        fm = QFontMetrics(font)
        snippet = (result.chunk_text or "").strip() or "(empty note)"
        snippet = " ".join(snippet.split())
        max_lines = max(1, int(inner.height() // fm.lineSpacing()))
        lines = _wrap(snippet, fm, inner.width(), max_lines)
        ink = QColor("#d9d4b8") if dark else QColor("#3b3a33")
        painter.setPen(ink)
        opt = QTextOption()
        opt.setWrapMode(QTextOption.WrapMode.NoWrap)
        y = inner.top()
        for line in lines:
            painter.drawText(QRectF(inner.left(), y, inner.width(), fm.height()), line, opt)
            y += fm.lineSpacing()
        # a quote bar marks the text as the matching passage
        painter.fillRect(
            QRectF(rect.left() + 5, inner.top(), 2.5, min(y, inner.bottom()) - inner.top()), theme.accent()
        )

    def _paint_recording(
        self, painter: QPainter, rect: QRectF, index: Any, result: SearchResult, pal: QPalette, dark: bool
    ) -> None:
        """The waveform band (the matched stretch in full colour), the matched words, where and how long."""
        bg = QColor("#1f2633") if dark else QColor("#eef2fb")
        painter.fillRect(rect, bg)
        accent = theme.accent()
        muted = QColor("#8a94a8") if dark else QColor("#6b7385")
        seg = result.segment
        duration = index.data(DurationRole)
        pad = 10.0
        small = QFont(painter.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.82))
        sfm = QFontMetrics(small)
        words = " ".join((seg.text or "").split()) if seg is not None else ""
        foot_h = sfm.height() + 4
        text_lines = 2 if words and rect.height() > 100 else 0
        band_h = max(
            18.0, min(rect.height() * 0.46, rect.height() - 2 * pad - foot_h - text_lines * sfm.lineSpacing())
        )
        band = QRectF(rect.left() + pad, rect.top() + pad + 2, rect.width() - 2 * pad, band_h)
        pm: QPixmap | None = index.data(ThumbRole)
        if pm is None or pm.isNull():
            state = index.data(ThumbStateRole)
            if state == "failed":
                self._placeholder(painter, band, pal, dark, "warning")
            else:
                self._stylised_wave(painter, band, muted)
        else:
            faint = QColor(accent)
            faint.setAlphaF(0.38)
            dpr = painter.device().devicePixelRatioF()
            painter.drawPixmap(band.topLeft(), self._tinted(pm, faint, band, dpr))
            if seg is not None and duration:
                # the matched stretch of the recording, in full colour
                x0 = band.left() + band.width() * max(0.0, min(1.0, seg.start_s / duration))
                x1 = band.left() + band.width() * max(0.0, min(1.0, seg.end_s / duration))
                painter.save()
                painter.setClipRect(QRectF(x0, band.top(), max(2.0, x1 - x0), band.height()))
                painter.drawPixmap(band.topLeft(), self._tinted(pm, accent, band, dpr))
                painter.restore()
        y = band.bottom() + 6
        painter.setFont(small)
        if text_lines:
            ink = QColor("#d7dcea") if dark else QColor("#2f3645")
            painter.setPen(ink)
            for line in _wrap(f"“{words}”", sfm, rect.width() - 2 * pad, text_lines):
                painter.drawText(QRectF(rect.left() + pad, y, rect.width() - 2 * pad, sfm.height()), line)
                y += sfm.lineSpacing()
        foot = QRectF(rect.left() + pad, rect.bottom() - pad + 2 - sfm.height(), rect.width() - 2 * pad, sfm.height())
        if seg is not None:
            painter.setPen(accent)
            painter.drawText(
                foot, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"▶ at {format_clock(seg.start_s)}"
            )
        if duration:
            text = format_clock(duration)
            w = sfm.horizontalAdvance(text) + 10
            pill = QRectF(foot.right() - w, foot.top() - 1, w, foot.height() + 2)
            back = QColor(pal.color(QPalette.ColorRole.Base))
            back.setAlphaF(0.85)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(back)
            painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
            painter.setPen(muted)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _tinted(self, pm: QPixmap, color: QColor, band: QRectF, dpr: float) -> QPixmap:
        """The waveform PNG (white ink in its alpha) in `color`, scaled to the band once per size."""
        w, h = max(1, round(band.width() * dpr)), max(1, round(band.height() * dpr))
        key = (pm.cacheKey(), w, h ^ (color.rgba() << 16))
        out = self._scaled.get(key)
        if out is not None:
            self._scaled.move_to_end(key)
            return out
        scaled = pm.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
        out = QPixmap(scaled.size())
        out.fill(Qt.GlobalColor.transparent)
        p = QPainter(out)
        p.drawPixmap(0, 0, scaled)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        p.fillRect(out.rect(), color)
        p.end()
        out.setDevicePixelRatio(dpr)
        self._scaled[key] = out
        while len(self._scaled) > 400:
            self._scaled.popitem(last=False)
        return out

    @staticmethod
    def _stylised_wave(painter: QPainter, rect: QRectF, color: QColor) -> None:
        """A placeholder waveform while the real one is made (no audio decoding on the GUI thread)."""
        bars = 23
        gap = rect.width() / bars
        cy = rect.center().y()
        faint = QColor(color)
        faint.setAlphaF(0.35)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(faint))
        for i in range(bars):
            h = rect.height() * (
                0.15 + 0.7 * abs(((i * 7919) % 13) / 13.0 - 0.5) * 2 * (1 - abs(i - bars / 2) / bars)
            )
            painter.drawRoundedRect(QRectF(rect.left() + i * gap, cy - h / 2, gap * 0.55, h), 1.5, 1.5)


def _draw_centred_lines(
    painter: QPainter, lines: list[str], font: QFont, color: QColor, left: float, y: float, width: float
) -> float:
    """Draw lines centred in [left, left + width] from `y` down; returns the y below the last one."""
    fm = QFontMetrics(font)
    painter.setFont(font)
    painter.setPen(color)
    for line in lines:
        painter.drawText(QRectF(left, y, width, fm.height()), Qt.AlignmentFlag.AlignHCenter, line)
        y += fm.lineSpacing()
    return y


def _wrap(text: str, fm: QFontMetrics, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap into at most `max_lines` lines; the last one is elided."""
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if fm.horizontalAdvance(candidate) <= width or not current:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            rest = " ".join(words[i:])
            lines[-1] = fm.elidedText(lines[-1] + " " + rest, Qt.TextElideMode.ElideRight, int(width))
            return lines
    if current:
        lines.append(fm.elidedText(current, Qt.TextElideMode.ElideRight, int(width)))
    return lines[:max_lines]


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
