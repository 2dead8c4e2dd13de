"""Where exports live and how one is known to be current: a folder per model and versions, meta.json
with each graph's size and time as checked, a lock per folder, and checkpoint digests remembered."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmexplorer.core.fsutil import atomic_write
from mmexplorer.core.models.onnx.config import ENV_CACHE, EXPORT_VERSION

log = logging.getLogger(__name__)

META = "meta.json"


def cache_root() -> Path:
    """Where exported graphs live: $MMEXPLORER_ONNX_CACHE, else <user cache dir>/onnx."""
    value = os.environ.get(ENV_CACHE)
    if value:
        return Path(value).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mmexplorer", appauthor=False)) / "onnx"


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """What an export depends on: the exporter (torch), the runtime and this package's format."""
    return {"torch": _dist_version("torch"), "onnxruntime": _dist_version("onnxruntime"), "export": EXPORT_VERSION}


def export_dir(model_id: str, *, root: Path | None = None) -> Path:
    """The folder of a model's graphs: keyed by model id and `versions()`."""
    key = json.dumps({"model_id": model_id, **versions()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in model_id)[:60]
    return (root or cache_root()) / f"{safe}-{digest}"


def file_stamp(path: Path) -> dict[str, int]:
    """Size and modification time: what meta.json records of each file it vouches for."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_meta(folder: Path, model_id: str) -> dict[str, Any] | None:
    """A folder's meta.json if it is current and every graph it names is unchanged; else None."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("ONNX export %s is unreadable (%s): it will be exported again", folder, e)
        return None
    if meta.get("model_id") != model_id or meta.get("versions") != versions():
        return None
    for part in meta.get("graphs", {}).values():
        path = folder / part["file"]
        try:
            stamp = file_stamp(path)
        except OSError:
            stamp = None
        if stamp != part.get("stamp"):
            log.warning("ONNX graph %s is missing or changed since it was checked: it will be exported again", path)
            return None
    return meta


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Stamp every graph meta.json names and write it (atomically)."""
    for part in meta.get("graphs", {}).values():
        part["stamp"] = file_stamp(folder / part["file"])
    atomic_write(folder / META, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))


def write_refusal(folder: Path, model_id: str, reason: str) -> None:
    """Remember that a model cannot be exported, so later runs do not export again to find the same answer."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_meta(folder, {"model_id": model_id, "versions": versions(), "graphs": {}, "refused": reason})


def remember_choice(folder: Path, device_key: str, choice: dict[str, Any]) -> None:
    """Store the measured backend for a requested device in the export's meta.json."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    meta.setdefault("choice", {})[device_key] = choice
    atomic_write(folder / META, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One exporter per folder across processes (a second waits, then finds the export made)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    with open(lock, "a+b") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # Windows: one process at a time is the user's case anyway
            pass
        yield


def cached_sha256(path: Path) -> str:
    """A checkpoint's SHA-256, remembered across processes by (path, size, mtime) in the cache root."""
    st = path.stat()
    key = hashlib.sha256(f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:24]
    memo = cache_root() / "digests" / key
    try:
        value = memo.read_text(encoding="ascii").strip()
        if len(value) == 64:
            return value
    except OSError:
        pass
    from mmexplorer.core.models.weights import sha256_file

    value = sha256_file(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(memo, value.encode("ascii"))
    except OSError:
        pass
    return value
