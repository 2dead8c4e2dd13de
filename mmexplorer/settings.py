"""User settings: a typed dataclass saved as JSON with a schema version and atomic writes.

Window geometry is not here: it belongs to QSettings, which knows how to store it per screen.
Recent queries are not here either: they belong to a library, so they live in its data dir
(`load_recent_queries` / `save_recent_queries`, called by the worker), and a throw-away
`--data-dir` leaves nothing behind in the user's settings.
This module imports no Qt, so the CLI and tests can read and write settings too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from mmexplorer.core import paths
from mmexplorer.core.fsutil import atomic_write

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Inference backends (core.models.onnx): auto measures torch against ONNX Runtime once per model.
BACKENDS = ("auto", "torch", "onnx")
THEMES = ("system", "light", "dark")
#: How the strong matches of a search are ordered: best match first, or newest (taken) first.
SORTS = ("relevance", "date")
#: The file in a library's data dir that holds its recent text queries.
RECENT_QUERIES_FILE = "recent-queries.json"
#: How many recent queries a library keeps.
RECENT_KEPT = 10


@dataclass(frozen=True)
class Settings:
    """What the user chose in the settings dialog.

    image_model: a model spec (see core.models.parse_image_spec); None means the default model.
    device: "auto", "cpu", "cuda" or "mps".
    data_dir: the library's data dir; None means paths.data_dir()'s default.
    results_per_page: how many results one search asks for ("More results" asks for another page).
    theme: "system" follows the desktop's light/dark scheme.
    sort: how strong matches are ordered: "relevance" (best first) or "date" (newest first).
    backend: "auto" (the faster of torch and ONNX Runtime, measured once per model), "torch" or "onnx".
    """

    schema_version: int = SCHEMA_VERSION
    image_model: str | None = None
    device: str = "auto"
    data_dir: str | None = None
    results_per_page: int = 60
    theme: str = "system"
    sort: str = "relevance"
    backend: str = "auto"

    def validated(self) -> Settings:
        """A copy with out-of-range values replaced by defaults, so a hand-edited file cannot break the app."""
        defaults = Settings()
        changes: dict[str, Any] = {}
        if self.device not in DEVICES:
            changes["device"] = defaults.device
        if self.theme not in THEMES:
            changes["theme"] = defaults.theme
        if self.sort not in SORTS:
            changes["sort"] = defaults.sort
        if self.backend not in BACKENDS:
            changes["backend"] = defaults.backend
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
    if version < 3:
        # v2 kept recent queries here, for every library at once; they belong to a library now
        # (its data dir), and which library these came from is unknown, so they are dropped.
        raw.pop("recent_queries", None)
        version = 3
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
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


# --- per-library state: recent queries, in the library's data dir ---------------------------------


def recent_queries_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / RECENT_QUERIES_FILE


def load_recent_queries(data_dir: str | Path) -> tuple[str, ...]:
    """The library's recent text queries, newest first; a missing or unreadable file gives none."""
    path = recent_queries_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as e:
        log.warning("recent queries file %s is unreadable (%s); starting without", path, e)
        return ()
    queries = raw.get("queries") if isinstance(raw, dict) else None
    if not isinstance(queries, list):
        return ()
    return tuple(q for q in queries if isinstance(q, str) and q.strip())[:RECENT_KEPT]


def save_recent_queries(data_dir: str | Path, queries: tuple[str, ...] | list[str]) -> Path:
    """Write the library's recent queries atomically into its data dir (which must exist)."""
    data = {"schema_version": 1, "queries": [str(q) for q in queries][:RECENT_KEPT]}
    return atomic_write(recent_queries_path(data_dir), json.dumps(data, indent=2) + "\n", fsync=False)
