"""`credproc console`: the AWS console sign-in URL for a profile's role credentials, from the
partition's federation endpoint (getSigninToken, then Action=login), stdlib only.

The URL is a credential for 15 minutes: it is returned, never logged, and no error message
carries it, the sign-in token or the credentials.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

from credproc import log
from credproc.config import AwsConfig, load
from credproc.entry import ROLE, Credentials
from credproc.errors import AwsRefused, AwsUnreachable, ConfigError, UsageError, one_line
from credproc.obtain import obtain
from credproc.plan import Plan, build, profile_region

SIGNIN_URL_ENV = "CREDPROC_SIGNIN_URL"  # the federation endpoint, instead of the partition's
ISSUER = "credproc"  # named in the login URL; the console shows it when the session ends
# One getSigninToken request, DNS included; AWS answers in well under a second.
FEDERATION_SECONDS = 15
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class Partition(NamedTuple):
    signin: str  # its federation endpoint
    console: str  # the console's host
    region_prefix: str  # what its region names start with ("" for the rest)


# AWS's sign-in hosts per partition (IAM guide, "custom identity broker access")
PARTITIONS = {
    "aws": Partition("https://signin.aws.amazon.com/federation", "console.aws.amazon.com", ""),
    "aws-cn": Partition("https://signin.amazonaws.cn/federation", "console.amazonaws.cn", "cn-"),
    "aws-us-gov": Partition(
        "https://signin.amazonaws-us-gov.com/federation", "console.amazonaws-us-gov.com", "us-gov-"
    ),
}


def _role_plan(config: AwsConfig, profile: str) -> Plan:
    """The plan of `profile`, refused unless its answer is role credentials."""
    plan = build(config, profile)
    if plan.target.kind != ROLE:
        raise ConfigError(
            f"profile {plan.profile} gives an MFA session, not role credentials: AWS's console "
            "sign-in (federation) takes role credentials only",
            f"use a profile with role_arn, e.g. one with source_profile = {plan.profile}",
        )
    return plan


def partition(role_arn: str) -> tuple[str, Partition]:
    name = role_arn.split(":")[1]
    if name not in PARTITIONS:
        raise ConfigError(
            f"the console sign-in of partition {name} is not known to credproc",
            f"open the console of {role_arn.split(':')[4]} by hand",
        )
    return name, PARTITIONS[name]


def endpoint(default: str) -> str:
    """The federation endpoint: CREDPROC_SIGNIN_URL, else `default`. Credentials go there,
    so plain http is refused but for this machine."""
    raw = os.environ.get(SIGNIN_URL_ENV, "").strip()
    if not raw:
        return default
    url = urllib.parse.urlsplit(raw)
    try:
        loopback = (
            url.hostname == "localhost" or ipaddress.ip_address(url.hostname or "").is_loopback
        )
    except ValueError:
        loopback = False
    secure = url.scheme == "https" or (url.scheme == "http" and loopback)
    if not url.hostname or url.query or url.fragment or url.username or not secure:
        raise ConfigError(
            f"{SIGNIN_URL_ENV} is not an https URL without query",
            f"set it to e.g. {PARTITIONS['aws'].signin}, or unset it",
        )
    return raw


def region(config: AwsConfig, profile: str, asked: str) -> str:
    """The console's region: --region, the environment, else the first region found from
    the profile up its chain (as botocore finds a session's region); "" when none."""
    if asked:
        if not REGION.fullmatch(asked):
            raise UsageError(f"--region {asked} is not a region name", "use e.g. eu-west-1")
        return asked
    found = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return (found or profile_region(config, profile)).strip()


def destination(where: Partition, region: str, path: str) -> str:
    """The console page to land on: `path` (e.g. s3/home) in `region`."""
    page = urllib.parse.urlsplit(path.strip())
    if page.scheme or page.netloc:
        raise UsageError(f"--path {path} is a URL", "give only the path, e.g. s3/home")
    query = urllib.parse.parse_qsl(page.query, keep_blank_values=True)
    if region and not any(key == "region" for key, _ in query):
        query.append(("region", region))
    page_path = page.path.lstrip("/") or ("console/home" if region else "")
    return urllib.parse.urlunsplit(
        ("https", where.console, "/" + page_path, urllib.parse.urlencode(query), page.fragment)
    )


def _check_region(name: str, region: str) -> None:
    """Refuse a region of another partition than the role's."""
    holder = next(
        (
            n
            for n, p in PARTITIONS.items()
            if p.region_prefix and region.startswith(p.region_prefix)
        ),
        "aws",
    )
    if region and holder != name:
        raise UsageError(
            f"region {region} is in partition {holder}, not in the role's ({name})",
            "use a region of the role's partition",
        )


def _fetch(url: str) -> bytes:
    """GET `url`, redirects refused, the whole exchange (DNS too) bounded by
    FEDERATION_SECONDS; errors as urllib raises them, TimeoutError for no answer."""
    opener = urllib.request.build_opener(_NoRedirect)
    outcome: list[bytes | BaseException] = []

    def get() -> None:
        try:
            with opener.open(url, timeout=FEDERATION_SECONDS) as reply:
                outcome.append(reply.read(1 << 16))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=get, daemon=True)
    worker.start()
    worker.join(FEDERATION_SECONDS)
    if not outcome:
        raise TimeoutError(f"no answer in {FEDERATION_SECONDS} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx is raised as an HTTPError: the endpoint did not answer


def _reason(exc: BaseException, secrets: tuple[str, ...]) -> str:
    reason = getattr(exc, "reason", exc)
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return type(reason).__name__ if any(s in text for s in secrets) else one_line(text, 200)


def signin_token(url: str, creds: Credentials, profile: str) -> str:
    """getSigninToken with `creds` at the federation endpoint `url`."""
    session = {
        "sessionId": creds.access_key_id,
        "sessionKey": creds.secret_access_key,
        "sessionToken": creds.session_token,
    }
    query = urllib.parse.urlencode({"Action": "getSigninToken", "Session": json.dumps(session)})
    secrets = (*creds[:3], query)
    log.debug(f"getSigninToken for {profile} at {url}")
    try:
        body = _fetch(f"{url}?{query}")
    except urllib.error.HTTPError as exc:
        raise AwsRefused(
            f"the AWS sign-in endpoint {url} refused the role credentials of {profile} "
            f"(HTTP {exc.code})",
            f"check that the role may sign in to the console; credproc login --profile {profile}",
        ) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts,
        # a broken connection, an answer that is not HTTP
        raise AwsUnreachable(
            f"cannot reach the AWS sign-in endpoint {url}: {_reason(exc, secrets)}",
            f"check the network, or {SIGNIN_URL_ENV}",
        ) from None
    try:
        token = json.loads(body).get("SigninToken")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise AwsRefused(
            f"the AWS sign-in endpoint {url} answered without a sign-in token",
            f"check {SIGNIN_URL_ENV} if set; otherwise try again later",
        )
    return token


def login_url(profile: str, asked_region: str = "", path: str = "") -> str:
    """The sign-in URL for `profile`'s role credentials (obtained as the protocol does)."""
    config = load()
    plan = _role_plan(config, profile)  # before any code is asked for
    name, where = partition(plan.target.role_arn)
    url = endpoint(where.signin)
    console_region = region(config, profile, asked_region)  # the SDK profile's region first
    profile = plan.profile  # the SDK profile of the two-profile layout: its role's
    _check_region(name, console_region)
    landing = destination(where, console_region, path)
    creds = obtain(profile).credentials
    token = signin_token(url, creds, profile)
    log.debug(f"console sign-in for {profile} in {console_region or 'the last region used'}")
    query = {"Action": "login", "Issuer": ISSUER, "Destination": landing, "SigninToken": token}
    return f"{url}?{urllib.parse.urlencode(query)}"
