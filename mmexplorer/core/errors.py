"""Typed errors raised by core. Each carries the data a caller needs to explain it."""

from __future__ import annotations

import traceback
from pathlib import Path

from mmexplorer.core.types import ErrorInfo, ErrorKind


class MMExplorerError(Exception):
    """Base class of every error core raises on purpose."""


class UsageError(MMExplorerError):
    """The caller asked for something that makes no sense (bad flag, unknown spec)."""


class DecodeError(MMExplorerError):
    """A file could not be read as the media it claims to be.

    Attributes:
        path: the file.
        reason: one human-readable line, shown in the UI and in `status`.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class ModelUnavailableError(MMExplorerError):
    """Weights for a model are not on this machine and cannot be fetched now.

    Attributes:
        model: the model's name as the user would type it.
        hint: how to get it (a command or a path to use).
    """

    def __init__(self, model: str, hint: str) -> None:
        super().__init__(f"model {model!r} is not available: {hint}")
        self.model = model
        self.hint = hint


class CatalogError(MMExplorerError):
    """The catalog database is unusable (newer schema, corrupt file)."""


class Cancelled(MMExplorerError):
    """A long job was cancelled by its caller; what was committed stays committed."""


class LibraryBusyError(MMExplorerError):
    """Another process holds the library's write lock (an index run in another window or shell).

    Attributes:
        pid: the process that holds it, when known.
    """

    def __init__(self, data_dir: Path | str, pid: int | None) -> None:
        who = f"indexing by PID {pid}" if pid else "indexing in another process"
        super().__init__(f"library busy: {who} ({data_dir})")
        self.data_dir = Path(data_dir)
        self.pid = pid


def error_info(exc: BaseException) -> ErrorInfo:
    """The typed record a UI shows for an exception: kind, one-line message, hint, details."""
    details = "".join(traceback.format_exception(exc))
    if isinstance(exc, ModelUnavailableError):
        return ErrorInfo(ErrorKind.MODEL, f"Model “{exc.model}” is not available on this computer", exc.hint, details)
    kinds = (
        (UsageError, ErrorKind.USAGE),
        (DecodeError, ErrorKind.DECODE),
        (CatalogError, ErrorKind.CATALOG),
        (LibraryBusyError, ErrorKind.BUSY),
        (Cancelled, ErrorKind.CANCELLED),
    )
    for cls, kind in kinds:
        if isinstance(exc, cls):
            return ErrorInfo(kind, str(exc), "", details)
    if isinstance(exc, MMExplorerError):
        return ErrorInfo(ErrorKind.UNEXPECTED, str(exc), "", details)
    return ErrorInfo(ErrorKind.UNEXPECTED, f"Unexpected error: {type(exc).__name__}: {exc}", "", details)
