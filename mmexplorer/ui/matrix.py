"""The similarity matrix of a selection: calibrated pairwise relevance drawn with pyqtgraph.

Rows and columns are the items in the order given, with their thumbnails (or a modality icon)
along the top and the left. The values come from the worker (`Host.similarity_matrix`: the same
relevance in [0, 1] that search reports, fused over the spaces each pair shares). Hovering a cell
names the pair; clicking it opens that pair in Compare (`pair_requested(a, b)`).

pyqtgraph is imported by this module only, and the window imports this module when the matrix is
first opened, so starting the app does not pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPalette, QPen, QPixmap, QShortcut, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.types import ErrorInfo, SearchResult
from mmexplorer.ui import icons, theme, views
from mmexplorer.ui.host import Host, ThumbnailSource
from mmexplorer.ui.results import THUMB_SIDE, PixmapCache, display_name, format_relevance

#: The most items a matrix is drawn for (the issue's "about 100").
MATRIX_LIMIT = 100
#: Thumbnails sit this far (in cells) outside the matrix, and are this big.
_GAP, _THUMB = 0.12, 0.9


class MatrixWindow(QDialog):
    """Pairwise relevance of up to MATRIX_LIMIT items, with thumbnails on both axes."""

    pair_requested = Signal(object, object)  # SearchResult a (row), SearchResult b (column)

    def __init__(
        self,
        host: Host,
        loader: ThumbnailSource | None = None,
        cache: PixmapCache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("MatrixWindow")
        self.setWindowTitle("Similarity matrix")
        self.setModal(False)
        self.resize(820, 760)
        self._host = host
        self._loader = loader
        self._cache = cache
        self.results: list[SearchResult] = []
        self.values: np.ndarray | None = None
        self.request_id = 0
        self._thumbs: dict[str, list[QGraphicsPixmapItem]] = {}

        self.heading = QLabel("Similarity matrix")
        self.heading.setObjectName("DetailTitle")
        self.info = QLabel()
        self.info.setObjectName("Muted")
        self.info.setWordWrap(True)
        self.hover = QLabel(" ")
        self.hover.setObjectName("ComponentValue")
        self.raw_toggle = QCheckBox("Raw cosine")
        self.raw_toggle.setToolTip(
            "Colour by the raw cosine instead of the calibrated relevance: shows how the items spread "
            "even where no pair is a real match"
        )
        self.raw_toggle.toggled.connect(lambda _on: self.results and self.show_items(self.results))

        dark = theme.is_dark(self.palette())
        self.plot = pg.PlotWidget(background=self.palette().color(QPalette.ColorRole.Base))
        self.plot.setObjectName("MatrixPlot")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.view = self.plot.getViewBox()
        self.view.invertY(True)
        self.view.setAspectLocked(True)
        self.view.setMouseEnabled(x=True, y=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.cmap = pg.colormap.get("CET-L8" if not dark else "inferno")
        self.image.setColorMap(self.cmap)
        self.image.setLevels((0.0, 1.0))
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=self.cmap,
            interactive=False,
            width=14,
            pen=self.palette().color(QPalette.ColorRole.Mid),
        )
        self.colorbar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.colorbar.axis.setLabel("relevance")
        self.plot.getPlotItem().layout.setContentsMargins(4, 12, 4, 12)  # room for the bar's end labels
        # the hovered cell, outlined (a cosmetic pen: one pixel wide whatever the zoom)
        self.cursor = QGraphicsRectItem(0, 0, 1, 1)
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight) if not dark else QColor("#ffffff"), 2)
        pen.setCosmetic(True)
        self.cursor.setPen(pen)
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.view.addItem(self.cursor)
        self.plot.scene().sigMouseMoved.connect(self._on_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.hover, 0, Qt.AlignmentFlag.AlignVCenter)
        head.addSpacing(12)
        head.addWidget(self.raw_toggle, 0, Qt.AlignmentFlag.AlignVCenter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 16)
        lay.setSpacing(8)
        lay.addLayout(head)
        lay.addWidget(self.info)
        lay.addWidget(self.plot, 1)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)

        host.matrix_finished.connect(self._on_finished)
        host.failed.connect(self._on_failed)
        if loader is not None:
            loader.ready.connect(self._on_image)

    # --- content -------------------------------------------------------------------------------

    def show_items(self, results: Sequence[SearchResult]) -> int:
        """Ask for the matrix of these items (the first MATRIX_LIMIT); returns the request id."""
        self.results = list(results)[:MATRIX_LIMIT]
        self.values = None
        self.image.clear()
        self.cursor.hide()
        self._clear_thumbs()
        n = len(self.results)
        cut = f" (the first {MATRIX_LIMIT} of {len(results)})" if len(results) > MATRIX_LIMIT else ""
        self.info.setText(f"Working out how {n} items relate{cut}…")
        self.hover.setText(" ")
        self.request_id = self._host.similarity_matrix(
            [r.item_id for r in self.results], calibrated=not self.raw_toggle.isChecked()
        )
        self.show()
        self.raise_()
        self.activateWindow()
        return self.request_id

    def _on_finished(self, rid: int, values: np.ndarray) -> None:
        if rid != self.request_id:
            return
        n = len(self.results)
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (n, n):
            self.info.setText("The matrix that came back does not fit the selection.")
            return
        self.values = values
        raw = self.raw_toggle.isChecked()
        low = 0.0
        if raw and n > 1:
            off = values[~np.eye(n, dtype=bool)]
            low = float(min(off.min(), 0.99))
        self.image.setImage(values, levels=(low, 1.0), autoLevels=False)
        self.colorbar.setLevels((low, 1.0))
        self.colorbar.axis.setLabel("cosine" if raw else "relevance")
        self.image.setRect(0, 0, n, n)
        self._place_thumbs()
        self.view.setRange(xRange=(-1 - _GAP, n), yRange=(-1 - _GAP, n), padding=0.02)
        what = f"raw cosine, {low:.2f} to 1" if raw else "relevance 0 to 1, as search reports it"
        self.info.setText(
            f"{n} items, each against each: brighter is a closer match ({what}). "
            "Hover a cell to name the pair; click it to compare them side by side."
        )

    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        if rid and rid == self.request_id:
            self.info.setText(f"Could not make the matrix: {info.message}")

    # --- cells ---------------------------------------------------------------------------------

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, column) of the cell under a scene position, or None outside the matrix."""
        if self.values is None:
            return None
        p = self.view.mapSceneToView(scene_pos)
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        n = len(self.results)
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    def cell_center(self, row: int, col: int) -> QPointF:
        """Where a cell's centre is in the plot widget's coordinates (for tests and tooltips)."""
        scene = self.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))
        return QPointF(self.plot.mapFromScene(scene))

    def describe(self, row: int, col: int) -> str:
        a, b = self.results[row], self.results[col]
        value = float(self.values[row, col]) if self.values is not None else 0.0
        return f"{display_name(a.path)} × {display_name(b.path)}: {format_relevance(value)}"

    def _on_moved(self, scene_pos: QPointF) -> None:
        cell = self.cell_at(scene_pos)
        self.hover.setText(self.describe(*cell) if cell else " ")
        self.cursor.setVisible(cell is not None)
        if cell is not None:
            self.cursor.setPos(cell[1], cell[0])

    def _on_clicked(self, event: object) -> None:
        button = getattr(event, "button", lambda: None)()
        if button != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())  # type: ignore[attr-defined]
        if cell is None:
            return
        row, col = cell
        if row != col:
            self.pair_requested.emit(self.results[row], self.results[col])

    # --- thumbnails on both axes ---------------------------------------------------------------

    def _clear_thumbs(self) -> None:
        for items in self._thumbs.values():
            for item in items:
                self.view.removeItem(item)
        self._thumbs = {}

    def _place_thumbs(self) -> None:
        self._clear_thumbs()
        for i, r in enumerate(self.results):
            pm = self._pixmap_for(r)
            top, left = QGraphicsPixmapItem(pm), QGraphicsPixmapItem(pm)
            for item, (x, y) in (
                (top, (i + (1 - _THUMB) / 2, -_GAP - _THUMB)),
                (left, (-_GAP - _THUMB, i + (1 - _THUMB) / 2)),
            ):
                item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
                item.setToolTip(display_name(r.path))
                self._fit(item, pm)
                item.setPos(x, y)
                self.view.addItem(item)
            self._thumbs.setdefault(r.path, []).extend((top, left))

    @staticmethod
    def _fit(item: QGraphicsPixmapItem, pm: QPixmap) -> None:
        side = max(1, min(pm.width(), pm.height()))
        item.setOffset(-(pm.width() - side) / 2, -(pm.height() - side) / 2)
        item.setTransform(QTransform.fromScale(_THUMB / side, _THUMB / side))
        item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)

    def _pixmap_for(self, r: SearchResult) -> QPixmap:
        view = views.view_for(r.modality)
        if view.tile_thumbnail:
            pm = self._cache.get(r.path, THUMB_SIDE) if self._cache is not None else None
            if pm is not None:
                return self._square(pm)
            if self._loader is not None:
                self._loader.request(r.path, THUMB_SIDE)
        colour = theme.accent() if not view.tile_thumbnail else QColor("#8c959f")  # grey: a picture to come
        return icons.pixmap(view.icon, 64, colour)

    @staticmethod
    def _square(pm: QPixmap) -> QPixmap:
        s = min(pm.width(), pm.height())
        return pm.copy((pm.width() - s) // 2, (pm.height() - s) // 2, s, s)

    def _on_image(self, path: str, side: int, image: QImage) -> None:
        if side != THUMB_SIDE or path not in self._thumbs:
            return
        pm = self._square(QPixmap.fromImage(image))
        for item in self._thumbs[path]:
            item.setPixmap(pm)
            self._fit(item, pm)

    def thumbnails_placed(self) -> int:
        return sum(len(v) for v in self._thumbs.values())
