"""Logging setup: the one place that attaches handlers (modules only call logging.getLogger).

The GUI logs to a rotating file in the data dir's logs folder, so a user can attach it to a bug
report; `install_excepthook` routes anything unexpected there too, and to a callback the GUI uses
to show a dialog.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mmexplorer.core import paths

LOG_FILE_NAME = "mmexplorer.log"
_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)
_handler: logging.Handler | None = None


def setup_logging(data_dir: Path, *, level: int = logging.INFO, stderr: bool = False) -> Path:
    """Send the `mmexplorer` loggers to <data_dir>/logs/mmexplorer.log (1 MB x 3 files).

    Calling it again (a new data dir) moves the file handler; it never stacks handlers.

    Args:
        data_dir: the library's data dir.
        level: the level of the `mmexplorer` logger.
        stderr: also log warnings and worse to stderr.

    Returns:
        The log file's path.
    """
    global _handler
    log_path = paths.log_dir(Path(data_dir)) / LOG_FILE_NAME
    paths.private_dir(log_path.parent)  # the data dir and its logs folder: owner-only (0700)
    root = logging.getLogger("mmexplorer")
    root.setLevel(level)
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    handler = PrivateRotatingFileHandler(
        log_path, maxBytes=1_000_000, backupCount=3, encoding="utf-8", delay=True,
        # A file name that is not valid UTF-8 (surrogates) is logged with \udcXX escapes, never fails.
        errors="backslashreplace",
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    _handler = handler
    if stderr and not any(isinstance(h, StderrHandler) for h in root.handlers):
        err = StderrHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(err)
    return log_path


class StderrHandler(logging.StreamHandler):
    """Warnings on stderr, added once however often logging is set up."""


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files only the owner can read (0600), whatever the umask.

    The log names the user's files and quotes their notes' errors: it is as private as the catalog.
    """

    def _open(self):  # type: ignore[no-untyped-def]  # the base class's hook for every (re)open
        fd = paths.open_private(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            return open(fd, self.mode, encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise


def current_log_file() -> Path | None:
    """The file the rotating handler writes to, if setup_logging ran."""
    if isinstance(_handler, logging.handlers.RotatingFileHandler):
        return Path(_handler.baseFilename)
    return None


ExceptionCallback = Callable[[str, str], None]


def install_excepthook(show: ExceptionCallback | None = None) -> Callable[[], None]:
    """Log uncaught exceptions (main and other threads) and hand them to `show(summary, details)`.

    `show` runs on whatever thread raised; the GUI passes a callback that queues to its own thread.
    KeyboardInterrupt keeps its default behaviour.

    Returns:
        A function that restores the previous hooks.
    """
    previous_hook = sys.excepthook
    previous_thread_hook = threading.excepthook

    def _report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous_hook(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error:\n%s", details)
        if show is not None:
            summary = f"{exc_type.__name__}: {exc}".strip().rstrip(":")
            try:
                show(summary, details)
            except Exception:  # the reporter must never raise into the interpreter's hook
                log.exception("could not show the error")

    def _thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        _report(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = _report
    threading.excepthook = _thread_hook

    def restore() -> None:
        sys.excepthook = previous_hook
        threading.excepthook = previous_thread_hook

    return restore
