"""Work-arounds for bugs in the Qt binding that the app cannot otherwise avoid.

PySide6 6.12.0 on CPython 3.11 drops a reference to `None` on every call of a method that returns
nothing (`QLabel.setText`, `QTimer.start`, `processEvents`...) and to `True` on every
`Signal.emit`. From CPython 3.12 these singletons are immortal and the bug is harmless; on 3.11
their reference counts drain until the interpreter aborts with "Fatal Python error: bool_dealloc"
(or none_dealloc), after some thousands of calls, in the middle of a session or at exit.
The real fix is a PySide6 without the bug (6.11.x); until the environment has one,
`guard_singleton_refcounts` gives the three singletons the effectively endless reference count
that CPython 3.12 gives them, so the lost references cannot reach zero.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_TOP_UP = 1 << 40  # a million lost references per second would take 12 days to drain this
_guarded = False


def binding_drops_references() -> bool:
    """Whether this PySide6 loses references to None/True on ordinary calls (probed, not guessed)."""
    if sys.version_info >= (3, 12):
        return False  # None, True and False are immortal
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(16):
        probe.ping.emit()
        probe.setObjectName("probe")
    lost = (before_true - sys.getrefcount(True)) + (before_none - sys.getrefcount(None))
    return lost >= 16


def guard_singleton_refcounts() -> bool:
    """Protect None/True/False from a binding that drops references to them. Idempotent.

    Returns:
        True when the guard was needed (and is now in place).
    """
    global _guarded
    if _guarded:
        return True
    if not binding_drops_references():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object (non-debug builds, < 3.12).
        ctypes.c_ssize_t.from_address(id(obj)).value += _TOP_UP
    _guarded = True
    import PySide6

    log.warning(
        "PySide6 %s loses references to None/True on CPython %d.%d; guarding them "
        "(install PySide6 6.11.x to remove the need)",
        PySide6.__version__,
        *sys.version_info[:2],
    )
    return True
