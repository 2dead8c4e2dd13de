"""A heatmap over a photo: where it matched, drawn as a glow over the dimmed picture."""

from __future__ import annotations

import itertools

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QLabel,
    QWidget,
)

from mmexplorer.core.types import Heatmap

#: The heatmap's opacity when the window opens (the slider's start).
DEFAULT_OPACITY = 0.7
#: Colour stops, from "carries little" (a dark veil) to "carries the most" (a warm glow); RGBA, alpha 0..1.
_RAMP = (
    (0.00, (16, 18, 28, 0.72)),
    (0.35, (16, 18, 28, 0.45)),
    (0.65, (255, 170, 40, 0.0)),
    (1.00, (255, 190, 40, 0.38)),
)


def heat_color(value: float, opacity: float = 1.0) -> QColor:
    """The overlay's colour for a cell weight in [0, 1] (1: the cell that carries the most)."""
    v = max(0.0, min(1.0, value))
    for (x0, c0), (x1, c1) in itertools.pairwise(_RAMP):
        if v <= x1:
            t = (v - x0) / (x1 - x0)
            r, g, b, a = (c0[i] + (c1[i] - c0[i]) * t for i in range(4))
            if c0[3] > 0 and c1[3] == 0:
                r, g, b = c0[:3]  # fade the veil out, do not blend it towards the glow's colour
            break
    else:
        r, g, b, a = _RAMP[-1][1]
    return QColor(round(r), round(g), round(b), round(255 * a * max(0.0, min(1.0, opacity))))


def heatmap_image(heatmap: Heatmap, opacity: float = 1.0) -> QImage:
    """A `cols` x `rows` ARGB image of the glow (scale it smoothly over the photo).

    Weights are shown relative to the heaviest cell, so a map spread thin and a peaked one both
    use the whole colour range; the numbers themselves are in the tooltip and `peak_cell`.
    """
    img = QImage(max(1, heatmap.cols), max(1, heatmap.rows), QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(Qt.GlobalColor.transparent)
    top = max((v for row in heatmap.grid for v in row), default=0.0)
    if top <= 0:
        return img
    for y, row in enumerate(heatmap.grid[: heatmap.rows]):
        for x, v in enumerate(row[: heatmap.cols]):
            img.setPixelColor(x, y, heat_color(v / top, opacity))
    return img


def peak_cell(heatmap: Heatmap) -> tuple[int, int]:
    """(row, col) of the heaviest cell."""
    best, at = -1.0, (0, 0)
    for y, row in enumerate(heatmap.grid):
        for x, v in enumerate(row):
            if v > best:
                best, at = v, (y, x)
    return at


def where_words(heatmap: Heatmap) -> str:
    """Where the peak is, in words ("top left", "centre", "bottom right")."""
    r, c = peak_cell(heatmap)
    fy = (r + 0.5) / max(1, heatmap.rows)
    fx = (c + 0.5) / max(1, heatmap.cols)
    vert = "top" if fy < 1 / 3 else "bottom" if fy > 2 / 3 else ""
    horiz = "left" if fx < 1 / 3 else "right" if fx > 2 / 3 else ""
    return " ".join(p for p in (vert, horiz) if p) or "centre"


class HeatmapLayer(QWidget):
    """A heatmap drawn over the pixmap of a QLabel (a child of it that follows its size).

    It paints only over the label's pixmap as shown (centred, at its device pixel ratio), lets the
    mouse through, and is hidden while there is no heatmap or it is switched off.
    """

    def __init__(self, label: QLabel) -> None:
        super().__init__(label)
        self._label = label
        self.heatmap: Heatmap | None = None
        self.opacity = DEFAULT_OPACITY
        self.enabled_by_user = True
        self._image: QImage | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        label.installEventFilter(self)
        self.setGeometry(label.rect())
        self._sync()

    def set_heatmap(self, heatmap: Heatmap | None) -> None:
        self.heatmap = heatmap
        self._image = None
        self._sync()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = max(0.0, min(1.0, opacity))
        self._image = None
        self.update()

    def set_shown(self, shown: bool) -> None:
        self.enabled_by_user = shown
        self._sync()

    @property
    def showing(self) -> bool:
        """A heatmap is on screen (there is one, it is switched on, and the photo is shown)."""
        return self.isVisible() and self.heatmap is not None

    def _sync(self) -> None:
        self.setVisible(self.heatmap is not None and self.enabled_by_user)
        self.raise_()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._label and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.setGeometry(self._label.rect())
        return False

    def target_rect(self) -> QRect:
        """Where the label draws its pixmap (the photo as displayed), in this widget's coordinates."""
        pm = self._label.pixmap()
        if pm is None or pm.isNull():
            return QRect()
        dpr = pm.devicePixelRatio() or 1.0
        size = QSize(round(pm.width() / dpr), round(pm.height() / dpr))
        r = QRect(QPoint(0, 0), size)
        r.moveCenter(self._label.contentsRect().center())
        return r

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.heatmap is None:
            return
        target = self.target_rect()
        if target.isEmpty():
            return
        if self._image is None:
            self._image = heatmap_image(self.heatmap, self.opacity)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        # Smooth upscaling of the small grid: cells blend into a glow instead of hard squares.
        scaled = self._image.scaled(
            target.size(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        p.drawImage(target.topLeft(), scaled)
        p.end()


class HeatLegend(QWidget):
    """A small ramp "less ▸ more": what the overlay's colours mean, drawn over a light ground."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(64, 10)
        self.setToolTip("Dimmed: carries little of the match. Glowing: carries the most.")

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(self.palette().color(QPalette.ColorRole.Mid))
        p.setBrush(QColor("#e9e6df"))  # a photo-like light ground, so the veil and glow both show
        p.drawRoundedRect(r, 3, 3)
        w = int(r.width())
        for x in range(w):
            p.setPen(heat_color(x / max(1, w - 1), 1.0))
            p.drawLine(round(r.left()) + x, round(r.top()) + 1, round(r.left()) + x, round(r.bottom()) - 1)
        p.end()
