"""Compare: two items side by side, with the regions (or words) of each that carry the match.

Opened with two items selected in the results grid (Ctrl+click, then Ctrl+D) or from a cell of
the similarity matrix. The window shows both items at once, asks the worker for the explanation of
the pair (`Host.compare`), and fills in the heatmaps of both photos, the note's weighted words,
the components of the fused relevance and the concepts both share when it arrives.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.names import display_path
from mmexplorer.core.types import ErrorInfo, Explanation, Heatmap, SearchResult
from mmexplorer.ui import icons, theme, views
from mmexplorer.ui.detail import PREVIEW_SIDE, PreviewLabel
from mmexplorer.ui.explain import (
    CHIP_STYLE,
    DEFAULT_OPACITY,
    ComponentBars,
    ConceptChips,
    HeatLegend,
    HeatmapLayer,
    spans_html,
    where_words,
)
from mmexplorer.ui.host import Host, ThumbnailSource
from mmexplorer.ui.results import THUMB_SIDE, PixmapCache, display_name, format_relevance
from mmexplorer.ui.theme import section_title


class CompareSide(QFrame):
    """One of the two items: name, kind, and its photo (with heatmap), note text or recording."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CompareSide")
        self.result: SearchResult | None = None
        self.name = QLabel()
        self.name.setObjectName("PanelTitle")
        self.name.setWordWrap(True)
        self.kind = QLabel()
        self.kind.setObjectName("Muted")
        self.preview = PreviewLabel()
        self.layer = HeatmapLayer(self.preview)
        self.text = QLabel()
        self.text.setObjectName("CompareText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.where = QLabel()
        self.where.setObjectName("Muted")
        self.where.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        lay.setSpacing(6)
        lay.addWidget(self.name)
        lay.addWidget(self.kind)
        lay.addWidget(self.preview)
        lay.addWidget(self.text)
        lay.addWidget(self.where)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def show_result(self, result: SearchResult) -> None:
        self.result = result
        self.name.setText(display_name(result.path))
        self.name.setToolTip(display_path(result.path))
        view = views.view_for(result.modality)
        self.kind.setText(view.label)
        self.layer.set_heatmap(None)
        self.where.setText("")
        view.show_in_compare(self, result)

    def show_picture_area(self) -> None:
        """The item's picture goes in the preview (the window loads it)."""
        self.text.hide()
        self.preview.show()

    def show_icon(self, name: str) -> None:
        """A modality without a picture or text of its own: its icon."""
        self.show_picture_area()
        self.preview.set_source(icons.pixmap(name, 96, theme.accent()))

    def show_text(self, text: str) -> None:
        """Text in place of a picture (a note's matched chunk)."""
        self.preview.hide()
        self.text.show()
        self.text.setText(html.escape(text.strip()).replace("\n", "<br>"))

    def set_heatmap(self, heatmap: Heatmap | None, partner: str) -> None:
        self.layer.set_heatmap(heatmap)
        if heatmap is not None:
            self.where.setText(f"Lit where it matches {partner}: mostly the {where_words(heatmap)}.")


class CompareWindow(QDialog):
    """Two items side by side with both heatmaps, the components and the shared concepts."""

    def __init__(
        self,
        host: Host,
        loader: ThumbnailSource | None = None,
        cache: PixmapCache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CompareWindow")
        self.setWindowTitle("Compare")
        self.setModal(False)
        self.resize(980, 680)
        self._host = host
        self._loader = loader
        self._cache = cache
        self._previews = PixmapCache(capacity=8)
        self.request_id = 0
        self.explanation: Explanation | None = None
        self.a = CompareSide()
        self.b = CompareSide()

        self.heading = QLabel("Why these two match")
        self.heading.setObjectName("DetailTitle")
        self.total = QLabel()
        self.total.setObjectName("RelevanceTotal")
        self.strength = QLabel()
        self.strength.setObjectName("StrongTag")
        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.strength, 0, Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.total, 0, Qt.AlignmentFlag.AlignVCenter)
        self.state = QLabel()
        self.state.setObjectName("Muted")
        self.state.setWordWrap(True)

        self.heat_toggle = QCheckBox("Heatmaps")
        self.heat_toggle.setChecked(True)
        self.heat_toggle.toggled.connect(self._on_toggle)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity.setMaximumWidth(160)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(self._on_opacity)
        less, more = QLabel("less"), QLabel("more")
        for w in (less, more):
            w.setObjectName("Muted")
        controls = QHBoxLayout()
        controls.setSpacing(6)
        controls.addWidget(self.heat_toggle)
        controls.addWidget(self.opacity)
        controls.addSpacing(6)
        controls.addWidget(less)
        controls.addWidget(HeatLegend())
        controls.addWidget(more)
        controls.addStretch(1)

        sides = QHBoxLayout()
        sides.setSpacing(12)
        sides.addWidget(self.a, 1)
        sides.addWidget(self.b, 1)

        self.components = ComponentBars()
        self.concepts = ConceptChips()
        self.components_title = section_title("How it adds up")
        self.concepts_title = section_title("Shared concepts")
        bottom = QHBoxLayout()
        bottom.setSpacing(24)
        left = QVBoxLayout()
        left.setSpacing(6)
        left.addWidget(self.components_title)
        left.addWidget(self.components)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(6)
        right.addWidget(self.concepts_title)
        right.addWidget(self.concepts)
        right.addStretch(1)
        bottom.addLayout(left, 3)
        bottom.addLayout(right, 2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 16)
        lay.setSpacing(10)
        lay.addLayout(head)
        lay.addWidget(self.state)
        lay.addLayout(controls)
        lay.addLayout(sides)
        lay.addSpacing(6)
        lay.addLayout(bottom)
        lay.addStretch(1)
        self.setStyleSheet(
            CHIP_STYLE + "QFrame#CompareSide { border: 1px solid palette(midlight); border-radius: 10px;"
            " background: palette(base); }"
        )
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)

        host.compare_finished.connect(self._on_finished)
        host.failed.connect(self._on_failed)
        if loader is not None:
            loader.ready.connect(self._on_image)

    # --- content -------------------------------------------------------------------------------

    def open_pair(self, a: SearchResult, b: SearchResult) -> int:
        """Show `a` and `b` now and ask for their explanation; returns the request id."""
        self.explanation = None
        self.a.show_result(a)
        self.b.show_result(b)
        for side in (self.a, self.b):
            if views.view_for(side.result.modality).wants_pixels():  # type: ignore[union-attr]
                self._show_photo(side)
        self.setWindowTitle(f"Compare {display_name(a.path)} and {display_name(b.path)}")
        self.total.setText("")
        self.strength.setText("")
        self.state.setText("Working out why they match…")
        self.state.show()
        self.components.set_components(())
        self.concepts.set_concepts(())
        self.components_title.hide()
        self.concepts_title.hide()
        self.request_id = self._host.compare(a.item_id, b.item_id)
        first = not self.isVisible()
        self.show()
        if first:  # as tall as the pair needs, within the screen; later pairs keep the user's size
            screen = self.screen().availableGeometry().height() if self.screen() else 900
            self.resize(self.width(), min(screen - 40, max(520, self.sizeHint().height() + 120)))
        self.raise_()
        self.activateWindow()
        return self.request_id

    def _on_finished(self, rid: int, explanation: Explanation) -> None:
        if rid != self.request_id or self.a.result is None or self.b.result is None:
            return
        self.explanation = explanation
        self.state.hide()
        relevant = explanation.relevance >= 0.5
        self.total.setText(format_relevance(explanation.relevance))
        self.total.setToolTip("The pair's relevance, in [0, 1]; `mmexplorer explain` prints the same number")
        self.strength.setText("strong match" if relevant else "weak match")
        self.strength.setProperty("weak", not relevant)
        self.strength.style().unpolish(self.strength)
        self.strength.style().polish(self.strength)
        a_name, b_name = display_name(self.a.result.path), display_name(self.b.result.path)
        self.a.set_heatmap(explanation.heatmap_a, b_name)
        self.b.set_heatmap(explanation.heatmap, a_name)
        if explanation.spans and views.view_for(self.b.result.modality).shows_spans():
            self.b.text.setText(spans_html(explanation.spans))
        self.components.set_components(explanation.components, strong=relevant)
        self.components_title.setVisible(bool(explanation.components))
        self.concepts.set_concepts(explanation.shared_concepts)
        self.concepts_title.setVisible(bool(explanation.shared_concepts))
        self._on_toggle(self.heat_toggle.isChecked())

    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        if rid == self.request_id and rid:
            self.state.setText(f"Could not compare them: {info.message}")
            self.state.show()

    def _on_toggle(self, on: bool) -> None:
        for side in (self.a, self.b):
            side.layer.set_shown(on)
        self.opacity.setEnabled(on)

    def _on_opacity(self, value: int) -> None:
        for side in (self.a, self.b):
            side.layer.set_opacity(value / 100)

    def heatmaps_shown(self) -> tuple[bool, bool]:
        return self.a.layer.showing, self.b.layer.showing

    # --- previews ------------------------------------------------------------------------------

    def _show_photo(self, side: CompareSide) -> None:
        path = side.result.path  # type: ignore[union-attr]
        big = self._previews.get(path, PREVIEW_SIDE)
        if big is not None:
            side.preview.set_source(big)
            return
        small = self._cache.get(path, THUMB_SIDE) if self._cache is not None else None
        side.preview.set_source(small)
        if self._loader is not None:
            self._loader.request(path, PREVIEW_SIDE, priority=1)

    def _on_image(self, path: str, side: int, image: QImage) -> None:
        if side != PREVIEW_SIDE:
            return
        pm = None
        for s in (self.a, self.b):
            if s.result is not None and s.result.path == path:
                pm = pm or self._previews.put(path, side, image)
                s.preview.set_source(pm)
