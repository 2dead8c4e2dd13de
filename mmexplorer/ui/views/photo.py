"""Photos in the ui: a cover-cropped thumbnail with its caption, the picture in the detail pane."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle

from mmexplorer.core.types import ItemDetail, SearchResult, Space
from mmexplorer.ui import paint
from mmexplorer.ui.roles import ThumbRole, ThumbStateRole
from mmexplorer.ui.views.base import ModalityView


class PhotoModality(ModalityView):
    name = "photo"
    label = "Photo"
    plural = "Photos"
    icon = "photo"
    fallback_icon = QStyle.StandardPixmap.SP_FileIcon
    order = 0
    card_thumbnail = True
    tile_thumbnail = True
    spaces = (Space.IMAGE.value, Space.TEXT.value)  # pixels, and the generated caption
    shows_taken = True

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
        pm: QPixmap | None = index.data(ThumbRole)
        if pm is None or pm.isNull():
            state = index.data(ThumbStateRole)
            paint.placeholder(painter, rect, pal, dark, "warning" if state == "failed" else self.icon)
            return
        painter.drawPixmap(rect.topLeft(), card.scaled.cover(pm, rect, painter.device().devicePixelRatioF()))
        caption = result.caption
        if caption:  # the generated caption on a dark band over the photo's foot
            fm = QFontMetrics(painter.font())
            band = QRectF(rect.left(), rect.bottom() - (fm.height() + 8), rect.width(), fm.height() + 8)
            painter.fillRect(band, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            text = fm.elidedText(caption, Qt.TextElideMode.ElideRight, int(band.width()) - 12)
            painter.drawText(
                band.adjusted(6, 0, -6, 0),
                int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                text,
            )

    def show_in_detail(self, pane: Any, result: SearchResult) -> None:
        pane.show_picture(result.path)

    def detail_arrived(self, pane: Any, detail: ItemDetail) -> None:
        pane.set_caption(detail.caption or "")

    def show_in_compare(self, side: Any, result: SearchResult) -> None:
        side.show_picture_area()

    def wants_pixels(self) -> bool:
        return True
