"""One writer per library: the data dir's write lock, held only while writing.

(Two real processes are in tests/integration/test_cli_robustness.py.)"""

from __future__ import annotations

import logging
import os
import threading

import pytest

from mmexplorer.core.engine import Engine
from mmexplorer.core.errors import LibraryBusyError, error_info
from mmexplorer.core.lock import CHECKING, LibraryLock
from mmexplorer.core.types import ErrorKind
from mmexplorer.devtools import synth


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    synth.make_photo_library(root, n=3, seed=5, size=(48, 48))
    return root


def test_a_second_writer_is_refused_naming_the_holder_and_readers_keep_working(lib, tmp_path):
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as first, Engine(data, image_model="tiny-random") as second:
        first.index([str(lib)])
        assert not first.write_lock.held  # held only while writing, not for the Engine's life
        first.write_lock.acquire()
        try:
            for write in (lambda: second.index(), lambda: second.add_roots([str(lib)]),
                          lambda: second.remove_root(str(lib))):
                with pytest.raises(LibraryBusyError) as busy:
                    write()
                assert busy.value.pid == os.getpid()
                assert str(busy.value).startswith(f"library busy: indexing by PID {os.getpid()}")
                assert error_info(busy.value).kind is ErrorKind.BUSY
            assert second.status().counts["photo"] == 3  # reading needs no lock
            assert len(second.catalog.items_under([str(lib)])) == 3
        finally:
            first.write_lock.release()
        assert second.index().unchanged == 3


def test_a_writer_with_a_timeout_waits_for_the_holder_and_says_so(lib, tmp_path):
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        holder = LibraryLock(data)
        holder.acquire()
        waited: list[int | None] = []
        engine.lock_timeout = 30.0
        engine.on_lock_wait = waited.append
        threading.Timer(0.5, holder.release).start()
        assert engine.index([str(lib)]).added == 3
        assert waited == [os.getpid()]


def test_the_lock_is_reentrant_and_its_pid_file_goes_with_it(tmp_path):
    lock = LibraryLock(tmp_path)
    with lock.hold():
        with lock.hold():
            assert lock.pid_path.read_text().split()[0] == str(os.getpid())
        assert lock.held and lock.pid_path.exists()
    assert not lock.held and not lock.pid_path.exists()
    other = LibraryLock(tmp_path)
    assert other.try_acquire()
    other.release()


def test_a_pid_file_naming_a_dead_process_is_not_believed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    holder = LibraryLock(tmp_path)
    holder.acquire()
    holder.pid_path.write_text(f"{dead_pid} writing\n")  # as a killed holder would leave it
    try:
        assert holder.holder() is None
        with pytest.raises(LibraryBusyError) as busy:
            LibraryLock(tmp_path).acquire()
        assert busy.value.pid is None and "indexing in another process" in str(busy.value)
    finally:
        holder.release()


def test_opening_a_library_while_another_writes_does_not_touch_its_indexes(lib, tmp_path, caplog):
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([str(lib)])
    holder = LibraryLock(data)
    holder.acquire()
    try:
        with caplog.at_level(logging.INFO, logger="mmexplorer"), Engine(data) as reader:
            assert reader.status().counts["photo"] == 3
        assert any("another process is writing" in r.getMessage() for r in caplog.records)
    finally:
        holder.release()


def test_a_writer_waits_for_a_short_check_instead_of_failing(lib, tmp_path):
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        checker = LibraryLock(data)
        assert checker.try_acquire(purpose=CHECKING)
        threading.Timer(0.5, checker.release).start()
        assert engine.index([str(lib)]).added == 3  # lock_timeout 0, but the holder was only checking


def test_an_engine_kept_open_reloads_what_another_writer_added_before_it_writes(lib, tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as kept_open:  # as the GUI keeps its library
        kept_open.index([str(lib)])
        assert kept_open.space_index("image").ntotal == 3
        with Engine(data) as other:  # a command line run meanwhile
            for i in range(2):
                Image.new("RGB", (48, 48), (200, 40 * i, 9)).save(lib / f"other{i}.png")
            assert other.index().added == 2
        Image.new("RGB", (48, 48), (1, 2, 3)).save(lib / "mine.png")
        assert kept_open.index().added == 1
        assert kept_open.space_index("image").ntotal == 6
    with Engine(data) as fresh:
        ids = set(fresh.space_index("image").ids().tolist())
        assert ids == {vid for vid, _item in fresh.catalog.vector_ids("image")} and len(ids) == 6
        assert fresh.catalog.count_status("pending") == 0
