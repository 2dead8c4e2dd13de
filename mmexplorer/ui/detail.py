"""The detail pane: a larger preview of the selected item, why it matched (its relevance and one row
per component: space, what of the item matched, its relevance and the library's weight), its
metadata and, for notes, the text with the matching chunk highlighted."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QPixmap,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.names import display_path
from mmexplorer.core.types import Component, ItemDetail, SearchResult
from mmexplorer.ui import icons, theme, views
from mmexplorer.ui.audio import RecordingView
from mmexplorer.ui.explain import CHIP_STYLE, ExplainView, RelatedStrip, WeightBar
from mmexplorer.ui.host import ThumbnailSource
from mmexplorer.ui.result_text import support_text
from mmexplorer.ui.results import (
    THUMB_SIDE,
    PixmapCache,
    component_label,
    format_date,
    format_relevance,
    format_weight,
)
from mmexplorer.ui.textpos import doc_pos

PREVIEW_SIDE = 768
#: The note text box is as tall as its text, between these (it scrolls beyond): a short note does
#: not leave a big empty box that pushes "why it matched" out of sight.
NOTE_MIN_H, NOTE_MAX_H = 140, 420


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _format_time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


class PreviewLabel(QLabel):
    """Shows a pixmap scaled to fit its width (keeping the aspect), re-scaled on resize."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_source(self, pm: QPixmap | None) -> None:
        self._pixmap = pm
        self._rescale()

    def source(self) -> QPixmap | None:
        return self._pixmap

    def _rescale(self) -> None:
        w = max(60, self.width())
        if self._pixmap is None or self._pixmap.isNull():
            self.setFixedHeight(round(w * 0.6))
            self.clear()
            return
        dpr = self.devicePixelRatioF()
        max_h = round(w * 1.1)
        scaled = self._pixmap.scaled(
            QSize(round(w * dpr), round(max_h * dpr)),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(dpr)
        self.setFixedHeight(max(60, round(scaled.height() / dpr)))
        self.setPixmap(scaled)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._rescale()


RelevanceBar = WeightBar  # the relevance bar of a match row: the same thin bar as the explanation's


def _raw_tooltip(c: Component) -> str:
    if c.space == "lexical":
        return f"{component_label(c)}: {c.raw:.0%} of the query's words found (relevance {c.relevance:.2f})"
    tip = f"{component_label(c)}: cosine {c.raw:.3f} in the {c.space} space, calibrated to {c.relevance:.2f}"
    said = support_text(c)
    return f"{tip}; {said}" if said else tip


class MatchView(QWidget):
    """Why a result matched: its relevance, then one row per component with a small bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("WHY IT MATCHED")
        self.title.setObjectName("SectionTitle")
        f = self.title.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        f.setLetterSpacing(f.SpacingType.PercentageSpacing, 108)
        self.title.setFont(f)
        self.total = QLabel()
        self.total.setObjectName("RelevanceTotal")
        self.strength = QLabel()
        self.strength.setObjectName("StrongTag")
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.setSpacing(6)
        head.addWidget(self.title, 1, Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.strength, 0, Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.total, 0, Qt.AlignmentFlag.AlignVCenter)
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(3)
        self._grid.setColumnStretch(0, 1)
        self.note = QLabel()
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(8)
        lay.addLayout(head)
        lay.addLayout(self._grid)
        lay.addWidget(self.note)
        self._rows: list[tuple[QLabel, QLabel, QLabel, RelevanceBar]] = []

    def show_result(self, result: SearchResult) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                # hidden now: deleteLater waits for the event loop, and until then it would still paint
                item.widget().hide()
                item.widget().deleteLater()
        self._rows = []
        self.total.setText(format_relevance(result.relevance))
        self.total.setToolTip("The result's relevance, in [0, 1]; the command line prints the same number")
        self.strength.setText("strong match" if result.relevant else "weak match")
        self.strength.setProperty("weak", not result.relevant)
        self.strength.style().unpolish(self.strength)
        self.strength.style().polish(self.strength)
        row = 0
        for i, c in enumerate(result.components):
            # name and relevance on one line, then the bar (relevance x weight x support: what the
            # component adds) with the weight beside it, then, for evidence read from other evidence
            # (a caption), how far it counts
            name = QLabel(component_label(c))
            name.setMinimumWidth(40)
            name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            value = QLabel(format_relevance(c.relevance))
            value.setObjectName("ComponentValue")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            weight = QLabel(f"× weight {format_weight(c.weight)}")
            weight.setObjectName("Muted")
            weight.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bar = RelevanceBar()
            bar.set_value(c.relevance * c.weight * c.support, strong=result.relevant)
            tip = _raw_tooltip(c)
            for w in (name, value, weight, bar):
                w.setToolTip(tip)
            self._grid.addWidget(name, row, 0)
            self._grid.addWidget(value, row, 1)
            self._grid.addWidget(bar, row + 1, 0, Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(weight, row + 1, 1)
            if i:
                self._grid.setRowMinimumHeight(row, name.sizeHint().height() + 6)
            row += 2
            said = support_text(c)
            if said:
                why = QLabel(said[0].upper() + said[1:])
                why.setObjectName("Muted")
                why.setWordWrap(True)
                why.setToolTip(tip)
                self._grid.addWidget(why, row, 0, 1, 2)
                row += 1
            self._rows.append((name, value, weight, bar))
        several = len(result.components) > 1
        if not result.components:
            self.note.setText("")
        elif not result.relevant:
            self.note.setText("Below the relevance cutoff: a weak match, shown because you asked for it.")
        elif any(c.support < 1.0 for c in result.components):
            self.note.setText("A caption is the captioner's reading of the picture: it counts as far as the "
                              "picture's own pixels show the same.")
        elif several:
            self.note.setText("Each way it matched counts with its weight; together they make the relevance.")
        else:
            self.note.setText("")
        self.note.setVisible(bool(self.note.text()))

    def rows(self) -> list[str]:
        """Each component row as shown ("Photo pixels 0.91 × weight 1.0"), for tests and accessibility."""
        return [f"{name.text()} {value.text()} {weight.text()}" for name, value, weight, _ in self._rows]

    def bars(self) -> list[float]:
        return [bar.value for *_, bar in self._rows]


class _VerticalScrollArea(QScrollArea):
    """Scrolls up and down only; its content is always as wide as the viewport *with* the scroll bar.

    The content's height depends on its width (wrapped labels, a preview scaled to the width). With
    the width following the scroll bar, a scroll bar that appears makes the content narrower and so
    shorter, which hides the scroll bar again, which makes it wider and taller: QScrollArea resized
    its widget back and forth in a recursion that ended in a crash. A width that does not change when
    the bar comes and goes breaks the loop.
    """

    def resizeEvent(self, event: QResizeEvent) -> None:
        content = self.widget()
        if content is not None:
            bar = self.verticalScrollBar().sizeHint().width()
            content.setFixedWidth(max(0, self.width() - 2 * self.frameWidth() - bar))
        super().resizeEvent(event)


class DetailPane(QFrame):
    """Everything about one result. Fed by `show_result` at once, then `set_detail` from the worker.

    open_requested and reveal_requested carry the raw path (object, not str: a Qt string would drop
    the undecodable bytes of a non-UTF-8 name); copy_requested carries the path as shown.
    """

    open_requested = Signal(object)
    reveal_requested = Signal(object)
    copy_requested = Signal(str)
    similar_requested = Signal(int)
    close_requested = Signal()

    def __init__(
        self,
        loader: ThumbnailSource | None = None,
        cache: PixmapCache | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self._loader = loader
        self._cache = cache
        self._previews = PixmapCache(capacity=24)
        self.result: SearchResult | None = None
        self.detail: ItemDetail | None = None
        if loader is not None:
            loader.ready.connect(self._on_image)

        self.title = QLabel()
        self.title.setObjectName("DetailTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setIcon(icons.icon("close"))
        close.setAutoRaise(True)
        close.setToolTip("Close the details")
        close.clicked.connect(self.close_requested)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

        self.kind = QLabel()
        self.kind.setObjectName("Muted")

        self.preview = PreviewLabel()
        self.note_view = QTextBrowser()
        self.note_view.setObjectName("NoteView")
        self.note_view.setOpenLinks(False)
        self.note_view.setMinimumHeight(NOTE_MIN_H)
        self.note_view.hide()

        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(6)
        self._fields: dict[str, QLabel] = {}
        for key in ("Caption", "Folder", "Size", "Taken", "Modified", "Dimensions", "Problem"):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setTextFormat(Qt.TextFormat.PlainText)
            name = QLabel(key)
            name.setObjectName("Muted")
            self.form.addRow(name, value)
            self._fields[key] = value

        self.open_button = QPushButton(icons.icon("open", "#ffffff"), "Open")
        self.open_button.setObjectName("Primary")
        self.open_button.setToolTip("Open in the default application (Enter)")
        self.open_button.clicked.connect(lambda: self.result and self.open_requested.emit(self.result.path))
        self.similar_button = QPushButton(icons.icon("similar"), "Find similar")
        self.similar_button.setToolTip("Show the items closest to this one")
        self.similar_button.clicked.connect(
            lambda: self.result and self.similar_requested.emit(self.result.item_id)
        )
        self.reveal_button = QToolButton()
        self.reveal_button.setIcon(icons.icon("folder-open"))
        self.reveal_button.setToolTip("Show in folder")
        self.reveal_button.clicked.connect(
            lambda: self.result and self.reveal_requested.emit(self.result.path)
        )
        self.copy_button = QToolButton()
        self.copy_button.setIcon(icons.icon("copy"))
        self.copy_button.setToolTip("Copy path (Ctrl+C)")
        self.copy_button.clicked.connect(
            lambda: self.result and self.copy_requested.emit(display_path(self.result.path))
        )
        for b in (self.reveal_button, self.copy_button):
            b.setIconSize(QSize(18, 18))
            b.setAutoRaise(True)
        actions = QHBoxLayout()
        actions.setSpacing(6)
        actions.addWidget(self.open_button)
        actions.addWidget(self.similar_button)
        actions.addStretch(1)
        actions.addWidget(self.reveal_button)
        actions.addWidget(self.copy_button)

        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(16, 14, 16, 16)
        lay.setSpacing(10)
        lay.addLayout(head)
        lay.addWidget(self.kind)
        lay.addWidget(self.preview)
        lay.addWidget(self.note_view)
        # a recording: its waveform, play/pause and the transcript (ui/audio.py)
        self.recording = RecordingView(lambda: loader.cache_dir if loader is not None else None)
        self.recording.hide()
        lay.addWidget(self.recording)
        lay.addLayout(actions)
        self.matches = MatchView()
        lay.addWidget(self.matches)
        # Why this matched (heatmap over the preview, words, moments, concepts) and related items
        # (ui/explain.py); the window feeds them from the worker's explain and related answers.
        self.explain = ExplainView(self.preview, self.note_view)
        self.related = RelatedStrip(loader, cache)
        body.setStyleSheet(CHIP_STYLE)
        lay.addWidget(self.explain)
        lay.addWidget(self.related)
        lay.addLayout(self.form)
        lay.addStretch(0)
        scroll = _VerticalScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self._body, self._scroll = body, scroll
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def minimumSizeHint(self) -> QSize:
        # As wide as the content's own minimum plus a vertical scroll bar: the scroll area never
        # scrolls sideways, so anything narrower would cut the buttons and the match rows off.
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        return QSize(max(280, self._body.minimumSizeHint().width() + bar + 2), 120)

    # --- content -------------------------------------------------------------------------------

    def show_result(self, result: SearchResult) -> None:
        """Fill in what the search result already says; `set_detail` adds the rest."""
        self.result = result
        self.detail = None
        shown = display_path(result.path)
        path = Path(shown)
        view = views.view_for(result.modality)
        self.title.setText(path.name)
        self.title.setToolTip(shown)
        self.kind.setText(view.label)
        # zero-width spaces let a long folder path wrap at its separators
        self._set("Folder", str(path.parent).replace(os.sep, os.sep + "\u200b"), tooltip=shown)
        self._set("Caption", result.caption or "", tooltip="Generated from the photo's pixels")
        self._set("Size", "")
        self._set("Modified", "")
        self._set("Dimensions", "")
        self._set("Taken", format_date(result.taken_at) if view.shows_taken else "")
        self._set("Problem", "")
        self.matches.show_result(result)
        view.show_in_detail(self, result)

    def set_detail(self, detail: ItemDetail) -> None:
        if self.result is None or detail.item_id != self.result.item_id:
            return
        self.detail = detail
        view = views.view_for(detail.modality)
        self._set("Size", human_size(detail.size))
        self._set("Modified", _format_time(detail.mtime) if detail.mtime else "")
        taken = self.result.taken_at
        if view.shows_taken and taken is not None and abs(taken - detail.mtime) > 2:
            self._set("Taken", _format_time(taken))
        else:
            self._set("Taken", "")  # no capture time: it would only repeat Modified
        if detail.width and detail.height:
            self._set("Dimensions", f"{detail.width} × {detail.height} px")
        self._set("Problem", detail.error or "")
        view.detail_arrived(self, detail)

    # --- the preview part a modality view chooses (ui/views) --------------------------------------

    def _show_part(self, part: QWidget | None) -> None:
        for widget in (self.preview, self.note_view, self.recording):
            widget.setVisible(widget is part)
        if part is not self.recording:
            self.recording.stop()

    def show_picture(self, path: str) -> None:
        """The item's picture, sharp once its preview is made (the card's thumbnail until then)."""
        self._show_part(self.preview)
        self._show_photo(path)

    def show_icon(self, name: str) -> None:
        """A modality without a preview of its own: its icon."""
        self._show_part(self.preview)
        self.preview.set_source(icons.pixmap(name, 96, theme.accent()))

    def show_text(self, text: str) -> None:
        """Text (a note's matched chunk, until its full text comes)."""
        self._show_part(self.note_view)
        self.note_view.setPlainText(text)
        self._fit_note()

    def show_full_text(self, text: str) -> None:
        """The item's whole text, with the matched chunk highlighted and in view."""
        if self.result is not None:
            self._show_note(text, self.result)

    def show_recording(self, result: SearchResult) -> None:
        """The recording section: waveform, player and transcript."""
        self._show_part(self.recording)
        self.recording.show_result(result)

    def set_recording_detail(self, detail: ItemDetail) -> None:
        self.recording.set_detail(detail)

    def set_caption(self, caption: str) -> None:
        self._set("Caption", caption, tooltip="Generated from the photo's pixels")

    def clear(self) -> None:
        self.result = None
        self.detail = None
        self.title.clear()
        self.preview.set_source(None)
        self.note_view.clear()
        self.recording.clear()
        self.explain.clear()
        self.related.clear()

    def toggle_playback(self) -> None:
        """Play or pause the recording shown (from its matched segment the first time)."""
        if self.recording.isVisible():
            self.recording.toggle()

    def stop_playback(self) -> None:
        self.recording.stop()

    # --- internals -----------------------------------------------------------------------------

    def _set(self, key: str, value: str, *, tooltip: str = "") -> None:
        label = self._fields[key]
        label.setText(value)
        label.setToolTip(tooltip)
        visible = bool(value)
        label.setVisible(visible)
        name = self.form.labelForField(label)
        if name is not None:
            name.setVisible(visible)

    def _fit_note(self) -> None:
        view = self.note_view
        doc = view.document()
        doc.setTextWidth(max(100, view.viewport().width()))
        frame = 2 * view.frameWidth() + int(doc.documentMargin()) + 6
        view.setFixedHeight(max(NOTE_MIN_H, min(NOTE_MAX_H, round(doc.size().height()) + frame)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.note_view.isVisible():
            self._fit_note()

    def _show_photo(self, path: str) -> None:
        big = self._previews.get(path, PREVIEW_SIDE)
        if big is not None:
            self.preview.set_source(big)
            return
        small = self._cache.get(path, THUMB_SIDE) if self._cache is not None else None
        self.preview.set_source(small)  # the card's thumbnail, until the sharper one arrives
        if self._loader is not None:
            self._loader.request(path, PREVIEW_SIDE, priority=1)

    def _on_image(self, path: str, side: int, image: QImage) -> None:
        if side != PREVIEW_SIDE:
            return
        pm = self._previews.put(path, side, image)
        if self.result is not None and self.result.path == path:
            self.preview.set_source(pm)

    def _show_note(self, text: str, result: SearchResult) -> None:
        self.note_view.setPlainText(text)
        self._fit_note()
        start, end = result.chunk_start, result.chunk_end
        if start is None or end is None or not (0 <= start < end <= len(text)):
            # Offsets missing or from an older version of the file: find the chunk by its text.
            chunk = (result.chunk_text or "").strip()
            pos = text.find(chunk) if chunk else -1
            if pos < 0:
                return
            start, end = pos, pos + len(chunk)
        start, end = doc_pos(text, start), doc_pos(text, end)
        fmt = QTextCharFormat()
        hl = QColor(theme.accent())
        hl.setAlphaF(0.28)
        fmt.setBackground(hl)
        cursor = QTextCursor(self.note_view.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(fmt)
        # put the highlighted chunk in view
        view_cursor = QTextCursor(self.note_view.document())
        view_cursor.setPosition(end)
        self.note_view.setTextCursor(view_cursor)
        self.note_view.ensureCursorVisible()
        view_cursor.setPosition(start)
        self.note_view.setTextCursor(view_cursor)
        self.note_view.ensureCursorVisible()

    def highlighted_text(self) -> str:
        """The text currently highlighted as the matching chunk (for tests and accessibility)."""
        doc = self.note_view.document()
        block = doc.begin()
        out = []
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                if frag.isValid() and frag.charFormat().background().style() != Qt.BrushStyle.NoBrush:
                    out.append(frag.text())
                it += 1
            block = block.next()
        return "".join(out)
