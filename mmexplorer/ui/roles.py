"""The item-data roles of the results model and the thumbnail size they are made at."""

from __future__ import annotations

from PySide6.QtCore import Qt

THUMB_SIDE = 256  # pixels of the cached thumbnail; cards show it cover-cropped
ResultRole = Qt.ItemDataRole.UserRole + 1
ThumbRole = Qt.ItemDataRole.UserRole + 2
ThumbStateRole = Qt.ItemDataRole.UserRole + 3
FoldRole = Qt.ItemDataRole.UserRole + 4  # True on the "Show N weaker matches" card
DurationRole = Qt.ItemDataRole.UserRole + 5  # a recording's length in seconds, once its waveform came
