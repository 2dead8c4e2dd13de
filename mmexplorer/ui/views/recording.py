"""Recordings in the ui: the waveform with the matched stretch lit, the player and transcript."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle

from mmexplorer.core.types import ItemDetail, SearchResult, Space
from mmexplorer.ui import paint, theme
from mmexplorer.ui.roles import DurationRole, ThumbRole, ThumbStateRole
from mmexplorer.ui.timefmt import format_clock
from mmexplorer.ui.views.base import ModalityView

#: ModelInfo.space of the speech recogniser (its transcripts are searched in the text space)
SPEECH_MODELS = "speech"


class RecordingModality(ModalityView):
    name = "recording"
    label = "Recording"
    plural = "Recordings"
    icon = "recording"
    fallback_icon = QStyle.StandardPixmap.SP_MediaVolume
    order = 2
    card_thumbnail = True  # its waveform
    spaces = (Space.TEXT.value, Space.SOUND.value)  # its transcript, and what it sounds like
    needs_models = (Space.SOUND.value, SPEECH_MODELS)
    unsearchable_hint = "Recordings are catalogued, not searchable yet"
    playable = True

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
                paint.placeholder(painter, band, pal, dark, "warning")
            else:
                paint.stylised_wave(painter, band, muted)
        else:
            faint = QColor(accent)
            faint.setAlphaF(0.38)
            dpr = painter.device().devicePixelRatioF()
            painter.drawPixmap(band.topLeft(), card.scaled.tinted(pm, faint, band, dpr))
            if seg is not None and duration:
                # the matched stretch of the recording, in full colour
                x0 = band.left() + band.width() * max(0.0, min(1.0, seg.start_s / duration))
                x1 = band.left() + band.width() * max(0.0, min(1.0, seg.end_s / duration))
                painter.save()
                painter.setClipRect(QRectF(x0, band.top(), max(2.0, x1 - x0), band.height()))
                painter.drawPixmap(band.topLeft(), card.scaled.tinted(pm, accent, band, dpr))
                painter.restore()
        y = band.bottom() + 6
        painter.setFont(small)
        if text_lines:
            ink = QColor("#d7dcea") if dark else QColor("#2f3645")
            painter.setPen(ink)
            for line in paint.wrap(f"“{words}”", sfm, rect.width() - 2 * pad, text_lines):
                painter.drawText(QRectF(rect.left() + pad, y, rect.width() - 2 * pad, sfm.height()), line)
                y += sfm.lineSpacing()
        foot = QRectF(
            rect.left() + pad, rect.bottom() - pad + 2 - sfm.height(), rect.width() - 2 * pad, sfm.height()
        )
        if seg is not None:
            painter.setPen(accent)
            painter.drawText(
                foot,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"▶ at {format_clock(seg.start_s)}",
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

    def show_in_detail(self, pane: Any, result: SearchResult) -> None:
        pane.show_recording(result)

    def detail_arrived(self, pane: Any, detail: ItemDetail) -> None:
        pane.set_recording_detail(detail)
