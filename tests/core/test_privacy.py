"""The data dir holds thumbnails of private photos and note text: only its owner may read it.

Folders 0700 and files 0600 whatever the umask (catalog and its -wal/-shm, FAISS files and
sidecars, thumbnails, logs, the write lock); an existing data dir that is wider is tightened when
it is opened, and the log says so."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from mmexplorer.core import paths, thumbnails
from mmexplorer.core.engine import Engine
from mmexplorer.devtools import synth

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def umask():
    """Set a umask for the test (restored after): the modes must not depend on it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(saved)


@pytest.fixture
def file_log(tmp_path):
    """setup_logging into a data dir, undone afterwards (it attaches a global handler)."""
    from mmexplorer import log as log_mod

    made = []

    def setup(data_dir: Path) -> Path:
        made.append(True)
        return log_mod.setup_logging(data_dir)

    yield setup
    if made and log_mod._handler is not None:
        logging.getLogger("mmexplorer").removeHandler(log_mod._handler)
        log_mod._handler.close()
        log_mod._handler = None


def _modes(root: Path) -> dict[str, str]:
    """Every entry under root (and root) -> its mode in octal; symlinks are left out."""
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            out[str(p.relative_to(root))] = oct(stat.S_IMODE(p.lstat().st_mode))
    return out


def _wide(modes: dict[str, str], root: Path) -> dict[str, str]:
    bad = {}
    for rel, mode in modes.items():
        want = "0o700" if (root / rel).is_dir() else "0o600"
        if mode != want:
            bad[rel] = mode
    return bad


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_a_new_data_dir_and_everything_in_it_is_owner_only_whatever_the_umask(tmp_path, umask, file_log, mask):
    lib = tmp_path / "lib"
    photos = synth.make_photo_library(lib / "photos", n=3, seed=1, size=(48, 48))
    synth.make_note_library(lib / "notes", notes=synth.NOTES[:2])
    data = tmp_path / "new" / "data"  # neither exists yet
    umask(mask)
    log_file = file_log(data)
    logging.getLogger("mmexplorer.test").warning("a line, so the log file exists")
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([str(lib)])
        thumbnails.make_thumbnail(photos[0][0], paths.thumbnails_dir(data), side=32)
        # While the engine is open the catalog is in WAL mode: its -wal and -shm files exist.
        assert (data / "catalog.sqlite3-wal").exists() and (data / "catalog.sqlite3-shm").exists()
        modes = _modes(data)
    assert log_file.exists()
    assert {"catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm", "index/image.faiss",
            "index/image.json", "index/text.faiss", "logs/mmexplorer.log", "write.lock", "thumbnails",
            "calibration"} <= set(modes)
    assert _wide(modes, data) == {}
    assert _wide(_modes(data), data) == {}  # and after close


def test_an_existing_wide_data_dir_is_tightened_on_open_and_the_log_says_so(tmp_path, caplog):
    lib = tmp_path / "lib"
    photos = synth.make_photo_library(lib, n=2, seed=2, size=(48, 48))
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([str(lib)])
    thumb = thumbnails.make_thumbnail(photos[0][0], paths.thumbnails_dir(data), side=32)
    (data / "logs" / "mmexplorer.log").write_text("old log\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the app's")
    os.chmod(outside, 0o644)
    os.symlink(outside, data / "link-to-outside")
    # As an older version left it: folders 755, files 644.
    for rel in _modes(data):
        p = data / rel
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    wide = len(_modes(data))
    assert wide > 8

    with caplog.at_level(logging.INFO, logger="mmexplorer"):
        Engine(data).close()
    assert _wide(_modes(data), data) == {}
    assert stat.S_IMODE(thumb.stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a symlink is not followed
    lines = [r.getMessage() for r in caplog.records if "owner-only" in r.getMessage()]
    assert len(lines) == 1 and f"{wide} entries" in lines[0], lines

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mmexplorer"):
        Engine(data).close()
    assert not [r for r in caplog.records if "owner-only" in r.getMessage()]  # nothing more to say


def test_rotated_log_files_stay_owner_only(tmp_path, umask, file_log):
    umask(0o000)
    log_file = file_log(tmp_path / "data")
    logging.getLogger("mmexplorer.test").warning("first")
    from mmexplorer import log as log_mod

    log_mod._handler.doRollover()
    logging.getLogger("mmexplorer.test").warning("second")
    for p in (log_file, log_file.with_name(log_file.name + ".1")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_private_dir_makes_missing_parents_0700_and_leaves_existing_ones(tmp_path, umask):
    umask(0o000)
    os.chmod(tmp_path, 0o755)
    made = paths.private_dir(tmp_path / "a" / "b")
    assert made.is_dir()
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


@pytest.mark.skipif(sys.platform != "linux", reason="only checks the count")
def test_tighten_counts_only_what_it_changed(tmp_path):
    root = tmp_path / "d"
    root.mkdir(mode=0o700)
    os.chmod(root, 0o700)
    (root / "a").write_text("x")
    os.chmod(root / "a", 0o640)
    (root / "b").write_text("x")
    os.chmod(root / "b", 0o600)
    assert paths.tighten(root) == 1
    assert paths.tighten(root) == 0
