"""Tools for developing mmexplorer: generated media for tests, benchmarks and screenshots.

Nothing in the app itself imports this package.
"""

from __future__ import annotations

from mmexplorer.core.lazy import lazy_attributes

_LAZY = {
    "ensure_aligned_model": "mmexplorer.devtools.aligned",
    "ensure_test_captioner": "mmexplorer.devtools.captioner",
    "ensure_test_sound_model": "mmexplorer.devtools.sound",
}
__all__ = ["ensure_aligned_model", "ensure_test_captioner", "ensure_test_sound_model"]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
