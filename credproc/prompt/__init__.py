"""Asking for the MFA code: the registry of ways to ask, the `auto` policy, and the asking
itself (re-asked on a typo, a code used lately, or a code AWS rejected), with the words a
person reads. One module per way of asking: tty, pinentry, process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import NamedTuple, TypeVar

from credproc import rules
from credproc.errors import CodeRejected, ConfigError, MfaUnavailable
from credproc.profiles import Settings
from credproc.prompt import pinentry, process, tty
from credproc.prompt.request import (
    Ask,
    CodeRequest,
    PromptTimedOut,
    no_prompt,
    normalize,
    timed_out,
)
from credproc.prompt.terminal import open_terminal, tell

NOT_A_CODE = "that was not a 6-digit code, try again"
ALREADY_USED = "code already used, waiting for the next one"
REJECTED = "AWS did not accept that code, try the next one"
NO_TERMINAL = "there is no terminal to ask in"
NONE = "none"  # what `choose` answers when nothing can ask

T = TypeVar("T")


class Method(NamedTuple):
    ask: Ask
    repeats_codes: bool  # asked again within a TOTP step, it gives the same code back


METHODS: dict[str, Method] = {
    "tty": Method(tty.ask, repeats_codes=False),  # a person waits for the next code
    "pinentry": Method(pinentry.ask, repeats_codes=False),
    "process": Method(process.ask, repeats_codes=True),  # a program prints the same code
}


def graphical() -> bool:
    """Whether a window can be shown here: a graphical session, or macOS."""
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def choose(settings: Settings) -> str:
    """The way of asking: CREDPROC_PROMPT, then credproc_prompt, then the `auto` order;
    NONE when nothing can ask here."""
    env = os.environ.get("CREDPROC_PROMPT", "").strip()
    method, origin = (env, "CREDPROC_PROMPT") if env else (settings.prompt, "credproc_prompt")
    if method not in rules.PROMPT_SETTINGS:
        raise ConfigError(
            f"{origin}={method} is not known", "use " + ", ".join(rules.PROMPT_SETTINGS)
        )
    if method == "process" and not settings.mfa_process:
        raise ConfigError(
            f"{origin} = process but credproc_mfa_process is not set",
            "set credproc_mfa_process to a command that prints the code",
        )
    if method != rules.AUTO:
        return method
    if settings.mfa_process:
        return "process"
    terminal = open_terminal()
    if terminal is not None:
        terminal.close()
        return "tty"
    program = pinentry.program(settings)
    if program and graphical() and pinentry.shows_windows(program):
        return "pinentry"
    return NONE


def seconds_to_next_code(now: float) -> float:
    """From `now` to one second into the next TOTP step, when a program shows a new code."""
    return rules.TOTP_STEP - now % rules.TOTP_STEP + 1


def not_asking(seconds: float) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


class CodeSource:
    """Codes for one device, re-asked on a typo, a code used lately, or a rejection by STS;
    at most MFA_TRIES answers in all, all within one prompt timeout from the first ask (so
    that processes waiting for this one's lock wait long enough). A cancel ends it at once.
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
        """A well-formed code not sent lately, asking with `problem` shown first."""
        if self.name == NONE:
            raise no_prompt(self.request.profile, NO_TERMINAL)
        method = METHODS[self.name]
        while self.tries < rules.MFA_TRIES:
            self.tries += 1
            code = normalize(self._ask(method.ask, problem))
            if code is None:
                problem = NOT_A_CODE
                continue
            if not self.claim(code):
                problem = ALREADY_USED
                # a program prints the same code until the next step: wait for it, and say so
                if method.repeats_codes and self.tries < rules.MFA_TRIES:
                    wait = seconds_to_next_code(self.clock())
                    if wait >= self._left():  # the next code comes too late: fail now
                        raise timed_out(self.request.timeout, "no MFA code")
                    tell(problem)
                    self.sleep(wait)
                    problem = ""
                continue
            return code
        raise MfaUnavailable(
            f"no usable MFA code for profile {self.request.profile} after {rules.MFA_TRIES} tries",
            f"run `credproc login --profile {self.request.profile}` and type a current code",
        )

    def until_accepted(self, send: Callable[[str], T]) -> T:
        """What `send` returns for the first code it accepts; it raises CodeRejected for a
        code AWS refused, and the next code is asked for within the same tries."""
        problem = ""
        while True:
            try:
                return send(self.next(problem))
            except CodeRejected:
                problem = REJECTED
