"""Drawing helpers the results cards and the modality views share."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPixmap

from mmexplorer.ui import icons


def top_rounded(rect: QRectF, radius: float) -> QPainterPath:
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


def placeholder(painter: QPainter, rect: QRectF, pal: QPalette, dark: bool, name: str) -> None:
    """A muted icon centred on a plain background: a preview that is not there (yet)."""
    bg = pal.color(QPalette.ColorRole.AlternateBase) if not dark else pal.color(QPalette.ColorRole.Button)
    painter.fillRect(rect, bg)
    side = min(40.0, rect.height() * 0.35)
    px = icons.pixmap(
        name, round(side), pal.color(QPalette.ColorRole.Mid), dpr=painter.device().devicePixelRatioF()
    )
    painter.drawPixmap(QPoint(round(rect.center().x() - side / 2), round(rect.center().y() - side / 2)), px)


def stylised_wave(painter: QPainter, rect: QRectF, color: QColor) -> None:
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


def draw_centred_lines(
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


def wrap(text: str, fm: QFontMetrics, width: float, max_lines: int) -> list[str]:
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


class ScaledPixmaps:
    """Pixmaps scaled for a card once per size: smooth-scaling every card on every repaint costs
    the GUI thread while scrolling. Keeps the newest `capacity`."""

    def __init__(self, capacity: int = 400) -> None:
        self.capacity = capacity
        self._scaled: OrderedDict[tuple[int, int, int], QPixmap] = OrderedDict()

    def _get(self, key: tuple[int, int, int]) -> QPixmap | None:
        out = self._scaled.get(key)
        if out is not None:
            self._scaled.move_to_end(key)
        return out

    def _put(self, key: tuple[int, int, int], pm: QPixmap) -> QPixmap:
        self._scaled[key] = pm
        while len(self._scaled) > self.capacity:
            self._scaled.popitem(last=False)
        return pm

    def cover(self, pm: QPixmap, rect: QRectF, dpr: float) -> QPixmap:
        """`pm` cover-cropped to `rect` (fill it, cut the overflow evenly) at this pixel ratio."""
        w, h = round(rect.width() * dpr), round(rect.height() * dpr)
        key = (pm.cacheKey(), w, h)
        card = self._get(key)
        if card is None:
            src_w, src_h = pm.width(), pm.height()
            scale = max(w / src_w, h / src_h)
            cw, ch = round(w / scale), round(h / scale)
            crop = pm.copy((src_w - cw) // 2, (src_h - ch) // 2, cw, ch)
            card = crop.scaled(
                w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            card.setDevicePixelRatio(dpr)
            self._put(key, card)
        return card

    def tinted(self, pm: QPixmap, color: QColor, band: QRectF, dpr: float) -> QPixmap:
        """A waveform PNG (white ink in its alpha) in `color`, scaled to the band once per size."""
        w, h = max(1, round(band.width() * dpr)), max(1, round(band.height() * dpr))
        key = (pm.cacheKey(), w, h ^ (color.rgba() << 16))
        out = self._get(key)
        if out is not None:
            return out
        scaled = pm.scaled(
            w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        out = QPixmap(scaled.size())
        out.fill(Qt.GlobalColor.transparent)
        p = QPainter(out)
        p.drawPixmap(0, 0, scaled)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        p.fillRect(out.rect(), color)
        p.end()
        out.setDevicePixelRatio(dpr)
        return self._put(key, out)
