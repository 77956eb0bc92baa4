"""What every way of asking is given (a CodeRequest), and the ways asking can fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from credproc.errors import MfaCancelled, MfaUnavailable, NoPrompt
from credproc.profiles import Settings


class CodeRequest(NamedTuple):
    profile: str  # the profile credproc was asked for
    mfa_serial: str
    role_arn: str  # "" for an MFA session
    settings: Settings
    timeout: float  # seconds this ask may take


# A way of asking: (request, the problem with the previous answer or "") -> what the person
# or program gave. Raises NoPrompt, MfaUnavailable, PromptTimedOut or MfaCancelled.
Ask = Callable[[CodeRequest, str], str]


class PromptTimedOut(MfaUnavailable):
    """`subject` gave no code in time; CodeSource words it again for its whole deadline."""

    def __init__(self, subject: str, seconds: float, fix: str) -> None:
        super().__init__(f"{subject} within {seconds:g} s", fix)
        self.subject = subject

    def within(self, seconds: float) -> PromptTimedOut:
        return PromptTimedOut(self.subject, seconds, self.fix)


def timed_out(
    timeout: float,
    subject: str = "no MFA code typed",
    fix: str = "run again, or raise CREDPROC_PROMPT_TIMEOUT",
) -> PromptTimedOut:
    return PromptTimedOut(subject, timeout, fix)


def cancelled(how: str) -> MfaCancelled:
    """`how`: e.g. "with Ctrl-C"."""
    return MfaCancelled(f"MFA prompt cancelled {how}", "run again to retry")


def no_prompt(profile: str, why: str) -> NoPrompt:
    return NoPrompt(
        f"profile {profile} needs an MFA code and {why}",
        f"run `credproc login --profile {profile}` in a terminal, "
        "or set credproc_mfa_process to a command that prints the code",
    )


def normalize(answer: str) -> str | None:
    """The code in an answer: six digits, blanks allowed between them; None for a typo."""
    code = "".join(answer.split())
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None
