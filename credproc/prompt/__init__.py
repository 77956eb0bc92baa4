"""Asking for the MFA code: one module per way of asking, and the `auto` policy in one place."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from credproc import log
from credproc.errors import ConfigError, MfaUnavailable, NoPrompt
from credproc.plan import Settings
from credproc.terminal import open_terminal

TRIES = 3
TOTP_STEP = 30
DEFAULT_TIMEOUT = 120.0
METHODS = ("tty", "pinentry", "process")


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
    raw = os.environ.get("CREDPROC_PROMPT_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(
            f"CREDPROC_PROMPT_TIMEOUT={raw} is not a number of seconds", "set it to e.g. 120"
        ) from None


def pinentry_program(settings: Settings) -> str:
    return shutil.which(settings.pinentry or "pinentry") or ""


def _graphical() -> bool:
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def choose(settings: Settings) -> str:
    """The way of asking: CREDPROC_PROMPT, then credproc_prompt, then the `auto` order."""
    method = os.environ.get("CREDPROC_PROMPT") or settings.prompt
    if method not in ("auto", *METHODS):
        raise ConfigError(
            f"CREDPROC_PROMPT={method} is not known", "use auto, tty, pinentry or process"
        )
    if method == "process" and not settings.mfa_process:
        raise ConfigError(
            "credproc_prompt = process but credproc_mfa_process is not set",
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
    if _graphical() and pinentry_program(settings):
        return "pinentry"
    return "none"


def method(name: str) -> Ask:
    ask: Ask = importlib.import_module(f"credproc.prompt.{name}").ask
    return ask


def normalize(answer: str) -> str | None:
    """Six digits, spaces allowed between them; anything else is a typo."""
    code = "".join(answer.split())
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


class CodeSource:
    """Codes for one device, re-asked on a typo or a rejection, at most TRIES in all."""

    def __init__(self, request: CodeRequest, claim: Callable[[str], bool]) -> None:
        self.request = request
        self.claim = claim  # False when the code was already used lately
        self.tries = 0
        self.name = choose(request.settings)

    def no_prompt(self) -> NoPrompt:
        profile = self.request.profile
        return NoPrompt(
            f"profile {profile} needs an MFA code and there is no terminal to ask in",
            f"run `credproc login --profile {profile}` in a terminal, "
            "or set credproc_mfa_process to a command that prints the code",
        )

    def next(self, problem: str = "") -> str:
        if self.name == "none":
            raise self.no_prompt()
        ask = method(self.name)
        while self.tries < TRIES:
            self.tries += 1
            code = normalize(ask(self.request, problem))
            if code is None:
                problem = "that was not a 6-digit code, try again"
                continue
            if not self.claim(code):
                problem = "code already used, waiting for the next one"
                log.debug(problem)
                if self.name == "process":  # a program would print the same code again
                    time.sleep(TOTP_STEP - time.time() % TOTP_STEP + 1)
                continue
            return code
        raise MfaUnavailable(
            f"no usable MFA code for profile {self.request.profile} after {TRIES} tries",
            f"run `credproc login --profile {self.request.profile}` and type a current code",
        )
