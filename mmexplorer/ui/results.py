"""The results grid: a list model of SearchResults, a delegate that draws cards, and the view.

Thumbnails are requested lazily, when a card is first painted, from the ThumbnailLoader (a thread
pool); until one arrives the card shows a placeholder. Notes show the matching chunk as a snippet;
recordings show a waveform glyph.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QTextOption,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mmexplorer.core.types import Modality, SearchResult
from mmexplorer.ui import icons, theme

THUMB_SIDE = 256  # pixels of the cached thumbnail; cards show it cover-cropped
ResultRole = Qt.ItemDataRole.UserRole + 1
ThumbRole = Qt.ItemDataRole.UserRole + 2
ThumbStateRole = Qt.ItemDataRole.UserRole + 3

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


def describe_matches(result: SearchResult) -> str:
    """One line per space the item matched in, for tooltips and the detail pane."""
    lines = []
    for m in result.matches:
        lines.append(f"{m.space}: cosine {m.raw:.3f}, calibrated {m.calibrated:+.2f}")
    return "\n".join(lines)


class PixmapCache:
    """A small LRU of QPixmaps keyed by (path, side). GUI thread only."""

    def __init__(self, capacity: int = 300) -> None:  # ~200 KB each at 256 px: about 60 MB
        self._items: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._failed: dict[tuple[str, int], str] = {}
        self.capacity = capacity

    def get(self, path: str, side: int) -> QPixmap | None:
        key = (path, side)
        pm = self._items.get(key)
        if pm is not None:
            self._items.move_to_end(key)
        return pm

    def put(self, path: str, side: int, image: QImage) -> QPixmap:
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
    """SearchResults in score order. Asks `loader` for photo thumbnails the first time one is needed."""

    def __init__(self, loader: Any = None, cache: PixmapCache | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._results: list[SearchResult] = []
        self._rows_by_path: dict[str, list[int]] = {}
        self._loader = loader
        self.cache = cache or PixmapCache()
        self.max_score = 1.0
        self.min_score = 0.0
        if loader is not None:
            loader.ready.connect(self._on_thumbnail)
            loader.failed.connect(self._on_thumbnail_failed)

    # --- content -------------------------------------------------------------------------------

    def set_results(self, results: list[SearchResult]) -> None:
        self.beginResetModel()
        self._results = list(results)
        self._rows_by_path = {}
        for row, r in enumerate(self._results):
            self._rows_by_path.setdefault(r.path, []).append(row)
        scores = [r.score for r in self._results]
        self.max_score = max(scores) if scores else 1.0
        self.min_score = min(scores) if scores else 0.0
        self.endResetModel()

    def results(self) -> list[SearchResult]:
        return list(self._results)

    def result(self, row: int) -> SearchResult | None:
        return self._results[row] if 0 <= row < len(self._results) else None

    def row_of_path(self, path: str) -> int:
        rows = self._rows_by_path.get(path)
        return rows[0] if rows else -1

    def score_fraction(self, score: float) -> float:
        """Where a score sits between this result list's weakest and strongest, as a bar length."""
        hi, lo = self.max_score, min(self.min_score, 0.0)
        if hi <= lo:
            return 1.0
        return max(0.04, min(1.0, (score - lo) / (hi - lo)))

    # --- Qt model API ---------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._results)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        r = self.result(index.row()) if index.isValid() else None
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(r.path).name
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [r.path, f"{modality_label(modality_of(r))} · score {r.score:.2f}"]
            why = describe_matches(r)
            if why:
                lines.append(why)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{modality_label(modality_of(r))} {Path(r.path).name}, score {r.score:.2f}"
        if role == ResultRole:
            return r
        if role == ThumbRole:
            return self.thumbnail(r.path) if modality_of(r) == Modality.PHOTO else None
        if role == ThumbStateRole:
            if self.cache.get(r.path, THUMB_SIDE) is not None:
                return "ready"
            return "failed" if self.cache.failure(r.path, THUMB_SIDE) else "loading"
        return None

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        urls = [QUrl.fromLocalFile(r.path) for i in indexes if (r := self.result(i.row())) is not None]
        mime.setUrls(urls)
        mime.setText("\n".join(u.toLocalFile() for u in urls))
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
        clip = QPainterPath()
        clip.addRoundedRect(thumb_rect.adjusted(0, 0, 0, radius), radius, radius)
        clip = clip.intersected(path)
        top_only = QPainterPath()
        top_only.addRect(thumb_rect)
        painter.setClipPath(clip.intersected(top_only))
        modality = modality_of(result)
        if modality == Modality.PHOTO:
            self._paint_photo(painter, thumb_rect, index, pal, dark)
        elif modality == Modality.NOTE:
            self._paint_note(painter, thumb_rect, result, pal, dark)
        else:
            self._paint_recording(painter, thumb_rect, pal, dark)
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
        name = fm.elidedText(Path(result.path).name, Qt.TextElideMode.ElideMiddle, int(name_w))
        painter.setPen(text_color)
        painter.drawText(
            QRectF(name_left, text_rect.top(), name_w, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            name,
        )

        small = QFont(option.font)
        small.setPointSizeF(max(6.5, option.font.pointSizeF() * 0.85))
        sfm = QFontMetrics(small)
        score_txt = f"{result.score:.2f}"
        score_w = sfm.horizontalAdvance("0000.00")
        bar_y = text_rect.top() + fm.height() + 9
        bar = QRectF(text_rect.left(), bar_y, text_rect.width() - score_w - 6, 5)
        track = QColor(pal.color(QPalette.ColorRole.Midlight))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(bar, 2.5, 2.5)
        frac = model.score_fraction(result.score) if hasattr(model, "score_fraction") else 1.0
        fill = QRectF(bar.left(), bar.top(), max(5.0, bar.width() * frac), bar.height())
        painter.setBrush(theme.accent())
        painter.drawRoundedRect(fill, 2.5, 2.5)
        painter.setFont(small)
        painter.setPen(muted)
        painter.drawText(
            QRectF(bar.right() + 4, bar.center().y() - sfm.height() / 2, score_w + 2, sfm.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            score_txt,
        )
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

    def _paint_recording(self, painter: QPainter, rect: QRectF, pal: QPalette, dark: bool) -> None:
        bg = QColor("#1f2633") if dark else QColor("#eef2fb")
        painter.fillRect(rect, bg)
        # a stylised waveform, the same for every recording (no audio decoding on the GUI thread)
        bars = 23
        gap = rect.width() * 0.7 / bars
        x0 = rect.left() + rect.width() * 0.15
        cy = rect.center().y()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(theme.accent()))
        for i in range(bars):
            h = rect.height() * (
                0.12 + 0.45 * abs(((i * 7919) % 13) / 13.0 - 0.5) * 2 * (1 - abs(i - bars / 2) / bars)
            )
            painter.drawRoundedRect(QRectF(x0 + i * gap, cy - h / 2, gap * 0.55, h), 1.5, 1.5)


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
    """An icon-mode list of cards that stretch to fill the width; Enter opens the current item."""

    open_requested = Signal(QModelIndex)

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
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_requested.emit(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)

    def card_rect(self, row: int) -> QRect:
        return self.visualRect(self.model().index(row, 0))
