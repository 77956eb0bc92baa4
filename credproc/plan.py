"""From a profile name to the steps that produce its credentials, each with a cache identity.

Stdlib only: the cache-hit path needs the target step's identity and nothing more.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import NamedTuple

from credproc.config import AwsConfig, Profile
from credproc.errors import ConfigError
from credproc.protocol import SERVE_SECONDS

MAX_DEPTH = 8
SHORTEST_CACHED = SERVE_SECONDS + 4 * 60  # shorter credentials would never be served cached
CHAIN_ENV = "CREDPROC_CHAIN"  # profiles being resolved by credproc processes above this one
ROLE_CHAINING_MAX = 3600  # AWS caps a role assumed with temporary credentials at one hour
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
PARTITION_REGIONS = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


class Settings(NamedTuple):
    """credproc's own `credproc_*` keys, first found from the named profile outwards."""

    prompt: str = "auto"
    mfa_process: str = ""
    pinentry: str = ""
    mfa_session: bool | None = None  # None: yes when the source is long-term keys
    session_duration: int = 43200


SETTING_KEYS = {
    "credproc_prompt": "auto, tty, pinentry or process",
    "credproc_mfa_process": "a command that prints the MFA code",
    "credproc_pinentry": "the pinentry program",
    "credproc_mfa_session": "true or false",
    "credproc_session_duration": "seconds, 900 to 129600",
}


class Source(NamedTuple):
    """The first credentials of a chain, which credproc does not mint itself."""

    kind: str  # static, environment, ec2-metadata, ecs, process, sso, web-identity
    profile: str
    long_term: bool
    identity: str


class Step(NamedTuple):
    """One STS call: GetSessionToken ("session") or AssumeRole ("role")."""

    kind: str
    profile: str  # the profile that asks for this step, for messages and status
    role_arn: str
    mfa_serial: str  # set when this call carries an MFA code
    duration: int
    external_id: str
    session_name: str
    endpoint_url: str
    region: str
    identity: str  # names the cache entry; covers every input, the source's included


class Plan(NamedTuple):
    profile: str
    source: Source
    steps: tuple[Step, ...]
    settings: Settings

    @property
    def target(self) -> Step:
        return self.steps[-1]


def resolving() -> list[str]:
    """The profiles that credproc processes above this one are resolving (CREDPROC_CHAIN)."""
    return [p for p in os.environ.get(CHAIN_ENV, "").split(",") if p]


def identity(*parts: str) -> str:
    return hashlib.sha256("\0".join(("credproc-entry-1", *parts)).encode()).hexdigest()[:32]


def _bad(profile: Profile, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{profile.origin}: profile '{profile.name}': {key} {problem}", fix)


def _int(profile: Profile, key: str, low: int, high: int) -> int | None:
    raw = profile.get(key)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise _bad(
            profile,
            key,
            f"= {raw} is not a whole number from {low} to {high}",
            f"set {key} between {low} and {high} seconds",
        )
    return int(raw)


def validate(profile: Profile) -> None:
    """Reject what STS or botocore would reject later, before anyone is asked for a code."""
    role_arn, mfa = profile.get("role_arn"), profile.get("mfa_serial")
    if role_arn and not ROLE_ARN.fullmatch(role_arn):
        raise _bad(
            profile,
            "role_arn",
            f"= {role_arn} is not a role ARN",
            "use arn:aws:iam::123456789012:role/NAME",
        )
    if mfa and not (
        MFA_ARN.fullmatch(mfa)
        or (not mfa.startswith("arn:") and MFA_HARDWARE_SERIAL.fullmatch(mfa))
    ):
        raise _bad(
            profile,
            "mfa_serial",
            f"= {mfa} is not an MFA device",
            "use arn:aws:iam::123456789012:mfa/NAME or a hardware serial number",
        )
    for key, high in (("duration_seconds", 43200), ("credproc_session_duration", 129600)):
        seconds = _int(profile, key, 900, high)
        if seconds is not None and seconds < SHORTEST_CACHED:
            raise _bad(
                profile,
                key,
                f"= {seconds} is too short to cache: credproc serves credentials only while "
                f"more than {SERVE_SECONDS // 60} minutes are left, so every call would mint "
                "new ones (and ask for a code)",
                f"set {key} to {SHORTEST_CACHED} or more",
            )
    name = profile.get("role_session_name")
    if name and not SESSION_NAME.fullmatch(name):
        raise _bad(
            profile,
            "role_session_name",
            f"= {name} is not a valid session name",
            "use 2 to 64 letters, digits or +=,.@-",
        )
    external_id = profile.get("external_id")
    if external_id and not EXTERNAL_ID.fullmatch(external_id):
        raise _bad(
            profile,
            "external_id",
            "is not 2 to 1224 letters, digits or +=,.@:/-",
            "use the external ID the role's owner gave you",
        )
    if profile.get("source_profile") and profile.get("credential_source"):
        raise _bad(
            profile,
            "source_profile",
            "and credential_source are both set",
            "keep only one of them",
        )
    source = profile.get("credential_source")
    if source and source not in CREDENTIAL_SOURCES:
        raise _bad(
            profile,
            "credential_source",
            f"= {source} is not known",
            "use " + ", ".join(CREDENTIAL_SOURCES),
        )
    for key in profile.values:
        if key.startswith("credproc_") and key not in SETTING_KEYS:
            raise _bad(
                profile,
                key,
                "is not a credproc setting",
                "known keys: " + ", ".join(SETTING_KEYS),
            )
    prompt = profile.get("credproc_prompt")
    if prompt and prompt not in ("auto", "tty", "pinentry", "process"):
        raise _bad(
            profile,
            "credproc_prompt",
            f"= {prompt} is not known",
            "use auto, tty, pinentry or process",
        )
    flag = profile.get("credproc_mfa_session").lower()
    if flag and flag not in ("true", "false"):
        raise _bad(
            profile,
            "credproc_mfa_session",
            f"= {flag} is not true or false",
            "use true or false",
        )


def _settings(chain: list[Profile]) -> Settings:
    found: dict[str, str] = {}
    for profile in chain:
        for key in SETTING_KEYS:
            if key not in found and profile.get(key):
                found[key] = profile.get(key)
    flag = found.get("credproc_mfa_session", "").lower()
    return Settings(
        prompt=found.get("credproc_prompt", "auto"),
        mfa_process=found.get("credproc_mfa_process", ""),
        pinentry=found.get("credproc_pinentry", ""),
        mfa_session=None if not flag else flag == "true",
        session_duration=int(found.get("credproc_session_duration", "43200")),
    )


def _profile_source(profile: Profile) -> Source:
    """A profile without role_arn: what botocore would take its credentials from."""
    key_id = profile.get("aws_access_key_id")
    if key_id:
        if not profile.get("aws_secret_access_key"):
            raise _bad(
                profile,
                "aws_access_key_id",
                "is set without aws_secret_access_key",
                "add aws_secret_access_key next to it",
            )
        long_term = not profile.get("aws_session_token")
        return Source("static", profile.name, long_term, "static:" + key_id)
    for key, kind in (
        ("sso_session", "sso"),
        ("sso_start_url", "sso"),
        ("credential_process", "process"),
        ("web_identity_token_file", "web-identity"),
    ):
        if profile.get(key):
            items = sorted(
                (k, v) for k, v in profile.values.items() if not k.startswith("credproc_")
            )
            return Source(kind, profile.name, False, identity(kind, profile.name, repr(items)))
    raise _bad(
        profile,
        "",
        "has no credentials",
        "add aws_access_key_id/aws_secret_access_key to the credentials file, "
        "or set source_profile, credential_source, sso_session or credential_process",
    )


def _credential_source(profile: Profile) -> Source:
    kind = CREDENTIAL_SOURCES[profile.get("credential_source")]
    if kind == "environment":
        long_term = not (
            os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
        )
        return Source(
            kind,
            profile.name,
            long_term,
            "env:" + os.environ.get("AWS_ACCESS_KEY_ID", ""),
        )
    return Source(kind, profile.name, False, identity(kind, profile.name))


def _assumes_role(profile: Profile, *, top: bool) -> bool:
    """Whether botocore would assume this profile's role_arn rather than use its credentials.

    A web identity profile's role_arn belongs to its own source; a source profile's static
    keys win over its role_arn (only the top profile's role beats keys, as in botocore).
    """
    if not profile.get("role_arn") or profile.get("web_identity_token_file"):
        return False
    has_keys = profile.get("aws_access_key_id") or profile.get("aws_secret_access_key")
    return top or not has_keys


def _walk(config: AwsConfig, name: str) -> tuple[list[Profile], list[Profile], Source]:
    """Follow source_profile from the named profile: (all profiles, role hops, source)."""
    chain: list[Profile] = []
    hops: list[Profile] = []
    profile = config.profile(name)
    while True:
        validate(profile)
        if profile.name in (p.name for p in chain):
            loop = " -> ".join([p.name for p in chain] + [profile.name])
            raise ConfigError(f"source_profile loop: {loop}", "break the loop in " + profile.origin)
        chain.append(profile)
        if not _assumes_role(profile, top=len(chain) == 1):
            if len(chain) == 1 and not profile.get("mfa_serial"):
                raise _bad(
                    profile,
                    "",
                    "has neither role_arn nor mfa_serial: there is nothing for credproc to do",
                    "add role_arn and source_profile, or mfa_serial",
                )
            return chain, hops, _profile_source(profile)
        if len(hops) == MAX_DEPTH:
            raise ConfigError(
                f"role chain from '{name}' is deeper than {MAX_DEPTH} hops",
                "shorten the chain of source_profile",
            )
        hops.append(profile)
        if profile.get("credential_source"):
            return chain, hops, _credential_source(profile)
        parent = profile.get("source_profile")
        if not parent:
            raise _bad(
                profile,
                "role_arn",
                "is set without source_profile or credential_source",
                "add source_profile = PROFILE_WITH_KEYS",
            )
        if parent == profile.name and profile.get("aws_access_key_id"):
            return chain, hops, _profile_source(profile)  # its own keys
        if parent not in config.profiles:
            raise _bad(
                profile,
                "source_profile",
                f"= {parent} names no profile",
                f"add [profile {parent}] with credentials, or fix the name",
            )
        profile = config.profiles[parent]


def _endpoint(hop: Profile, chain: list[Profile], partition_arn: str) -> tuple[str, str]:
    """STS endpoint override and region: environment first, then the hop, then the chain."""
    env = os.environ
    profiles = [hop, *chain]
    url = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
    url = url or next((p.get("endpoint_url") for p in profiles if p.get("endpoint_url")), "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    region = region or next((p.get("region") for p in profiles if p.get("region")), "")
    if not region:
        partition = partition_arn.split(":")[1] if partition_arn.startswith("arn:") else "aws"
        region = PARTITION_REGIONS.get(partition, "us-east-1")
    return url, region


def _session_step(hop: Profile, chain: list[Profile], source: Source, settings: Settings) -> Step:
    mfa = hop.get("mfa_serial")
    url, region = _endpoint(hop, chain, mfa)
    duration = settings.session_duration
    ident = identity("session", source.identity, mfa, str(duration), url)
    return Step("session", hop.name, "", mfa, duration, "", "", url, region, ident)


def build(config: AwsConfig, name: str) -> Plan:
    chain, hops, source = _walk(config, name)
    named = chain[0]
    settings = _settings(chain)
    steps: list[Step] = []
    if not hops:
        if not source.long_term:
            raise _bad(
                named,
                "mfa_serial",
                "without role_arn needs long-term access keys",
                "add role_arn, or use a profile with aws_access_key_id",
            )
        return Plan(name, source, (_session_step(named, chain, source, settings),), settings)
    previous, long_term = source.identity, source.long_term
    for hop in reversed(hops):
        mfa = hop.get("mfa_serial")
        duration = int(hop.get("duration_seconds") or 3600)
        use_session = settings.mfa_session is not False and duration <= ROLE_CHAINING_MAX
        if mfa and long_term and use_session:
            session = _session_step(hop, chain, source, settings)
            steps.append(session)
            previous, long_term, mfa = session.identity, False, ""
        if not long_term:
            duration = min(duration, ROLE_CHAINING_MAX)
        role_arn = hop.get("role_arn")
        url, region = _endpoint(hop, chain, role_arn)
        external_id, session_name = hop.get("external_id"), hop.get("role_session_name")
        ident = identity(
            "role",
            role_arn,
            previous,
            mfa,
            external_id,
            session_name,
            str(duration),
            url,
        )
        steps.append(
            Step(
                "role",
                hop.name,
                role_arn,
                mfa,
                duration,
                external_id,
                session_name,
                url,
                region,
                ident,
            )
        )
        previous, long_term = ident, False
    return Plan(name, source, tuple(steps), settings)
