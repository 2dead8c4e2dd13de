"""The detail pane: a larger preview of the selected item, its metadata and, for notes, the text
with the matching chunk highlighted."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap, QResizeEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
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

from mmexplorer.core.types import ItemDetail, Modality, SearchResult
from mmexplorer.ui import icons, theme
from mmexplorer.ui.results import THUMB_SIDE, PixmapCache, describe_matches, modality_label

PREVIEW_SIDE = 768


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _doc_pos(text: str, index: int) -> int:
    """A Python str index as a QTextDocument position (UTF-16 units; a CRLF is one separator)."""
    head = text[:index]
    return len(head.encode("utf-16-le")) // 2 - head.count("\r\n")


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


class DetailPane(QFrame):
    """Everything about one result. Fed by `show_result` at once, then `set_detail` from the worker."""

    open_requested = Signal(str)
    reveal_requested = Signal(str)
    copy_requested = Signal(str)
    similar_requested = Signal(int)
    close_requested = Signal()

    def __init__(self, loader: Any = None, cache: PixmapCache | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self.setMinimumWidth(280)
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
        self.note_view.setMinimumHeight(220)
        self.note_view.hide()

        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(6)
        self._fields: dict[str, QLabel] = {}
        for key in ("Folder", "Size", "Modified", "Dimensions", "Score", "Matched by", "Problem"):
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
        self.copy_button.clicked.connect(lambda: self.result and self.copy_requested.emit(self.result.path))
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
        lay.addWidget(self.note_view, 1)
        lay.addLayout(actions)
        lay.addLayout(self.form)
        lay.addStretch(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # --- content -------------------------------------------------------------------------------

    def show_result(self, result: SearchResult) -> None:
        """Fill in what the search result already says; `set_detail` adds the rest."""
        self.result = result
        self.detail = None
        path = Path(result.path)
        modality = Modality(result.modality)
        self.title.setText(path.name)
        self.title.setToolTip(result.path)
        self.kind.setText(modality_label(modality))
        # zero-width spaces let a long folder path wrap at its separators
        self._set("Folder", str(path.parent).replace(os.sep, os.sep + "\u200b"), tooltip=result.path)
        self._set("Size", "")
        self._set("Modified", "")
        self._set("Dimensions", "")
        self._set("Score", f"{result.score:.3f}")
        self._set("Matched by", describe_matches(result))
        self._set("Problem", "")
        is_note = modality == Modality.NOTE
        self.note_view.setVisible(is_note)
        self.preview.setVisible(not is_note)
        if is_note:
            self.note_view.setPlainText(result.chunk_text or "")
        elif modality == Modality.PHOTO:
            self._show_photo(result.path)
        else:
            self.preview.set_source(icons.pixmap("recording", 96, theme.accent()))

    def set_detail(self, detail: ItemDetail) -> None:
        if self.result is None or detail.item_id != self.result.item_id:
            return
        self.detail = detail
        self._set("Size", human_size(detail.size))
        when = dt.datetime.fromtimestamp(detail.mtime) if detail.mtime else None
        self._set("Modified", when.strftime("%Y-%m-%d %H:%M") if when else "")
        if detail.width and detail.height:
            self._set("Dimensions", f"{detail.width} × {detail.height} px")
        self._set("Problem", detail.error or "")
        if Modality(detail.modality) == Modality.NOTE and detail.text is not None:
            self._show_note(detail.text, self.result)

    def clear(self) -> None:
        self.result = None
        self.detail = None
        self.title.clear()
        self.preview.set_source(None)
        self.note_view.clear()

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
        start, end = result.chunk_start, result.chunk_end
        if start is None or end is None or not (0 <= start < end <= len(text)):
            # Offsets missing or from an older version of the file: find the chunk by its text.
            chunk = (result.chunk_text or "").strip()
            pos = text.find(chunk) if chunk else -1
            if pos < 0:
                return
            start, end = pos, pos + len(chunk)
        start, end = _doc_pos(text, start), _doc_pos(text, end)
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
