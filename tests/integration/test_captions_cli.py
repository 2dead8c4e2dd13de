"""Captions on the command line (issue 10): `index --caption-model`, `--no-captions`, `status`,
`search --json` carrying `caption`, and `models list` naming the captioners with their size.

Real `python -m mmexplorer` processes: the tiny-random image model (photo pixels say nothing), the
suite's own trained test captioner, and the real all-MiniLM-L6-v2 text model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

OBJECTS = [("purple", "star"), ("red", "circle"), ("blue", "square"), ("green", "triangle")]


def mmx(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mmexplorer", *args, "--data-dir", str(data_dir)],
        check=False, capture_output=True, text=True, env=env, timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mmexplorer {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    from mmexplorer.devtools.scenes import render_scene

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, obj in enumerate(OBJECTS):
        render_scene([obj], size=160, seed=i).image.save(folder / f"{obj[0]}-thing-{i}.png")
    return folder


def test_index_captions_photos_and_search_reaches_them_via_caption(photos, test_captioner_dir, tmp_path):
    data = tmp_path / "data"
    out = mmx("index", str(photos), "--model", "tiny-random", "--caption-model", str(test_captioner_dir), "--json",
              data_dir=data)
    (captions,) = [o for o in lines(out) if o.get("event") == "captions"]
    assert captions["captioned"] == len(OBJECTS) and captions["embedded"] == len(OBJECTS)
    assert captions["reason"] == ""

    # The captioner names colour and shape (see test_captions): a query by colour reaches the photo
    # through its caption, the tiny-random pixels saying nothing.
    results = lines(mmx("search", "a picture of something purple", "--json", "-k", "3", data_dir=data))
    top = results[0]
    assert Path(top["path"]).name == "purple-thing-0.png", results
    assert top["caption"] == "a purple star"
    assert any(c["space"] == "text" and c["via"] == "caption" for c in top["components"])

    (status,) = lines(mmx("status", "--json", data_dir=data))
    assert status["captions"]["captioned"] == status["captions"]["total"] == len(OBJECTS)
    assert status["captions"]["model"] == str(test_captioner_dir)
    text = mmx("status", data_dir=data).stdout
    assert f"captions: {len(OBJECTS)} of {len(OBJECTS)} photos captioned" in text

    # The caption model is remembered: a second index run has nothing to caption.
    again = lines(mmx("index", str(photos), "--json", data_dir=data))
    (captions,) = [o for o in again if o.get("event") == "captions"]
    assert captions["captioned"] == 0 and captions["reason"] == ""

    # Off for this library: no captioning, status says so, stored captions stay searchable.
    off = mmx("index", str(photos), "--no-captions", "--json", data_dir=data)
    assert not [o for o in lines(off) if o.get("event") == "captions"]
    assert "captions: off" in mmx("status", data_dir=data).stdout
    top = lines(mmx("search", "something purple", "--json", "-k", "1", data_dir=data))[0]
    assert Path(top["path"]).name == "purple-thing-0.png"


def test_an_offline_captioner_leaves_photos_uncaptioned_with_the_reason(photos, tmp_path):
    data = tmp_path / "data"
    cache = tmp_path / "empty-hf-cache"
    cache.mkdir()
    env_cache = {"HF_HUB_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "mmexplorer", "index", str(photos), "--model", "tiny-random", "--data-dir", str(data)],
        check=False, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **env_cache),
    )
    assert proc.returncode == 0, proc.stderr  # the photos are indexed and searchable
    assert f"{len(OBJECTS)} photos left uncaptioned" in proc.stderr and "blip-base" in proc.stderr
    assert "~990 MB" in proc.stderr  # the download size is said before it starts
    (status,) = lines(mmx("status", "--json", data_dir=data))
    assert status["captions"]["captioned"] == 0 and "blip-base" in status["captions"]["reason"]
    assert "uncaptioned" in mmx("status", data_dir=data).stdout
    assert lines(mmx("search", "a purple star", "--all", "--json", data_dir=data))  # search works without


def test_models_list_names_the_captioners_with_their_size(tmp_path):
    listed = lines(mmx("models", "list", "--json", data_dir=tmp_path / "data"))
    captioners = {o["name"]: o for o in listed if o["space"] == "caption"}
    assert captioners["blip-base"]["default"] is True and captioners["blip-base"]["approx_mb"] > 500
    assert "vit-gpt2" in captioners
    text = mmx("models", "list", data_dir=tmp_path / "data").stdout
    assert "caption blip-base" in text and "MB" in text


def test_contradictory_caption_flags_are_a_usage_error(photos, tmp_path):
    proc = mmx("index", str(photos), "--no-captions", "--caption-model", "blip-base", data_dir=tmp_path / "d",
               check=False)
    assert proc.returncode == 2 and "contradict" in proc.stderr
