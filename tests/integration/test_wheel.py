"""What ships: the wheel holds the package data (core/data, devtools/data), and the installed app runs.

The wheel is built from a copy of the source (nothing is written into the checkout), installed with
--no-deps into a fresh virtual environment whose only link to the test environment is a .pth line
naming its site-packages, so torch, faiss and the sentence encoder are found there but the checkout
and its editable install are not. Then `mmexplorer index`, `status` and `search` run from a folder
outside the checkout, on a few notes through the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTES = {
    "boiler.txt": "The boiler made a loud banging noise this morning; book a heating engineer.",
    "passport.md": "# Passport\n\nThe passport expires in March, renew it before the summer trip.",
    "recipe.txt": "Two cups of flour, three eggs and a pinch of cinnamon for the apple cake.",
}


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline (no build isolation) from a copy of the sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "mmexplorer", src / "mmexplorer", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", out, src, cwd=src, env=env)
    (whl,) = out.glob("mmexplorer-*.whl")
    return whl


def test_the_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (ROOT / "mmexplorer" / "core" / "data", ROOT / "mmexplorer" / "devtools" / "data"):
        files = [p for p in data.iterdir() if p.is_file()]
        assert files
        for path in files:
            assert path.relative_to(ROOT).as_posix() in names


def test_the_installed_wheel_indexes_reports_and_searches(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=tmp_path, env=dict(os.environ)).stdout.strip())
    # Dependencies from the test environment, as a plain path: its .pth files (the editable install
    # of the checkout among them) are not run, so `mmexplorer` can only come from the wheel.
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "test-env.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel,
        cwd=tmp_path, env=env)

    where = tmp_path / "elsewhere"  # a cwd outside the checkout
    notes = where / "notes"
    notes.mkdir(parents=True)
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    probe = run(python, "-c", "import mmexplorer, mmexplorer.devtools.worlds as w; print(mmexplorer.__file__); "
                "print(len(w.NOTE_POOL))", cwd=where, env=env).stdout.split()
    assert Path(probe[0]).is_relative_to(venv) and int(probe[1]) > 0, probe

    mmx = venv / "bin" / "mmexplorer"
    data = where / "data"
    index = [json.loads(ln) for ln in run(mmx, "index", notes, "--model", "tiny-random", "--json",
                                          "--data-dir", data, cwd=where, env=env).stdout.splitlines() if ln.strip()]
    (report,) = [o for o in index if o.get("event") == "index"]
    assert report["added"] == len(NOTES)
    (status,) = [json.loads(ln) for ln in run(mmx, "status", "--json", "--data-dir", data,
                                               cwd=where, env=env).stdout.splitlines() if ln.strip()]
    assert status["counts"]["note"] == len(NOTES), status
    results = [json.loads(ln) for ln in run(mmx, "search", "heating system is making strange sounds", "--json",
                                            "-k", "3", "--data-dir", data, cwd=where, env=env).stdout.splitlines()]
    assert results and Path(results[0]["path"]).name == "boiler.txt", results
