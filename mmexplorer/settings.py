"""User settings: a typed dataclass saved as JSON with a schema version and atomic writes.

Window geometry is not here: it belongs to QSettings, which knows how to store it per screen.
This module imports no Qt, so the CLI and tests can read and write settings too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mmexplorer.core import paths
from mmexplorer.core.fsutil import atomic_write

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEVICES = ("auto", "cpu", "cuda", "mps")
THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Settings:
    """What the user chose in the settings dialog.

    image_model: a model spec (see core.models.parse_image_spec); None means the default model.
    device: "auto", "cpu", "cuda" or "mps".
    data_dir: the library's data dir; None means paths.data_dir()'s default.
    results_per_page: how many results one search asks for ("More results" asks for another page).
    theme: "system" follows the desktop's light/dark scheme.
    """

    schema_version: int = SCHEMA_VERSION
    image_model: str | None = None
    device: str = "auto"
    data_dir: str | None = None
    results_per_page: int = 60
    theme: str = "system"
    recent_queries: tuple[str, ...] = field(default_factory=tuple)

    def validated(self) -> Settings:
        """A copy with out-of-range values replaced by defaults, so a hand-edited file cannot break the app."""
        defaults = Settings()
        changes: dict[str, Any] = {}
        if self.device not in DEVICES:
            changes["device"] = defaults.device
        if self.theme not in THEMES:
            changes["theme"] = defaults.theme
        if not isinstance(self.results_per_page, int) or not 1 <= self.results_per_page <= 1000:
            changes["results_per_page"] = defaults.results_per_page
        if self.image_model is not None and not str(self.image_model).strip():
            changes["image_model"] = None
        if self.data_dir is not None and not str(self.data_dir).strip():
            changes["data_dir"] = None
        return replace(self, **changes) if changes else self


def _migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a settings dict from any older schema to SCHEMA_VERSION, one step at a time."""
    version = int(raw.get("schema_version", 1))
    if version < 2:
        # v1 called the model "model" and had no theme.
        if "model" in raw and "image_model" not in raw:
            raw["image_model"] = raw.pop("model")
        raw.setdefault("theme", "system")
        version = 2
    raw["schema_version"] = version
    return raw


def load(path: Path | None = None) -> Settings:
    """Read settings; a missing, unreadable or newer file gives defaults (and a log line), never an error."""
    path = path or paths.settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as e:
        log.warning("settings file %s is unreadable (%s); using defaults", path, e)
        return Settings()
    if not isinstance(raw, dict):
        log.warning("settings file %s is not a JSON object; using defaults", path)
        return Settings()
    if int(raw.get("schema_version", 1)) > SCHEMA_VERSION:
        log.warning("settings file %s was written by a newer version; using defaults", path)
        return Settings()
    raw = _migrate(raw)
    known = {f.name for f in fields(Settings)}
    kwargs = {k: v for k, v in raw.items() if k in known}
    if "recent_queries" in kwargs:
        kwargs["recent_queries"] = tuple(str(q) for q in kwargs["recent_queries"] or ())
    try:
        return Settings(**kwargs).validated()
    except TypeError as e:
        log.warning("settings file %s has bad values (%s); using defaults", path, e)
        return Settings()


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (temp file in the same folder, fsync, then os.replace)."""
    path = path or paths.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    data["recent_queries"] = list(settings.recent_queries)
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
