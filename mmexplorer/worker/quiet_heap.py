"""Keeping the garbage collector off loaded models, so the GUI thread is not stalled."""

from __future__ import annotations

import gc
import threading


class QuietHeap:
    """Keeps the garbage collector from walking loaded models, so the GUI thread is not stalled.

    Loaded models are hundreds of thousands of long-lived objects (430,000 with the small test
    models; importing torch, transformers and open_clip brings most). A full collection walks all
    of them, 0.2-0.7 s here, holding the interpreter lock, so the GUI thread cannot run: measured
    as the window's longest stalls (386 ms while results loaded; 380 ms in a collection that fired
    while the captioner imported torch). So: no automatic collection while a model loads (from its
    `loading` news to `ready` or `failed`), then `gc.freeze()` moves what the load made, and
    everything alive before it, out of the collector's reach for good. Later collections only look
    at what is new. `thaw` gives it all back when the engine closes, so a closed library's models
    can be collected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: set[str] = set()  # the spaces whose model is loading now (ready may rename it)

    def loading(self, key: str) -> None:
        with self._lock:
            self._loading.add(key)
            gc.disable()

    def loaded(self, key: str) -> None:
        with self._lock:
            self._loading.discard(key)
            if not self._loading:
                self._settle()

    def settle(self) -> None:
        """Freeze what is alive now (after a run that may have loaded models) and collect again."""
        with self._lock:
            self._loading.clear()  # a loader that raised without saying `failed` must not keep gc off
            self._settle()

    def unstick(self) -> None:
        """Collect again if a load began and never ended (its loader raised without `failed`)."""
        if self._loading:
            self.settle()

    def thaw(self) -> None:
        with self._lock:
            gc.unfreeze()

    @staticmethod
    def _settle() -> None:
        gc.freeze()
        gc.enable()


quiet_heap = QuietHeap()
