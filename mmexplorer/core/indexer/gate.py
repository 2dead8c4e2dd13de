"""How decode threads share the CPU with the encoder (see `DecodeGate`), and torch's thread counts."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator


class DecodeGate:
    """How many decode threads may work at once: all of them, fewer while the model encodes on the CPU.

    torch runs the encoder on an OpenMP team with a thread per core and spinning barriers. When that
    team has every core there is no idle core to hide decoding on: a decode thread can only run by
    preempting a member, and the others then spin at the next barrier. On the shared 2-core dev
    machine under load, overlapping cost ~17 ms of CPU per photo for ~11 ms of decoding; on a quiet
    one it was no faster than taking turns. So while a batch is encoded on the CPU, only as many
    decode threads run as there are cores the team leaves free (none when it has them all, several
    on SMT machines, where torch takes one thread per physical core); between batches, and whenever
    the encoder waits for photos, every decode thread works.
    """

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._normal = self._limit = max(1, limit)
        self._active = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Held by a decode thread for one file."""
        with self._cond:
            while self._active >= self._limit:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def limited(self, limit: int | None) -> Iterator[None]:
        """Allow at most `limit` decode threads while the block runs (None: no change)."""
        if limit is None or limit >= self._normal:
            yield
            return
        with self._cond:
            self._limit = limit
        try:
            yield
        finally:
            with self._cond:
                self._limit = self._normal
                self._cond.notify_all()


def decoders_while_encoding(device: str, encoder_threads: int | None) -> int | None:
    """How many decode threads may overlap a CPU encode: the cores torch's team leaves free.

    None (no limit) when the model runs on an accelerator, which leaves the CPU to decoding.
    """
    if not device.startswith("cpu"):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, cores - (encoder_threads or cores))


def torch_threads() -> int | None:
    """This thread's torch intra-op thread count, or None when torch is not imported."""
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


def set_torch_threads(n: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def init_decode_thread() -> None:
    """Give a decode thread one torch intra-op thread (to-tensor and normalise on one image).

    With torch's OpenMP backend the count is per thread, so the encoder's thread keeps its own.
    torch reads the process default lazily, once per thread; asking for it first makes sure that
    lazy read cannot later undo the setting.
    """
    if torch_threads() is not None:
        set_torch_threads(1)
