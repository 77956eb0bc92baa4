"""The credential_process output, and the credentials record kept in the cache."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

SERVE_SECONDS = 16 * 60  # hand out only credentials with more than this left
GRACE_SECONDS = 11 * 60  # ...or this much, when renewing would need a code nobody can give

# Data records are NamedTuples, not dataclasses: importing dataclasses (and inspect)
# costs about 9 ms, a fifth of the cache-hit path.


class Credentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: int  # Unix time, whole seconds
    account_id: str = ""

    def seconds_left(self, now: float | None = None) -> float:
        return self.expiration - (time.time() if now is None else now)

    def to_record(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Credentials:
        return cls(
            str(record["access_key_id"]),
            str(record["secret_access_key"]),
            str(record["session_token"]),
            int(record["expiration"]),
            str(record.get("account_id", "")),
        )


def utc_iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def process_output(creds: Credentials) -> str:
    """One compact JSON line in the credential_process format."""
    out: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": utc_iso(creds.expiration),
    }
    if creds.account_id:
        out["AccountId"] = creds.account_id
    return json.dumps(out, separators=(",", ":"))


def from_entry(payload: dict[str, Any] | None, kind: str) -> Credentials | None:
    """The credentials of a cache entry of this kind, or None."""
    if not payload or payload.get("kind") != kind:
        return None
    try:
        return Credentials.from_record(payload["credentials"])
    except (KeyError, TypeError, ValueError):
        return None
