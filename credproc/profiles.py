"""A profile's chain as SPEC section 2 reads it: the walk from the named profile to its
source, each profile checked on the way, and credproc's own settings (stdlib only)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from credproc import rules
from credproc.checks import CREDENTIAL_SOURCES, SETTING_KEYS, bad, validate
from credproc.config import AwsConfig, Profile
from credproc.errors import ConfigError

MAX_DEPTH = 8
VAULT = "vault"  # the source kind of a profile whose long-term keys are in credproc's vault
# sources that botocore resolves itself, by the key that makes a profile one
BOTOCORE_SOURCE_KEYS = {
    "sso_session": "sso",
    "sso_start_url": "sso",
    "login_session": "login",  # `aws login`: botocore tries it after SSO, before a process
    "credential_process": "process",
    "web_identity_token_file": "web-identity",
}


class Settings(NamedTuple):
    """credproc's own `credproc_*` keys, first found from the named profile outwards."""

    prompt: str = rules.AUTO
    mfa_process: str = ""
    pinentry: str = ""
    mfa_session: bool | None = None  # None: yes when the source is long-term keys
    session_duration: int = rules.SESSION_SECONDS


class Source(NamedTuple):
    """The first credentials of a chain, which credproc does not mint itself."""

    kind: str  # static, vault, environment, ec2-metadata, ecs, process, sso, login, web-identity
    profile: str
    long_term: bool
    key_id: str = ""  # static and environment sources: the access key id
    keys: tuple[tuple[str, str], ...] = ()  # sources botocore resolves: the profile's keys


class Chain(NamedTuple):
    """The profiles from the named one to its source."""

    profiles: tuple[Profile, ...]  # every profile visited, the named one first
    hops: tuple[Profile, ...]  # those whose role is assumed, the named one first
    source: Source
    settings: Settings


def _settings(chain: list[Profile]) -> Settings:
    found: dict[str, str] = {}
    for profile in chain:
        for key in SETTING_KEYS:
            if key not in found and profile.get(key):
                found[key] = profile.get(key)
    flag = found.get("credproc_mfa_session", "").lower()
    return Settings(
        prompt=found.get("credproc_prompt", rules.AUTO),
        mfa_process=found.get("credproc_mfa_process", ""),
        pinentry=found.get("credproc_pinentry", ""),
        mfa_session=None if not flag else flag == "true",
        session_duration=int(found.get("credproc_session_duration", rules.SESSION_SECONDS)),
    )


InVault = Callable[[str], bool]  # whether the vault holds keys for a profile (a stat, no more)


def _profile_source(profile: Profile, in_vault: InVault) -> Source:
    """A profile without a role to assume: what botocore would take its credentials from,
    where keys in the vault win over keys in the files."""
    if in_vault(profile.name):
        return Source(VAULT, profile.name, True)
    key_id = profile.get("aws_access_key_id")
    if key_id:
        if not profile.get("aws_secret_access_key"):
            raise bad(
                profile,
                "aws_access_key_id",
                "is set without aws_secret_access_key",
                "add aws_secret_access_key next to it",
            )
        return Source("static", profile.name, not profile.get("aws_session_token"), key_id)
    for key, kind in BOTOCORE_SOURCE_KEYS.items():
        if profile.get(key):
            keys = sorted(
                (k, v) for k, v in profile.values.items() if not k.startswith("credproc_")
            )
            return Source(kind, profile.name, False, keys=tuple(keys))
    raise bad(
        profile,
        "",
        "has no credentials",
        "add aws_access_key_id/aws_secret_access_key to the credentials file, "
        "or set source_profile, credential_source, sso_session or credential_process",
    )


def _credential_source(profile: Profile) -> Source:
    kind = CREDENTIAL_SOURCES[profile.get("credential_source")]
    if kind != "environment":
        return Source(kind, profile.name, False)
    temporary = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    return Source(kind, profile.name, not temporary, os.environ.get("AWS_ACCESS_KEY_ID", ""))


def _has_keys(profile: Profile, in_vault: InVault) -> bool:
    """Static keys, in the files or in the vault (which count exactly as keys in the files)."""
    in_files = profile.get("aws_access_key_id") or profile.get("aws_secret_access_key")
    return bool(in_files) or in_vault(profile.name)


def _assumes_role(profile: Profile, in_vault: InVault, *, top: bool) -> bool:
    """Whether botocore would assume this profile's role_arn rather than use its credentials.

    A web identity profile's role_arn belongs to its own source; a source profile's static
    keys win over its role_arn (only the top profile's role beats keys, as in botocore).
    """
    if not profile.get("role_arn") or profile.get("web_identity_token_file"):
        return False
    return top or not _has_keys(profile, in_vault)


def _session_source(profile: Profile, in_vault: InVault) -> Source:
    """The source of a named profile without a role: long-term keys for its MFA session.
    Vault keys answer with a session even without mfa_serial: they are never handed out."""
    if in_vault(profile.name):
        return Source(VAULT, profile.name, True)
    if not profile.get("mfa_serial"):
        raise bad(
            profile,
            "",
            "has neither role_arn nor mfa_serial: there is nothing for credproc to do",
            "add role_arn and source_profile, or mfa_serial",
        )
    source = _profile_source(profile, in_vault)
    if not source.long_term:
        raise bad(
            profile,
            "mfa_serial",
            "without role_arn needs long-term access keys",
            "add role_arn, or use a profile with aws_access_key_id",
        )
    return source


def _chain(profiles: list[Profile], hops: list[Profile], source: Source) -> Chain:
    return Chain(tuple(profiles), tuple(hops), source, _settings(profiles))


def walk(config: AwsConfig, name: str, in_vault: InVault) -> Chain:
    """Follow source_profile from the named profile, checking each profile on the way."""
    profiles: list[Profile] = []
    hops: list[Profile] = []
    profile = config.profile(name)
    while True:
        validate(profile)
        if profile.name in (p.name for p in profiles):
            loop = " -> ".join([p.name for p in profiles] + [profile.name])
            raise ConfigError(f"source_profile loop: {loop}", "break the loop in " + profile.origin)
        profiles.append(profile)
        if not _assumes_role(profile, in_vault, top=len(profiles) == 1):
            if hops:
                return _chain(profiles, hops, _profile_source(profile, in_vault))
            return _chain(profiles, hops, _session_source(profile, in_vault))  # the answer
        if len(hops) == MAX_DEPTH:
            raise ConfigError(
                f"role chain from '{name}' is deeper than {MAX_DEPTH} hops",
                "shorten the chain of source_profile",
            )
        hops.append(profile)
        if profile.get("credential_source"):
            return _chain(profiles, hops, _credential_source(profile))
        parent = profile.get("source_profile")
        if not parent:
            raise bad(
                profile,
                "role_arn",
                "is set without source_profile or credential_source",
                "add source_profile = PROFILE_WITH_KEYS",
            )
        if parent == profile.name and (profile.get("aws_access_key_id") or in_vault(parent)):
            return _chain(profiles, hops, _profile_source(profile, in_vault))  # its own keys
        if parent not in config.profiles:
            raise bad(
                profile,
                "source_profile",
                f"= {parent} names no profile",
                f"add [profile {parent}] with credentials, or fix the name",
            )
        profile = config.profiles[parent]
