"""From a profile's chain to the STS calls that produce its credentials, each with the cache
identity that names its entry (stdlib and cryptography, no botocore).
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes

from credproc import log, paths, rules
from credproc.config import AwsConfig, Profile, served_profile
from credproc.entry import ROLE, SESSION, VAULT_KEYS, Credentials
from credproc.profiles import Chain, Settings, Source, walk

# CREDPROC_CHAIN's reader lives in rules, off the cache hit's imports; kept here for callers
from credproc.rules import CHAIN_ENV as CHAIN_ENV
from credproc.rules import resolving as resolving

PARTITION_REGIONS = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


class Step(NamedTuple):
    """One STS call: GetSessionToken (kind SESSION) or AssumeRole (kind ROLE)."""

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


class Obtained(NamedTuple):
    """What obtain.obtain returns: the plan and its last step's credentials."""

    plan: Plan
    credentials: Credentials


def identity(**fields: object) -> str:
    """The name of the entry these fields describe, as botocore names its JSON cache files:
    a hash of the fields as sorted JSON, so no field can run into the next. SHA-256 from
    cryptography, which is loaded anyway: hashlib would load a second copy of OpenSSL."""
    text = json.dumps({"credproc-entry": 2, **fields}, sort_keys=True, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(text.encode())
    return digest.finalize().hex()[:32]


def vault_name(profile: str) -> str:
    """The name of the vault file of `profile`'s keys: a hash, as a cache entry's."""
    return identity(kind=VAULT_KEYS, profile=profile)


def in_vault(profile: str) -> bool:
    """Whether the vault holds keys for `profile`: one stat, nothing read or decrypted.
    A file that cannot even be looked at counts, so that reading it says why."""
    try:
        os.lstat(os.path.join(paths.vault_dir(), vault_name(profile)))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def source_identity(source: Source) -> str:
    """What the first credentials are: keys are who they are in whichever profile holds them;
    any other source is its profile and that profile's keys. Vault keys are sealed: they are
    their profile (rotating them keeps the sessions they minted, which AWS keeps too)."""
    return identity(
        source=source.kind,
        profile="" if source.key_id else source.profile,
        key_id=source.key_id,
        keys=source.keys,
    )


def _endpoint(hop: Profile, chain: Chain, partition_arn: str) -> tuple[str, str]:
    return endpoint([hop, *chain.profiles], partition_arn)


def endpoint(profiles: list[Profile], partition_arn: str = "") -> tuple[str, str]:
    """STS endpoint override and region: environment first, then the profiles in order."""
    env = os.environ
    url = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
    url = url or next((p.get("endpoint_url") for p in profiles if p.get("endpoint_url")), "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    region = region or next((p.get("region") for p in profiles if p.get("region")), "")
    if not region:
        partition = partition_arn.split(":")[1] if partition_arn.startswith("arn:") else "aws"
        region = PARTITION_REGIONS.get(partition, "us-east-1")
    return url, region


def _session_step(hop: Profile, chain: Chain) -> Step:
    mfa, duration = hop.get("mfa_serial"), chain.settings.session_duration
    url, region = _endpoint(hop, chain, mfa)
    ident = identity(
        kind=SESSION,
        source=source_identity(chain.source),
        mfa_serial=mfa,
        duration=duration,
        endpoint=url,
    )
    return Step(SESSION, hop.name, "", mfa, duration, "", "", url, region, ident)


def _role_step(hop: Profile, chain: Chain, previous: str, mfa: str, duration: int) -> Step:
    role_arn = hop.get("role_arn")
    url, region = _endpoint(hop, chain, role_arn)
    external_id, session_name = hop.get("external_id"), hop.get("role_session_name")
    ident = identity(
        kind=ROLE,
        role_arn=role_arn,
        source=previous,
        mfa_serial=mfa,
        external_id=external_id,
        session_name=session_name,
        duration=duration,
        endpoint=url,
    )
    return Step(
        ROLE, hop.name, role_arn, mfa, duration, external_id, session_name, url, region, ident
    )


def steps(chain: Chain) -> tuple[Step, ...]:
    """SPEC section 3: an MFA session where one code can serve many roles, then each role
    from the source outwards, chained hops capped at an hour."""
    named, source = chain.profiles[0], chain.source
    if not chain.hops:
        return (_session_step(named, chain),)
    found: list[Step] = []
    previous, long_term = source_identity(source), source.long_term
    for hop in reversed(chain.hops):
        mfa = hop.get("mfa_serial")
        duration = int(hop.get("duration_seconds") or rules.ROLE_SECONDS)
        use_session = chain.settings.mfa_session is not False
        if mfa and long_term and use_session and duration <= rules.ROLE_CHAINING_MAX:
            session = _session_step(hop, chain)
            found.append(session)
            previous, long_term, mfa = session.identity, False, ""
        if not long_term:
            duration = min(duration, rules.ROLE_CHAINING_MAX)
        role = _role_step(hop, chain, previous, mfa, duration)
        found.append(role)
        previous, long_term = role.identity, False
    return tuple(found)


def device_session(config: AwsConfig, name: str) -> Step | None:
    """The MFA session of the first device named from `name`'s long-term source outwards, as
    `steps` makes it, even where the chain assumes its role with the code instead (longer
    than an hour, or credproc_mfa_session = false); None when no device is named."""
    chain = walk(config, followed(config, name), in_vault)
    if not chain.source.long_term:
        return None
    hops = reversed(chain.hops) if chain.hops else chain.profiles[:1]
    named = next((hop for hop in hops if hop.get("mfa_serial")), None)
    return None if named is None else _session_step(named, chain)


def profile_region(config: AwsConfig, name: str) -> str:
    """The first `region` from the profile up its source_profile chain, or "" (what the
    console and an `exec --server` command get, as botocore finds a session's region); an
    SDK profile of the layout gives its own region first, then that of the profile it runs."""
    own = config.profile(name).get("region")
    chain = walk(config, followed(config, name), in_vault).profiles
    return own or next((p.get("region") for p in chain if p.get("region")), "")


def followed(config: AwsConfig, name: str) -> str:
    """The profile credproc resolves for `name`: `name`, or, when `name` is only the SDK
    profile of SPEC section 2's layout (its credential_process runs `credproc --profile X`,
    and it names no role or device), X: so `credproc exec --profile prod` is prod-mfa's."""
    profile = config.profile(name)
    served = served_profile(profile)
    if served and served != name and not (profile.get("role_arn") or profile.get("mfa_serial")):
        log.debug(f"profile {name} runs credproc --profile {served}: resolving {served}")
        return served
    return name


def build(config: AwsConfig, name: str) -> Plan:
    name = followed(config, name)
    chain = walk(config, name, in_vault)
    return Plan(name, chain.source, steps(chain), chain.settings)
