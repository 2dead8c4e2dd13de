"""The worker bridge with a controllable stand-in engine: threads, stale results, cancel, shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fake_engine import factory

from mmexplorer import settings as settings_mod
from mmexplorer.core.types import ErrorInfo, ErrorKind, FusionWeights, ImageQuery, TextQuery
from mmexplorer.devtools.synth import make_note_library
from mmexplorer.ui.thumbs import ThumbnailLoader
from mmexplorer.worker import (
    AddRootsRequest,
    DetailRequest,
    IndexRequest,
    OpenRequest,
    SearchRequest,
    ShutdownRequest,
    Worker,
    WorkerHost,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    make_note_library(root)
    for i in range(30):
        (root / f"extra-{i:02d}.txt").write_text(f"extra note number {i}\n", encoding="utf-8")
    return root


@pytest.fixture
def host(qtbot, data_dir):
    hosts: list[WorkerHost] = []

    def make(**options) -> WorkerHost:
        h = WorkerHost(factory(**options))
        h.open(str(data_dir), image_model="tiny-random")
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        assert h.shutdown(10_000)


def test_engine_is_created_and_used_on_one_non_gui_thread(qtbot, folder):
    made_on: list[int] = []
    base = factory()

    def recording_factory(*args, **kwargs):
        made_on.append(threading.get_ident())
        return base(*args, **kwargs)

    h = WorkerHost(recording_factory)
    try:
        h.open(str(folder.parent / "data"))
        with qtbot.waitSignal(h.index_finished, timeout=10_000):
            h.add_roots([str(folder)])
        with qtbot.waitSignal(h.search_finished, timeout=10_000):
            h.search(TextQuery("marathon"))
        engine = base.engines[0]
        assert made_on and made_on[0] != threading.get_ident()
        assert engine.thread_ids == {made_on[0]}, "the engine was touched from another thread"
    finally:
        assert h.shutdown(10_000)
    assert base.engines[0].closed


@pytest.fixture
def bare_worker(qtbot):
    """A Worker on its own QThread, driven through its one envelope (no WorkerHost in between)."""
    from PySide6.QtCore import QThread

    threads: list[QThread] = []

    def make(**options) -> Worker:
        thread = QThread()
        worker = Worker(factory(**options))
        worker.moveToThread(thread)
        thread.start()
        threads.append(thread)
        return worker

    yield make
    for thread in threads:
        assert thread.wait(10_000)


def test_the_worker_answers_each_request_by_its_id(qtbot, bare_worker, folder, data_dir):
    w = bare_worker()
    answers: list[tuple[int, object]] = []
    w.finished.connect(lambda rid, payload: answers.append((rid, payload)))
    progressed: list[int] = []
    w.progressed.connect(lambda rid, _p: progressed.append(rid))
    w.submit(OpenRequest(str(data_dir), "tiny-random", request_id=1))
    w.submit(AddRootsRequest(2, (str(folder),)))
    with qtbot.waitSignal(w.finished, timeout=10_000, check_params_cb=lambda rid, _report: rid == 3) as done:
        w.submit(IndexRequest(3, None))
    assert done.args[1].added == 42 and set(progressed) == {3}
    with qtbot.waitSignal(w.finished, timeout=10_000, check_params_cb=lambda rid, _r: rid == 4) as found:
        w.submit(SearchRequest(4, TextQuery("marathon"), k=5))
    assert found.args[1] and found.args[1][0].path.endswith(".txt")
    with qtbot.waitSignal(w.failed, timeout=10_000) as failed:
        w.submit(DetailRequest(5, 10_000))  # no such item
    assert failed.args[0] == 5 and isinstance(failed.args[1], ErrorInfo)
    assert [rid for rid, _ in answers] == [1, 2, 3, 4], "an answer came for a request not made"
    w.submit(ShutdownRequest())


def test_a_newer_request_replaces_one_of_its_type_still_waiting(qtbot, bare_worker, folder, data_dir):
    w = bare_worker(search_delay=0.2)
    w.submit(OpenRequest(str(data_dir), "tiny-random", request_id=1))
    w.submit(AddRootsRequest(2, (str(folder),)))
    with qtbot.waitSignal(w.finished, timeout=10_000, check_params_cb=lambda rid, _r: rid == 3):
        w.submit(IndexRequest(3, None))
    searched: list[int] = []
    w.finished.connect(lambda rid, _results: searched.append(rid))
    for rid in range(10, 15):  # faster than a search takes: the inbox keeps the newest only
        w.submit(SearchRequest(rid, TextQuery(f"note {rid}")))
    qtbot.waitUntil(lambda: 14 in searched, timeout=10_000)
    qtbot.wait(300)
    assert searched[-1] == 14 and len(searched) < 5, searched
    w.submit(ShutdownRequest())


def test_only_the_newest_search_is_delivered(qtbot, host, folder):
    h = host(search_delay=0.15)
    with qtbot.waitSignal(h.index_finished, timeout=10_000):
        h.add_roots([str(folder)])
    got: list[int] = []
    h.search_finished.connect(lambda rid, _results: got.append(rid))
    first = h.search(TextQuery("dentist"))
    qtbot.wait(30)  # the worker is now busy with the first search
    h.search(TextQuery("marathon"))
    h.search(TextQuery("vet"))
    last = h.search(TextQuery("tax"))
    qtbot.waitUntil(lambda: last in got, timeout=10_000)
    qtbot.wait(400)
    assert got == [last], f"stale results were delivered: {got} (first was {first})"
    assert not h.search_pending
    # replaced and answered requests are not kept (a spoken query's samples would pile up)
    qtbot.waitUntil(lambda: not h._sent, timeout=5_000)


def test_cancel_works_while_the_worker_is_busy_indexing(qtbot, host, folder):
    h = host(delay_per_file=0.1)  # 42 files: about 4 s uncancelled
    progressed: list = []
    h.index_progressed.connect(progressed.append)
    with qtbot.waitSignal(h.index_finished, timeout=10_000) as finished:
        h.add_roots([str(folder)])
        qtbot.waitUntil(lambda: any(p.phase == "encoding" and p.done >= 2 for p in progressed), timeout=5_000)
        cancelled_at = time.monotonic()
        h.cancel_index()
    assert finished.args[0].cancelled
    # Measured from the click, not from the start, so a slow start on a loaded machine cannot fail it.
    assert time.monotonic() - cancelled_at < 1.5
    assert not h.indexing


def test_search_is_served_between_index_batches(qtbot, host, folder):
    h = host(delay_per_file=0.03)
    with qtbot.waitSignal(h.index_finished, timeout=10_000):
        h.add_roots([str(folder)])
    for i in range(40):
        (folder / f"late-{i:02d}.txt").write_text(f"late note {i}\n", encoding="utf-8")
    progressed: list = []
    h.index_progressed.connect(progressed.append)
    finished: list = []
    h.index_finished.connect(finished.append)
    h.index()
    qtbot.waitUntil(lambda: any(p.phase == "encoding" and p.done > 0 for p in progressed), timeout=5_000)
    with qtbot.waitSignal(h.search_finished, timeout=5_000):
        h.search(TextQuery("marathon"))
    assert not finished, "the search waited for the whole index run"
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)


def test_new_weights_are_stored_before_a_search_asked_after_them(qtbot, host, folder):
    h = host(delay_per_file=0.03)
    with qtbot.waitSignal(h.index_finished, timeout=10_000):
        h.add_roots([str(folder)])
    engine = h.worker._factory.engines[0]
    with qtbot.waitSignal(h.weights_changed, timeout=5_000) as changed:
        rid = h.set_weights(FusionWeights(text=0.3, lexical=1.7))  # out of range: clamped
        h.search(TextQuery("marathon"))
    assert changed.args == [rid, FusionWeights(text=0.3, lexical=1.0)]
    qtbot.waitUntil(lambda: not h.search_pending, timeout=5_000)
    assert engine.searches[-1][1].text == 0.3, "the search ran with the old weights"
    qtbot.waitUntil(lambda: h.status is not None and h.status.weights.text == 0.3, timeout=5_000)
    assert h.weights == FusionWeights(text=0.3)

    # during an index run too: the drain between batches applies the weights before the search
    for i in range(40):
        (folder / f"late-{i:02d}.txt").write_text(f"late note {i}\n", encoding="utf-8")
    progressed: list = []
    h.index_progressed.connect(progressed.append)
    h.index()
    qtbot.waitUntil(lambda: any(p.phase == "encoding" and p.done > 0 for p in progressed), timeout=5_000)
    with qtbot.waitSignal(h.search_finished, timeout=5_000):
        h.set_weights(FusionWeights(image=0.5))
        h.search(TextQuery("marathon"))
    assert engine.searches[-1][1] == FusionWeights(image=0.5)
    assert h.indexing, "the weights and the search waited for the whole index run"


def test_recent_queries_are_read_from_and_written_to_the_data_dir(qtbot, data_dir, tmp_path):
    library = tmp_path / "library-data"
    library.mkdir()
    settings_mod.save_recent_queries(library, ("a dog", "the budget"))
    h = WorkerHost(factory())
    try:
        with qtbot.waitSignal(h.recent_loaded, timeout=10_000) as loaded:
            h.open(str(library))
        assert loaded.args == [("a dog", "the budget")]
        h.save_recent(("a cat", "a dog", "the budget"))
        qtbot.waitUntil(
            lambda: settings_mod.load_recent_queries(library) == ("a cat", "a dog", "the budget"),
            timeout=5_000,
        )
        # a library without the file has none; a broken file is ignored, not an error
        (library / settings_mod.RECENT_QUERIES_FILE).write_text("{not json", encoding="utf-8")
        other = tmp_path / "other-data"
        other.mkdir()
        with qtbot.waitSignal(h.recent_loaded, timeout=10_000) as loaded:
            h.open(str(other))
        assert loaded.args == [()]
        assert settings_mod.load_recent_queries(library) == ()
    finally:
        assert h.shutdown(10_000)
    assert not list(data_dir.glob(settings_mod.RECENT_QUERIES_FILE)), "written outside the library"


def test_errors_come_back_as_failed_with_details(qtbot, host):
    h = host()
    with qtbot.waitSignal(h.failed, timeout=10_000) as failed:
        rid = h.search(ImageQuery(path="/no/such/image.jpg"))
    got_rid, info = failed.args
    assert got_rid == rid
    assert isinstance(info, ErrorInfo) and info.kind is ErrorKind.USAGE
    assert "no such image" in info.message
    assert info.details, "the details behind the notice's button are missing"
    assert not h.search_pending


def test_shutdown_during_indexing_cancels_and_joins(qtbot, host, folder):
    h = host(delay_per_file=0.2)
    with qtbot.waitSignal(h.index_started, timeout=10_000):
        h.add_roots([str(folder)])
    started = time.monotonic()
    assert h.shutdown(10_000)
    assert time.monotonic() - started < 2.0
    assert h.worker._factory.engines[0].closed
    assert h.shutdown()  # a second call is harmless


def test_thumbnail_loader_makes_and_caches_off_the_gui_thread(qtbot, tmp_path):
    from PIL import Image

    src = tmp_path / "pics"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (800, 600), (40 * i, 90, 160)).save(src / f"p{i}.jpg")
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    cache = tmp_path / "data" / "thumbnails"
    loader = ThumbnailLoader(cache, threads=2)
    ready: list = []
    failed: list = []
    loader.ready.connect(lambda path, side, image: ready.append((path, image.width(), image.height())))
    loader.failed.connect(lambda path, side, reason: failed.append((path, reason)))
    for p in sorted(src.iterdir()):
        loader.request(str(p), 256)
        loader.request(str(p), 256)  # de-duplicated
    qtbot.waitUntil(lambda: len(ready) + len(failed) == 4, timeout=10_000)
    assert sorted(w for _, w, _ in ready) == [256, 256, 256]
    assert all(h == 192 for _, _, h in ready)
    assert [Path(p).name for p, _ in failed] == ["bad.jpg"] and failed[0][1]
    assert len(list(cache.rglob("*.jpg"))) == 3
    assert sorted(x.name for x in src.iterdir()) == ["bad.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
    loader.wait_idle()


def test_loaded_models_are_kept_out_of_the_garbage_collectors_walks(qtbot, data_dir):
    """While a model loads no collection runs; afterwards what it made is frozen (gc.freeze), so a
    later collection on any thread does not walk it while holding the interpreter lock (measured:
    0.2-0.7 s stalls of the window). Closing the engine gives it back."""
    import gc

    seen: list[tuple[str, bool]] = []

    def engine_factory(*args, **kwargs):
        engine = factory(load_delay=0.05)(*args, **kwargs)
        report = engine.on_model_status

        def on_status(status):
            report(status)
            seen.append((status.state, gc.isenabled()))

        engine.on_model_status = on_status
        return engine

    gc.unfreeze()
    h = WorkerHost(engine_factory)
    try:
        h.open(str(data_dir), image_model="tiny-random")  # loads the models in the background
        qtbot.waitUntil(lambda: h.models_loaded, timeout=10_000)
        assert ("loading", False) in seen  # no automatic collection while the model loads
        assert gc.isenabled() and gc.get_freeze_count() > 0
        assert gc.collect() >= 0 and gc.get_freeze_count() > 0  # a full pass leaves them frozen
    finally:
        assert h.shutdown(10_000)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
