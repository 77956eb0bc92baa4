"""A cross-process lock per cache entry: it dies with its holder, and every wait is bounded.

The lock file also holds a label (pid and profile, never a secret) so that a waiter that
gives up can say whom it waited for.

No deadlock: a process takes the locks of a plan from its target step toward its source,
and a step's identity includes the identity of the step before it, so every process takes
any two step locks in the same order. The prompt lock (one per user, held only around
asking) and the used-codes lock are taken last, one at a time, and nothing is taken while
either is held.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from credproc import log
from credproc.errors import MfaUnavailable, StoreError
from credproc.private import NOFOLLOW

# A waiter waits for the holder's prompt (bounded by the prompt timeout) and then for the
# holder's STS calls, which take well under a second when STS is healthy.
AFTER_PROMPT_SECONDS = 5.0
LABEL_BYTES = 200
FIRST_POLL, LAST_POLL = 0.005, 0.05

if sys.platform == "win32":  # spelled so that mypy checks the branch of the platform at hand
    import msvcrt

    # msvcrt locks byte ranges that block reads too: lock a byte past the label, which
    # stays readable to waiters.
    LOCKED_BYTE = 1 << 20

    def try_lock(fd: int) -> bool:
        os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def unlock(fd: int) -> None:
        os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def unlock(fd: int) -> None:
        pass  # closing the file releases a flock; so does the death of the process


def wait_bound(prompt_timeout: float) -> float:
    """How long to wait for another process that may be showing a prompt."""
    return prompt_timeout + AFTER_PROMPT_SECONDS


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        label = os.read(fd, LABEL_BYTES).decode(errors="replace")
    except OSError:
        return "unknown"
    label = "".join(c for c in label.splitlines()[0] if c.isprintable()) if label else ""
    return label or "unknown"


def _label(fd: int, who: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, who.encode(errors="replace")[:LABEL_BYTES])
    except OSError:
        pass  # a full disk or a read-only file: the lock holds without its label


def _open(path: str) -> int | None:
    """The lock file, created 0600; None when the folder cannot take one (read-only)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o600)
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW said ELOOP (EMLINK on FreeBSD)
            raise StoreError(f"refusing {path}: it is a symlink", f"remove {path}") from None
        first = exc
    try:
        return os.open(path, os.O_RDONLY | NOFOLLOW)  # flock needs no write access
    except OSError:
        log.warn(f"cannot create lock {path} ({first.strerror}): going on without it")
        return None


@contextmanager
def held(path: str, who: str, timeout: float) -> Iterator[None]:
    """Hold the lock at `path`, waiting at most `timeout` s; `who` is shown to waiters."""
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + timeout
        delay = FIRST_POLL
        waited = False
        while not try_lock(fd):
            if not waited:
                log.debug(f"waiting for another credproc ({_holder(fd)}) to finish")
                waited = True
            if time.monotonic() >= deadline:
                raise MfaUnavailable(
                    f"gave up after waiting {timeout:.4g} s for another credproc "
                    f"({_holder(fd)}) to finish",
                    "answer or cancel its MFA prompt, end that process, "
                    "or raise CREDPROC_PROMPT_TIMEOUT",
                )
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, LAST_POLL)
        try:
            _label(fd, who)
            yield
        finally:
            unlock(fd)
    finally:
        os.close(fd)
