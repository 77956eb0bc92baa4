"""Asking for the MFA code: one module per way of asking, and the `auto` policy in one place.

Each module (tty, pinentry, process) has `ask(request, problem) -> str`, and says with
`REPEATS_CODES` whether asking again within a TOTP step gives the same code back (a
program does, a person waits for the next one by themselves).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import NamedTuple

from credproc import log
from credproc.errors import ConfigError, MfaUnavailable, NoPrompt
from credproc.plan import Settings
from credproc.terminal import PromptTimedOut, open_terminal, timed_out

TRIES = 3
TOTP_STEP = 30  # seconds a TOTP code is shown for (RFC 6238's default, used by every MFA app)
DEFAULT_TIMEOUT = 120.0
METHODS = ("tty", "pinentry", "process")
TERMINAL_PINENTRIES = ("pinentry-tty", "pinentry-curses")
NOT_A_CODE = "that was not a 6-digit code, try again"
ALREADY_USED = "code already used, waiting for the next one"


class CodeRequest(NamedTuple):
    profile: str  # the profile credproc was asked for
    mfa_serial: str
    role_arn: str  # "" for an MFA session
    settings: Settings
    timeout: float

    def describe(self) -> str:
        what = f"role {self.role_arn}" if self.role_arn else "an MFA session"
        return f"profile {self.profile}, {what}, device {self.mfa_serial}"


# (request, problem with the previous answer or "") -> what the person or program gave
Ask = Callable[[CodeRequest, str], str]


def prompt_timeout() -> float:
    raw = os.environ.get("CREDPROC_PROMPT_TIMEOUT", "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise ConfigError(
            f"CREDPROC_PROMPT_TIMEOUT={raw} is not a positive number of seconds",
            "set it to e.g. 120",
        )
    return seconds


def pinentry_program(settings: Settings) -> str:
    """The pinentry to run (credproc_pinentry, else `pinentry` on PATH), or "" if none."""
    return shutil.which(os.path.expanduser(settings.pinentry or "pinentry")) or ""


def graphical() -> bool:
    """Whether a window can be shown here: a graphical session, or macOS."""
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def shows_windows(program: str) -> bool:
    """False for the pinentry flavours that only draw on a terminal: without one, they
    answer "cancelled" or fail, which would hide the real problem (no way to ask)."""
    name = os.path.basename(os.path.realpath(program))
    return name not in TERMINAL_PINENTRIES


def choose(settings: Settings) -> str:
    """The way of asking: CREDPROC_PROMPT, then credproc_prompt, then the `auto` order.

    "none" when nothing can ask; CodeSource turns that into a NoPrompt.
    """
    env = os.environ.get("CREDPROC_PROMPT", "").strip()
    method, origin = (env, "CREDPROC_PROMPT") if env else (settings.prompt, "credproc_prompt")
    if method not in ("auto", *METHODS):
        raise ConfigError(f"{origin}={method} is not known", "use auto, tty, pinentry or process")
    if method == "process" and not settings.mfa_process:
        raise ConfigError(
            f"{origin} = process but credproc_mfa_process is not set",
            "set credproc_mfa_process to a command that prints the code",
        )
    if method != "auto":
        return method
    if settings.mfa_process:
        return "process"
    terminal = open_terminal()
    if terminal is not None:
        terminal.close()
        return "tty"
    program = pinentry_program(settings)
    if program and graphical() and shows_windows(program):
        return "pinentry"
    return "none"


def no_prompt(profile: str, why: str) -> NoPrompt:
    return NoPrompt(
        f"profile {profile} needs an MFA code and {why}",
        f"run `credproc login --profile {profile}` in a terminal, "
        "or set credproc_mfa_process to a command that prints the code",
    )


def notice(text: str) -> None:
    """A line for the person on the terminal (never on stdout/stderr, which SDKs capture)."""
    terminal = open_terminal()
    if terminal is None:
        log.debug(text)
        return
    try:
        terminal.write(f"credproc: {text}\n")
    finally:
        terminal.close()


def normalize(answer: str) -> str | None:
    """Six digits, spaces allowed between them; anything else is a typo."""
    code = "".join(answer.split())
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


def seconds_to_next_code(now: float) -> float:
    """From `now` to one second into the next TOTP step, when a program shows a new code."""
    return TOTP_STEP - now % TOTP_STEP + 1


def not_asking(seconds: float) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


class CodeSource:
    """Codes for one device, re-asked on a typo, a code used lately, or a rejection by STS;
    at most TRIES answers in all, all within one prompt timeout from the first ask (so that
    processes waiting for this one's lock wait long enough). A cancel ends the asking at once.
    """

    def __init__(
        self,
        request: CodeRequest,
        claim: Callable[[str], bool],
        *,
        asking: Callable[[float], AbstractContextManager[None]] = not_asking,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.request = request
        self.claim = claim  # marks a code as sent; False when it was sent lately
        # held around each ask, waiting at most the given seconds: one prompt at a time
        self.asking = asking
        self.sleep, self.clock = sleep, clock
        self.tries = 0
        self.deadline: float | None = None
        self.name = choose(request.settings)

    def _left(self) -> float:
        """Seconds left of the prompt timeout; the timeout error when none are."""
        if self.deadline is None:
            self.deadline = self.clock() + self.request.timeout
        left = self.deadline - self.clock()
        if left <= 0:
            raise timed_out(self.request.timeout, "no MFA code")
        return left

    def _ask(self, ask: Ask, problem: str) -> str:
        try:
            with self.asking(self._left()):  # a wait for another's prompt counts, too
                return ask(self.request._replace(timeout=self._left()), problem)
        except PromptTimedOut as exc:  # it had what was left; say what the user set
            raise exc.within(self.request.timeout) from None

    def next(self, problem: str = "") -> str:
        if self.name == "none":
            raise no_prompt(self.request.profile, "there is no terminal to ask in")
        module = importlib.import_module(f"credproc.prompt.{self.name}")
        ask: Ask = module.ask
        while self.tries < TRIES:
            self.tries += 1
            code = normalize(self._ask(ask, problem))
            if code is None:
                problem = NOT_A_CODE
                continue
            if not self.claim(code):
                problem = ALREADY_USED
                # a program prints the same code until the next step: wait for it, and say so
                if module.REPEATS_CODES and self.tries < TRIES:
                    wait = seconds_to_next_code(self.clock())
                    if wait >= self._left():  # the next code comes too late: fail now
                        raise timed_out(self.request.timeout, "no MFA code")
                    notice(problem)
                    self.sleep(wait)
                    problem = ""
                continue
            return code
        raise MfaUnavailable(
            f"no usable MFA code for profile {self.request.profile} after {TRIES} tries",
            f"run `credproc login --profile {self.request.profile}` and type a current code",
        )
