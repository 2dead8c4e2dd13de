"""Talking to the desktop: open a file in its default application, show it in the file manager.

Paths arrive raw (a name that is not valid UTF-8 keeps its bytes as surrogates) and leave as
`names.file_uri` URLs, which name those bytes: QUrl.fromLocalFile would drop them.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices

from mmexplorer.core.names import file_uri

log = logging.getLogger(__name__)


def file_url(path: str) -> QUrl:
    """The file:// QUrl of a raw path, undecodable bytes included (percent-encoded as they are)."""
    return QUrl.fromEncoded(file_uri(path).encode("ascii"))


def open_path(path: str) -> bool:
    """Open a file with the system's default application."""
    return bool(QDesktopServices.openUrl(file_url(path)))


def reveal_path(path: str) -> bool:
    """Show a file selected in the system file manager (or open its folder where that is not possible)."""
    p = Path(path)
    if sys.platform == "darwin":
        return bool(QProcess.startDetached("open", ["-R", str(p)]))
    if sys.platform.startswith("win"):
        return bool(QProcess.startDetached("explorer", [f"/select,{p}"]))
    # freedesktop: the FileManager1 D-Bus interface selects the file in Nautilus, Dolphin, Nemo...
    # Run asynchronously (never block the GUI thread) and fall back to opening the folder when no
    # file manager answers.
    folder_url = file_url(str(p.parent))
    dbus_send = shutil.which("dbus-send")
    if not dbus_send:
        return bool(QDesktopServices.openUrl(folder_url))
    proc = QProcess()
    _running.add(proc)

    def finished(code: int, _status: QProcess.ExitStatus) -> None:
        if proc not in _running:
            return  # errorOccurred and finished can both report the same failure
        _running.discard(proc)
        if code != 0:
            log.info("no file manager answered on D-Bus; opening the folder instead")
            QDesktopServices.openUrl(folder_url)
        proc.deleteLater()

    proc.finished.connect(finished)
    proc.errorOccurred.connect(lambda _e: finished(1, QProcess.ExitStatus.CrashExit))
    proc.start(
        dbus_send,
        [
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.FileManager1",
            "--type=method_call",
            "/org/freedesktop/FileManager1",
            "org.freedesktop.FileManager1.ShowItems",
            f"array:string:{file_uri(p)}",
            "string:",
        ],
    )
    return True


_running: set[QProcess] = set()
