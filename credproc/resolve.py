"""The flows that mint credentials: MFA session, AssumeRole, chains. The only botocore user."""

from __future__ import annotations

import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session

from credproc import lock, log
from credproc.cache import Store
from credproc.config import AwsConfig
from credproc.errors import AwsRefused, AwsUnreachable, ConfigError, NoPrompt
from credproc.plan import CHAIN_ENV, Plan, Source, Step
from credproc.prompt import CodeRequest, CodeSource, prompt_timeout
from credproc.protocol import GRACE_SECONDS, SERVE_SECONDS, Credentials, from_entry
from credproc.used_codes import UsedCodes

SOURCE_SECONDS = 5 * 60  # a cached source is good for one more STS call while this is left
CLOCK_SKEW_SECONDS = 300
BOTOCORE_PROVIDERS = {
    "process": "custom-process",
    "sso": "sso",
    "web-identity": "assume-role-with-web-identity",
    "environment": "env",
    "ec2-metadata": "iam-role",
    "ecs": "container-role",
}
STS_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
)


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


class Resolver:
    def __init__(self, plan: Plan, config: AwsConfig, store: Store, *, renew: bool = False) -> None:
        self.plan, self.config, self.store, self.renew = plan, config, store, renew
        self.timeout = prompt_timeout()
        self.who = f"pid {os.getpid()}, profile {plan.profile}"

    def credentials(self) -> Credentials:
        return self._step(len(self.plan.steps) - 1, SERVE_SECONDS)

    def _step(self, index: int, need: float) -> Credentials:
        step = self.plan.steps[index]
        with lock.held(self.store.path(step.identity) + ".lock", self.who, self.timeout + 30):
            old = from_entry(self.store.read(step.identity), step.kind)
            if old and old.seconds_left() > need and not self.renew:
                log.debug(
                    f"{step.kind} for {step.profile}: cached, "
                    f"{old.seconds_left() / 60:.0f} min left"
                )
                return old
            try:
                source = self._source() if index == 0 else self._step(index - 1, SOURCE_SECONDS)
                fresh = self._mint(step, source)
            except NoPrompt:
                if old and old.seconds_left() > GRACE_SECONDS:
                    log.warn(
                        f"cannot ask for a new MFA code; serving cached credentials "
                        f"with {old.seconds_left() / 60:.0f} min left"
                    )
                    return old
                raise
            self.store.write(step.identity, self._record(step, fresh))
            return fresh

    def _record(self, step: Step, creds: Credentials) -> dict[str, Any]:
        return {
            "kind": step.kind,
            "profile": step.profile,
            "role_arn": step.role_arn,
            "mfa_serial": step.mfa_serial,
            "credentials": creds.to_record(),
        }

    def _source(self) -> Credentials:
        source = self.plan.source
        if source.kind == "static":
            profile = self.config.profiles[source.profile]
            return Credentials(
                profile.get("aws_access_key_id"),
                profile.get("aws_secret_access_key"),
                profile.get("aws_session_token"),
                0,
            )
        return botocore_source(source, self.plan.profile)

    def _mint(self, step: Step, source: Credentials) -> Credentials:
        client = sts_client(step, source)
        codes: CodeSource | None = None
        args: dict[str, Any] = {"DurationSeconds": step.duration}
        if step.kind == "role":
            args["RoleArn"] = step.role_arn
            args["RoleSessionName"] = step.session_name or f"credproc-{int(time.time())}"
            if step.external_id:
                args["ExternalId"] = step.external_id
        if step.kind == "role" and step.mfa_serial:
            direct = self.plan.steps[0] is step and self.plan.source.long_term
            why = (
                "no MFA session for this role (credproc_mfa_session = false or "
                "duration_seconds > 3600)"
                if direct
                else "the source is temporary credentials, which cannot call GetSessionToken"
            )
            log.debug(f"{why}: AssumeRole with the MFA code directly")
        if step.mfa_serial:
            request = CodeRequest(
                self.plan.profile, step.mfa_serial, step.role_arn, self.plan.settings, self.timeout
            )
            used = UsedCodes(self.store, step.mfa_serial, self.who, self.timeout)
            codes = CodeSource(request, used.claim)
            args.update(SerialNumber=step.mfa_serial, TokenCode=codes.next())
        call = client.get_session_token if step.kind == "session" else client.assume_role
        log.debug(
            f"{'GetSessionToken' if step.kind == 'session' else 'AssumeRole ' + step.role_arn}"
            f" for {step.profile}, {step.duration} s{', with MFA' if codes else ''}"
            f" via {client.meta.endpoint_url}"
        )
        while True:
            try:
                reply = call(**args)
                break
            except botocore.exceptions.ClientError as exc:
                if codes and _invalid_code(exc):
                    args["TokenCode"] = codes.next("AWS did not accept that code, try the next one")
                    continue
                raise refused(exc, step, self.plan.source) from None
            except (
                botocore.exceptions.ConnectionError,
                botocore.exceptions.HTTPClientError,
            ) as exc:
                raise unreachable(exc, client) from None
        got = reply["Credentials"]
        return Credentials(
            got["AccessKeyId"],
            got["SecretAccessKey"],
            got["SessionToken"],
            int(got["Expiration"].timestamp()),
            _account(step.role_arn or step.mfa_serial),
        )


def sts_client(step: Step, source: Credentials) -> Any:
    session = botocore.session.Session(profile=step.profile)
    return session.create_client(
        "sts",
        region_name=step.region or None,
        endpoint_url=step.endpoint_url or None,
        aws_access_key_id=source.access_key_id,
        aws_secret_access_key=source.secret_access_key,
        aws_session_token=source.session_token or None,
        config=STS_CONFIG,
    )


def botocore_source(source: Source, profile: str) -> Credentials:
    """Credentials botocore knows how to get (SSO, credential_process, instance roles)."""
    chain = [p for p in os.environ.get(CHAIN_ENV, "").split(",") if p]
    os.environ[CHAIN_ENV] = ",".join([*chain, profile])  # seen by a nested credproc
    if source.kind == "environment":
        # an explicit profile drops the environment from botocore's chain, so ask it directly
        provider: Any = botocore.credentials.EnvProvider()
    else:
        session = botocore.session.Session(profile=source.profile)
        resolver = botocore.credentials.create_credential_resolver(session)
        provider = resolver.get_provider(BOTOCORE_PROVIDERS[source.kind])
    try:
        loaded = provider.load()
        frozen = loaded.get_frozen_credentials() if loaded else None  # SSO fetches only here
    except botocore.exceptions.BotoCoreError as exc:
        if source.kind == "sso":
            raise AwsRefused(
                f"the SSO login of profile {source.profile} is missing or expired",
                f"run `aws sso login --profile {source.profile}`",
            ) from None
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"cannot get the credentials of profile {source.profile}: {reason}",
            f"check profile {source.profile}",
        ) from None
    if frozen is None:
        raise ConfigError(
            f"profile {source.profile} gave no credentials ({source.kind})",
            f"check profile {source.profile}",
        )
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or "", 0)


def _invalid_code(exc: botocore.exceptions.ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "AccessDenied" and "MultiFactorAuthentication" in error.get(
        "Message", ""
    )


def _clock_skew(exc: botocore.exceptions.ClientError) -> float:
    date = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return time.time() - parsedate_to_datetime(date).timestamp() if date else 0.0
    except (TypeError, ValueError):
        return 0.0


def refused(exc: botocore.exceptions.ClientError, step: Step, source: Source) -> AwsRefused:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", "")
    skew = _clock_skew(exc)
    if abs(skew) > CLOCK_SKEW_SECONDS:
        return AwsRefused(
            f"this computer's clock is {abs(skew) / 60:.0f} min "
            f"{'ahead of' if skew > 0 else 'behind'} AWS ({code})",
            "set the clock right, e.g. enable NTP",
        )
    call = f"AssumeRole {step.role_arn}" if step.kind == "role" else "GetSessionToken"
    if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"):
        return AwsRefused(
            f"AWS does not accept the keys of profile {source.profile} ({code})",
            f"check the access keys of profile {source.profile}",
        )
    if code == "ExpiredToken":
        return AwsRefused(
            f"the credentials of profile {source.profile} have expired ({code})",
            f"renew the credentials of profile {source.profile}",
        )
    if code == "AccessDenied":
        return AwsRefused(
            f"AWS refused {call}: {message}",
            "check the role's trust policy, mfa_serial and external_id",
        )
    return AwsRefused(f"{call} failed: {code}: {message}", "try again later, or run with -v")


def unreachable(exc: Exception, client: Any) -> AwsUnreachable:
    endpoint = client.meta.endpoint_url
    return AwsUnreachable(
        f"cannot reach STS at {endpoint}: {type(exc).__name__}",
        "check the network, region and endpoint_url / AWS_ENDPOINT_URL_STS",
    )
