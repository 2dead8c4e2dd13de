"""Where the suite's own trained models are cached, and how one is trained once and put in place.

The aligned image model, the sound model and the captioner (devtools.aligned, .sound, .captioner)
share this: a folder per version under $MMEXPLORER_TEST_CACHE or ~/.cache/mmexplorer-tests, a file
lock so parallel test sessions train once, and a temp folder renamed into place so a crash never
leaves a half-written model behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENV_TEST_CACHE = "MMEXPLORER_TEST_CACHE"


def cache_dir(version: str) -> Path:
    """$MMEXPLORER_TEST_CACHE/<version>, else ~/.cache/mmexplorer-tests/<version>."""
    base = os.environ.get(ENV_TEST_CACHE)
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "mmexplorer-tests"
    return root / version


def read_meta(folder: Path | str, name: str) -> dict[str, Any] | None:
    """The training record saved beside the weights (the JSON file `name`), or None."""
    try:
        return json.loads((Path(folder) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock so parallel test sessions train once, not once each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; a rare double training is harmless (atomic rename)
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_trained(target: Path, is_current: Callable[[Path], bool], train: Callable[[Path], None]) -> Path:
    """`target` once `is_current(target)`: else `train(tmp)` under the lock and rename it into place."""
    if is_current(target):
        return target
    with file_lock(target.parent / f".{target.name}.lock"):
        if is_current(target):  # another process trained it while we waited
            return target
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            train(tmp)
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
