"""Notes in the ui: the matched passage on paper, the full text with its weighted words."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextOption
from PySide6.QtWidgets import QStyle

from mmexplorer.core.types import ItemDetail, SearchResult, Space
from mmexplorer.ui import paint, theme
from mmexplorer.ui.views.base import ModalityView


class NoteModality(ModalityView):
    name = "note"
    label = "Note"
    plural = "Notes"
    icon = "note"
    fallback_icon = QStyle.StandardPixmap.SP_FileIcon
    order = 1
    spaces = (Space.TEXT.value,)

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
        lines = paint.wrap(snippet, fm, inner.width(), max_lines)
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

    def show_in_detail(self, pane: Any, result: SearchResult) -> None:
        pane.show_text(result.chunk_text or "")

    def detail_arrived(self, pane: Any, detail: ItemDetail) -> None:
        if detail.text is not None:
            pane.show_full_text(detail.text)

    def show_in_compare(self, side: Any, result: SearchResult) -> None:
        side.show_text(result.chunk_text or "")

    def shows_spans(self) -> bool:
        return True
