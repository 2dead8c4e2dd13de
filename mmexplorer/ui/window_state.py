"""Where the main window opens and what of its state is kept (QSettings: geometry, splitter, filter).

Never kept from the offscreen or minimal platforms (tests, screenshots, CI): a headless run must
not leave a 900x560 window behind for the user's next real start. A saved geometry is restored
only where it fits the screen the window opens on.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication

#: The smallest window the layout is made for (library buttons, detail pane and grid all fit).
MINIMUM_SIZE = QSize(1024, 640)
#: The size of a first start, or when a saved geometry does not fit the screen.
DEFAULT_SIZE = QSize(1280, 800)
#: Platforms without a real screen: their window state is never saved.
HEADLESS_PLATFORMS = ("offscreen", "minimal")


def headless_platform() -> bool:
    return QGuiApplication.platformName() in HEADLESS_PLATFORMS


def fitted_geometry(saved: QRect | None, available: QRect, *, minimum: QSize = MINIMUM_SIZE) -> QRect:
    """Where the window opens: the saved geometry if it fits the available screen area and is no
    smaller than the minimum, else the default size, clipped to the screen, centred on it."""
    if saved is not None and saved.isValid():
        big_enough = saved.width() >= minimum.width() and saved.height() >= minimum.height()
        if big_enough and available.contains(saved):
            return QRect(saved)
    size = DEFAULT_SIZE.boundedTo(available.size()).expandedTo(minimum)
    rect = QRect(QPoint(0, 0), size)
    rect.moveCenter(available.center())
    return rect


def restore_window_state(window: Any, s: QSettings | None) -> None:
    """Place the window (saved geometry where it fits), restore the splitter and the filter."""
    geometry = s.value("window/geometry") if s is not None else None
    saved: QRect | None = None
    if isinstance(geometry, QByteArray) and not geometry.isEmpty() and window.restoreGeometry(geometry):
        saved = window.geometry()
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        if saved is None:
            window.resize(DEFAULT_SIZE)
    else:
        target = fitted_geometry(saved, screen.availableGeometry())
        if target != saved:
            window.setWindowState(Qt.WindowState.WindowNoState)  # not shown yet: no showNormal()
            window.setGeometry(target)
    if s is None:
        return
    splitter = s.value("window/splitter")
    if isinstance(splitter, QByteArray) and not splitter.isEmpty():
        window.splitter.restoreState(splitter)
    modality = s.value("search/modality")
    if isinstance(modality, str) and modality:
        window.search_bar.set_modality(None if modality == "all" else modality)


def save_window_state(window: Any, s: QSettings | None) -> None:
    """Keep geometry, splitter and filter, unless headless (`window.saves_window_state` is False)."""
    if s is None or not window.saves_window_state:
        return
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/splitter", window.splitter.saveState())
    s.setValue("search/modality", window.search_bar.modality() or "all")
    s.sync()
