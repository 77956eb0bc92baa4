"""A cross-process lock per cache entry: it dies with its holder, and every wait is bounded."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from credproc.errors import MfaUnavailable

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

if os.name == "nt":
    import msvcrt

    def try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
    except (OSError, AttributeError):
        return "unknown"


@contextmanager
def held(path: str, who: str, timeout: float) -> Iterator[None]:
    """Hold the lock at `path`; `who` (pid and profile, no secrets) is shown to waiters."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while not try_lock(fd):
            if time.monotonic() > deadline:
                raise MfaUnavailable(
                    f"waited {timeout:.0f} s for another credproc ({_holder(fd)})",
                    "answer or cancel its prompt, or end that process",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        os.ftruncate(fd, 0)
        os.write(fd, who.encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
