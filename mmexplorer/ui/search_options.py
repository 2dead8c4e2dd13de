"""The "Search options" popup: the library's fusion weights as sliders from 0 to 1.

An item's relevance fuses the ways it matched (its pixels, its text, exact words and names, later
its sound), each counted with the library's weight for that space. The weights are stored in the
library (the command line uses the same ones); this panel shows the ones the last LibraryStatus
carried and sends the user's changes out as `weights_edited(FusionWeights)`, debounced while a
slider moves. The window hands them to the Host and runs the search again.
"""

from __future__ import annotations

from dataclasses import fields, replace

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.types import FusionWeights
from mmexplorer.ui import icons
from mmexplorer.ui.results import format_weight

#: A weight change is sent this long after the slider stopped moving (at once when it is let go).
EDIT_DEBOUNCE_MS = 300
STEPS = 20  # slider positions: 0.05 apart

#: (space, label, what it covers, icon)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("image", "Photos", "What a photo shows, from its pixels", "photo"),
    ("text", "Text", "What notes say, by meaning", "note"),
    ("lexical", "Exact words && names", "Words as typed, file and folder names", "search"),
    ("sound", "Sound", "What a recording sounds like", "recording"),
)
SOUND_UNAVAILABLE = "Recordings are catalogued, not searchable yet"


class WeightRow:
    """One space's label, slider and value."""

    def __init__(self, space: str, label: str, what: str, icon_name: str, parent: QWidget) -> None:
        self.space = space
        self.what = what
        self.icon = QLabel(parent)
        self.icon.setPixmap(icons.pixmap(icon_name, 16, dpr=parent.devicePixelRatioF()))
        self.name = QLabel(label, parent)
        self.name.setObjectName("WeightName")
        self.detail = QLabel(what, parent)
        self.detail.setObjectName("Muted")
        self.slider = QSlider(Qt.Orientation.Horizontal, parent)
        self.slider.setRange(0, STEPS)
        self.slider.setPageStep(STEPS // 4)
        self.slider.setSingleStep(1)
        self.slider.setMinimumWidth(150)
        self.slider.setAccessibleName(f"Weight of {label.replace('&&', '&')}")
        self.value = QLabel(parent)
        self.value.setObjectName("WeightValue")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("0.00") + 6)
        self.name.setBuddy(self.slider)
        self.slider.valueChanged.connect(self._show_value)

    def weight(self) -> float:
        return self.slider.value() / STEPS

    def set_weight(self, w: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(max(0.0, min(1.0, w)) * STEPS))
        self.slider.blockSignals(False)
        self._show_value(self.slider.value())

    def set_available(self, available: bool, reason: str) -> None:
        for widget in (self.icon, self.name, self.detail, self.slider, self.value):
            widget.setEnabled(available)
        self.detail.setText(self.what if available else reason)
        tip = "" if available else reason
        for widget in (self.name, self.slider, self.detail):
            widget.setToolTip(tip)

    def _show_value(self, position: int) -> None:
        self.value.setText(format_weight(position / STEPS))


class SearchOptionsPanel(QFrame):
    """The fusion weights of the open library; `popup(anchor)` shows it under a button."""

    weights_edited = Signal(object)  # FusionWeights

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SearchOptions")
        self.setWindowFlags(Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._stored = FusionWeights()
        self._sound_available = False

        title = QLabel("Search options")
        title.setObjectName("PanelTitle")
        intro = QLabel(
            "How much each kind of match counts in a result's relevance: 0\u00a0ignores it, 1\u00a0counts it fully."
        )
        intro.setObjectName("Muted")
        intro.setWordWrap(True)

        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        self.rows: dict[str, WeightRow] = {}
        for i, (space, label, what, icon_name) in enumerate(ROWS):
            row = WeightRow(space, label, what, icon_name, self)
            self.rows[space] = row
            r = 2 * i
            grid.addWidget(row.icon, r, 0, Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(row.name, r, 1)
            grid.addWidget(row.slider, r, 2)
            grid.addWidget(row.value, r, 3)
            grid.addWidget(row.detail, r + 1, 1, 1, 3)
            grid.setRowMinimumHeight(r + 1, row.detail.sizeHint().height() + 8)
            row.slider.valueChanged.connect(self._on_moved)
            row.slider.sliderReleased.connect(self.flush)
        grid.setColumnStretch(2, 1)

        self.reset_button = QPushButton(icons.icon("refresh"), "Reset")
        self.reset_button.setToolTip("Count every kind of match fully (all weights 1.0)")
        self.reset_button.clicked.connect(self.reset)
        where = QLabel("Kept with this library; the command line uses them too.")
        where.setObjectName("Muted")
        where.setWordWrap(True)
        foot = QHBoxLayout()
        foot.setSpacing(10)
        foot.addWidget(where, 1)
        foot.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignVCenter)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 14, 16, 14)
        lay.setSpacing(10)
        lay.addWidget(title)
        lay.addWidget(intro)
        lay.addSpacing(2)
        lay.addLayout(grid)
        lay.addLayout(foot)
        self.setFixedWidth(440)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(EDIT_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.flush)
        self._edited = False
        self.set_sound_available(False)
        self.set_weights(FusionWeights())

    # --- state ---------------------------------------------------------------------------------

    def weights(self) -> FusionWeights:
        """The weights as the sliders show them (sound as stored while it is unavailable)."""
        values = {row.space: row.weight() for row in self.rows.values()}
        if not self._sound_available:
            values["sound"] = self._stored.sound
        return replace(self._stored, **values)

    def set_weights(self, weights: FusionWeights) -> None:
        """Show the library's weights, unless the user is in the middle of changing them."""
        self._stored = weights
        if self._edited or any(row.slider.isSliderDown() for row in self.rows.values()):
            return
        for f in fields(FusionWeights):
            if f.name in self.rows:
                self.rows[f.name].set_weight(getattr(weights, f.name))

    def set_sound_available(self, available: bool, reason: str = SOUND_UNAVAILABLE) -> None:
        self._sound_available = available
        self.rows["sound"].set_available(available, reason)

    def confirm(self, weights: FusionWeights) -> None:
        """The library stored these weights (the answer to the last edit)."""
        if not self._debounce.isActive():
            self._edited = False
        self.set_weights(weights)

    # --- editing -------------------------------------------------------------------------------

    def set_weight(self, space: str, value: float) -> None:
        """Move one slider as the user would (tests, keyboard shortcuts); sent after the debounce."""
        self.rows[space].slider.setValue(round(max(0.0, min(1.0, value)) * STEPS))

    def reset(self) -> None:
        for row in self.rows.values():
            if row.slider.isEnabled():
                row.slider.setValue(STEPS)
        self.flush()

    def flush(self) -> None:
        """Send a pending change now (also when the popup closes)."""
        if not self._debounce.isActive() and not self._edited:
            return
        self._debounce.stop()
        weights = self.weights()
        if weights != self._stored:
            self._stored = weights
            self.weights_edited.emit(weights)
        else:
            self._edited = False

    def _on_moved(self, _position: int) -> None:
        self._edited = True
        self._debounce.start()

    # --- popup ---------------------------------------------------------------------------------

    def popup(self, anchor: QWidget) -> None:
        """Show under `anchor`, right-aligned with it, kept on the anchor's screen."""
        self.adjustSize()
        size = self.sizeHint().expandedTo(QSize(self.width(), 0))
        below = anchor.mapToGlobal(QPoint(anchor.width() - size.width(), anchor.height() + 4))
        screen = anchor.screen()
        anchor_rect = anchor.rect().translated(anchor.mapToGlobal(QPoint(0, 0)))
        if screen is not None and screen.availableGeometry().contains(anchor_rect):
            avail = screen.availableGeometry()
            below.setX(max(avail.left(), min(below.x(), avail.right() - size.width())))
            below.setY(max(avail.top(), min(below.y(), avail.bottom() - size.height())))
        self.move(below)
        self.show()
        first = next((row.slider for row in self.rows.values() if row.slider.isEnabled()), None)
        if first is not None:
            first.setFocus(Qt.FocusReason.PopupFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            event.accept()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self.flush()
        super().hideEvent(event)
