"""One writer per library: the data dir's write lock, across processes.

An OS file lock (filelock: flock on POSIX, LockFileEx on Windows) on `<data dir>/write.lock`,
held only while something writes (an index run, adding or removing a folder), so a window that
keeps its library open never blocks a command line, and readers (search, status) never take it.
The kernel drops the lock when its process dies, even by SIGKILL, so a stale lock is simply taken
over by the next writer. The holder's PID is written beside it (`write.lock.pid`) so that a
refused writer can say who holds the library; a PID whose process is gone, or a PID file the
lock is not held with, is never reported.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from mmexplorer.core import paths
from mmexplorer.core.errors import LibraryBusyError
from mmexplorer.core.fsutil import atomic_write

log = logging.getLogger(__name__)

# How long a refused writer waits for the holder to finish writing its PID file.
_PID_GRACE_S = 0.5
# What a holder does, written beside its PID. A writer finding the lock held for CHECKING (an
# Engine that is opening checks its indexes against the catalog, for a second or so) waits for it
# up to BRIEF_WAIT_S instead of failing at once.
WRITING = "writing"
CHECKING = "checking"
BRIEF_WAIT_S = 30.0


class LibraryLock:
    """The write lock of one data dir. Re-entrant within its owner (an index run adds its roots).

    Args:
        data_dir: the library's data dir (it must exist).
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = paths.lock_path(self.data_dir)
        self.pid_path = self.path.with_name(self.path.name + ".pid")
        self._lock = filelock.FileLock(self.path, mode=paths.PRIVATE_FILE_MODE, thread_local=False)
        self._depth = 0

    @property
    def held(self) -> bool:
        """This object holds the lock now."""
        return self._depth > 0

    def acquire(
        self,
        *,
        timeout: float = 0.0,
        on_wait: Callable[[int | None], None] | None = None,
        purpose: str = WRITING,
    ) -> None:
        """Take the lock, or raise LibraryBusyError naming the holder's PID.

        Args:
            timeout: seconds to wait for the holder to finish (0: fail at once; < 0: wait forever).
                A holder that is only CHECKING is waited for at least BRIEF_WAIT_S.
            on_wait: called once with the holder's PID (None if unknown) before waiting.
            purpose: WRITING, or CHECKING for a short consistency check.
        """
        if self._depth:
            self._depth += 1
            return
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            pid, what = self.holder_info()
            wait = timeout
            if what == CHECKING and 0 <= wait < BRIEF_WAIT_S:
                wait = BRIEF_WAIT_S
            if wait == 0:
                raise LibraryBusyError(self.data_dir, pid) from None
            if on_wait is not None and what != CHECKING:
                on_wait(pid)
            try:
                self._lock.acquire(timeout=wait)
            except filelock.Timeout:
                raise LibraryBusyError(self.data_dir, self.holder()) from None
        self._claim(purpose)

    def try_acquire(self, *, purpose: str = WRITING) -> bool:
        """Take the lock if it is free now; False (and nothing else) if another process holds it."""
        if self._depth:
            self._depth += 1
            return True
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        self._claim(purpose)
        return True

    def _claim(self, purpose: str) -> None:
        """Just after the OS lock was taken: say who holds it (replacing a dead holder's PID)."""
        try:
            paths.private_file(self.path)
            atomic_write(self.pid_path, f"{os.getpid()} {purpose}\n", fsync=False)
        except BaseException:
            self._lock.release()
            raise
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth:
            return
        try:
            self.pid_path.unlink(missing_ok=True)
        except OSError as e:
            log.warning("cannot remove %s: %s", self.pid_path, e)
        self._lock.release()

    @contextmanager
    def hold(self, *, timeout: float = 0.0, on_wait: Callable[[int | None], None] | None = None) -> Iterator[None]:
        """`with lock.hold():` the block runs as the library's only writer (see `acquire`)."""
        self.acquire(timeout=timeout, on_wait=on_wait)
        try:
            yield
        finally:
            self.release()

    def holder(self) -> int | None:
        """The PID of the process that holds the lock, if it is known and alive."""
        return self.holder_info()[0]

    def holder_info(self) -> tuple[int | None, str]:
        """(PID, purpose) of the process that holds the lock; (None, "") when not known.

        Meant for while another holds the lock: the holder writes its PID right after taking it,
        so a PID file that is missing or names a dead process (one killed while holding a lock the
        kernel has since handed on) is waited for briefly, then not trusted.
        """
        deadline = time.monotonic() + _PID_GRACE_S
        while True:
            pid, what = _read_pid(self.pid_path)
            if pid is not None and (pid == os.getpid() or _alive(pid)):
                return pid, what
            if time.monotonic() >= deadline:
                return None, ""
            time.sleep(0.05)


def _read_pid(path: Path) -> tuple[int | None, str]:
    try:
        fields = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None, ""
    if not fields or not fields[0].isdigit() or int(fields[0]) <= 0:
        return None, ""
    return int(fields[0]), (fields[1] if len(fields) > 1 else WRITING)


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check there; the lock itself is the truth
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
