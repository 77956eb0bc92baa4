"""The numbers and names credproc's rules are made of, each defined once (stdlib only)."""

from __future__ import annotations

import os

from credproc.errors import ConfigError

# How long cached credentials are good for (botocore refreshes at 15 minutes, insists at 10)
SERVE_SECONDS = 16 * 60  # hand out only credentials with more than this left
GRACE_SECONDS = 11 * 60  # ...or this much, when renewing would need a code nobody can give
SOURCE_SECONDS = 5 * 60  # a cached source is good for one more STS call while this is left

# Durations STS accepts and credproc asks for
ROLE_SECONDS = 3600  # a role's default duration_seconds
ROLE_SECONDS_RANGE = (900, 43200)
ROLE_CHAINING_MAX = 3600  # AWS caps a role assumed with temporary credentials at one hour
SESSION_SECONDS = 43200  # the MFA session's default credproc_session_duration
SESSION_SECONDS_RANGE = (900, 129600)
SHORTEST_CACHED = SERVE_SECONDS + 4 * 60  # shorter credentials would never be served cached

# The services credproc's flows call through botocore (sources included): the botocore data
# that credproc.pyz carries (SPEC section 8), and all that a miss asks botocore to look for
BOTOCORE_SERVICES = ("sts", "sso", "sso-oidc", "iam", "signin")

# Loops through a source's credential_process
CHAIN_ENV = "CREDPROC_CHAIN"  # profiles being resolved by credproc processes above this one

# Asking for the MFA code
AUTO = "auto"
PROMPT_METHODS = ("tty", "pinentry", "process")
PROMPT_SETTINGS = (AUTO, *PROMPT_METHODS)
PROMPT_TIMEOUT = 120.0  # seconds, CREDPROC_PROMPT_TIMEOUT overrides
MFA_TRIES = 3  # answers in all: typos, codes used lately and codes STS rejects
TOTP_STEP = 30  # seconds a TOTP code is shown for (RFC 6238's default, used by every MFA app)
USED_CODE_SECONDS = 90  # a code sent lately stays spent: its 30 s plus the skew AWS tolerates

# The vault's long-term keys
KEY_ROTATE_DAYS = 90  # `status` flags keys this old with the rotate command
NEW_KEY_PROOF_SECONDS = 15  # a new key is retried this long while IAM spreads it to STS


def prompt_timeout() -> float:
    """CREDPROC_PROMPT_TIMEOUT, or PROMPT_TIMEOUT."""
    raw = os.environ.get("CREDPROC_PROMPT_TIMEOUT", "").strip()
    try:
        seconds = float(raw) if raw else PROMPT_TIMEOUT
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise ConfigError(
            f"CREDPROC_PROMPT_TIMEOUT={raw} is not a positive number of seconds",
            "set it to e.g. 120",
        )
    return seconds


# `exec --server`: SDKs refresh container credentials 15 minutes before they expire
CONTAINER_SECONDS = 15 * 60  # the server answers only with more than this left


def resolving() -> list[str]:
    """The profiles that credproc processes above this one are resolving (CREDPROC_CHAIN)."""
    return [p for p in os.environ.get(CHAIN_ENV, "").split(",") if p]
