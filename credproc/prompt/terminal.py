"""The user's terminal, opened directly: /dev/tty on POSIX, CONIN$/CONOUT$ on Windows.

SDKs pipe stdin, stdout and stderr of a credential_process, so those are never used here.
An MFA code is read with the terminal's modes untouched: typing is echoed by the terminal
itself, so a credproc killed mid-prompt (the Go SDK kills its credential_process after a
minute) cannot leave the terminal without echo. Only a secret typed for `credproc add`, a
command a person runs, is read with echo off; the modes are put back on every way out.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from credproc import log
from credproc.errors import MfaUnavailable
from credproc.prompt.request import cancelled, timed_out

LINE_LIMIT = 256  # far more than a code; a longer line is read in full but cut here


class Terminal(Protocol):
    name: str

    def write(self, text: str) -> None: ...
    def discard_typeahead(self) -> None: ...
    def read_line(self, timeout: float, *, echo: bool = True) -> str: ...
    def close(self) -> None: ...


class PosixTerminal:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.name = "/dev/tty"

    def write(self, text: str) -> None:
        data = text.encode(errors="replace")
        while data:
            try:
                data = data[os.write(self.fd, data) :]
            except BlockingIOError:  # O_NONBLOCK and the output queue is full: let it drain
                select.select([], [self.fd], [], 1.0)

    def discard_typeahead(self) -> None:
        """Keys typed before the prompt showed (a stray Enter) must not count as a try."""
        import termios

        with contextlib.suppress(termios.error):
            termios.tcflush(self.fd, termios.TCIFLUSH)

    def read_line(self, timeout: float, *, echo: bool = True) -> str:
        """One line in the terminal's own line editing; Ctrl-C and Ctrl-D cancel."""
        if not echo:
            with _echo_off(self.fd):
                return self.read_line(timeout)
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while b"\n" not in data and b"\r" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    self.write("\n")
                    raise timed_out(timeout)
                try:
                    chunk = os.read(self.fd, LINE_LIMIT)
                except BlockingIOError:  # another reader of this terminal took the line
                    continue
                if not chunk:  # Ctrl-D on an empty line
                    self.write("\n")
                    raise cancelled("with Ctrl-D")
                data = (data + chunk)[-LINE_LIMIT:]
        except KeyboardInterrupt:  # Ctrl-C: SIGINT from the terminal driver
            self.write("\n")
            raise cancelled("with Ctrl-C") from None
        except OSError as exc:  # the terminal hung up
            raise MfaUnavailable(
                f"the terminal went away while asking for the MFA code ({exc.strerror})",
                "run again in a terminal",
            ) from None
        return data.replace(b"\r", b"\n").split(b"\n", 1)[0].decode(errors="replace")

    def close(self) -> None:
        os.close(self.fd)


@contextlib.contextmanager
def _posix_modes_kept(terminal: Terminal | None) -> Iterator[None]:
    """Put the terminal's modes back afterwards: for a helper (pinentry) that may be killed."""
    fd = getattr(terminal, "fd", None)
    if fd is None:
        yield
        return
    import termios

    try:
        saved: list[Any] | None = termios.tcgetattr(fd)
    except termios.error:
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            _set_modes(fd, saved)


def _stop_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # read_line's way out as cancelled, through every `finally`


@contextlib.contextmanager
def _echo_off(fd: int) -> Iterator[None]:
    """Echo off (a newline still shows); SIGTERM and SIGHUP meanwhile end the read as a
    Ctrl-C does, so that the modes are put back before credproc ends."""
    import signal
    import termios

    saved = termios.tcgetattr(fd)
    quiet = [*saved]
    quiet[3] = (quiet[3] & ~termios.ECHO) | termios.ECHONL
    before = {
        sig: signal.signal(sig, _stop_as_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        _set_modes(fd, quiet)
        yield
    finally:
        _set_modes(fd, saved)
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _set_modes(fd: int, modes: list[Any]) -> None:
    import signal
    import termios

    try:  # tcsetattr from a background process group raises SIGTTOU: ignore it meanwhile
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    except ValueError:  # not the main thread
        old = None
    try:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, modes)
    finally:
        if old is not None:
            signal.signal(signal.SIGTTOU, old)


class WindowsTerminal:
    """The console through msvcrt; functions are parameters so tests can stand in for them."""

    name = "CONIN$"

    def __init__(
        self,
        kbhit: Callable[[], bool],
        getwch: Callable[[], str],
        putwch: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kbhit, self.getwch, self.putwch = kbhit, getwch, putwch
        self.sleep, self.clock = sleep, clock

    def write(self, text: str) -> None:
        for char in text.replace("\r\n", "\n").replace("\n", "\r\n"):
            self.putwch(char)

    def discard_typeahead(self) -> None:
        while self.kbhit():
            self.getwch()

    def read_line(self, timeout: float, *, echo: bool = True) -> str:
        """Typed keys echoed by hand (getwch does not echo), unless not `echo`; Ctrl-C, Ctrl-Z,
        Ctrl-D cancel."""
        deadline = self.clock() + timeout
        typed: list[str] = []
        while True:
            if not self.kbhit():
                if self.clock() > deadline:
                    self.write("\n")
                    raise timed_out(timeout)
                self.sleep(0.02)
                continue
            char = self.getwch()
            if char in ("\r", "\n"):
                self.write("\n")
                return "".join(typed)
            if char in ("\x00", "\xe0"):  # arrows, F-keys: a second char follows
                self.getwch()
                continue
            if char == "\x03":
                self.write("\n")
                raise cancelled("with Ctrl-C")
            if char in ("\x1a", "\x04") and not typed:
                self.write("\n")
                raise cancelled("with Ctrl-Z" if char == "\x1a" else "with Ctrl-D")
            if char == "\x08":
                if typed:
                    typed.pop()
                    if echo:
                        self.write("\b \b")
                continue
            if char < " " or len(typed) >= LINE_LIMIT:
                continue
            typed.append(char)
            if echo:
                self.putwch(char)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _windows_modes_kept(terminal: Terminal | None) -> Iterator[None]:
    yield  # the console's modes are never changed by credproc or its helpers


def _open_windows_console() -> Terminal | None:
    try:
        import msvcrt

        with open("CONOUT$", "w"):  # no console attached: fails
            pass
    except OSError:
        return None
    return WindowsTerminal(msvcrt.kbhit, msvcrt.getwch, msvcrt.putwch)  # type: ignore[attr-defined]


def _open_dev_tty() -> Terminal | None:
    try:
        # O_NONBLOCK: when another process reads the line that woke us both, os.read must
        # not wait for the next one past our deadline
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        # from a background job (`cmd &`), reading or flushing the terminal stops the whole
        # job with SIGTTIN/SIGTTOU: only the foreground may ask
        if os.tcgetpgrp(fd) == os.getpgrp():
            return PosixTerminal(fd)
    except OSError:
        pass
    os.close(fd)
    return None


# The platform is chosen once, here: the controlling terminal, or None when the process has
# none or is not in its foreground (a background job); and how its modes are kept.
if sys.platform == "win32":
    open_terminal = _open_windows_console
    modes_kept = _windows_modes_kept
else:
    open_terminal = _open_dev_tty
    modes_kept = _posix_modes_kept


def tell(text: str) -> None:
    """A line for the person on the terminal (never on stdout/stderr, which SDKs capture)."""
    terminal = open_terminal()
    if terminal is None:
        log.debug(text)
        return
    try:
        terminal.write(f"credproc: {text}\n")
    finally:
        terminal.close()
