"""Times as the ui writes them."""

from __future__ import annotations

import math


def format_clock(seconds: float | None) -> str:
    """ "0:07", "12:30", "1:02:03" (empty when unknown)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    total = int(seconds + 0.5)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
