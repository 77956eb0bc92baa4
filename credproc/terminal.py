"""The user's terminal, opened directly: /dev/tty on POSIX, CONIN$/CONOUT$ on Windows.

SDKs pipe stdin, stdout and stderr of a credential_process, so those are never used here.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import Protocol

from credproc.errors import MfaCancelled, MfaUnavailable


class Terminal(Protocol):
    name: str

    def write(self, text: str) -> None: ...
    def read_line(self, timeout: float) -> str: ...
    def close(self) -> None: ...


def _timed_out(timeout: float) -> MfaUnavailable:
    return MfaUnavailable(
        f"no MFA code typed within {timeout:.0f} s", "run again, or raise CREDPROC_PROMPT_TIMEOUT"
    )


class PosixTerminal:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.name = "/dev/tty"

    def write(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def read_line(self, timeout: float) -> str:
        """One line in the terminal's own line editing; Ctrl-D cancels, Ctrl-C raises."""
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                self.write("\n")
                raise _timed_out(timeout)
            chunk = os.read(self.fd, 256)
            if not chunk:  # Ctrl-D on an empty line
                self.write("\n")
                raise MfaCancelled("MFA prompt cancelled", "run again to retry")
            data += chunk
        return data.decode(errors="replace")

    def close(self) -> None:
        os.close(self.fd)


class WindowsTerminal:
    """The console through msvcrt; functions are parameters so tests can stand in for them."""

    name = "CONIN$"

    def __init__(
        self,
        kbhit: Callable[[], bool],
        getwch: Callable[[], str],
        putwch: Callable[[str], None],
    ) -> None:
        self.kbhit, self.getwch, self.putwch = kbhit, getwch, putwch

    def write(self, text: str) -> None:
        for char in text:
            self.putwch(char)

    def read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        typed: list[str] = []
        while True:
            if not self.kbhit():
                if time.monotonic() > deadline:
                    self.write("\r\n")
                    raise _timed_out(timeout)
                time.sleep(0.02)
                continue
            char = self.getwch()
            if char in ("\r", "\n"):
                self.write("\r\n")
                return "".join(typed)
            if char == "\x03":
                raise KeyboardInterrupt
            if char in ("\x1a", "\x04") and not typed:  # Ctrl-Z / Ctrl-D
                self.write("\r\n")
                raise MfaCancelled("MFA prompt cancelled", "run again to retry")
            if char == "\x08":
                if typed:
                    typed.pop()
                    self.write("\x08 \x08")
                continue
            typed.append(char)
            self.putwch(char)

    def close(self) -> None:
        pass


def open_terminal() -> Terminal | None:
    """The controlling terminal, or None when the process has none."""
    if os.name == "nt":
        try:
            import msvcrt

            with open("CONOUT$", "w"):  # no console attached: fails
                pass
        except OSError:
            return None
        return WindowsTerminal(msvcrt.kbhit, msvcrt.getwch, msvcrt.putwch)
    try:
        return PosixTerminal(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return None
