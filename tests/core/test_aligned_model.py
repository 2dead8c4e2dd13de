"""The small aligned image-text model the suite trains itself: it must really align, through the
app's own loader, on photos it never saw."""

from __future__ import annotations

import time

import pytest

from mmexplorer.core.models import SpecKind, load_image_model, parse_image_spec
from mmexplorer.devtools import aligned

pytestmark = pytest.mark.slow


def _report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[figures] {line}")


@pytest.fixture(scope="module")
def aligned_clip(aligned_model_dir):
    spec = parse_image_spec(str(aligned_model_dir))
    assert spec.kind is SpecKind.LOCAL_DIR  # the app's real local-folder path, not a test shortcut
    return load_image_model(spec, device="cpu")


def test_text_finds_held_out_photos(aligned_clip, aligned_model_dir, capsys):
    meta = aligned.read_meta(aligned_model_dir)
    assert meta is not None and meta["renderer_id"] == aligned.synth_world().renderer_id
    # a seed range neither training (0..63) nor the recall recorded at training time (10000..) used
    recall = aligned.evaluate_recall(aligned_clip, n_per_class=5, seed=20_000)
    _report(
        capsys,
        f"aligned test model: text -> photo recall@1 = {recall:.2f} on {5 * 36} held-out renders "
        f"(recorded at training: {meta['recall_at_1']:.2f}; trained {meta['steps']} steps in "
        f"{meta['train_seconds']:.0f}s on {meta['torch_threads']} threads)",
    )
    assert recall >= 0.9


@pytest.mark.parametrize("size", [96, 256])
def test_photo_size_does_not_matter(aligned_clip, size, capsys):
    recall = aligned.evaluate_recall(aligned_clip, n_per_class=3, seed=30_000, size=size)
    _report(capsys, f"aligned test model: text -> photo recall@1 = {recall:.2f} on {size}px renders")
    assert recall >= 0.9


def test_a_red_circle_ranks_the_red_circle_first(aligned_clip):
    from mmexplorer.devtools import synth

    pairs = [(c, s) for c in synth.COLOURS for s in synth.SHAPES]
    photos = aligned_clip.encode_images([synth.render_shape(c, s, size=128, seed=777) for c, s in pairs])
    scores = photos @ aligned_clip.encode_texts(["a red circle"])[0]
    assert pairs[int(scores.argmax())] == ("red", "circle")


def test_model_identity(aligned_clip):
    info = aligned_clip.info()
    assert info.meaningful and info.dim == 64
    assert info.model_id.startswith(f"open_clip:local:{aligned.ALIGNED_ARCH}:")


def test_cached_model_is_reused(aligned_model_dir):
    started = time.monotonic()
    again = aligned.ensure_aligned_model(aligned_model_dir)
    assert again == aligned_model_dir
    assert time.monotonic() - started < 5, "the cached model was retrained"
    leftovers = [p.name for p in aligned_model_dir.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert not leftovers


def test_a_changed_renderer_invalidates_the_cache(aligned_model_dir):
    world = aligned.synth_world()
    assert aligned._is_current(aligned_model_dir, world)
    other = aligned.ShapeWorld(world.colours, world.shapes, world.render, world.caption, "synth:changed")
    assert not aligned._is_current(aligned_model_dir, other)
