"""SPEC section 2's rules for the values of one profile, as a table: what STS or botocore
would reject later is refused before anyone is asked for a code (stdlib only)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from credproc import rules
from credproc.config import Profile
from credproc.errors import ConfigError

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
MFA_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:mfa/[\w+=,.@/-]{1,512}")
MFA_HARDWARE_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}")
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
CREDENTIAL_SOURCES = {
    "Environment": "environment",
    "Ec2InstanceMetadata": "ec2-metadata",
    "EcsContainer": "ecs",
}
SETTING_KEYS = (
    "credproc_prompt",
    "credproc_mfa_process",
    "credproc_pinentry",
    "credproc_mfa_session",
    "credproc_session_duration",
)


def bad(profile: Profile, key: str, problem: str, fix: str) -> ConfigError:
    """The error for `key` of `profile`, naming the file and the profile."""
    subject = f"{key} {problem}" if key else problem
    return ConfigError(f"{profile.origin}: profile '{profile.name}': {subject}", fix)


def _whole_seconds(low: int, high: int) -> Callable[[str], bool]:
    return lambda raw: raw.isascii() and raw.isdigit() and low <= int(raw) <= high


def _long_enough(raw: str) -> bool:
    return int(raw) >= rules.SHORTEST_CACHED


def _mfa_device(serial: str) -> bool:
    if serial.startswith("arn:"):
        return bool(MFA_ARN.fullmatch(serial))
    return bool(MFA_HARDWARE_SERIAL.fullmatch(serial))


class Check(NamedTuple):
    """A rule for one key's value; {value} in `problem` is replaced by the value."""

    key: str
    ok: Callable[[str], object]
    problem: str
    fix: str


def _one_of(key: str, choices: tuple[str, ...] | dict[str, str]) -> Check:
    return Check(key, choices.__contains__, "= {value} is not known", "use " + ", ".join(choices))


def _duration_checks(key: str, low: int, high: int) -> tuple[Check, Check]:
    return (
        Check(
            key,
            _whole_seconds(low, high),
            f"= {{value}} is not a whole number from {low} to {high}",
            f"set {key} between {low} and {high} seconds",
        ),
        Check(
            key,
            _long_enough,
            "= {value} is too short to cache: credproc serves credentials only while "
            f"more than {rules.SERVE_SECONDS // 60} minutes are left, so every call would "
            "mint new ones (and ask for a code)",
            f"set {key} to {rules.SHORTEST_CACHED} or more",
        ),
    )


# What STS or botocore would reject later, checked before anyone is asked for a code. The
# checks of one key run in order; the first that fails is reported.
CHECKS = (
    Check(
        "role_arn",
        ROLE_ARN.fullmatch,
        "= {value} is not a role ARN",
        "use arn:aws:iam::123456789012:role/NAME",
    ),
    Check(
        "mfa_serial",
        _mfa_device,
        "= {value} is not an MFA device",
        "use arn:aws:iam::123456789012:mfa/NAME or a hardware serial number",
    ),
    *_duration_checks("duration_seconds", *rules.ROLE_SECONDS_RANGE),
    *_duration_checks("credproc_session_duration", *rules.SESSION_SECONDS_RANGE),
    Check(
        "role_session_name",
        SESSION_NAME.fullmatch,
        "= {value} is not a valid session name",
        "use 2 to 64 letters, digits or +=,.@-",
    ),
    Check(
        "external_id",
        EXTERNAL_ID.fullmatch,
        "is not 2 to 1224 letters, digits or +=,.@:/-",  # the value may be a shared secret
        "use the external ID the role's owner gave you",
    ),
    _one_of("credential_source", CREDENTIAL_SOURCES),
    _one_of("credproc_prompt", rules.PROMPT_SETTINGS),
    Check(
        "credproc_mfa_session",
        lambda raw: raw.lower() in ("true", "false"),
        "= {value} is not true or false",
        "use true or false",
    ),
)


def validate(profile: Profile) -> None:
    """Raise the first rule this profile breaks, as a ConfigError naming file, profile, key."""
    for check in CHECKS:
        value = profile.get(check.key)
        if value and not check.ok(value):
            raise bad(profile, check.key, check.problem.format(value=value), check.fix)
    if profile.get("source_profile") and profile.get("credential_source"):
        raise bad(
            profile, "source_profile", "and credential_source are both set", "keep only one of them"
        )
    for key in profile.values:
        if key.startswith("credproc_") and key not in SETTING_KEYS:
            raise bad(
                profile, key, "is not a credproc setting", "known keys: " + ", ".join(SETTING_KEYS)
            )
