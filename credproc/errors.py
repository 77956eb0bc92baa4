"""One exception type per exit code; each carries what went wrong and how to fix it."""

from __future__ import annotations


class CredprocError(Exception):
    """A failure credproc understands: printed as one line, never as a traceback."""

    exit_code = 1

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def message(self) -> str:
        """What went wrong and how to fix it, as `credproc check` lists a problem."""
        return f"{self.what} ({self.fix})" if self.fix else self.what

    def line(self) -> str:
        """The one line on stderr."""
        return f"credproc: {self.message()}"


class UsageError(CredprocError):
    exit_code = 2


class ConfigError(CredprocError):
    exit_code = 3


class MfaUnavailable(CredprocError):
    """No code could be had: no way to ask, a timeout, or too many bad tries."""

    exit_code = 4


class NoPrompt(MfaUnavailable):
    """Nothing can show a prompt here; the caller may fall back to cached credentials."""


class MfaCancelled(CredprocError):
    exit_code = 5


class AwsRefused(CredprocError):
    exit_code = 6


class SourceRejected(AwsRefused):
    """AWS does not accept the credentials a call was signed with (revoked, expired)."""


class CodeRejected(AwsRefused):
    """AWS did not accept the MFA code (wrong, or already used): another code may pass."""


class AwsUnreachable(CredprocError):
    exit_code = 7


class StoreError(CredprocError):
    """The cache folder or the key cannot be used safely."""

    exit_code = 8


class VaultError(StoreError):
    """The vault, its key or the OS keystore cannot be used now; still-valid cached
    credentials may be served meanwhile."""


EXIT_CODES = {
    0: "success",
    1: "internal error (a bug: please report it with the output of -v)",
    UsageError.exit_code: "usage: bad command line",
    ConfigError.exit_code: "configuration: the AWS config or credentials files need fixing",
    MfaUnavailable.exit_code: "MFA code not obtainable: no way to ask, timeout, or 3 bad tries",
    MfaCancelled.exit_code: "MFA prompt cancelled by the user",
    AwsRefused.exit_code: "AWS refused the request (access denied, bad keys, bad role)",
    AwsUnreachable.exit_code: "AWS STS unreachable (network, DNS, endpoint)",
    StoreError.exit_code: "local cache, key, vault or keystore unusable (permissions, locked)",
}


def mask(key_id: str) -> str:
    """An access key id as people may see it: AKIA...WXYZ."""
    return f"{key_id[:4]}...{key_id[-4:]}"


def one_line(text: str, limit: int = 300) -> str:
    """Text from an endpoint, made fit for a one-line message: access key ids in it (IAM's
    messages quote them) masked as people may see them, AKIA...WXYZ."""
    import re

    text = re.sub(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b", lambda found: mask(found[0]), text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
