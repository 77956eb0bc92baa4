"""Ask through a pinentry program, speaking the Assuan protocol over its stdin and stdout.

One pinentry per question, as gpg-agent runs it: greeting, OPTIONs for the terminal,
SETTITLE/SETDESC/SETPROMPT/SETERROR/SETTIMEOUT, GETPIN, BYE. Every read has a deadline,
so a pinentry that hangs or dies is an error, never a hang.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from typing import IO

from credproc.errors import ConfigError, MfaUnavailable
from credproc.profiles import Settings
from credproc.prompt.process import child_env
from credproc.prompt.request import CodeRequest, cancelled, no_prompt, timed_out
from credproc.prompt.terminal import modes_kept, open_terminal

TERMINAL_PINENTRIES = ("pinentry-tty", "pinentry-curses")
LINE_LIMIT = 1000  # bytes in an Assuan line, LF included; a longer one is a protocol error
SETUP_SECONDS = 10.0  # a pinentry greets and answers setup commands at once
GRACE_SECONDS = 2.0  # after pinentry's own SETTIMEOUT has passed, before credproc gives up
BYE_SECONDS = 1.0
# libgpg-error codes, the low 16 bits of the number after ERR
GPG_ERR_TIMEOUT = 62
GPG_ERR_CANCELED = 99
GPG_ERR_FULLY_CANCELED = 198
PLAIN_OPTION = re.compile(r"[\w.@+/:-]{1,200}")  # OPTION values are not unescaped: send plain


def program(settings: Settings) -> str:
    """The pinentry to run (credproc_pinentry, else `pinentry` on PATH), or "" if none."""
    return shutil.which(os.path.expanduser(settings.pinentry or "pinentry")) or ""


def shows_windows(program: str) -> bool:
    """False for the pinentry flavours that only draw on a terminal: without one, they
    answer "cancelled" or fail, which would hide the real problem (no way to ask)."""
    name = os.path.basename(os.path.realpath(program))
    return name not in TERMINAL_PINENTRIES


def escape(text: str, budget: int = LINE_LIMIT - 64) -> str:
    """Percent-escape a command's parameter: %, CR and LF must be, other control characters
    are for safety, and a trailing backslash must be. Cut to `budget` bytes."""
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = f"%{ord(char):02X}" if char == "%" or char < " " or char == "\x7f" else char
        used += len(piece.encode())
        if used > budget:
            break
        pieces.append(piece)
    if pieces and pieces[-1] == "\\":
        pieces[-1] = "%5C"
    return "".join(pieces)


def unescape(data: bytes) -> bytes:
    """Decode %XX in a data line; a bad escape is a protocol error (ValueError)."""
    parts = data.split(b"%")
    out = bytearray(parts[0])
    for part in parts[1:]:
        if len(part) < 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", part[:2]):
            raise ValueError("bad percent escape")
        out.append(int(part[:2], 16))
        out += part[2:]
    return bytes(out)


class Pinentry:
    """One running pinentry and the conversation with it."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.name = os.path.basename(program)
        try:
            self.child = subprocess.Popen(
                [program],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=child_env(),
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot run pinentry {program}: {exc.strerror}",
                "fix credproc_pinentry, or set credproc_prompt = tty",
            ) from None
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.idle = False  # True between a reply's end and the next command
        # a reader thread, not select(): pipes cannot be select()ed on Windows
        assert self.child.stdout is not None
        self.pump = threading.Thread(target=self._pump, args=(self.child.stdout,), daemon=True)
        self.pump.start()

    def _pump(self, stream: IO[bytes]) -> None:
        while True:
            line = stream.readline(LINE_LIMIT + 1)
            self.lines.put(line)
            if not line:
                return

    def unavailable(self, what: str) -> MfaUnavailable:
        return MfaUnavailable(
            f"pinentry {self.program} {what}",
            "check credproc_pinentry, or set credproc_prompt = tty",
        )

    def garbage(self) -> MfaUnavailable:
        # never the line itself: it could carry the code
        return self.unavailable("answered something that is not the Assuan protocol")

    def read(self, deadline: float, silent: MfaUnavailable) -> bytes:
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise silent from None
        if len(line) > LINE_LIMIT:
            raise self.garbage()
        if not line.endswith(b"\n"):
            raise self.unavailable("ended without answering")
        return line.rstrip(b"\r\n")

    def send(self, line: str) -> None:
        assert self.child.stdin is not None
        try:
            self.child.stdin.write(line.encode() + b"\n")
            self.child.stdin.flush()
        except OSError:  # BrokenPipeError: it is gone
            raise self.unavailable("ended without answering") from None

    def transact(
        self, command: str, deadline: float, silent: MfaUnavailable
    ) -> tuple[bytes, int, str]:
        """Send a command; (data, 0, "") on OK, (data, error code, text) on ERR."""
        self.idle = False
        self.send(command)
        data = bytearray()
        while True:
            line = self.read(deadline, silent)
            if line == b"OK" or line.startswith(b"OK "):
                self.idle = True
                return bytes(data), 0, ""
            if line.startswith(b"ERR "):
                words = line.decode(errors="replace").split(" ", 2)
                if not words[1].isdigit():
                    raise self.garbage()
                text = words[2] if len(words) > 2 else ""
                self.idle = True
                return bytes(data), int(words[1]), "".join(c for c in text if c.isprintable())
            if line.startswith(b"D "):
                try:
                    data += unescape(line[2:])
                except ValueError:
                    raise self.garbage() from None
            elif line.startswith(b"INQUIRE "):
                self.send("END")  # nothing credproc asks for inquires; answer with no data
            elif not (line == b"" or line.startswith((b"#", b"S ")) or line == b"S"):
                raise self.garbage()

    def _said_bye(self) -> bool:
        try:
            self.send("BYE")
            self.read(time.monotonic() + BYE_SECONDS, self.unavailable(""))
            return True
        except MfaUnavailable:
            return False

    def _gone_within(self, seconds: float) -> bool:
        try:
            self.child.wait(seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        """BYE if it waits for a command, then make sure it is gone: terminate (curses
        restores the screen on SIGTERM), then kill."""
        if not (self.idle and self._said_bye() and self._gone_within(BYE_SECONDS)):
            for stop in (self.child.terminate, self.child.kill):
                stop()
                if self._gone_within(BYE_SECONDS):
                    break
        streams = [self.child.stdin]
        self.pump.join(BYE_SECONDS)
        if not self.pump.is_alive():  # closing under a blocked reader would wait for it
            streams.append(self.child.stdout)
        for stream in streams:
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def description(request: CodeRequest) -> str:
    role = request.role_arn or "none: an MFA session, for every role of this device"
    return (
        "credproc needs a one-time code from your MFA device.\n\n"
        f"Profile: {request.profile}\nRole: {role}\nDevice: {request.mfa_serial}"
    )


def setup(request: CodeRequest, problem: str, on_terminal: bool) -> list[str]:
    """The commands before GETPIN."""
    commands = []
    if on_terminal:  # our child shares our controlling terminal: /dev/tty is its name too
        commands.append("OPTION ttyname=/dev/tty")
        term = os.environ.get("TERM", "")
        ctype = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG")
        if PLAIN_OPTION.fullmatch(term):
            commands.append(f"OPTION ttytype={term}")
        if ctype and PLAIN_OPTION.fullmatch(ctype):
            commands.append(f"OPTION lc-ctype={ctype}")
    commands += [
        "SETTITLE " + escape(f"credproc: MFA code for {request.profile}"),
        "SETDESC " + escape(description(request)),
        "SETPROMPT MFA code:",
    ]
    if problem:
        commands.append("SETERROR " + escape(problem))
    commands.append(f"SETTIMEOUT {max(1, math.ceil(request.timeout))}")
    return commands


def converse(program: str, request: CodeRequest, problem: str, on_terminal: bool) -> str:
    pinentry = Pinentry(program)
    try:
        seconds = min(SETUP_SECONDS, request.timeout)
        deadline = time.monotonic() + seconds
        silent = pinentry.unavailable(f"did not answer within {seconds:.2g} s")
        if not pinentry.read(deadline, silent).startswith(b"OK"):
            raise pinentry.garbage()
        pinentry.idle = True
        for command in setup(request, problem, on_terminal):
            pinentry.transact(command, deadline, silent)  # an ERR: an older pinentry, go on
        deadline = time.monotonic() + request.timeout + GRACE_SECONDS
        data, error, text = pinentry.transact("GETPIN", deadline, timed_out(request.timeout))
        if not error:
            return data.decode(errors="replace")
        if error & 0xFFFF in (GPG_ERR_CANCELED, GPG_ERR_FULLY_CANCELED):
            raise cancelled(f"in {pinentry.name}")
        if error & 0xFFFF == GPG_ERR_TIMEOUT:
            raise timed_out(request.timeout)
        raise no_prompt(request.profile, f"{pinentry.name} could not ask ({text[:100]})")
    except KeyboardInterrupt:  # Ctrl-C reached us and the pinentry alike
        raise cancelled("with Ctrl-C") from None
    finally:
        pinentry.close()


def ask(request: CodeRequest, problem: str) -> str:
    found = program(request.settings)
    if not found:
        wanted = request.settings.pinentry or "pinentry"
        raise ConfigError(
            f"the MFA prompt is pinentry but {wanted} is not an installed program",
            "install pinentry (pinentry-gnome3, pinentry-qt, pinentry-mac, pinentry-tty) "
            "or set credproc_pinentry to its path",
        )
    terminal = open_terminal()
    try:
        with modes_kept(terminal):  # a pinentry killed mid-question leaves raw mode behind
            return converse(found, request, problem, getattr(terminal, "fd", None) is not None)
    finally:
        if terminal is not None:
            terminal.close()
