"""STS through botocore: a client per step, the two calls credproc makes, and AWS's errors
turned into credproc's. An adapter: it takes values, returns Credentials, and raises.
How the clients are made (one session per profile, timeouts) is `clients.py`."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.exceptions
import botocore.parsers

from credproc import log
from credproc.clients import STS_ATTEMPTS, STS_CONNECT_SECONDS, STS_READ_SECONDS, service_client
from credproc.entry import SESSION, Credentials
from credproc.errors import (
    AwsRefused,
    AwsUnreachable,
    CodeRejected,
    ConfigError,
    SourceRejected,
    one_line,
)
from credproc.plan import Step
from credproc.profiles import Source

CLOCK_SKEW_SECONDS = 300
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


def client(step: Step, source: Credentials) -> Any:
    """An STS client for this step's endpoint, signing with `source`."""
    return service_client("sts", step.profile, step.region, step.endpoint_url, source)


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
