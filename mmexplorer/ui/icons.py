"""Line icons from assets/icons, drawn in the palette's text colour so they suit light and dark themes.

The SVGs use `currentColor`; an icon engine substitutes the colour for the widget state at paint
time. When the assets folder is missing (an unusual install) a QStyle standard icon stands in.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QStyle

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
ICONS_DIR = ASSETS_DIR / "icons"

_FALLBACK = {
    "search": QStyle.StandardPixmap.SP_FileDialogContentsView,
    "folder": QStyle.StandardPixmap.SP_DirIcon,
    "folder-plus": QStyle.StandardPixmap.SP_FileDialogNewFolder,
    "folder-minus": QStyle.StandardPixmap.SP_TrashIcon,
    "folder-open": QStyle.StandardPixmap.SP_DirOpenIcon,
    "refresh": QStyle.StandardPixmap.SP_BrowserReload,
    "close": QStyle.StandardPixmap.SP_DialogCloseButton,
    "cancel": QStyle.StandardPixmap.SP_DialogCancelButton,
    "settings": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "gear": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "sliders": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "chevron-down": QStyle.StandardPixmap.SP_ArrowDown,
    "chevron-up": QStyle.StandardPixmap.SP_ArrowUp,
    "calendar": QStyle.StandardPixmap.SP_FileDialogInfoView,
    "bar-chart": QStyle.StandardPixmap.SP_FileDialogListView,
    "open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "skipped": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "check": QStyle.StandardPixmap.SP_DialogApplyButton,
}


def set_fallback(name: str, standard: QStyle.StandardPixmap) -> None:
    """The QStyle icon that stands in for icon `name` when the assets are missing (a modality
    view names its own, ui/views)."""
    _FALLBACK[name] = standard


@functools.cache
def _svg_text(name: str) -> str | None:
    try:
        return (ICONS_DIR / f"{name}.svg").read_text(encoding="utf-8")
    except OSError:
        return None


@functools.lru_cache(maxsize=256)
def _renderer(name: str, color: str) -> QSvgRenderer:
    svg = (_svg_text(name) or "").replace("currentColor", QColor(color).name())
    r = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    return r


@functools.lru_cache(maxsize=1024)
def _rendered(name: str, color: str, w: int, h: int) -> QPixmap:
    # Parsing an SVG per paint would be slow in a grid of cards; pixmaps are cached per size/colour.
    pm = QPixmap(max(1, w), max(1, h))
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    _renderer(name, color).render(p, QRectF(0, 0, w, h))
    p.end()
    return pm


def _palette() -> QPalette:
    app = QGuiApplication.instance()
    return app.palette() if app is not None else QPalette()


class _TintedSvgEngine(QIconEngine):
    def __init__(self, name: str, color: QColor | None = None) -> None:
        super().__init__()
        self._name = name
        self._color = color

    def _color_for(self, mode: QIcon.Mode) -> QColor:
        pal = _palette()
        if mode == QIcon.Mode.Disabled:
            return pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
        if mode == QIcon.Mode.Selected:
            return pal.color(QPalette.ColorRole.HighlightedText)
        if self._color is not None:
            return self._color
        return pal.color(QPalette.ColorRole.WindowText)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        _renderer(self._name, self._color_for(mode).name(QColor.NameFormat.HexArgb)).render(
            painter, QRectF(rect)
        )

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return QPixmap(
            _rendered(
                self._name, self._color_for(mode).name(QColor.NameFormat.HexArgb), size.width(), size.height()
            )
        )

    def clone(self) -> QIconEngine:
        return _TintedSvgEngine(self._name, self._color)


def icon(name: str, color: QColor | str | None = None) -> QIcon:
    """A line icon by name (see assets/icons), optionally in a fixed colour instead of the text colour."""
    if _svg_text(name) is None:
        app = QApplication.instance()
        fallback = _FALLBACK.get(name, QStyle.StandardPixmap.SP_FileIcon)
        return app.style().standardIcon(fallback) if isinstance(app, QApplication) else QIcon()
    return QIcon(_TintedSvgEngine(name, QColor(color) if color is not None else None))


def pixmap(name: str, size: int, color: QColor | str | None = None, *, dpr: float = 1.0) -> QPixmap:
    """Render an icon to a pixmap of `size` logical pixels at device pixel ratio `dpr`."""
    px = max(1, round(size * dpr))
    pm = icon(name, color).pixmap(QSize(px, px))
    pm.setDevicePixelRatio(dpr)
    return pm


def app_icon() -> QIcon:
    """The application's own (full-colour) icon."""
    path = ASSETS_DIR / "icons" / "app.svg"
    if not path.exists():
        return QIcon()
    ic = QIcon()
    renderer = QSvgRenderer(str(path))
    for side in (16, 24, 32, 48, 64, 128, 256):
        pm = QPixmap(side, side)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p)
        p.end()
        ic.addPixmap(pm)
    return ic
