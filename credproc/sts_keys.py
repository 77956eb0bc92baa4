"""The calls about an IAM user's own access keys, through botocore: who keys belong to (STS
GetCallerIdentity, which needs no permission), and IAM's ListAccessKeys, CreateAccessKey and
DeleteAccessKey. An adapter: it takes values, returns them, and raises credproc's errors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import botocore.exceptions
import botocore.parsers

from credproc import log, rules
from credproc.clients import service_client
from credproc.entry import Credentials
from credproc.errors import AwsRefused, SourceRejected
from credproc.sts import refusal, unreachable

PROOF_PAUSE = 1.0  # seconds between tries of a new key
IAM_DENIED = "the user needs iam:ListAccessKeys, iam:CreateAccessKey and iam:DeleteAccessKey"
UNREACHABLE = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.parsers.ResponseParserError,
)

T = TypeVar("T")


class Endpoint(NamedTuple):
    """Where to call, and the profile whose settings botocore reads ("" for none)."""

    profile: str
    region: str
    sts_url: str  # "" for botocore's default
    iam_url: str


def iam_url(profile_endpoint: str) -> str:
    """IAM's endpoint override as botocore finds it: its own variable, the global one, then
    the profile's endpoint_url."""
    env = os.environ
    return env.get("AWS_ENDPOINT_URL_IAM") or env.get("AWS_ENDPOINT_URL") or profile_endpoint


def _call(service: str, name: str, client: Any, profile: str, run: Callable[[], T]) -> T:
    try:
        return run()
    except botocore.exceptions.ClientError as exc:
        denied = IAM_DENIED if service == "IAM" else "check the keys"
        raise refusal(exc, name, profile, client.meta.endpoint_url, denied, service) from None
    except UNREACHABLE as exc:
        raise unreachable(exc, client, service) from None


def caller_arn(where: Endpoint, keys: Credentials, profile: str) -> str:
    """The ARN of whoever `keys` are (exit 6 when AWS does not accept them)."""
    sts = service_client("sts", where.profile, where.region, where.sts_url, keys)
    log.debug(f"GetCallerIdentity for {profile} via {sts.meta.endpoint_url}")
    reply = _call("STS", "GetCallerIdentity", sts, profile, sts.get_caller_identity)
    return str(reply["Arn"])


def prove(where: Endpoint, keys: Credentials, profile: str, user_arn: str) -> None:
    """Wait until AWS accepts a new key as `user_arn`: IAM takes seconds to spread it."""
    deadline = time.monotonic() + rules.NEW_KEY_PROOF_SECONDS
    while True:
        try:
            arn = caller_arn(where, keys, profile)
        except SourceRejected:
            if time.monotonic() + PROOF_PAUSE >= deadline:
                raise
            time.sleep(PROOF_PAUSE)
            continue
        if arn != user_arn:
            raise AwsRefused(f"the new key belongs to {arn}, not {user_arn}", "check IAM")
        return


class Iam:
    """IAM calls for one user, signed with `signer` (the long-term keys or an MFA session)."""

    def __init__(self, where: Endpoint, signer: Credentials, profile: str, user: str) -> None:
        self.client = service_client("iam", where.profile, where.region, where.iam_url, signer)
        self.profile, self.user = profile, user

    def _run(self, name: str, run: Callable[[], T]) -> T:
        log.debug(f"{name} for IAM user {self.user} via {self.client.meta.endpoint_url}")
        return _call("IAM", name, self.client, self.profile, run)

    def key_ids(self) -> list[str]:
        reply = self._run(
            "ListAccessKeys", lambda: self.client.list_access_keys(UserName=self.user)
        )
        return [str(k["AccessKeyId"]) for k in reply.get("AccessKeyMetadata", [])]

    def create_key(self) -> Credentials:
        reply = self._run(
            "CreateAccessKey", lambda: self.client.create_access_key(UserName=self.user)
        )
        made = reply["AccessKey"]
        return Credentials(str(made["AccessKeyId"]), str(made["SecretAccessKey"]), "", 0)

    def delete_key(self, key_id: str) -> bool:
        """Delete the key; False when IAM has no such key (it is deleted already)."""

        def delete() -> bool:
            try:
                self.client.delete_access_key(UserName=self.user, AccessKeyId=key_id)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                return False
            return True

        return self._run("DeleteAccessKey", delete)
