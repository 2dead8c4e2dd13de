"""The results card: a rounded card with the modality view's preview on top, then name, kind and score."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mmexplorer.core.types import SearchResult
from mmexplorer.ui import icons, paint, theme, views
from mmexplorer.ui.paint import ScaledPixmaps
from mmexplorer.ui.result_text import SORT_DATE, SORT_RELEVANCE, display_name, format_date, format_relevance
from mmexplorer.ui.roles import FoldRole, ResultRole


class ResultDelegate(QStyledItemDelegate):
    """Draws one result as a rounded card: preview on top, name, modality and a score bar below."""

    MIN_CARD_WIDTH = 176
    TEXT_HEIGHT = 50
    MARGIN = 6

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.card_size = QSize(self.MIN_CARD_WIDTH, self.card_height(self.MIN_CARD_WIDTH))
        self.scaled = ScaledPixmaps()  # previews scaled once per size (the views draw with it)

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
        painter.setClipPath(paint.top_rounded(thumb_rect, radius))
        view = views.view_for(result.modality)
        view.paint_card(self, painter, thumb_rect, index, result, pal, dark)
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
        icon_px = icons.pixmap(view.icon, 14, muted, dpr=painter.device().devicePixelRatioF())
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
        title_lines = paint.wrap(title, fm, inner_w, 2)
        sub_lines = paint.wrap(subtitle, sfm, inner_w, 2) if subtitle else []
        block_h = side + 10 + len(title_lines) * fm.lineSpacing() + 4 + len(sub_lines) * sfm.lineSpacing()
        y = card.center().y() - block_h / 2
        painter.drawPixmap(QPoint(round(card.center().x() - side / 2), round(y)), icon_px)
        y += side + 10
        y = paint.draw_centred_lines(painter, title_lines, font, link, card.left() + 12, y, inner_w)
        paint.draw_centred_lines(painter, sub_lines, small, muted, card.left() + 12, y + 4, inner_w)
        painter.restore()

    # --- previews ------------------------------------------------------------------------------
