"""The indexing pipeline: discover -> diff -> decode -> encode -> commit, with progress and cancel.

The pipeline does not know modalities: each file goes to the ingest handler of its modality
(core.indexer.photo, .note, .recording), which prepares it in the decode pool and encodes batches
of it on this thread; what comes back (chunks and vectors per space) is committed the same way for
every modality.

Decoding (and JPEG draft decoding, preprocessing, hashing) runs in a thread pool that keeps a window
of files ahead of the encoder, so the model is not left waiting on the disk. Decode threads run
torch with one intra-op thread each: their tensors are small, and OpenMP teams in every decode
thread would fight the encoder's own team for the same cores. For the same reason, while a batch
is encoded on the CPU only as many decode threads run as the encoder leaves cores free (see
`DecodeGate`); on a GPU, decoding always overlaps encoding. Each encoded batch is
committed to the catalog first and then added to the in-memory FAISS index; the index is saved
atomically every few seconds and at the end. After a crash the spaces reconcile the two on the
next open (see `VectorSpace.reconcile`), so every committed file is found exactly once.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import media, modalities
from mmexplorer.core.errors import Cancelled, DecodeError, ModelUnavailableError
from mmexplorer.core.indexer.gate import (
    DecodeGate,
    decoders_while_encoding,
    init_decode_thread,
    set_torch_threads,
    torch_threads,
)
from mmexplorer.core.indexer.ingest import Ingested, IngestHandler, Prepared
from mmexplorer.core.indexer.plan import Plan, Task, plan, scan
from mmexplorer.core.modalities import IngestContext
from mmexplorer.core.names import display_path
from mmexplorer.core.spaces import Spaces
from mmexplorer.core.types import IndexReport, Modality, Progress, Space

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


@dataclass
class Decoded:
    """A file after the decode pool: prepared for its handler, or the reason it cannot be."""

    task: Task
    content_hash: str | None = None
    error: str | None = None
    prepared: Prepared | None = None
    cpu_s: float = 0.0  # CPU time the decode thread spent on this file


@dataclass
class StageTimes:
    """Where one pass spent its wall time, measured on the thread that drives it (seconds).

    `decode_wait` is the time the encoder waited for the decode pool: decoding that overlap did not
    hide. `decode_cpu` is the CPU time of decoding and preprocessing summed over the pool's threads.
    """

    scan: float = 0.0
    plan: float = 0.0
    load: float = 0.0
    decode_wait: float = 0.0
    encode: float = 0.0
    commit: float = 0.0
    save: float = 0.0
    total: float = 0.0
    decode_cpu: float = 0.0
    decoded: int = 0

    def other(self) -> float:
        """Time not in any stage: progress callbacks, skips, the loop itself."""
        staged = self.scan + self.plan + self.load + self.decode_wait + self.encode + self.commit + self.save
        return max(0.0, self.total - staged)


def default_handlers(spaces: Spaces, context: IngestContext | None = None) -> dict[Modality, IngestHandler]:
    """One handler per registered modality (core.modalities), fed by the library's spaces."""
    return modalities.default_handlers(spaces, context)


class Indexer:
    """Runs one index pass over a library's catalog and spaces.

    Args:
        catalog: the library's catalog (rows, chunks, skip reasons).
        spaces: the library's vector spaces (encoders and indexes).
        handlers: the ingest handler of each modality (default: `default_handlers(spaces)`).
        exclude: folders never walked (the app's data dir).
        batch_size: files per encoder batch.
        workers: decode threads.
        save_every_s: how often the indexes are saved during a long run.
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        spaces: Spaces,
        *,
        handlers: Mapping[Modality, IngestHandler] | None = None,
        exclude: Sequence[Path] = (),
        batch_size: int = 32,
        workers: int | None = None,
        save_every_s: float = 20.0,
    ) -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.handlers = dict(handlers) if handlers is not None else default_handlers(spaces)
        self.exclude = list(exclude)
        self.batch_size = batch_size
        self.workers = workers or max(2, min(8, (os.cpu_count() or 2)))
        self.save_every_s = save_every_s
        self.times = StageTimes()
        self._gate = DecodeGate(self.workers)
        self._overlap: dict[Modality, int | None] = {}  # decode threads allowed while a handler encodes

    # -- the pass ---------------------------------------------------------------------------
    def run(
        self, roots: Sequence[str], *, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> IndexReport:
        started = time.monotonic()
        times = self.times = StageTimes()
        emit = progress or (lambda _p: None)
        is_cancelled = cancel or (lambda: False)
        emit(Progress("scanning", 0, 0))
        found: list[Task] = []
        try:
            for task in scan(roots, exclude=self.exclude, cancel=is_cancelled):
                found.append(task)
                if len(found) % 500 == 0:
                    emit(Progress("scanning", len(found), 0, current=task.path))
        except Cancelled:
            return IndexReport(cancelled=True, elapsed_s=time.monotonic() - started)
        times.scan = time.monotonic() - started

        mark = time.monotonic()
        known = self.catalog.items_under(roots)
        the_plan = plan(found, known, [r for r in roots if os.path.isdir(r)])
        self._apply_moves_and_deletes(the_plan)
        times.plan = time.monotonic() - mark

        mark = time.monotonic()
        work, waiting, notice = self._load_handlers(the_plan.work)
        times.load = time.monotonic() - mark

        total = len(work)
        counts = {"added": 0, "updated": 0, "skipped": 0, "encoded": 0}
        done = 0
        cancelled = False
        t0 = time.monotonic()
        last_save = t0
        emit(Progress("encoding", 0, total))
        batches: dict[Modality, list[Decoded]] = defaultdict(list)

        def tick(current: str) -> None:
            elapsed = max(1e-6, time.monotonic() - t0)
            rate = done / elapsed
            emit(
                Progress(
                    "encoding",
                    done,
                    total,
                    current=current,
                    rate=rate,
                    eta_s=(total - done) / rate if rate > 0 else None,
                    skipped=counts["skipped"],
                )
            )

        def detail(current: str, what: str) -> None:  # a handler's news about a long file
            elapsed = max(1e-6, time.monotonic() - t0)
            emit(Progress("encoding", done, total, current=current, rate=done / elapsed, skipped=counts["skipped"],
                          detail=what))

        for handler in self.handlers.values():
            if hasattr(handler, "on_detail"):
                handler.on_detail = detail

        def flush(modality: Modality) -> None:
            nonlocal done
            batch = batches[modality]
            if not batch:
                return
            for d, outcome in zip(batch, self._ingest(modality, batch)):
                if outcome is None:
                    counts["skipped"] += 1
                    continue
                counts["updated" if d.task.path in the_plan.updated_paths else "added"] += 1
                counts["encoded"] += outcome.encoded
            done += len(batch)
            current = batch[-1].task.path
            batch.clear()
            tick(current)

        def flush_all() -> None:
            for modality in list(batches):
                flush(modality)

        try:
            for decoded in self._decode_stream(work, is_cancelled):
                if decoded.error is not None:
                    self._commit_skip(decoded)
                    counts["skipped"] += 1
                    done += 1
                    tick(decoded.task.path)
                    continue
                batch = batches[decoded.task.modality]
                batch.append(decoded)
                if len(batch) >= self.batch_size:
                    flush(decoded.task.modality)
                if time.monotonic() - last_save > self.save_every_s:
                    self._save()
                    last_save = time.monotonic()
            flush_all()
        except Cancelled:
            cancelled = True
            flush_all()  # what is already decoded is committed: nothing done is thrown away
        finally:
            self._save()

        report = IndexReport(
            added=counts["added"],
            updated=counts["updated"],
            moved=len(the_plan.moved),
            removed=len(the_plan.deleted),
            skipped=counts["skipped"],
            unchanged=the_plan.unchanged,
            cancelled=cancelled,
            elapsed_s=time.monotonic() - started,
            encoded=counts["encoded"],
            waiting=len(waiting),
            notice=notice,
        )
        emit(Progress("done", done, total, rate=done / max(1e-6, time.monotonic() - t0), skipped=counts["skipped"]))
        times.total = time.monotonic() - started
        log.info("index pass over %s: %s; %s", roots, report, times)
        return report

    def _load_handlers(self, work: list[Task]) -> tuple[list[Task], list[Task], str]:
        """Load the encoders the work needs; a modality whose model is missing waits, visibly."""
        needed = dict.fromkeys(t.modality for t in work)
        unavailable: set[Modality] = set()
        notices: list[str] = []
        for modality in needed:
            try:
                self.handlers[modality].load()
            except ModelUnavailableError as e:
                unavailable.add(modality)
                notices.append(str(e))
        waiting = [t for t in work if t.modality in unavailable]
        if waiting:
            self._commit_waiting(waiting, notices[0])
        return [t for t in work if t.modality not in unavailable], waiting, "; ".join(notices)

    def _save(self) -> None:
        mark = time.monotonic()
        self.spaces.save()
        self.times.save += time.monotonic() - mark

    # -- decode -----------------------------------------------------------------------------
    def _decode_stream(self, work: list[Task], is_cancelled: CancelFn) -> Iterator[Decoded]:
        """Decode files in a pool, a window ahead of the consumer, yielding in order."""
        if not work:
            return
        window = max(self.batch_size * 3, self.workers * 4)
        times = self.times
        # The decode threads each set torch to one intra-op thread, which also changes the default
        # that threads created later start with; the thread count is restored when the pool is done.
        saved_threads = torch_threads()
        self._gate = gate = DecodeGate(self.workers)
        for modality in dict.fromkeys(t.modality for t in work):
            device = self.handlers[modality].device
            if device is not None:
                self._overlap[modality] = decoders_while_encoding(device, saved_threads)
        handlers = self.handlers
        try:
            with ThreadPoolExecutor(
                self.workers, thread_name_prefix="mmx-decode", initializer=init_decode_thread
            ) as pool:
                pending: list[Future[Decoded]] = []
                it = iter(work)
                try:
                    for task in it:
                        pending.append(pool.submit(_decode, task, handlers[task.modality], gate))
                        if len(pending) >= window:
                            break
                    while pending:
                        if is_cancelled():
                            raise Cancelled("cancelled")
                        mark = time.monotonic()
                        decoded = pending.pop(0).result()
                        times.decode_wait += time.monotonic() - mark
                        times.decode_cpu += decoded.cpu_s
                        times.decoded += 1
                        nxt = next(it, None)
                        if nxt is not None:
                            pending.append(pool.submit(_decode, nxt, handlers[nxt.modality], gate))
                        yield decoded
                finally:
                    for f in pending:
                        f.cancel()
        finally:
            if saved_threads is not None:
                set_torch_threads(saved_threads)

    # -- encode + commit ----------------------------------------------------------------------
    def _ingest(self, modality: Modality, batch: list[Decoded]) -> list[Ingested | None]:
        """Encode a batch with its handler and commit it; None for a file that was skipped instead.

        One file never fails the run: a batch whose encoding raises (anything but a missing model
        or a cancel) is encoded again file by file, and the file that still fails is skipped with
        the reason; a file whose catalog write fails is rolled back and skipped, the others kept.
        """
        try:
            outcomes = self._encode(modality, batch)
        except (ModelUnavailableError, Cancelled):
            raise
        except Exception as e:
            if len(batch) > 1:
                log.warning(
                    "encoding a batch of %d %ss failed (%s: %s); encoding them one by one",
                    len(batch), modality.value, type(e).__name__, e,
                )
                return [outcome for d in batch for outcome in self._ingest(modality, [d])]
            (d,) = batch
            log.warning("cannot encode %s: %s: %s", display_path(d.task.path), type(e).__name__, e, exc_info=True)
            d.error = f"cannot encode: {_reason(e)}"
            self._commit_skip(d)
            return [None]
        return self._commit(batch, outcomes)

    def _encode(self, modality: Modality, batch: list[Decoded]) -> list[Ingested]:
        mark = time.monotonic()
        prepared = [d.prepared or Prepared() for d in batch]
        try:
            with self._gate.limited(self._overlap.get(modality)):
                outcomes = list(self.handlers[modality].ingest(prepared))
        finally:
            self.times.encode += time.monotonic() - mark
        if len(outcomes) != len(batch):
            raise RuntimeError(f"the {modality.value} handler returned {len(outcomes)} results for {len(batch)} files")
        return outcomes

    def _commit(self, batch: list[Decoded], outcomes: list[Ingested]) -> list[Ingested | None]:
        """Write the batch's rows and chunks in one transaction, then add its vectors to the indexes.

        If the transaction fails, it is rolled back and each file is written in its own; a file
        that still fails is recorded as skipped with the reason.
        """
        mark = time.monotonic()
        removals: list[tuple[str, int]] = []
        additions: dict[Space, tuple[list[int], list[np.ndarray]]] = defaultdict(lambda: ([], []))
        results: list[Ingested | None] = list(outcomes)
        try:
            with self.catalog.transaction():
                for d, outcome in zip(batch, outcomes):
                    self._write(d, outcome, removals, additions)
        except Exception as e:  # noqa: BLE001 - find the file that fails, keep the others
            removals.clear()
            additions.clear()
            if len(batch) > 1:
                log.warning("committing a batch of %d files failed (%s); committing them one by one", len(batch), e)
            for i, (d, outcome) in enumerate(zip(batch, outcomes)):
                mine: list[tuple[str, int]] = []
                added: dict[Space, tuple[list[int], list[np.ndarray]]] = defaultdict(lambda: ([], []))
                try:
                    with self.catalog.transaction():
                        self._write(d, outcome, mine, added)
                except Exception as one:  # noqa: BLE001
                    log.warning("cannot record %s in the catalog: %s: %s", display_path(d.task.path),
                                type(one).__name__, one)
                    d.error = f"cannot record in the catalog: {_reason(one)}"
                    self._commit_skip(d)
                    results[i] = None
                    continue
                removals += mine
                for space, (ids, vectors) in added.items():
                    additions[space][0].extend(ids)
                    additions[space][1].extend(vectors)
        self.spaces.remove_vectors(removals)
        for space, (ids, vectors) in additions.items():
            if ids:
                self.spaces[space].writable_index().add(np.asarray(ids, dtype=np.int64), np.vstack(vectors))
        self.times.commit += time.monotonic() - mark
        return results

    def _write(
        self,
        d: Decoded,
        outcome: Ingested,
        removals: list[tuple[str, int]],
        additions: dict[Space, tuple[list[int], list[np.ndarray]]],
    ) -> None:
        """One file's row and chunks (inside the caller's transaction); its vectors go to `additions`."""
        fields = d.prepared.fields if d.prepared else {}
        item_id = self._record(d.task, outcome.status, content_hash=d.content_hash, error=outcome.error, **fields)
        had = {space for space, _vid in self.catalog.chunk_ids_of([item_id])}
        for space in had - {s.value for s in outcome.chunks}:
            old, _ = self.catalog.replace_chunks(item_id, space, [])
            removals += [(space, i) for i in old]
        for space, chunks in outcome.chunks.items():
            vectors = np.asarray(outcome.vectors[space])
            if vectors.ndim != 2 or len(vectors) != len(chunks):
                raise ValueError(f"{len(chunks)} chunks but {vectors.shape} vectors in the {space.value} space")
            old, new = self.catalog.replace_chunks(item_id, space.value, chunks)
            removals += [(space.value, i) for i in old]
            ids, rows = additions[space]
            ids += new
            rows.append(vectors)

    def _commit_skip(self, d: Decoded) -> None:
        """Record a file as skipped with its reason; if even that fails, log it and go on."""
        try:
            with self.catalog.transaction():
                item_id = self._record(d.task, cat.SKIPPED, content_hash=d.content_hash, error=d.error)
                removals = self.catalog.drop_chunks(item_id)
        except Exception as e:  # noqa: BLE001 - one file must not fail the run
            log.error("cannot record %s as skipped (%s): %s: %s", display_path(d.task.path), d.error,
                      type(e).__name__, e)
            return
        self.spaces.remove_vectors(removals)

    def _commit_waiting(self, tasks: list[Task], reason: str) -> None:
        try:
            with self.catalog.transaction():
                for t in tasks:
                    self._record(t, cat.PENDING, error=reason)
        except Exception as e:  # noqa: BLE001 - one by one, so one bad row costs only itself
            log.warning("marking %d files as waiting failed (%s); marking them one by one", len(tasks), e)
            for t in tasks:
                try:
                    with self.catalog.transaction():
                        self._record(t, cat.PENDING, error=reason)
                except Exception as one:  # noqa: BLE001
                    log.error("cannot record %s as waiting: %s: %s", display_path(t.path), type(one).__name__, one)

    def _record(self, task: Task, status: str, **fields: Any) -> int:
        """Write a file's catalog row as of this run (inside the caller's transaction)."""
        return self.catalog.upsert_item(
            task.path, modality=task.modality.value, size=task.size, mtime_ns=task.mtime_ns, status=status, **fields
        )

    def _apply_moves_and_deletes(self, the_plan: Plan) -> None:
        if not the_plan.moved and not the_plan.deleted:
            return
        with self.catalog.transaction():
            for item_id, task in the_plan.moved:
                self.catalog.move_item(item_id, task.path, size=task.size, mtime_ns=task.mtime_ns)
            removals = self.catalog.delete_items(the_plan.deleted)
        self.spaces.remove_vectors(removals)
        self.spaces.save()


def _decode(task: Task, handler: IngestHandler, gate: DecodeGate) -> Decoded:
    """Runs in the decode pool: read, check and prepare one file; never raises for a bad file."""
    with gate.slot():
        return _decode_one(task, handler)


def _decode_one(task: Task, handler: IngestHandler) -> Decoded:
    out = Decoded(task)
    path = Path(task.path)
    started = time.thread_time()
    try:
        out.content_hash = media.content_hash(path)
        out.prepared = handler.prepare(path)
    except DecodeError as e:
        out.error = e.reason
    except (PermissionError, FileNotFoundError, IsADirectoryError) as e:
        out.error = f"cannot read file: {e.strerror or e}"
    except OSError as e:  # raised by a decoder (PIL), not by the file system: the content is bad
        out.error = f"truncated or corrupt file: {e.strerror or e}"
    except ModelUnavailableError:
        raise
    except Exception as e:  # a decoder bug must cost one file, not the run
        log.exception("unexpected error decoding %s", path)
        out.error = f"unexpected error: {type(e).__name__}: {e}"
    out.cpu_s = time.thread_time() - started
    return out


def _reason(e: BaseException) -> str:
    """One line a person can read, for the skipped list."""
    text = " ".join(str(e).split()) or "no details"
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(e).__name__}: {text}"
