"""Every location the app writes to. Nothing is ever written beside the user's files."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "mmexplorer"
ENV_DATA_DIR = "MMEXPLORER_DATA_DIR"

_dirs = PlatformDirs(APP_NAME, appauthor=False)


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The library's data dir: --data-dir, else $MMEXPLORER_DATA_DIR, else the platform's user data dir."""
    chosen = override or os.environ.get(ENV_DATA_DIR) or _dirs.user_data_dir
    return Path(chosen).expanduser().resolve()


def catalog_path(root: Path) -> Path:
    return root / "catalog.sqlite3"


def index_dir(root: Path) -> Path:
    return root / "index"


def thumbnails_dir(root: Path) -> Path:
    return root / "thumbnails"


def log_dir(root: Path) -> Path:
    return root / "logs"


def settings_path() -> Path:
    """User settings live in the config dir, shared by every library."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser().resolve() / "settings.json"
    return Path(_dirs.user_config_dir) / "settings.json"


def model_cache_dir() -> Path | None:
    """Where open_clip and the hub cache weights: None means the standard Hugging Face cache."""
    value = os.environ.get("MMEXPLORER_MODEL_CACHE")
    return Path(value).expanduser() if value else None
