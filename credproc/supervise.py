"""The command of `exec --server`, run as a shell runs a foreground job: it shares credproc's
terminal and process group, its exit status becomes credproc's, and SIGINT, SIGTERM and
SIGHUP sent to credproc reach it.

A terminal sends Ctrl-C (SIGINT) to its whole foreground process group, so the command already
has it: relaying it would deliver it twice, and a second SIGINT makes terraform abort without
cleaning up. Every other SIGINT, SIGTERM and SIGHUP is relayed. A signal sent to the whole
group (`kill -- -PGID`, a shell's SIGHUP to its jobs) reaches the command directly and,
relayed, once more: nothing tells that apart from a signal sent to credproc alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

from credproc.errors import UsageError

RELAYED = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
SI_KERNEL = 0x80  # Linux's si_code of a signal the kernel sent: the terminal driver's


def check_runnable(command: list[str], env: dict[str, str]) -> None:
    """Fail before anything is asked or served when CMD is not there to run."""
    if shutil.which(command[0], path=env.get("PATH", os.defpath)) is None:
        raise UsageError(
            f"cannot run {command[0]}: not found, or not an executable file", "check the command"
        )


def start(
    command: list[str], env: dict[str, str], core_limit: int | None
) -> subprocess.Popen[bytes]:
    """CMD, started with the user's signal mask and core limit; a UsageError (exit 2) when it
    cannot be started."""
    try:
        return subprocess.Popen(command, env=env, preexec_fn=_as_the_user(core_limit))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot run {command[0]}: {reason}", "check the command") from None


def _as_the_user(core_limit: int | None) -> Callable[[], None] | None:
    """What runs in the child before exec: credproc's blocked signals and its core limit of 0
    are credproc's own, not the command's. Called before any thread starts, so the fork is safe."""
    if os.name == "nt":
        return None

    def restore() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        if core_limit is not None:
            import resource

            with contextlib.suppress(ValueError, OSError):
                hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
                resource.setrlimit(resource.RLIMIT_CORE, (core_limit, hard))

    return restore


def _relay(child: subprocess.Popen[bytes], signo: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signo)


def _in_our_group(child: subprocess.Popen[bytes]) -> bool:
    """Whether the command is still in credproc's process group (it may have left it)."""
    try:
        return os.getpgid(child.pid) == os.getpgrp()
    except OSError:
        return False


def _hold_by_siginfo() -> None:
    # blocked in this thread before the command and the server's threads start, which inherit
    # the mask: every one of these signals then waits for sigwaitinfo in `_wait_by_siginfo`
    signal.pthread_sigmask(signal.SIG_BLOCK, {*RELAYED, signal.SIGCHLD})


def _wait_by_siginfo(child: subprocess.Popen[bytes]) -> int:
    """Linux: the sender of each signal is known, so the terminal's Ctrl-C is not relayed."""
    waited = {*RELAYED, signal.SIGCHLD}
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo == signal.SIGCHLD:
            if child.poll() is not None:  # not a prompt program of a renewal
                return child.returncode
            continue
        from_terminal = info.si_signo == signal.SIGINT and info.si_code == SI_KERNEL
        if not (from_terminal and _in_our_group(child)):
            _relay(child, info.si_signo)


def _in_terminal_foreground() -> bool:
    """Whether a terminal could have sent this process group its Ctrl-C."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


running: list[subprocess.Popen[bytes]] = []  # the command, for the handler of `_hold_by_handlers`


def _hold_by_handlers() -> None:
    def relay(signo: int, _frame: object) -> None:
        if not running:  # before the command started: it is not there to have it
            return
        child = running[0]
        if signo != signal.SIGINT or not (_in_terminal_foreground() and _in_our_group(child)):
            _relay(child, signo)

    running.clear()
    for signo in RELAYED:
        signal.signal(signo, relay)


def _wait_by_handlers(child: subprocess.Popen[bytes]) -> int:
    """Other POSIX systems: the sender is not known, so a SIGINT is relayed only when no
    terminal could have sent it to the command too."""
    running.append(child)
    return child.wait()


def _hold_on_windows() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process of the console


def _wait_on_windows(child: subprocess.Popen[bytes]) -> int:
    return child.wait()


# The platform is chosen once, here: `hold` before the command starts, `wait` for its end.
if sys.platform.startswith("linux"):
    hold, wait = _hold_by_siginfo, _wait_by_siginfo
elif os.name == "nt":
    hold, wait = _hold_on_windows, _wait_on_windows
else:
    hold, wait = _hold_by_handlers, _wait_by_handlers


def exit_like(returncode: int) -> int:
    """credproc's exit status for the command's: its own, or, when a signal killed it, death by
    the same signal (so a calling shell or script sees what it would have seen without
    credproc); 128 + N where the signal does not end this process."""
    if returncode >= 0 or os.name == "nt":
        return returncode
    signo = -returncode
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signo, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})
        os.kill(os.getpid(), signo)
    return 128 + signo
