"""The command line on folders the tests generate: incremental indexing, search, status, exit codes.

Every call is a real `python -m mmexplorer` process with the tiny-random image model (which needs no
download) and the real all-MiniLM-L6-v2 text model shipped by a PyPI package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmexplorer.devtools import synth

pytestmark = pytest.mark.slow


def mmx(*args: str, data_dir: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mmexplorer", *args, "--data-dir", str(data_dir)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mmexplorer {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def index_report(proc: subprocess.CompletedProcess) -> dict:
    (report,) = [obj for obj in lines(proc) if obj.get("event") == "index"]
    return report


def every_result(data_dir: Path) -> list[str]:
    return [r["path"] for r in lines(mmx("search", "anything", "-k", "100000", "--all", "--json", data_dir=data_dir))]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    photos = synth.make_photo_library(root / "photos", n=200, seed=1)
    notes = {}
    (root / "notes").mkdir()
    for i in range(50):
        path = root / "notes" / f"note {i:02d}.md"
        path.write_text(f"# Note {i}\n\nThis is note number {i}. It talks about topic {i % 7} at length.\n")
        notes[f"note{i}"] = str(path)
    return root, photos, notes


def test_incremental_index_search_touch_delete_rename(library, tmp_path):
    root, photos, notes = library
    work = tmp_path / "lib"
    shutil.copytree(root, work, symlinks=True)
    data = tmp_path / "data"
    before = synth.snapshot_tree(work)

    first = index_report(mmx("index", str(work), "--model", "tiny-random", "--json", data_dir=data))
    assert first["added"] == 250 and first["skipped"] == 0

    results = lines(mmx("search", "x", "--json", "-k", "5", "--all", data_dir=data))
    assert len(results) == 5
    assert {"path", "modality", "score", "relevance", "components"} <= set(results[0])

    probe = work / Path(photos[17][0]).relative_to(root)
    by_example = lines(mmx("search", "--image", str(probe), "--json", "--all", data_dir=data))
    assert by_example[0]["path"] == str(probe)

    assert index_report(mmx("index", str(work), "--json", data_dir=data))["encoded"] == 0

    note = next(iter(notes.values()))
    touched = work / Path(note).relative_to(root)
    touched.write_text(touched.read_text() + "\nOne more line.\n")
    after_touch = index_report(mmx("index", str(work), "--json", data_dir=data))
    assert (after_touch["encoded"], after_touch["updated"]) == (1, 1)

    gone = work / Path(photos[3][0]).relative_to(root)
    gone.unlink()
    renamed_from = work / Path(photos[4][0]).relative_to(root)
    renamed_to = renamed_from.with_name("renamed " + renamed_from.name)
    renamed_from.rename(renamed_to)
    after_move = index_report(mmx("index", str(work), "--json", data_dir=data))
    assert (after_move["encoded"], after_move["moved"], after_move["removed"]) == (0, 1, 1)

    everything = every_result(data)
    assert str(gone) not in everything and str(renamed_from) not in everything
    assert str(renamed_to) in everything
    assert len(everything) == len(set(everything)) == 249

    # Only our own edits happened in the user's folder: the app wrote nothing there.
    after = synth.snapshot_tree(work)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    edited = (touched, gone, renamed_from, renamed_to)
    files = {str(p.relative_to(work)) for p in edited}
    folders = {str(p.parent.relative_to(work)) for p in edited}  # their mtimes move with our edits
    assert changed - folders == files


def test_sigkill_mid_index_then_index_again_finds_every_file_once(library, tmp_path):
    root, photos, notes = library
    data = tmp_path / "data"
    before = synth.snapshot_tree(root)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmexplorer", "index", str(root), "--model", "tiny-random", "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import sqlite3

    deadline = time.monotonic() + 120
    indexed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            db = sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1)
            indexed = db.execute("SELECT COUNT(*) FROM items WHERE status='indexed'").fetchone()[0]
            db.close()
        except sqlite3.Error:
            indexed = 0
        if indexed >= 40:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert indexed >= 40, "the run ended before it could be killed mid-way"
    print(f"\nkilled after {indexed} of 250 files were committed")

    mmx("index", str(root), "--json", data_dir=data)
    everything = every_result(data)
    assert len(everything) == len(set(everything)) == 250
    assert set(everything) == {str(p) for p, _c in photos} | set(notes.values())
    assert synth.snapshot_tree(root) == before


def test_status_reports_skipped_files_with_reasons_and_bad_files_do_not_fail_the_run(format_zoo, tmp_path):
    data = tmp_path / "data"
    zoo_root = Path(next(iter(format_zoo.values()))).parent
    proc = mmx("index", str(zoo_root), "--model", "tiny-random", "--json", data_dir=data)
    assert index_report(proc)["skipped"] >= 3
    (status,) = lines(mmx("status", "--json", data_dir=data))
    reasons = {Path(s["path"]).name: s["reason"] for s in status["skipped"]}
    assert any("truncated" in r or "corrupt" in r for r in reasons.values()), reasons
    assert any("empty" in r for r in reasons.values()), reasons
    assert any("binary" in r for r in reasons.values()), reasons
    assert status["counts"]["photo"] >= 8
    human = mmx("status", data_dir=data).stdout
    assert "skipped:" in human and "tiny-random" in human


def test_exit_codes_and_one_line_reasons(tmp_path):
    data = tmp_path / "data"
    usage = mmx("search", data_dir=data, check=False)
    assert usage.returncode == 2 and "QUERY" in usage.stderr
    missing = mmx("index", str(tmp_path / "nope"), data_dir=data, check=False)
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    bad_model = mmx("index", str(tmp_path), "--model", "no-such-model/none", data_dir=data, check=False)
    assert bad_model.returncode in (1, 2)
    assert len(bad_model.stderr.strip().splitlines()) == 1, bad_model.stderr
    (tmp_path / "notadb").mkdir()
    (tmp_path / "notadb" / "catalog.sqlite3").write_bytes(b"garbage" * 1000)
    broken = mmx("status", data_dir=tmp_path / "notadb", check=False)
    assert broken.returncode == 1 and "catalog" in broken.stderr


def test_search_prints_only_relevant_results_and_says_when_nothing_is(tmp_path):
    lib = tmp_path / "lib"
    synth.make_photo_library(lib, n=12, seed=4, size=(48, 48))
    data = tmp_path / "data"
    mmx("index", str(lib), "--model", "tiny-random", "--json", data_dir=data)
    # tiny-random's photo similarities mean nothing: nothing may be judged relevant.
    nothing = mmx("search", "a red circle", "--json", data_dir=data)
    assert nothing.returncode == 0 and nothing.stdout.strip() == ""
    assert "no good match" in nothing.stderr
    listed = lines(mmx("search", "a red circle", "--json", "--all", "-k", "3", data_dir=data))
    assert len(listed) == 3
    for r in listed:
        assert r["score"] == r["relevance"] and 0.0 <= r["relevance"] < 0.5
        assert r["components"][0]["space"] == "image" and r["components"][0]["weight"] == 1.0
    # The name of a file is an exact match, found whatever the model knows.
    named = lines(mmx("search", "IMG_0003", "--json", data_dir=data))
    assert named and Path(named[0]["path"]).stem == "IMG_0003"
    weighted = lines(mmx("search", "IMG_0003", "--json", "--weights", "lexical=0.5", "--all", "-k", "1", data_dir=data))
    lexical = next(c for c in weighted[0]["components"] if c["space"] == "lexical")
    assert lexical["weight"] == 0.5
    bad = mmx("search", "x", "--weights", "image=2", data_dir=data, check=False)
    assert bad.returncode == 2 and "outside [0, 1]" in bad.stderr
