"""What an index run must do: walk the roots, then diff what is there against the catalog."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmexplorer.core import catalog as cat
from mmexplorer.core import media
from mmexplorer.core.errors import Cancelled
from mmexplorer.core.types import Modality

log = logging.getLogger(__name__)

CancelFn = Callable[[], bool]


@dataclass
class Task:
    path: str
    modality: Modality
    size: int
    mtime_ns: int


@dataclass
class Plan:
    """What a run must do, from comparing the folders with the catalog."""

    work: list[Task] = field(default_factory=list)
    unchanged: int = 0
    moved: list[tuple[int, Task]] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    updated_paths: set[str] = field(default_factory=set)


def scan(roots: Sequence[str], *, exclude: Sequence[Path], cancel: CancelFn | None = None) -> Iterator[Task]:
    """Walk the roots and yield every file we handle, with its size and mtime."""
    for path in media.walk([Path(r) for r in roots], exclude=exclude):
        if cancel is not None and cancel():
            raise Cancelled("cancelled while scanning")
        try:
            modality = media.classify(path)
            if modality is None:
                continue
            st = path.stat()
        except OSError as e:
            log.warning("cannot stat %s: %s", path, e)
            continue
        yield Task(str(path), modality, st.st_size, st.st_mtime_ns)


def plan(found: list[Task], known: dict[str, cat.ItemRow], existing_roots: Sequence[str]) -> Plan:
    """Diff the files found against the catalog: new, changed, moved, deleted, unchanged."""
    p = Plan()
    seen: set[str] = set()
    fresh: list[Task] = []
    for task in found:
        seen.add(task.path)
        row = known.get(task.path)
        if row is None:
            fresh.append(task)
        elif (
            row.size == task.size
            and row.mtime_ns == task.mtime_ns
            and row.status in (cat.INDEXED, cat.SKIPPED, cat.UNSUPPORTED)
        ):
            p.unchanged += 1
        else:
            p.work.append(task)
            p.updated_paths.add(task.path)
    # Items whose file is gone. A root that is missing entirely (an unplugged drive) keeps its items.
    live = [r.rstrip(os.sep) + os.sep for r in existing_roots]
    missing = [
        row for path, row in known.items() if path not in seen and any(path.startswith(r) for r in live)
    ]
    # A new path whose content equals a missing item's content is that item, moved or renamed.
    by_size: dict[int, list[cat.ItemRow]] = defaultdict(list)
    for row in missing:
        if row.status == cat.INDEXED and row.content_hash:
            by_size[row.size].append(row)
    claimed: set[int] = set()
    for task in fresh:
        candidates = [r for r in by_size.get(task.size, ()) if r.id not in claimed]
        match = None
        if candidates:
            try:
                digest = media.content_hash(Path(task.path))
            except OSError:
                digest = None
            match = next((r for r in candidates if r.content_hash == digest), None)
        if match is not None:
            claimed.add(match.id)
            p.moved.append((match.id, task))
        else:
            p.work.append(task)
    p.deleted = [row.id for row in missing if row.id not in claimed]
    return p
