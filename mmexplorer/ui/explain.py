"""Why this matched, in the window: the heatmap over a photo, weighted words and moments, shared
concepts, and the items related to the selected one in every modality.

The pieces are plain widgets fed with `core.types` records (`Explanation`, `Heatmap`, `Span`,
`TimedWeight`, `SearchResult`) that the worker computed; nothing here encodes or decodes more than
a thumbnail. The detail pane (ui/detail.py) holds an `ExplainView` and a `RelatedStrip`; the
Compare window (ui/compare.py) reuses `HeatmapLayer`, `ComponentBars` and `ConceptChips`.

A heatmap is drawn as a spotlight: the parts of the photo that carry little of the match are dimmed
and the parts that carry most get a warm glow, so the eye goes straight to where the match is
whatever the photo's own colours (a warm glow alone vanished on a red object). Its grid covers the
whole photo as displayed (row 0 at the top), so it is stretched over the shown pixmap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
    QPaintEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QSizePolicy,
    QSlider,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    QWidgetItem,
)

from mmexplorer.core.types import Component, Explanation, Heatmap, SearchResult, Span, TimedWeight
from mmexplorer.ui import theme

# Heatmaps and the related strip have modules of their own; their names stay importable from here.
from mmexplorer.ui.heatmap import (  # noqa: F401
    DEFAULT_OPACITY,
    HeatLegend,
    HeatmapLayer,
    heat_color,
    heatmap_image,
    peak_cell,
    where_words,
)
from mmexplorer.ui.related import RELATED_SHOWN, RelatedStrip, RelatedTile  # noqa: F401
from mmexplorer.ui.result_text import support_text
from mmexplorer.ui.results import (
    component_label,
    display_name,
    format_relevance,
    format_weight,
)
from mmexplorer.ui.textpos import doc_pos
from mmexplorer.ui.theme import section_title


def format_seconds(s: float) -> str:
    s = max(0.0, s)
    return f"{int(s // 60)}:{int(s % 60):02d}"


class WeightBar(QWidget):
    """A thin bar as long as a value in [0, 1]: the accent colour when strong, grey when weak.

    The detail pane's relevance bars and the explanation's component and moment bars are this one.
    """

    def __init__(self, value: float = 0.0, *, strong: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = max(0.0, min(1.0, float(value)))
        self.strong = strong
        self.setFixedHeight(5)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_value(self, value: float, *, strong: bool = True) -> None:
        self.value = max(0.0, min(1.0, float(value)))
        self.strong = strong
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        r = QRectF(self.rect())
        p.setBrush(self.palette().color(QPalette.ColorRole.Midlight))
        p.drawRoundedRect(r, 2.5, 2.5)
        if self.value > 0:
            p.setBrush(theme.accent() if self.strong else self.palette().color(QPalette.ColorRole.Mid))
            p.drawRoundedRect(
                QRectF(r.left(), r.top(), max(5.0, r.width() * self.value), r.height()), 2.5, 2.5
            )
        p.end()


class ComponentBars(QWidget):
    """The fused relevance and one row per component: its name, relevance, bar and weight."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(3)
        self._grid.setColumnStretch(0, 1)
        self._rows: list[tuple[Component, WeightBar]] = []

    def set_components(self, components: Sequence[Component], *, strong: bool = True) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self._rows = []
        row = 0
        for i, c in enumerate(components):
            name = QLabel(component_label(c))
            name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            value = QLabel(format_relevance(c.relevance))
            value.setObjectName("ComponentValue")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            weight = QLabel(f"× weight {format_weight(c.weight)}")
            weight.setObjectName("Muted")
            weight.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bar = WeightBar(c.relevance * c.weight * c.support, strong=strong)
            said = support_text(c)
            tip = f"{component_label(c)}: raw score {c.raw:.3f} in the {c.space} space, relevance {c.relevance:.2f}"
            tip = f"{tip}; {said}" if said else tip
            for w in (name, value, weight, bar):
                w.setToolTip(tip)
            self._grid.addWidget(name, row, 0)
            self._grid.addWidget(value, row, 1)
            self._grid.addWidget(bar, row + 1, 0, Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(weight, row + 1, 1)
            if i:
                self._grid.setRowMinimumHeight(row, name.sizeHint().height() + 6)
            row += 2
            if said:
                why = QLabel(said[0].upper() + said[1:])
                why.setObjectName("Muted")
                why.setWordWrap(True)
                self._grid.addWidget(why, row, 0, 1, 2)
                row += 1
            self._rows.append((c, bar))

    def rows(self) -> list[str]:
        """Each row as shown ("Photo pixels 0.91 × weight 1.0")."""
        return [
            f"{component_label(c)} {format_relevance(c.relevance)} × weight {format_weight(c.weight)}"
            + (f" ({support_text(c)})" if support_text(c) else "")
            for c, _ in self._rows
        ]

    def bars(self) -> list[float]:
        return [bar.value for _, bar in self._rows]


class FlowLayout(QLayout):
    """Lays its items out left to right, wrapping to a new line when the width runs out."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def addWidget(self, w: QWidget) -> None:
        self.addChildWidget(w)
        self.addItem(QWidgetItem(w))

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _place(self, rect: QRect, *, move: bool) -> int:
        x, y, line_h = rect.x(), rect.y(), 0
        for item in self._items:
            if item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line_h > 0:
                x, y = rect.x(), y + line_h + self._spacing
                line_h = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line_h = max(line_h, hint.height())
        return y + line_h - rect.y()


class ConceptChips(QWidget):
    """Shared concepts as rounded chips that wrap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._flow = FlowLayout(self)
        self.concepts: tuple[str, ...] = ()

    def set_concepts(self, concepts: Iterable[str]) -> None:
        while self._flow.count():
            item = self._flow.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self.concepts = tuple(concepts)
        for word in self.concepts:
            chip = QLabel(word)
            chip.setObjectName("ConceptChip")
            chip.setToolTip(f"Both sides are close to “{word}”")
            self._flow.addWidget(chip)
        self.updateGeometry()


def spans_html(spans: Sequence[Span], full_text: str | None = None) -> str:
    """A note's matched passage as HTML, each word's background as strong as its weight.

    Between spans the note's own text is kept (when `full_text` is given and agrees with the
    spans' offsets), else a space.
    """
    import html

    if not spans:
        return ""
    ordered = sorted(spans, key=lambda s: s.start)
    top = max(s.weight for s in ordered) or 1.0
    accent = theme.accent()
    parts: list[str] = []
    prev_end: int | None = None
    usable = full_text is not None and all(full_text[s.start : s.end] == s.text for s in ordered)
    for s in ordered:
        if prev_end is not None:
            gap = full_text[prev_end : s.start] if usable and full_text is not None else " "
            parts.append(html.escape(gap).replace("\n", "<br>"))
        w = max(0.0, s.weight) / top
        text = html.escape(s.text).replace("\n", "<br>")
        if w < 0.15:  # a word with little of the match stays plain: the eye goes to the rest
            parts.append(text)
        else:
            alpha = 0.12 + 0.68 * w
            bg = f"rgba({accent.red()},{accent.green()},{accent.blue()},{alpha:.2f})"
            weight = "600" if w > 0.6 else "normal"
            parts.append(f'<span style="background-color:{bg}; font-weight:{weight}">{text}</span>')
        prev_end = s.end
    return "".join(parts)


class SegmentList(QWidget):
    """A recording's moments: time, words (or "sound"), and a bar as long as its share of the match."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(1, 1)
        self.segments: tuple[TimedWeight, ...] = ()

    def set_segments(self, segments: Sequence[TimedWeight]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self.segments = tuple(segments)
        top = max((s.weight for s in segments), default=0.0) or 1.0
        for i, s in enumerate(segments):
            when = QLabel(f"{format_seconds(s.start_s)}–{format_seconds(s.end_s)}")
            when.setObjectName("Muted")
            words = QLabel(s.text or "(sound)")
            words.setWordWrap(True)
            strong = s.weight / top > 0.6
            if strong:
                f = words.font()
                f.setWeight(f.Weight.DemiBold)
                words.setFont(f)
            bar = WeightBar(s.weight / top, strong=strong)
            bar.setFixedWidth(48)
            tip = f"{s.weight:.0%} of the match"
            for w in (when, words, bar):
                w.setToolTip(tip)
            self._grid.addWidget(when, i, 0, Qt.AlignmentFlag.AlignTop)
            self._grid.addWidget(words, i, 1)
            self._grid.addWidget(bar, i, 2, Qt.AlignmentFlag.AlignVCenter)


class ExplainView(QWidget):
    """The detail pane's "Why this matched": where in the photo (a heatmap over `preview`, with a
    switch and an opacity slider), which words or moments carried it, and the shared concepts.

    `begin(result)` when a result is shown (the explanation is on its way), then `set_explanation`
    when it arrives, or `set_failed(message)`. A note's words are weighted in place, in `note_view`
    (the detail pane's note text), when it holds the note's full text; else in a box of their own.
    """

    def __init__(
        self, preview: QLabel, note_view: QTextBrowser | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.result: SearchResult | None = None
        self.explanation: Explanation | None = None
        self.layer = HeatmapLayer(preview)
        self.note_view = note_view
        self.words_in_note = False  # the weights are shown in note_view

        self.title = section_title("Where it matched")
        self.state = QLabel()
        self.state.setObjectName("Muted")
        self.state.setWordWrap(True)

        # heatmap controls
        self.heat_toggle = QCheckBox("Heatmap")
        self.heat_toggle.setChecked(True)
        self.heat_toggle.setToolTip("Show where in the photo the match is (H)")
        self.heat_toggle.toggled.connect(self._on_toggle)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.setMaximumWidth(110)
        self.opacity.valueChanged.connect(lambda v: self.layer.set_opacity(v / 100))
        self.legend = HeatLegend()
        less, more = QLabel("less"), QLabel("more")
        for w in (less, more):
            w.setObjectName("Muted")
        self.heat_row = QWidget()
        hr = QHBoxLayout(self.heat_row)
        hr.setContentsMargins(0, 0, 0, 0)
        hr.setSpacing(6)
        hr.addWidget(self.heat_toggle)
        hr.addWidget(self.opacity, 1)
        hr.addSpacing(4)
        hr.addWidget(less)
        hr.addWidget(self.legend)
        hr.addWidget(more)
        self.where = QLabel()
        self.where.setWordWrap(True)

        self.words_title = section_title("Words that carried it")  # hidden: the title says it
        self.words = QLabel()
        self.words.setObjectName("WeightedWords")
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.TextFormat.RichText)
        self.words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.segments_title = section_title("Moments that carried it")  # hidden: the title says it
        self.segments = SegmentList()
        self.concepts_title = section_title("Shared concepts")
        self.concepts_title.setContentsMargins(0, 6, 0, 0)  # a new section, not a line of the last one
        self.concepts = ConceptChips()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(6)
        lay.addWidget(self.title)
        lay.addWidget(self.state)
        lay.addWidget(self.heat_row)
        lay.addWidget(self.where)
        lay.addWidget(self.words_title)
        lay.addWidget(self.words)
        lay.addWidget(self.segments_title)
        lay.addWidget(self.segments)
        lay.addWidget(self.concepts_title)
        lay.addWidget(self.concepts)
        self.clear()

    # --- content -------------------------------------------------------------------------------

    def clear(self) -> None:
        self.result = None
        self.explanation = None
        self.layer.set_heatmap(None)
        for w in (
            self.heat_row,
            self.where,
            self.words_title,
            self.words,
            self.segments_title,
            self.segments,
            self.concepts_title,
            self.concepts,
        ):
            w.hide()
        self.state.setText("")
        self.hide()

    def begin(self, result: SearchResult, *, available: bool = True) -> None:
        """A result is on screen: its explanation has been asked for (or cannot be, `available`)."""
        self.clear()
        self.result = result
        self.title.setText("WHERE IT MATCHED")
        self.show()
        self.state.setText(
            "Working out where it matched…"
            if available
            else "An explanation needs a typed query, a photo file or an item to compare with."
        )
        self.state.show()

    def set_failed(self, message: str) -> None:
        self.state.setText(f"Could not explain this match: {message}")
        self.state.show()

    def set_explanation(self, explanation: Explanation, *, full_text: str | None = None) -> None:
        """Show an explanation of the result on screen (ignored if it is about another item)."""
        if self.result is None:
            return
        self.explanation = explanation
        self.show()
        self.state.hide()
        heat = explanation.heatmap
        self.layer.set_heatmap(heat)
        self.heat_row.setVisible(heat is not None)
        if heat is not None:
            self.where.setText(self._where_text(explanation, heat))
            self.where.show()
        self.words_in_note = bool(explanation.spans) and self.apply_note_words(full_text)
        if self.words_in_note:
            self.words.setText(
                "Highlighted in the note above: the stronger the colour, the more a word carries the match."
            )
            self.words.setObjectName("Muted")
        else:
            self.words.setText(spans_html(explanation.spans, full_text))
            self.words.setObjectName("WeightedWords")
        self.words.style().unpolish(self.words)
        self.words.style().polish(self.words)
        self.words.setVisible(bool(explanation.spans))
        self.segments.set_segments(explanation.segments)
        self.segments.setVisible(bool(explanation.segments))
        if heat is not None:
            self.title.setText("WHERE IN THE PHOTO")
        elif explanation.spans:
            self.title.setText("WORDS THAT CARRIED IT")
        elif explanation.segments:
            self.title.setText("MOMENTS THAT CARRIED IT")
        self.concepts.set_concepts(explanation.shared_concepts)
        for w in (self.concepts_title, self.concepts):
            w.setVisible(bool(explanation.shared_concepts))
        if (
            heat is None
            and not explanation.spans
            and not explanation.segments
            and not explanation.shared_concepts
        ):
            self.state.setText("No finer explanation for this kind of item.")
            self.state.show()

    @staticmethod
    def _where_text(explanation: Explanation, heat: Heatmap) -> str:
        if explanation.a_text:
            query = f"“{explanation.a_text}”"
        else:
            query = display_name(explanation.a_path) if explanation.a_path else "it"
        return f"Lit where the photo matches {query}: mostly the {where_words(heat)}; the rest is dimmed."

    def apply_note_words(self, full_text: str | None) -> bool:
        """Weight the explanation's words in `note_view`, if it shows `full_text` and the spans fit it.

        Returns:
            True when the words are now highlighted there.
        """

        ex, view = self.explanation, self.note_view
        if ex is None or not ex.spans or view is None or not full_text or self.result is None:
            return False
        if ex.b_path != self.result.path:
            return False
        doc = view.document()
        if abs(doc.characterCount() - 1 - doc_pos(full_text, len(full_text))) > 0:
            return False  # the view holds the chunk only, or another text
        if not all(full_text[s.start : s.end] == s.text for s in ex.spans):
            return False
        top = max(s.weight for s in ex.spans) or 1.0
        accent = theme.accent()
        for s in ex.spans:
            w = max(0.0, s.weight) / top
            if w < 0.15:
                continue
            fmt = QTextCharFormat()
            c = QColor(accent)
            c.setAlphaF(0.30 + 0.55 * w)
            fmt.setBackground(c)
            if w > 0.6:
                fmt.setFontWeight(QFont.Weight.DemiBold)
            cursor = QTextCursor(doc)
            cursor.setPosition(doc_pos(full_text, s.start))
            cursor.setPosition(doc_pos(full_text, s.end), QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
        return True

    def note_highlights(self) -> list[tuple[str, float]]:
        """The note view's highlighted stretches and their colour's opacity (for tests)."""
        if self.note_view is None:
            return []
        out: list[tuple[str, float]] = []
        block = self.note_view.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                bg = frag.charFormat().background()
                if frag.isValid() and bg.style() != Qt.BrushStyle.NoBrush:
                    out.append((frag.text(), bg.color().alphaF()))
                it += 1
            block = block.next()
        return out

    def _on_toggle(self, on: bool) -> None:
        self.layer.set_shown(on)
        self.opacity.setEnabled(on)

    def toggle_heatmap(self) -> None:
        if self.heat_row.isVisible():
            self.heat_toggle.toggle()

    def weighted_words(self) -> list[tuple[str, float]]:
        """The note's words as weighted (for tests and accessibility)."""
        return [(s.text, s.weight) for s in (self.explanation.spans if self.explanation else ())]


CHIP_STYLE = """
QLabel#ConceptChip {
    border: 1px solid palette(mid);
    border-radius: 10px;
    padding: 2px 9px;
    background: palette(alternate-base);
}
QToolButton#RelatedTile { border-radius: 6px; padding: 3px; }
QToolButton#RelatedTile:hover { background: palette(alternate-base); }
"""
