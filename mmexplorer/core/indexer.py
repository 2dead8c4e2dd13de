"""The indexing pipeline: discover -> diff -> decode -> encode -> commit, with progress and cancel.

Decoding (and JPEG draft decoding, preprocessing, hashing) runs in a thread pool that keeps a window
of files ahead of the encoder, so the model is not left waiting on the disk. Decode threads run
torch with one intra-op thread each: their tensors are small, and OpenMP teams in every decode
thread would fight the encoder's own team for the same cores. For the same reason, while a batch
is encoded on the CPU only as many decode threads run as the encoder leaves cores free (see
`DecodeGate`); on a GPU, decoding always overlaps encoding. Each encoded batch is
committed to the catalog first and then added to the in-memory FAISS index; the index is saved
atomically every few seconds and at the end. After a crash the engine reconciles the two on the
next open (see `Engine._reconcile`), so every committed file is found exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmexplorer.core import catalog as cat
from mmexplorer.core import media
from mmexplorer.core.errors import Cancelled, DecodeError, ModelUnavailableError
from mmexplorer.core.types import Chunk, IndexReport, Modality, Progress

if TYPE_CHECKING:
    from mmexplorer.core.engine import Engine

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]

UNSUPPORTED_RECORDING = "recordings are catalogued; searching by sound or speech is not built yet"


@dataclass
class Task:
    path: str
    modality: Modality
    size: int
    mtime_ns: int


@dataclass
class Decoded:
    task: Task
    content_hash: str | None = None
    error: str | None = None
    tensor: Any = None  # a preprocessed image tensor
    text: str | None = None  # a note's full text
    width: int | None = None
    height: int | None = None
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


class DecodeGate:
    """How many decode threads may work at once: all of them, fewer while the model encodes on the CPU.

    torch runs the encoder on an OpenMP team with a thread per core and spinning barriers. When that
    team has every core there is no idle core to hide decoding on: a decode thread can only run by
    preempting a member, and the others then spin at the next barrier. On the shared 2-core dev
    machine under load, overlapping cost ~17 ms of CPU per photo for ~11 ms of decoding; on a quiet
    one it was no faster than taking turns. So while a batch is encoded on the CPU, only as many
    decode threads run as there are cores the team leaves free (none when it has them all, several
    on SMT machines, where torch takes one thread per physical core); between batches, and whenever
    the encoder waits for photos, every decode thread works.
    """

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._normal = self._limit = max(1, limit)
        self._active = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Held by a decode thread for one file."""
        with self._cond:
            while self._active >= self._limit:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def limited(self, limit: int | None) -> Iterator[None]:
        """Allow at most `limit` decode threads while the block runs (None: no change)."""
        if limit is None or limit >= self._normal:
            yield
            return
        with self._cond:
            self._limit = limit
        try:
            yield
        finally:
            with self._cond:
                self._limit = self._normal
                self._cond.notify_all()


def decoders_while_encoding(device: str, encoder_threads: int | None) -> int | None:
    """How many decode threads may overlap a CPU encode: the cores torch's team leaves free.

    None (no limit) when the model runs on an accelerator, which leaves the CPU to decoding.
    """
    if not device.startswith("cpu"):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, cores - (encoder_threads or cores))


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


class Indexer:
    """Runs one index pass for an `Engine` (which owns the catalog, indexes and encoders)."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 32,
        workers: int | None = None,
        save_every_s: float = 20.0,
    ) -> None:
        self.engine = engine
        self.catalog = engine.catalog
        self.batch_size = batch_size
        self.workers = workers or max(2, min(8, (os.cpu_count() or 2)))
        self.save_every_s = save_every_s
        self.times = StageTimes()
        self._gate = DecodeGate(self.workers)
        self._overlap: dict[str, int | None] = {}  # per space: decode threads allowed while encoding

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
            for task in scan(roots, exclude=[self.engine.data_dir], cancel=is_cancelled):
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

        work = the_plan.work
        waiting: list[Task] = []
        notice = ""
        if any(t.modality is Modality.PHOTO for t in work):
            mark = time.monotonic()
            try:
                self.engine.image_encoder()
            except ModelUnavailableError as e:
                # Notes can still be indexed; photos wait, visibly, for their model.
                waiting = [t for t in work if t.modality is Modality.PHOTO]
                work = [t for t in work if t.modality is not Modality.PHOTO]
                notice = str(e)
                self._commit_waiting(waiting, notice)
            times.load = time.monotonic() - mark
        total = len(work)
        counts = {"added": 0, "updated": 0, "skipped": 0, "encoded": 0}
        done = 0
        cancelled = False
        t0 = time.monotonic()
        last_save = t0
        emit(Progress("encoding", 0, total))

        photos: list[Decoded] = []
        notes: list[Decoded] = []

        def flush(batch: list[Decoded], kind: str) -> None:
            nonlocal done
            if not batch:
                return
            if kind == "photo":
                results = self._commit_photos(batch)
            else:
                results = self._commit_notes(batch)
            for d, ok in zip(batch, results):
                key = "updated" if d.task.path in the_plan.updated_paths else "added"
                if ok:
                    counts[key] += 1
                    counts["encoded"] += 1
                else:
                    counts["skipped"] += 1
            done += len(batch)
            current = batch[-1].task.path
            batch.clear()
            tick(current)

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

        try:
            for decoded in self._decode_stream(work, is_cancelled):
                if decoded.error is not None:
                    self._commit_skip(decoded)
                    counts["skipped"] += 1
                    done += 1
                    tick(decoded.task.path)
                    continue
                if decoded.task.modality is Modality.RECORDING:
                    self._commit_recording(decoded)
                    counts["added"] += 1
                    done += 1
                    tick(decoded.task.path)
                    continue
                target = photos if decoded.task.modality is Modality.PHOTO else notes
                target.append(decoded)
                if len(target) >= self.batch_size:
                    flush(target, decoded.task.modality.value)
                if time.monotonic() - last_save > self.save_every_s:
                    self._save()
                    last_save = time.monotonic()
            flush(photos, "photo")
            flush(notes, "note")
        except Cancelled:
            cancelled = True
            # What is already decoded is committed: nothing done is thrown away.
            flush(photos, "photo")
            flush(notes, "note")
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

    def _save(self) -> None:
        mark = time.monotonic()
        self.engine.save_indexes()
        self.times.save += time.monotonic() - mark

    # -- decode -----------------------------------------------------------------------------
    def _decode_stream(self, work: list[Task], is_cancelled: CancelFn) -> Iterator[Decoded]:
        """Decode files in a pool, a window ahead of the consumer, yielding in order."""
        if not work:
            return
        needs_image = any(t.modality is Modality.PHOTO for t in work)
        image_encoder = self.engine.image_encoder() if needs_image else None
        window = max(self.batch_size * 3, self.workers * 4)
        times = self.times
        # The decode threads each set torch to one intra-op thread, which also changes the default
        # that threads created later start with; the thread count is restored when the pool is done.
        saved_threads = _torch_threads()
        self._gate = gate = DecodeGate(self.workers)
        if image_encoder is not None:
            self._overlap["image"] = decoders_while_encoding(image_encoder.device, saved_threads)
        try:
            with ThreadPoolExecutor(
                self.workers, thread_name_prefix="mmx-decode", initializer=_init_decode_thread
            ) as pool:
                pending: list[Future[Decoded]] = []
                it = iter(work)
                try:
                    for task in it:
                        pending.append(pool.submit(_decode, task, image_encoder, gate))
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
                            pending.append(pool.submit(_decode, nxt, image_encoder, gate))
                        yield decoded
                finally:
                    for f in pending:
                        f.cancel()
        finally:
            if saved_threads is not None:
                _set_torch_threads(saved_threads)

    # -- commit -----------------------------------------------------------------------------
    def _commit_photos(self, batch: list[Decoded]) -> list[bool]:
        import torch

        encoder = self.engine.image_encoder()
        mark = time.monotonic()
        with self._gate.limited(self._overlap.get("image")):
            vectors = encoder.encode_image_tensors(torch.stack([d.tensor for d in batch]))
        self.times.encode += time.monotonic() - mark
        mark = time.monotonic()
        index = self.engine.space_index("image", encoder.dim)
        removals: list[tuple[str, int]] = []
        new_ids: list[int] = []
        with self.catalog.transaction():
            for d in batch:
                item_id = self._record(
                    d.task, cat.INDEXED, content_hash=d.content_hash, width=d.width, height=d.height
                )
                removals += [("text", i) for _s, i in self.catalog.chunk_ids_of([item_id]) if _s == "text"]
                old, new = self.catalog.replace_chunks(item_id, "image", [None])
                removals += [("image", i) for i in old]
                new_ids += new
        self.engine.remove_vectors(removals)
        index.add(np.asarray(new_ids, dtype=np.int64), vectors)
        self.times.commit += time.monotonic() - mark
        return [True] * len(batch)

    def _commit_notes(self, batch: list[Decoded]) -> list[bool]:
        encoder = self.engine.text_encoder()
        mark = time.monotonic()
        chunked: list[list[Chunk]] = [
            media.chunk_text(d.text or "", max_tokens=encoder.max_tokens, count_tokens=encoder.count_tokens)
            for d in batch
        ]
        flat = [c.text for chunks in chunked for c in chunks]
        if "text" not in self._overlap:
            self._overlap["text"] = decoders_while_encoding(str(encoder.device), _torch_threads())
        with self._gate.limited(self._overlap["text"]):
            vectors = encoder.encode(flat) if flat else np.zeros((0, encoder.dim), np.float32)
        self.times.encode += time.monotonic() - mark
        mark = time.monotonic()
        index = self.engine.space_index("text", encoder.dim)
        removals: list[tuple[str, int]] = []
        new_ids: list[int] = []
        with self.catalog.transaction():
            for d, chunks in zip(batch, chunked):
                item_id = self._record(d.task, cat.INDEXED, content_hash=d.content_hash)
                old, new = self.catalog.replace_chunks(item_id, "text", chunks)
                removals += [("text", i) for i in old]
                new_ids += new
        self.engine.remove_vectors(removals)
        index.add(np.asarray(new_ids, dtype=np.int64), vectors)
        self.times.commit += time.monotonic() - mark
        return [True] * len(batch)

    def _commit_skip(self, d: Decoded) -> None:
        with self.catalog.transaction():
            item_id = self._record(d.task, cat.SKIPPED, content_hash=d.content_hash, error=d.error)
            removals = self.catalog.drop_chunks(item_id)
        self.engine.remove_vectors(removals)

    def _commit_waiting(self, tasks: list[Task], reason: str) -> None:
        with self.catalog.transaction():
            for t in tasks:
                self._record(t, cat.PENDING, error=reason)

    def _record(self, task: Task, status: str, **fields: Any) -> int:
        """Write a file's catalog row as of this run (inside the caller's transaction)."""
        return self.catalog.upsert_item(
            task.path, modality=task.modality.value, size=task.size, mtime_ns=task.mtime_ns, status=status, **fields
        )

    def _commit_recording(self, d: Decoded) -> None:
        with self.catalog.transaction():
            self._record(d.task, cat.UNSUPPORTED, content_hash=d.content_hash, error=UNSUPPORTED_RECORDING)

    def _apply_moves_and_deletes(self, the_plan: Plan) -> None:
        if not the_plan.moved and not the_plan.deleted:
            return
        with self.catalog.transaction():
            for item_id, task in the_plan.moved:
                self.catalog.move_item(item_id, task.path, size=task.size, mtime_ns=task.mtime_ns)
            removals = self.catalog.delete_items(the_plan.deleted)
        self.engine.remove_vectors(removals)
        self.engine.save_indexes()


_JPEG_MAGIC = b"\xff\xd8\xff"  # JPEG and MPO: the only formats load_image draft-decodes


def _torch_threads() -> int | None:
    """This thread's torch intra-op thread count, or None when torch is not imported."""
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


def _set_torch_threads(n: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def _init_decode_thread() -> None:
    """Give a decode thread one torch intra-op thread (to-tensor and normalise on one image).

    With torch's OpenMP backend the count is per thread, so the encoder's thread keeps its own.
    torch reads the process default lazily, once per thread; asking for it first makes sure that
    lazy read cannot later undo the setting.
    """
    if _torch_threads() is not None:
        _set_torch_threads(1)


def _displayed_size(path: Path, image: Any) -> tuple[int, int]:
    """Width and height of the photo as displayed, given its decoded image.

    A JPEG may have been draft-decoded at a reduced scale, so its size comes from the header; any
    other format was decoded at full size with its EXIF orientation applied, which is exactly what
    `media.image_dimensions` would report (for PNG that call decodes the whole file a second time,
    because the EXIF chunk may follow the pixels).
    """
    with open(path, "rb") as f:
        head = f.read(len(_JPEG_MAGIC))
    if head == _JPEG_MAGIC:
        return media.image_dimensions(path)
    return image.size


def _reduce_for_model(image: Any, side: int) -> Any:
    """Shrink a decoded image by an integer box filter while it stays >= 2x the model's input side.

    The model's bicubic resize then works on a small image: what JPEG draft decoding does for JPEGs,
    and what PIL's `reducing_gap=2` does, with results indistinguishable from a full-size resample.
    """
    factor = min(image.size) // (2 * side)
    return image.reduce(factor) if factor >= 2 else image


def _decode(task: Task, image_encoder: Any, gate: DecodeGate) -> Decoded:
    """Runs in the decode pool: read, check and prepare one file; never raises for a bad file."""
    with gate.slot():
        return _decode_one(task, image_encoder)


def _decode_one(task: Task, image_encoder: Any) -> Decoded:
    out = Decoded(task)
    path = Path(task.path)
    started = time.thread_time()
    try:
        out.content_hash = media.content_hash(path)
        if task.modality is Modality.PHOTO:
            image = media.load_image(path, min_side=image_encoder.image_size)
            out.width, out.height = _displayed_size(path, image)
            out.tensor = image_encoder.preprocess(_reduce_for_model(image, image_encoder.image_size))
        elif task.modality is Modality.NOTE:
            out.text = media.read_note(path)
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
