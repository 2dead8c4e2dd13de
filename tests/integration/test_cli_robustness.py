"""The command line where real folders and real shells differ from the generator's: file names that
are not UTF-8, two writers on one library, a killed writer, a reader of stdout that goes away.

Every call is a real `python -m mmexplorer` process (tiny-random image model, the real MiniLM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CAFE = b"caf\xe9"  # "café" in Latin-1: not valid UTF-8


def run(*args: str | bytes, data_dir: Path, stdout=subprocess.PIPE, timeout: float = 300) -> subprocess.CompletedProcess:
    """mmexplorer with raw bytes out (so a test can check they are valid UTF-8)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "mmexplorer", *args, "--data-dir", os.fsencode(data_dir)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    return proc.stdout.decode("utf-8")  # strict: what the CLI prints is valid UTF-8


def json_lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in ok(proc).splitlines() if line.strip()]


def _photo(path: bytes, color) -> None:
    from PIL import Image

    Image.new("RGB", (64, 48), color).save(os.fsdecode(path), format="PNG")


def _fs(*parts: bytes) -> str:
    return os.fsdecode(os.path.join(*parts))


def _shown(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "replace")


# -- file names that are not UTF-8 --------------------------------------------------------------
@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system that takes any bytes in a name")
def test_names_that_are_not_utf8_through_index_search_status_and_removal(tmp_path):
    top = os.fsencode(tmp_path / "stick")
    folder = os.path.join(top, b"Fotos " + CAFE)
    os.makedirs(folder)
    _photo(os.path.join(folder, CAFE + b".png"), (200, 20, 20))
    with open(os.path.join(folder, b"r\xe9sum\xe9.txt"), "wb") as f:
        f.write(b"The lighthouse keeper logs every passing ship in the harbour.\n")
    with open(os.path.join(folder, b"kaputt \xe9.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    _photo(os.path.join(top, b"zz after.png"), (20, 200, 20))  # walked after the odd ones
    data = tmp_path / "data"

    index = json_lines(run("index", top, "--model", "tiny-random", "--json", data_dir=data))
    (report,) = [o for o in index if o.get("event") == "index"]
    assert (report["added"], report["skipped"]) == (3, 1)

    everything = json_lines(run("search", "anything", "--all", "-k", "100", "--json", data_dir=data))
    shown = {r["path"] for r in everything}
    assert shown == {
        _shown(_fs(folder, CAFE + b".png")),
        _shown(_fs(folder, b"r\xe9sum\xe9.txt")),
        _shown(_fs(top, b"zz after.png")),
    }
    assert all("\ufffd" in p for p in shown if "Fotos" in p)

    (hit,) = json_lines(run("search", "lighthouse keeper", "--modality", "note", "--json", data_dir=data))[:1]
    assert hit["path"] == _shown(_fs(folder, b"r\xe9sum\xe9.txt"))
    text = ok(run("search", "lighthouse keeper", "--modality", "note", data_dir=data))
    assert _shown(_fs(folder, b"r\xe9sum\xe9.txt")) in text

    status = ok(run("status", data_dir=data))
    broken = _shown(_fs(folder, b"kaputt \xe9.jpg"))
    assert f"  {broken}: " in status
    (st,) = json_lines(run("status", "--json", data_dir=data))
    assert [s["path"] for s in st["skipped"]] == [_shown(_fs(folder, b"kaputt \xe9.jpg"))]
    assert st["counts"]["photo"] == 2 and st["counts"]["note"] == 1

    # A deleted file leaves the index; a renamed folder is followed (its items moved, not re-added).
    os.remove(os.path.join(folder, CAFE + b".png"))
    os.rename(folder, os.path.join(top, b"Fotos \xe9t\xe9"))
    again = json_lines(run("index", top, "--json", data_dir=data))
    (report,) = [o for o in again if o.get("event") == "index"]
    # removed: the deleted photo, and the broken file at its old path (a skipped file is not followed).
    assert (report["removed"], report["moved"], report["added"], report["skipped"]) == (2, 1, 0, 1)
    shown = {r["path"] for r in json_lines(run("search", "anything", "--all", "-k", "100", "--json", data_dir=data))}
    assert shown == {_shown(_fs(top, b"Fotos \xe9t\xe9", b"r\xe9sum\xe9.txt")), _shown(_fs(top, b"zz after.png"))}

    # Removing the (non-UTF-8) root forgets everything under it.
    from mmexplorer.core.engine import Engine

    with Engine(data) as engine:
        assert engine.roots() == [os.fsdecode(top)]
        assert engine.remove_root(os.fsdecode(top)) == 3
    assert json_lines(run("search", "anything", "--all", "--json", data_dir=data)) == []
    (st,) = json_lines(run("status", "--json", data_dir=data))
    assert st["roots"] == [] and st["skipped"] == []


# -- one writer per library ---------------------------------------------------------------------
_HOLDER = """
import sys, time
from mmexplorer.core.lock import LibraryLock
lock = LibraryLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _hold_lock(data: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_index_run_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path):
    from PIL import Image

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(3):
        Image.new("RGB", (48, 48), (60 * i, 90, 30)).save(lib / f"p{i}.png")
    data = tmp_path / "data"
    ok(run("index", str(lib), "--model", "tiny-random", data_dir=data))

    holder = _hold_lock(data)
    try:
        busy = run("index", str(lib), data_dir=data)
        assert busy.returncode == 1
        # One line says why (the tiny-random test model's own note aside).
        err = [line for line in busy.stderr.decode().splitlines() if line and "note: the tiny-random" not in line]
        assert len(err) == 1 and err[0].startswith(f"mmexplorer: library busy: indexing by PID {holder.pid}"), err
        assert busy.stdout == b""
        # Readers keep working while a writer holds the library.
        assert len(json_lines(run("search", "x", "--all", "--json", data_dir=data))) == 3
        assert "3 photos" in ok(run("status", data_dir=data))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead holder's lock; its PID file is still there, and is not believed.
    assert (data / "write.lock.pid").read_text().split()[0] == str(holder.pid)
    second = _hold_lock(data)
    try:
        busy = run("index", str(lib), data_dir=data)
        assert busy.returncode == 1 and f"indexing by PID {second.pid}" in busy.stderr.decode()
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    out = ok(run("index", str(lib), data_dir=data))
    assert "3 unchanged" in out
    assert not (data / "write.lock.pid").exists()


def test_two_index_runs_at_once_do_the_work_once(tmp_path):
    from PIL import Image

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(40):
        Image.new("RGB", (64, 64), (i * 6, 255 - i * 6, 40)).save(lib / f"p{i:02d}.png")
    data = tmp_path / "data"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "mmexplorer", "index", str(lib), "--model", "tiny-random", "--json",
           "--data-dir", str(data)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    added = [json.loads(o.splitlines()[-1])["added"] for (o, _e), p in zip(outs, procs) if p.returncode == 0]
    if codes == [0, 0]:  # the second started after the first was done: it found nothing to do
        assert sorted(added) == [0, 40]
    else:
        assert codes == [0, 1] and added == [40]
        (err,) = [e.decode() for (_o, e), p in zip(outs, procs) if p.returncode == 1]
        assert "library busy: indexing by PID" in err


# -- a reader of stdout that goes away ------------------------------------------------------------
def test_an_open_library_finds_what_another_process_indexed(tmp_path):
    """The window keeps its Engine open; `mmexplorer index` in a terminal adds a note meanwhile.
    Before, the open Engine searched its old in-memory indexes and never found the new note."""
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import TextQuery

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "cake.md").write_text("Recipe for lemon cake with poppy seeds.", encoding="utf-8")
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random", device="cpu") as engine:
        engine.index([lib])
        assert [r.path for r in engine.search(TextQuery("bicycle repair"), k=3)] == [str(lib / "cake.md")]
        (lib / "bike.md").write_text("How to fix a flat bicycle tyre: patch kit, levers, pump.", encoding="utf-8")
        ok(run("index", str(lib), "--model", "tiny-random", "--no-captions", data_dir=data))
        found = engine.search(TextQuery("bicycle repair"), k=3)
        assert found[0].path == str(lib / "bike.md") and found[0].relevant
        # and the open Engine's own next write builds on the other's vectors (nothing is lost)
        (lib / "tea.md").write_text("Steep green tea for three minutes.", encoding="utf-8")
        report = engine.index([lib])
        assert report.added == 1 and report.unchanged == 2
    out = ok(run("search", "bicycle repair", "--json", data_dir=data))
    assert json_lines(run("search", "green tea", "--json", data_dir=data))[0]["path"].endswith("tea.md")
    assert json.loads(out.splitlines()[0])["path"].endswith("bike.md")


@pytest.fixture(scope="module")
def small_library(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("pipe")
    lib = root / "lib"
    lib.mkdir()
    for i in range(5):
        Image.new("RGB", (48, 48), (40 * i, 30, 90)).save(lib / f"p{i}.png")
    for i in range(3):
        (lib / f"broken {i}.jpg").write_bytes(b"\xff\xd8 nope")
    data = root / "data"
    ok(run("index", str(lib), "--model", "tiny-random", data_dir=data))
    return data


@pytest.mark.parametrize(
    "args",
    [("status",), ("status", "--json"), ("search", "x", "--all"), ("search", "x", "--all", "--json"),
     ("models", "list")],
)
def test_a_closed_stdout_ends_quietly_with_141(small_library, args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write gets EPIPE
    try:
        proc = run(*args, data_dir=small_library, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == b""


def test_status_piped_into_head_prints_its_first_line_and_no_traceback(small_library):
    cmd = (
        f"{sys.executable} -m mmexplorer status --data-dir '{small_library}' | head -1; "
        f"echo \"rc=${{PIPESTATUS[0]}}\""
    )
    proc = subprocess.run(["bash", "-c", cmd], check=True, capture_output=True, text=True, timeout=120)
    first, rc = proc.stdout.splitlines()
    assert first.startswith("library: ")
    assert rc in ("rc=0", "rc=141")  # 141 when head was gone before status finished writing
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr
