"""What the benchmarks share: progress lines on stderr and the load average printed beside figures."""

from __future__ import annotations

import os
import sys


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries the JSON figures)."""
    print(msg, file=sys.stderr, flush=True)


def loadavg() -> float | None:
    """The 1-minute load average, printed beside speed figures (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
