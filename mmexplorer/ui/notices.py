"""Non-blocking notices: a slim banner per message, with Details on demand, that never stops the app.

Errors from the worker become notices; unexpected exceptions (sys.excepthook) open a non-modal
dialog that points at the log file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.ui import icons, theme

INFO, WARNING, ERROR = "info", "warning", "error"
_ICON = {INFO: "info", WARNING: "warning", ERROR: "error"}
MAX_VISIBLE = 3


class Notice(QFrame):
    """One message: icon, text, optional action and Details buttons, a close button."""

    closed = Signal()

    def __init__(
        self,
        kind: str,
        message: str,
        details: str = "",
        *,
        action: tuple[str, Callable[[], None]] | None = None,
        timeout_ms: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Notice")
        self.kind = kind
        self.message = message
        self.details = details
        self.repeats = 1
        bg, fg = {INFO: theme.info_colors, WARNING: theme.warn_colors, ERROR: theme.error_colors}[kind]()
        self.setStyleSheet(
            f"QFrame#Notice {{ background: {bg.name()}; border-radius: 8px; }}"
            f"QFrame#Notice QLabel {{ color: {fg.name()}; background: transparent; }}"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 7, 6, 7)
        lay.setSpacing(10)
        ic = QLabel()
        ic.setPixmap(icons.pixmap(_ICON[kind], 18, fg, dpr=self.devicePixelRatioF()))
        lay.addWidget(ic, 0, Qt.AlignmentFlag.AlignTop)
        self.label = QLabel(message)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.label, 1)
        if action is not None:
            text, callback = action
            b = QPushButton(text)
            b.setObjectName("NoticeAction")
            b.clicked.connect(callback)
            b.clicked.connect(self.dismiss)
            lay.addWidget(b, 0, Qt.AlignmentFlag.AlignVCenter)
        self.details_button: QPushButton | None = None
        if details:
            self.details_button = QPushButton("Details…")
            self.details_button.clicked.connect(self.show_details)
            lay.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignVCenter)
        close = QToolButton()
        close.setIcon(icons.icon("close", fg))
        close.setIconSize(QSize(14, 14))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._timer: QTimer | None = None
        if timeout_ms > 0:
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self.dismiss)
            self._timer.start(timeout_ms)
        self.dialog: QMessageBox | None = None

    def bump(self) -> None:
        """The same message again: count it instead of stacking another banner."""
        self.repeats += 1
        self.label.setText(f"{self.message}  (×{self.repeats})")
        if self._timer is not None:
            self._timer.start()

    def show_details(self) -> None:
        box = QMessageBox(self.window())
        box.setWindowTitle("Details")
        box.setIcon(
            {
                INFO: QMessageBox.Icon.Information,
                WARNING: QMessageBox.Icon.Warning,
                ERROR: QMessageBox.Icon.Critical,
            }[self.kind]
        )
        box.setText(self.message)
        box.setDetailedText(self.details)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog = box
        box.show()

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
        self.deleteLater()


class NoticeArea(QWidget):
    """A column of notices above the content; the newest on top, at most a few at once."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(16, 0, 16, 0)
        self._lay.setSpacing(6)
        self._notices: list[Notice] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def notices(self) -> list[Notice]:
        return list(self._notices)

    def post(
        self,
        kind: str,
        message: str,
        details: str = "",
        *,
        action: tuple[str, Callable[[], None]] | None = None,
        timeout_ms: int | None = None,
    ) -> Notice:
        for n in self._notices:
            if n.message == message and n.kind == kind:
                n.bump()
                return n
        if timeout_ms is None:
            timeout_ms = 6000 if kind == INFO else 0
        notice = Notice(kind, message, details, action=action, timeout_ms=timeout_ms, parent=self)
        notice.closed.connect(lambda n=notice: self._remove(n))
        self._notices.insert(0, notice)
        self._lay.insertWidget(0, notice)
        while len(self._notices) > MAX_VISIBLE:
            self._notices[-1].dismiss()
        self.setContentsMargins(0, 8, 0, 0)
        self.show()
        return notice

    def clear(self) -> None:
        for n in list(self._notices):
            n.dismiss()

    def _remove(self, notice: Notice) -> None:
        if notice in self._notices:
            self._notices.remove(notice)
        if not self._notices:
            self.hide()


def show_exception_dialog(
    parent: QWidget | None, summary: str, details: str, log_file: Path | None
) -> QMessageBox:
    """A non-modal dialog for an unexpected exception; the app keeps running behind it."""
    box = QMessageBox(parent)
    box.setWindowTitle("Something went wrong")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setText(
        "An unexpected error occurred. mmexplorer keeps running; what you were doing may not have finished."
    )
    where = f"\n\nThe details were written to {log_file}." if log_file else ""
    box.setInformativeText(f"{summary}{where}")
    box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    if log_file is not None:
        open_logs = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        open_logs.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file.parent))))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.show()
    return box
