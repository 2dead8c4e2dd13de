"""Query by example and adding folders by drag and drop or paste.

`DropTarget` watches a window's drag and drop events (an event filter, so the window keeps only its
layout), draws `DropOverlay` while something droppable hovers, and says what was given:
folders to add, an image file to search with, or image pixels (a pasted screenshot, an image
dragged out of a browser) as PNG bytes for `ImageQuery(data=...)`. Pixels are encoded on a pool
thread, never on the GUI thread, and nothing is written to disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
    QIODevice,
    QMimeData,
    QObject,
    QPoint,
    QRectF,
    QRunnable,
    Qt,
    QThreadPool,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QWidget

from mmexplorer.core.media.kinds import PHOTO_EXTENSIONS
from mmexplorer.ui import icons, theme

FOLDERS, IMAGE, IMAGE_DATA = "folders", "image", "image-data"


def is_image_path(path: Path) -> bool:
    """A file name the library would index as a photo."""
    return path.suffix.lower() in PHOTO_EXTENSIONS


def local_path(url: QUrl) -> Path:
    """The file a file:// URL names, bytes and all (toLocalFile turns a non-UTF-8 byte into U+FFFD)."""
    if os.name == "nt":  # pragma: no cover - Windows names are text
        return Path(url.toLocalFile())
    return Path(os.fsdecode(unquote_to_bytes(url.path(QUrl.ComponentFormattingOption.FullyEncoded))))


def local_paths(mime: QMimeData) -> list[Path]:
    return [local_path(u) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


def has_image_file(mime: QMimeData) -> bool:
    """The data names a local image file first (a copied or dragged photo)."""
    paths = local_paths(mime)
    return bool(paths) and is_image_path(paths[0])


def drop_kind(mime: QMimeData) -> str | None:
    """What dropping this data would do: FOLDERS, IMAGE, IMAGE_DATA, or None (not accepted)."""
    paths = local_paths(mime)
    if paths:
        if any(p.is_dir() for p in paths):
            return FOLDERS
        if is_image_path(paths[0]):
            return IMAGE
        return None
    if mime.hasImage():
        return IMAGE_DATA
    return None


def png_bytes(image: QImage) -> bytes:
    """The image encoded as PNG (any thread; QImage is safe off the GUI thread)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, "PNG")
    buffer.close()
    if not ok or data.isEmpty():
        raise ValueError("the image could not be encoded")
    return bytes(data.data())


class DropOverlay(QWidget):
    """Drawn over the content while something droppable hovers over the window."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.text = ""
        self.hide()
        parent.installEventFilter(self)  # to cover the parent as it resizes

    def show_over_parent(self, text: str) -> None:
        self.text = text
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.parentWidget().rect())
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        bg = QColor(pal.color(QPalette.ColorRole.Base))
        bg.setAlphaF(0.88)
        p.fillRect(self.rect(), bg)
        r = QRectF(self.rect()).adjusted(18, 18, -18, -18)
        pen = QPen(theme.accent(), 2.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath()
        path.addRoundedRect(r, 16, 16)
        p.drawPath(path)
        px = icons.pixmap("drop", 48, theme.accent(), dpr=self.devicePixelRatioF())
        p.drawPixmap(QPoint(round(r.center().x() - 24), round(r.center().y() - 56)), px)
        f = self.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setWeight(f.Weight.DemiBold)
        p.setFont(f)
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.drawText(
            QRectF(r.left(), r.center().y() + 4, r.width(), 40), Qt.AlignmentFlag.AlignHCenter, self.text
        )
        p.end()


class _EncodeSignals(QObject):
    encoded = Signal(bytes)
    failed = Signal(str)


class _EncodeJob(QRunnable):
    def __init__(self, image: QImage, signals: _EncodeSignals) -> None:
        super().__init__()
        self._image = image
        self._signals = signals

    def run(self) -> None:  # runs on a pool thread
        try:
            data = png_bytes(self._image)
        except Exception as e:  # noqa: BLE001 - reported as a notice
            self._signals.failed.emit(str(e))
            return
        self._signals.encoded.emit(data)


class DropTarget(QObject):
    """Drag and drop and paste for a window: says what the user gave, as signals on the GUI thread.

    Signals:
        folders_dropped(list[str]): folders to add to the library (raw paths).
        image_file_given(str): an image file to search with, dropped or pasted (raw path: `object`,
            as a Qt string would drop the undecodable bytes of a non-UTF-8 name).
        image_data_started(): pixels were given; their PNG bytes follow.
        image_data_ready(bytes): PNG bytes of the given pixels.
        image_data_failed(str): the pixels could not be encoded (the reason).
    """

    folders_dropped = Signal(list)
    image_file_given = Signal(object)
    image_data_started = Signal()
    image_data_ready = Signal(bytes)
    image_data_failed = Signal(str)

    def __init__(self, window: QWidget, overlay_parent: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.overlay = DropOverlay(overlay_parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        # What the drag in progress would do, decided once at DragEnter: a DragMove comes with
        # every mouse move, and deciding again would stat the dragged files each time.
        self._drag_kind: str | None = None
        self._signals = _EncodeSignals(self)
        q = Qt.ConnectionType.QueuedConnection
        self._signals.encoded.connect(self.image_data_ready, q)
        self._signals.failed.connect(self.image_data_failed, q)
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is not self._window:
            return False
        t = event.type()
        if t == QEvent.Type.DragEnter and isinstance(event, QDragEnterEvent):
            self._drag_enter(event)
            return True
        if t == QEvent.Type.DragMove and isinstance(event, QDragMoveEvent):
            if self._drag_kind is not None:
                event.acceptProposedAction()
            return True
        if t == QEvent.Type.DragLeave:
            self._drag_kind = None
            self.overlay.hide()
            return True
        if t == QEvent.Type.Drop and isinstance(event, QDropEvent):
            self._drop(event)
            return True
        return False

    def _drag_enter(self, event: QDragEnterEvent) -> None:
        kind = self._drag_kind = drop_kind(event.mimeData())
        if kind is None:
            event.ignore()
            return
        self.overlay.show_over_parent(
            "Drop to add these folders" if kind == FOLDERS else "Drop to find similar photos"
        )
        event.acceptProposedAction()

    def _drop(self, event: QDropEvent) -> None:
        self.overlay.hide()
        self._drag_kind = None
        mime = event.mimeData()
        kind = drop_kind(mime)
        if kind is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if kind == FOLDERS:
            self.folders_dropped.emit([str(p) for p in local_paths(mime) if p.is_dir()])
        elif kind == IMAGE:
            self.image_file_given.emit(str(local_paths(mime)[0]))
        else:
            self.give_image(QImage(mime.imageData()))

    def paste(self) -> bool:
        """Use the image on the clipboard (image data, or a copied image file). False: there is none."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        paths = local_paths(mime) if mime is not None else []
        if paths and is_image_path(paths[0]) and paths[0].is_file():
            self.image_file_given.emit(str(paths[0]))
            return True
        image = clipboard.image()
        if image.isNull():
            return False
        self.give_image(image)
        return True

    def give_image(self, image: QImage) -> None:
        """Search with these pixels: image_data_started now, image_data_ready when encoded."""
        if image.isNull():
            return
        self.image_data_started.emit()
        self._pool.start(_EncodeJob(image, self._signals))

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))
