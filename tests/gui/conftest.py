"""GUI fixtures: a generated library, and main windows wired to a real worker thread and Engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mmexplorer.devtools.synth import make_note_library, make_photo_library

TEST_MODEL = "tiny-random"

# Before any Qt call: PySide6 6.12.0 on CPython 3.11 loses references to None/True (see ui/compat.py).
from mmexplorer.ui.compat import guard_singleton_refcounts

guard_singleton_refcounts()


def _truncated_jpeg(path: Path) -> Path:
    """A JPEG cut short: it looks like a photo (magic bytes, extension) but cannot be decoded."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    noise = np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 3])
    return path


@pytest.fixture(scope="session")
def gui_library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """24 shape photos with captions, the synth notes, and one corrupt JPEG. Read-only: shared."""
    root = tmp_path_factory.mktemp("gui-library")
    photos = make_photo_library(root / "photos", n=24, size=(96, 96))
    notes = make_note_library(root / "notes")
    broken = _truncated_jpeg(root / "photos" / "broken.jpg")
    return {"root": root, "photos": photos, "notes": notes, "broken": broken}


@pytest.fixture
def make_window(qtbot: Any, data_dir: Path) -> Iterator[Callable[..., Any]]:
    """Build main windows on the test's data dir (real worker thread, real Engine); closed at teardown."""
    from mmexplorer.app import create_window
    from mmexplorer.settings import Settings

    windows: list[Any] = []

    def make(*, model: str = TEST_MODEL, engine_factory: Any = None, settings: Settings | None = None) -> Any:
        window = create_window(
            data_dir,
            model=model,
            settings=settings or Settings(),
            engine_factory=engine_factory,
            save_settings=False,
        )
        window.opener = lambda path: opened.append(path) or True
        window.revealer = lambda path: revealed.append(path) or True
        window.opened, window.revealed = opened, revealed = [], []
        window.resize(1200, 780)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for w in windows:
        started = time.monotonic()
        w.close()
        assert time.monotonic() - started < 20, "closing the window took too long"
        assert w.host._thread.isFinished(), "the worker thread is still running after close"
