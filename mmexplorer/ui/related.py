"""Related items in the detail pane: a row of tiles per modality, each opening its item."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QImage,
    QPixmap,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.types import SearchResult
from mmexplorer.ui import icons, views
from mmexplorer.ui.host import ThumbnailSource
from mmexplorer.ui.results import (
    THUMB_SIDE,
    PixmapCache,
    display_name,
    format_relevance,
    modality_icon_name,
    modality_label,
)
from mmexplorer.ui.theme import section_title

#: How many related items each modality shows in the detail pane.
RELATED_SHOWN = 4


class RelatedTile(QToolButton):
    """One related item: its thumbnail (or a modality icon) and name; a click shows it."""

    SIDE = 54

    def __init__(self, result: SearchResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.setObjectName("RelatedTile")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.setIconSize(QSize(self.SIDE, self.SIDE))
        self.setFixedWidth(self.SIDE + 16)
        self.setAutoRaise(True)
        name = display_name(result.path)
        fm = self.fontMetrics()
        self.setText(
            f"{fm.elidedText(name, Qt.TextElideMode.ElideRight, self.SIDE + 10)}\n"
            f"{format_relevance(result.relevance)}"
        )
        snippet = f"\n{(result.chunk_text or '').strip()[:140]}" if result.chunk_text else ""
        self.setToolTip(
            f"{modality_label(result.modality)} {name}\nrelevance {format_relevance(result.relevance)}{snippet}"
        )
        self.set_pixmap(None)

    def set_pixmap(self, pm: QPixmap | None) -> None:
        if pm is None or pm.isNull():
            self.setIcon(icons.icon(modality_icon_name(self.result.modality)))
            return
        side = self.SIDE * 2
        s = min(pm.width(), pm.height())
        crop = pm.copy((pm.width() - s) // 2, (pm.height() - s) // 2, s, s).scaled(
            side, side, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.setIcon(crop)


class RelatedStrip(QWidget):
    """The items related to the selected one, a row per modality (through the alignment maps).

    `begin(item_id, load=False)` offers a button instead of asking at once: the first answer of a
    library fits its alignment maps (about a minute on a laptop CPU, and the worker does nothing else
    meanwhile), so that first time waits for the user. Emits `requested(item_id)` from the button and
    `activated(SearchResult)` when a tile is clicked.
    """

    activated = Signal(object)
    requested = Signal(int)

    def __init__(
        self,
        loader: ThumbnailSource | None = None,
        cache: PixmapCache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._cache = cache
        self.tiles: list[RelatedTile] = []
        self.item_id: int | None = None
        if loader is not None:
            loader.ready.connect(self._on_image)
        self.title = section_title("Related")
        self.state = QLabel()
        self.state.setObjectName("Muted")
        self.state.setWordWrap(True)
        self.load_button = QPushButton(icons.icon("similar"), "Show related items")
        self.load_button.setToolTip(
            "Photos, notes and recordings close to this item, through the library's alignment maps"
        )
        self.load_button.clicked.connect(self._on_load)
        self._rows = QVBoxLayout()
        self._rows.setContentsMargins(0, 0, 0, 0)
        self._rows.setSpacing(2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(4)
        lay.addWidget(self.title)
        lay.addWidget(self.state)
        lay.addWidget(self.load_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addLayout(self._rows)
        self.hide()

    def clear(self) -> None:
        while self._rows.count():
            item = self._rows.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self.tiles = []
        self.item_id = None
        self.hide()

    def begin(self, item_id: int, *, load: bool = True) -> None:
        """A new item: related items were asked for (`load`), or a button offers to ask."""
        self.clear()
        self.item_id = item_id
        if load:
            self.state.setText("Looking for related items…")
        else:
            self.state.setText("The first time fits the library's alignment maps, which can take a minute.")
        self.state.show()
        self.load_button.setVisible(not load)
        self.show()

    def _on_load(self) -> None:
        if self.item_id is None:
            return
        self.load_button.hide()
        self.state.setText("Looking for related items (fitting the alignment maps the first time)…")
        self.requested.emit(self.item_id)

    def set_failed(self, message: str) -> None:
        self.state.setText(f"No related items: {message}")
        self.state.show()

    def set_related(self, related: dict) -> None:
        """{modality: [SearchResult, ...]} as Engine.related answers."""
        item_id = self.item_id
        self.clear()
        self.item_id = item_id
        self.load_button.hide()
        self.show()
        shown = 0
        for modality in views.ordered(related):
            results = list(related[modality])[:RELATED_SHOWN]
            if not results:
                continue
            label = QLabel(views.view_for(modality).plural)
            label.setObjectName("Muted")
            row = QWidget()
            rl = QHBoxLayout(row)
            rl.setContentsMargins(0, 0, 0, 0)
            rl.setSpacing(2)
            for r in results:
                tile = RelatedTile(r)
                tile.clicked.connect(lambda _c=False, res=r: self.activated.emit(res))
                rl.addWidget(tile)
                self.tiles.append(tile)
                if views.view_for(r.modality).tile_thumbnail:
                    self._thumbnail(tile)
            rl.addStretch(1)
            self._rows.addWidget(label)
            self._rows.addWidget(row)
            shown += len(results)
        self.state.setText("" if shown else "Nothing closely related in this library yet.")
        self.state.setVisible(not shown)

    def _thumbnail(self, tile: RelatedTile) -> None:
        pm = self._cache.get(tile.result.path, THUMB_SIDE) if self._cache is not None else None
        if pm is not None:
            tile.set_pixmap(pm)
        elif self._loader is not None:
            self._loader.request(tile.result.path, THUMB_SIDE)

    def _on_image(self, path: str, side: int, image: QImage) -> None:
        if side != THUMB_SIDE:
            return
        for tile in self.tiles:
            if tile.result.path == path:
                pm = self._cache.get(path, side) if self._cache is not None else None
                tile.set_pixmap(pm if pm is not None else QPixmap.fromImage(image))

    def names(self) -> dict[str, list[str]]:
        """{modality value: [file names]} as shown."""
        out: dict[str, list[str]] = {}
        for t in self.tiles:
            out.setdefault(views.key(t.result.modality), []).append(display_name(t.result.path))
        return out
