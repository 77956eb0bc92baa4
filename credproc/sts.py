"""STS through botocore: a client per step, the two calls credproc makes, and AWS's errors
turned into credproc's. An adapter: it takes values, returns Credentials, and raises.

botocore sessions are made once per profile and share one loader, so the service models,
endpoints.json and the scan of botocore's data folder are read once per process."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.parsers
import botocore.session

from credproc import log
from credproc.entry import SESSION, Credentials
from credproc.errors import AwsRefused, AwsUnreachable, CodeRejected, ConfigError, SourceRejected
from credproc.plan import Step
from credproc.profiles import Source
from credproc.rules import BOTOCORE_SERVICES

CLOCK_SKEW_SECONDS = 300
# Worst case of one STS call when the endpoint fails: 3 attempts of (2 s to connect + 5 s
# to answer) plus standard mode's backoff (under 1 s + 2 s): about 24 s, within the 30 s
# that an unreachable endpoint may take. connect_timeout does not cover the name lookup, so
# before each call the host name is looked up once, bounded by DNS_SECONDS.
STS_ATTEMPTS, STS_CONNECT_SECONDS, STS_READ_SECONDS, DNS_SECONDS = 3, 2, 5, 5
STS_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "total_max_attempts": STS_ATTEMPTS},  # max_attempts: retries
    connect_timeout=STS_CONNECT_SECONDS,
    read_timeout=STS_READ_SECONDS,
)
THROTTLING_CODES = ("Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown")
REJECTED_KEYS = ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException")


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def _call_name(step: Step) -> str:
    return "GetSessionToken" if step.kind == SESSION else f"AssumeRole {step.role_arn}"


def mint(client: Any, step: Step, source: Source, code: str = "") -> Credentials:
    """One GetSessionToken or AssumeRole, with `code` when the step carries an MFA code;
    CodeRejected when AWS says the code is wrong or used."""
    args: dict[str, Any] = {"DurationSeconds": step.duration}
    if step.kind != SESSION:
        args["RoleArn"] = step.role_arn
        args["RoleSessionName"] = step.session_name or f"credproc-{int(time.time())}"
        if step.external_id:
            args["ExternalId"] = step.external_id
    if code:
        args.update(SerialNumber=step.mfa_serial, TokenCode=code)
    log.debug(
        f"{_call_name(step)} for {step.profile}, {step.duration} s"
        f"{', with MFA' if code else ''} via {client.meta.endpoint_url}"
    )
    call = client.get_session_token if step.kind == SESSION else client.assume_role
    try:
        reply = call(**args)
    except botocore.exceptions.ClientError as exc:
        if code and _invalid_code(exc):
            raise CodeRejected(
                f"AWS did not accept the MFA code for {step.mfa_serial}", "type the next code"
            ) from None
        raise refused(exc, step, source, client) from None
    except (
        botocore.exceptions.ConnectionError,
        botocore.exceptions.HTTPClientError,
        botocore.parsers.ResponseParserError,
    ) as exc:
        raise unreachable(exc, client) from None
    except botocore.exceptions.ParamValidationError as exc:
        raise ConfigError(
            f"STS would refuse the request of {step.profile}: {one_line(str(exc))}",
            f"check profile {step.profile}",
        ) from None
    got = reply["Credentials"]
    return Credentials(
        got["AccessKeyId"],
        got["SecretAccessKey"],
        got["SessionToken"],
        int(got["Expiration"].timestamp()),
        _account(step.role_arn or step.mfa_serial),
    )


class _Loader(botocore.loaders.Loader):  # type: ignore[misc]
    """botocore's loader, told which services there are: credproc's. To learn whether a
    service exists, botocore's own lists every service folder of its data (over 400) for
    each kind of file, on every miss."""

    def list_available_services(self, type_name: str) -> list[str]:
        found = []
        for service in BOTOCORE_SERVICES:
            try:
                if self.list_api_versions(service, type_name):
                    found.append(service)
            except botocore.exceptions.DataNotFoundError:
                pass
        return found


@functools.lru_cache(maxsize=1)
def _loader(data_path: str | None) -> Any:
    """One loader for the process, searching AWS_DATA_PATH first, as botocore's does."""
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep)]
    return _Loader(extra_search_paths=[path for path in extra if path])


@functools.cache
def session(profile: str) -> Any:
    """The botocore session of `profile` (its settings: FIPS, CA bundle, retries...), made
    once; every session of the process loads its data through one loader."""
    made = botocore.session.Session(profile=profile or None)  # "": botocore's default
    made.register_component("data_loader", _loader(made.get_config_variable("data_path")))
    return made


def client(step: Step, source: Credentials) -> Any:
    """An STS client for this step's endpoint, signing with `source`."""
    return service_client("sts", step.profile, step.region, step.endpoint_url, source)


def service_client(
    service: str, profile: str, region: str, endpoint_url: str, source: Credentials
) -> Any:
    """A client of `service` (sts, iam) signing with `source`; `profile` ("" for none) gives
    botocore's other settings."""
    try:
        made = session(profile).create_client(
            service,
            region_name=region or None,
            endpoint_url=endpoint_url or None,
            aws_access_key_id=source.access_key_id,
            aws_secret_access_key=source.secret_access_key,
            aws_session_token=source.session_token or None,
            config=STS_CONFIG,
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        # botocore's messages name the bad region or endpoint; credentials are not in them
        raise ConfigError(
            f"cannot make an {service.upper()} client for profile {profile}: {one_line(str(exc))}",
            f"check region, endpoint_url and AWS_ENDPOINT_URL_{service.upper()}",
        ) from None
    endpoint = made.meta.endpoint_url
    made.meta.events.register(f"before-call.{service}", lambda **_: _check_host_resolves(endpoint))
    return made


def _check_host_resolves(endpoint: str) -> None:
    """Fail at once when the endpoint's host name does not resolve, and after DNS_SECONDS when
    the resolver does not answer (each of botocore's attempts would wait for it again)."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    try:
        ipaddress.ip_address(host)
        return  # an address (or no host at all): nothing to look up
    except ValueError:
        if not host:
            return
    if url.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return  # the proxy looks the name up, which this machine may not be able to do
    try:
        port = url.port or 443
    except ValueError:
        raise ConfigError(
            f"the STS endpoint {endpoint} has a bad port",
            "fix endpoint_url / AWS_ENDPOINT_URL_STS",
        ) from None
    outcome: list[BaseException | None] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(None)
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=look_up, daemon=True)
    worker.start()
    worker.join(DNS_SECONDS)
    if outcome == [None]:
        return
    reason = "the host name does not resolve" if outcome else f"no DNS answer in {DNS_SECONDS} s"
    raise AwsUnreachable(
        f"cannot reach STS at {endpoint}: {reason}",
        "check the network, region and endpoint_url / AWS_ENDPOINT_URL_STS",
    )


def _invalid_code(exc: botocore.exceptions.ClientError) -> bool:
    """A wrong or stale code, worth asking again; not a wrong or unassigned device, which
    AWS words otherwise and no other code would fix."""
    error = exc.response.get("Error", {})
    return (
        error.get("Code") == "AccessDenied"
        and "invalid mfa one time pass code" in str(error.get("Message", "")).lower()
    )


def _clock_skew(exc: botocore.exceptions.ClientError) -> float:
    date = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return time.time() - parsedate_to_datetime(date).timestamp() if date else 0.0
    except (TypeError, ValueError):
        return 0.0


def one_line(text: str, limit: int = 300) -> str:
    """Text from the endpoint, made fit for a one-line message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _attempts(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1


def refused(
    exc: botocore.exceptions.ClientError, step: Step, source: Source, client: Any = None
) -> AwsRefused | AwsUnreachable:
    endpoint = client.meta.endpoint_url if client is not None else "its endpoint"
    denied = "check the role's trust policy, mfa_serial and external_id"
    return refusal(exc, _call_name(step), source.profile, endpoint, denied)


def refusal(
    exc: botocore.exceptions.ClientError,
    call: str,
    profile: str,
    endpoint: str,
    denied: str,
    service: str = "STS",
) -> AwsRefused | AwsUnreachable:
    """`service`'s refusal of `call`, signed with the credentials of `profile`, as credproc's
    error; `denied` is the fix for AccessDenied."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), one_line(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    skew = _clock_skew(exc)
    if abs(skew) > CLOCK_SKEW_SECONDS:
        return AwsRefused(
            f"this computer's clock is {abs(skew) / 60:.0f} min "
            f"{'ahead of' if skew > 0 else 'behind'} AWS ({code})",
            "set the clock right, e.g. enable NTP",
        )
    if status >= 500:
        return AwsUnreachable(
            f"{service} at {endpoint} failed {call} {_attempts(exc)} times: {code} (HTTP {status})",
            "try again in a minute",
        )
    if code in THROTTLING_CODES or status == 429:
        return AwsRefused(
            f"AWS throttled {call} {_attempts(exc)} times ({code})",
            "wait a minute and try again",
        )
    if code in REJECTED_KEYS:
        return SourceRejected(
            f"AWS does not accept the keys of profile {profile} ({code})",
            f"check the access keys of profile {profile}",
        )
    if code == "ExpiredToken":
        return SourceRejected(
            f"the credentials of profile {profile} have expired ({code})",
            f"renew the credentials of profile {profile}",
        )
    if code == "AccessDenied":
        return AwsRefused(f"AWS refused {call}: {message}", denied)
    return AwsRefused(f"{call} failed: {code}: {message}", "try again later, or run with -v")


def connection_reason(exc: Exception) -> str:
    """Why a connection failed, in words; the exception's own text names objects and hosts."""
    cause = getattr(exc, "kwargs", {}).get("error")
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        return f"no connection within {STS_CONNECT_SECONDS} s"
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return f"no answer within {STS_READ_SECONDS} s"
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return "the answer is not from STS"
    if isinstance(exc, botocore.exceptions.SSLError):
        return "TLS failed"
    if isinstance(exc, botocore.exceptions.ProxyConnectionError):
        return "the proxy cannot be reached"
    text = f"{type(cause).__name__} {cause}"
    if "NameResolution" in text or "gaierror" in text or "resolve" in text:
        return "the host name does not resolve"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "unreachable" in text.lower():
        return "network unreachable"
    return type(exc).__name__


def unreachable(exc: Exception, client: Any, service: str = "STS") -> AwsUnreachable:
    endpoint = client.meta.endpoint_url
    return AwsUnreachable(
        f"cannot reach {service} at {endpoint}: {connection_reason(exc)} ({STS_ATTEMPTS} attempts)",
        f"check the network, region and endpoint_url / AWS_ENDPOINT_URL_{service}",
    )
