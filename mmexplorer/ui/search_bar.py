"""The search header: query field (debounced) with its microphone button, query-by-example chip,
modality filter, result count, the sort toggle (best match or newest first) and the buttons for
search options and settings.

The microphone button only asks: the window's ListeningController (ui/audio.py) records, the worker
recognises, and `set_heard` puts the words in the field (editable) and searches them.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeyEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.ui import icons, theme, views
from mmexplorer.ui.drop import has_image_file
from mmexplorer.ui.microphone import LevelMeter

DEBOUNCE_MS = 280


def modality_filters() -> tuple[tuple[str | None, str, str], ...]:
    """(modality name or None for all, label, icon) of each filter button: All, then the ui's views."""
    return ((None, "All", "all"), *((v.name, v.plural, v.icon) for v in views.views()))


#: (key, label, icon, tooltip) of the sort toggle; the keys are settings.SORTS.
SORTS: tuple[tuple[str, str, str, str], ...] = (
    ("relevance", "Best match", "bar-chart", "Sort the good matches best first"),
    (
        "date",
        "Newest",
        "calendar",
        "Sort the good matches newest first (when a photo was taken, else the file's date)",
    ),
)
MIC_TOOLTIP = "Search by speaking: click, say what you are looking for, pause (Esc cancels)"
MIC_CHECKING = "Looking for a microphone…"
LISTENING_PLACEHOLDER = "Listening…  pause or click the microphone when done, Esc cancels"
TRANSCRIBING_PLACEHOLDER = "Recognising what you said…"


def _toggle_button(label: str, icon_name: str, object_name: str) -> QToolButton:
    """A checkable text-and-icon button of the filter row (a modality filter, a sort segment)."""
    b = QToolButton()
    b.setObjectName(object_name)
    b.setText(label)
    b.setIcon(icons.icon(icon_name))
    b.setIconSize(QSize(14, 14))
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    b.setCheckable(True)
    b.setCursor(Qt.CursorShape.PointingHandCursor)
    return b


class SearchField(QLineEdit):
    """A line edit where Esc clears the text (and Up/Down move focus to the results)."""

    escape_pressed = Signal()
    down_pressed = Signal()
    image_pasted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.meter = LevelMeter(self)  # along the bottom edge while listening
        self.meter.hide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.meter.setGeometry(12, self.height() - 6, max(0, self.width() - 24), 3)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            mime = QGuiApplication.clipboard().mimeData()
            if mime is not None and ((mime.hasImage() and not mime.hasText()) or has_image_file(mime)):
                # An image on the clipboard is a query by example, not text to paste.
                self.image_pasted.emit()
                event.accept()
                return
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class ExampleChip(QFrame):
    """Shows what a query-by-example search is searching with, and a button to drop it."""

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 2, 2)
        lay.setSpacing(6)
        self._icon = QLabel()
        self._icon.setPixmap(icons.pixmap("similar", 16, dpr=self.devicePixelRatioF()))
        self._text = QLabel()
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._close = QToolButton()
        self._close.setIcon(icons.icon("close"))
        self._close.setIconSize(QSize(14, 14))
        self._close.setAutoRaise(True)
        self._close.setToolTip("Stop searching by example")
        self._close.clicked.connect(self.cleared)
        lay.addWidget(self._icon)
        lay.addWidget(self._text)
        lay.addWidget(self._close)
        self.hide()

    def show_example(self, label: str, tooltip: str = "") -> None:
        self._text.setText(label)
        self.setToolTip(tooltip)
        self.show()

    def text(self) -> str:
        return self._text.text()


class SearchBar(QWidget):
    """Emits `search_requested(text)` after a pause in typing, at once on Enter; `cleared` when emptied."""

    search_requested = Signal(str)
    cleared = Signal()
    modality_changed = Signal(object)  # str | None
    example_cleared = Signal()
    settings_requested = Signal()
    options_requested = Signal()
    sort_changed = Signal(str)  # "relevance" or "date"
    focus_results = Signal()
    image_pasted = Signal()
    mic_clicked = Signal()  # start or stop listening
    listen_cancelled = Signal()  # Esc in the field while listening

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SearchHeader")
        self.field = SearchField()
        self.field.setObjectName("SearchField")
        self.field.setPlaceholderText("Search your photos and notes…  (or drop an image here)")
        self.field.setClearButtonEnabled(True)
        self.field.addAction(icons.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.field.setMinimumWidth(280)
        self.field.setAccessibleName("Search")
        self._placeholder = self.field.placeholderText()
        self.listening = False
        self.transcribing = False
        self.mic_available = False
        self.mic_reason = MIC_CHECKING
        self.mic_action = QAction(icons.icon("mic"), "Search by speaking", self)
        self.mic_action.triggered.connect(lambda _checked=False: self.mic_clicked.emit())
        self.field.addAction(self.mic_action, QLineEdit.ActionPosition.TrailingPosition)
        self.set_mic_available(False, MIC_CHECKING)

        self.chip = ExampleChip()
        self.chip.cleared.connect(self.example_cleared)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_now)
        self.field.textEdited.connect(self._on_edited)
        self.field.returnPressed.connect(self._emit_now)
        self.field.escape_pressed.connect(self._on_escape)
        self.field.down_pressed.connect(self.focus_results)
        self.field.image_pasted.connect(self.image_pasted)
        # The clear button sets the text programmatically: textChanged (not textEdited) sees it.
        self.field.textChanged.connect(self._on_text_changed)

        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        filters = QHBoxLayout()
        filters.setSpacing(6)
        self.modality_buttons: dict[str | None, QToolButton] = {}
        for value, label, icon_name in modality_filters():
            b = _toggle_button(label, icon_name, "ModalityButton")
            b.setToolTip(f"Show {label.lower()}" if value else "Show every kind of item")
            self._group.addButton(b)
            self.modality_buttons[value] = b
            filters.addWidget(b)
        self.modality_buttons[None].setChecked(True)
        self._group.buttonToggled.connect(self._on_modality)
        filters.addStretch(1)
        self.count_label = QLabel("")
        self.count_label.setObjectName("ResultCount")
        filters.addWidget(self.count_label)
        filters.addSpacing(10)

        # the sort toggle: two segments, one of them checked
        self._sort_group = QButtonGroup(self)
        self._sort_group.setExclusive(True)
        self.sort_buttons: dict[str, QToolButton] = {}
        sort_box = QHBoxLayout()
        sort_box.setSpacing(0)
        for i, (key, label, icon_name, tip) in enumerate(SORTS):
            b = _toggle_button(label, icon_name, "SortLeft" if i == 0 else "SortRight")
            b.setToolTip(tip)
            b.setAccessibleName(f"Sort by {label.lower()}")
            self._sort_group.addButton(b)
            self.sort_buttons[key] = b
            sort_box.addWidget(b)
        self.sort_buttons["relevance"].setChecked(True)
        self._sort_group.buttonToggled.connect(self._on_sort)
        filters.addLayout(sort_box)

        self.options_button = QToolButton()
        self.options_button.setObjectName("OptionsButton")
        self.options_button.setIcon(icons.icon("sliders"))
        self.options_button.setIconSize(QSize(18, 18))
        self.options_button.setAutoRaise(True)
        self.options_button.setToolTip("Search options: how much photos, text and exact words count")
        self.options_button.setAccessibleName("Search options")
        self.options_button.clicked.connect(self.options_requested)

        self.settings_button = QToolButton()
        self.settings_button.setIcon(icons.icon("gear"))
        self.settings_button.setIconSize(QSize(18, 18))
        self.settings_button.setAutoRaise(True)
        self.settings_button.setToolTip("Settings")
        self.settings_button.setAccessibleName("Settings")
        self.settings_button.clicked.connect(self.settings_requested)

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.field, 1)
        top.addWidget(self.chip)
        top.addWidget(self.options_button)
        top.addWidget(self.settings_button)

        # A spoken query's other readings, one click away when the best one was misheard.
        self._readings: list[str] = []  # every reading of the newest spoken query, the best first
        self.also_heard = QLabel()
        self.also_heard.setObjectName("AlsoHeard")
        self.also_heard.setTextFormat(Qt.TextFormat.RichText)
        self.also_heard.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.also_heard.setToolTip("Other ways the recogniser heard you: click one to search it instead")
        self.also_heard.linkActivated.connect(self._on_also_heard)
        self.also_heard.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 8)
        lay.setSpacing(10)
        lay.addLayout(top)
        lay.addWidget(self.also_heard)
        lay.addLayout(filters)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    # --- state ---------------------------------------------------------------------------------

    def text(self) -> str:
        return self.field.text().strip()

    def modality(self) -> str | None:
        for value, b in self.modality_buttons.items():
            if b.isChecked():
                return value
        return None

    def set_modality(self, value: str | None) -> None:
        b = self.modality_buttons.get(value)
        if b is not None:
            b.setChecked(True)

    def set_count(self, text: str) -> None:
        self.count_label.setText(text)

    def sort(self) -> str:
        return next((key for key, b in self.sort_buttons.items() if b.isChecked()), "relevance")

    def set_sort(self, key: str) -> None:
        """Check a sort segment without emitting sort_changed (restoring a saved choice)."""
        b = self.sort_buttons.get(key)
        if b is not None and not b.isChecked():
            self._sort_group.blockSignals(True)
            b.setChecked(True)
            self._sort_group.blockSignals(False)

    def set_searchable(self, names: set[str]) -> None:
        """A filter whose modality cannot be searched now (no model for it) finds nothing: it says so."""
        for value, b in self.modality_buttons.items():
            view = views.view_for(value) if value is not None else None
            if view is None or not view.unsearchable_hint:
                continue
            searchable = value in names
            b.setEnabled(searchable)
            b.setToolTip(f"Show {view.plural.lower()}" if searchable else view.unsearchable_hint)
            if not searchable and b.isChecked():
                self.modality_buttons[None].setChecked(True)

    # --- speaking a query -----------------------------------------------------------------------

    def mic_button(self) -> QToolButton | None:
        """The button the field shows for the microphone action (for tests and accessibility)."""
        for obj in self.mic_action.associatedObjects():
            if isinstance(obj, QToolButton):
                return obj
        return None

    def set_mic_available(self, available: bool, reason: str = "") -> None:
        """Enable the microphone button, or disable it with a tooltip saying why."""
        self.mic_available = available
        self.mic_reason = "" if available else reason
        self.mic_action.setEnabled(available)
        self.mic_action.setIcon(icons.icon("mic" if available else "mic-off"))
        self.mic_action.setToolTip(MIC_TOOLTIP if available else reason)
        button = self.mic_button()
        if button is not None:
            button.setToolTip(self.mic_action.toolTip())

    def set_listening(self, listening: bool) -> None:
        """Show that the microphone is on: a stop icon, a level meter under the text, a prompt."""
        self.listening = listening
        self.field.meter.setVisible(listening)
        self.field.meter.set_level(0.0)
        if listening:
            self._debounce.stop()
            self.mic_action.setIcon(icons.icon("stop", theme.accent()))
            self.mic_action.setToolTip("Stop listening and search (or just pause; Esc cancels)")
            self.field.setPlaceholderText(LISTENING_PLACEHOLDER)
            if self.field.text():
                self.field.blockSignals(True)
                self.field.clear()
                self.field.blockSignals(False)
        else:
            self.set_mic_available(self.mic_available, self.mic_reason)
            if not self.transcribing:
                self.field.setPlaceholderText(self._placeholder)

    def set_level(self, level: float) -> None:
        self.field.meter.set_level(level)

    def set_transcribing(self, transcribing: bool) -> None:
        """The spoken query is being recognised on the worker."""
        self.transcribing = transcribing
        self.field.setPlaceholderText(TRANSCRIBING_PLACEHOLDER if transcribing else self._placeholder)
        self.mic_action.setEnabled(self.mic_available and not transcribing)

    def set_heard(self, text: str, also: list[str] | tuple[str, ...] = ()) -> None:
        """Put the recognised words in the field (editable, cursor at the end) and search them now.

        also: the recogniser's other readings, offered below the field as links ("Also heard: …")
        until the words are edited or another search starts; a click searches that reading.
        """
        self.set_transcribing(False)
        self.chip.hide()
        self.field.setText(text.strip())
        self._readings = [text.strip(), *(a.strip() for a in also if a.strip())]
        self._show_readings()
        self.field.setFocus(Qt.FocusReason.OtherFocusReason)
        self.field.end(False)
        self._emit_now()

    def _on_escape(self) -> None:
        if self.listening:
            self.listen_cancelled.emit()
        else:
            self.clear()

    def show_example(self, label: str, tooltip: str = "") -> None:
        """Show the example chip; the text field is emptied, since the example is the query now."""
        self._debounce.stop()
        self.also_heard.hide()
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)
        self.chip.show_example(label, tooltip)

    def hide_example(self) -> None:
        self.chip.hide()

    def focus(self) -> None:
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def clear(self) -> None:
        self._debounce.stop()
        self.chip.hide()
        self.also_heard.hide()
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)
        self.cleared.emit()

    # --- internals -----------------------------------------------------------------------------

    def _show_readings(self) -> None:
        """The row of links: every reading of the spoken query but the one in the field, best first."""
        shown = self.field.text().strip()
        links = [f'<a href="{i}">{html.escape(r)}</a>' for i, r in enumerate(self._readings) if r != shown]
        if not links:
            self.also_heard.hide()
            return
        self.also_heard.setText("Also heard: " + " · ".join(links))
        self.also_heard.show()

    def keep_readings_for(self, text: str) -> None:
        """A search of `text` starts: the readings row stays only while it shows one of them."""
        if text.strip() not in self._readings:
            self._readings = []
            self.also_heard.hide()

    def _on_also_heard(self, href: str) -> None:
        try:
            reading = self._readings[int(href)]
        except (ValueError, IndexError):
            return
        self.field.setText(reading)
        self._show_readings()  # the rest, the first reading back among them
        self.field.setFocus(Qt.FocusReason.OtherFocusReason)
        self.field.end(False)
        self._emit_now()

    def _on_edited(self, text: str) -> None:
        self._readings = []  # the words are the user's own now
        self.also_heard.hide()
        if self.chip.isVisible() and text:
            self.chip.hide()
        if text.strip():
            self._debounce.start()
        else:
            self._debounce.stop()

    def _on_text_changed(self, text: str) -> None:
        if not text and not self.chip.isVisible():
            self._debounce.stop()
            self.cleared.emit()

    def _emit_now(self) -> None:
        self._debounce.stop()
        text = self.text()
        if text:
            self.search_requested.emit(text)

    def _on_modality(self, button: Any, checked: bool) -> None:
        if checked:
            self.modality_changed.emit(self.modality())

    def _on_sort(self, button: Any, checked: bool) -> None:
        if checked:
            self.sort_changed.emit(self.sort())
