"""`mmexplorer explain A B` as a real process: the JSON contract, --out, A as text or a file, B unindexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmexplorer.devtools import scenes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene_model_dir():
    """The aligned test model trained on scenes of 1-4 shapes (devtools.aligned SCENE_VERSION, cached)."""
    from mmexplorer.devtools.aligned import ensure_scene_model

    return ensure_scene_model()

# DESIGN.md's {space, via, raw, relevance, weight}, and support (core.evidence: how far a component counts)
COMPONENT_KEYS = {"space", "via", "raw", "relevance", "weight", "support"}


def mmx(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mmexplorer", *args, "--data-dir", str(data_dir)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mmexplorer {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def one_json(proc: subprocess.CompletedProcess) -> dict:
    (obj,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return obj


def check_heatmap(h: dict) -> np.ndarray:
    assert set(h) == {"rows", "cols", "grid"}
    grid = np.asarray(h["grid"], dtype=float)
    assert grid.shape == (h["rows"], h["cols"]) and h["rows"] >= 8 and h["cols"] >= 8
    assert grid.min() >= 0 and grid.sum() == pytest.approx(1.0, abs=1e-4)
    return grid


@pytest.fixture(scope="module")
def library(tmp_path_factory, scene_model_dir):
    root = tmp_path_factory.mktemp("explain-cli")
    lib = root / "lib"
    lib.mkdir()
    scenes.render_scene([("green", "star"), ("orange", "ring")], size=240, seed=61_000).image.save(lib / "pair.png")
    (lib / "trip.md").write_text(
        "We drove to the coast on Saturday. The beach was windy, and we flew a kite until sunset.",
        encoding="utf-8",
    )
    data = root / "data"
    mmx("index", str(lib), "--model", str(scene_model_dir), "--no-captions", "--json", data_dir=data)
    return lib, data, root


def test_text_against_a_photo(library, tmp_path):
    lib, data, _root = library
    out = tmp_path / "heat.png"
    obj = one_json(mmx("explain", "a green star", str(lib / "pair.png"), "--json", "--out", str(out), data_dir=data))
    assert 0.0 <= obj["relevance"] <= 1.0
    assert obj["components"] and all(set(c) == COMPONENT_KEYS for c in obj["components"])
    assert any(c["space"] == "image" and c["via"] == "pixels" for c in obj["components"])
    grid = check_heatmap(obj["heatmap"])
    assert grid[:, : grid.shape[1] // 2].sum() > 0.6  # the green star is on the left
    assert "heatmap_a" not in obj and "spans" not in obj
    assert isinstance(obj["shared_concepts"], list)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (240, 240)


def test_photo_file_against_an_unindexed_photo(library, tmp_path):
    lib, data, _root = library
    other = tmp_path / "elsewhere.png"
    scenes.render_scene([("orange", "ring")], size=180, seed=61_001).image.save(other)
    obj = one_json(mmx("explain", str(lib / "pair.png"), str(other), "--json", data_dir=data))
    check_heatmap(obj["heatmap"])
    check_heatmap(obj["heatmap_a"])
    assert obj["components"][0]["space"] == "image"
    # A is indexed: its heatmap puts the orange ring (right half) first
    grid_a = np.asarray(obj["heatmap_a"]["grid"])
    assert grid_a[:, grid_a.shape[1] // 2 :].sum() > 0.5


def test_text_against_a_note(library):
    lib, data, _root = library
    note = lib / "trip.md"
    text = note.read_text(encoding="utf-8")
    obj = one_json(mmx("explain", "flying a kite at the beach", str(note), "--json", data_dir=data))
    assert obj["spans"] and set(obj["spans"][0]) == {"start", "end", "text", "weight"}
    assert all(text[s["start"] : s["end"]] == s["text"] for s in obj["spans"])
    assert sum(s["weight"] for s in obj["spans"]) == pytest.approx(1.0, abs=1e-4)
    top = max(obj["spans"], key=lambda s: s["weight"])["text"].lower()
    assert top in {"kite", "beach", "flew", "coast", "windy"}, top
    assert "heatmap" not in obj


def test_plain_output_and_usage_errors(library, tmp_path):
    lib, data, _root = library
    plain = mmx("explain", "a green star", str(lib / "pair.png"), data_dir=data)
    assert "image" in plain.stdout and "where:" in plain.stdout
    missing = mmx("explain", "a green star", str(tmp_path / "nope.png"), data_dir=data, check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    no_photo = mmx("explain", "a kite", str(lib / "trip.md"), "--out", str(tmp_path / "x.png"), data_dir=data, check=False)
    assert no_photo.returncode == 2 and len(no_photo.stderr.strip().splitlines()) == 1


def test_the_first_explanation_and_related_say_why_they_take_a_while(tmp_path, scene_model_dir):
    lib = tmp_path / "lib"
    lib.mkdir()
    scenes.render_scene([("red", "circle")], size=224, seed=61_010).image.save(lib / "one.png")
    (lib / "paint.md").write_text("I painted a red circle on the garden gate.", encoding="utf-8")
    data = tmp_path / "data"
    mmx("index", str(lib), "--model", str(scene_model_dir), "--no-captions", "--json", data_dir=data)
    first = mmx("explain", "a red circle", str(lib / "one.png"), "--json", data_dir=data)
    assert "preparing explanations" in first.stderr and "first time only" in first.stderr
    again = mmx("explain", "a red circle", str(lib / "one.png"), "--json", data_dir=data)
    assert "preparing" not in again.stderr  # the vocabulary was kept in the data dir
    assert one_json(again)["shared_concepts"] == one_json(first)["shared_concepts"]
    related = mmx("related", str(lib / "one.png"), "--json", data_dir=data)
    assert "preparing related items" in related.stderr
    assert "preparing" not in mmx("related", str(lib / "one.png"), "--json", data_dir=data).stderr
