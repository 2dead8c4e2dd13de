"""Typed errors raised by core. Each carries the data a caller needs to explain it."""

from __future__ import annotations

from pathlib import Path


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
