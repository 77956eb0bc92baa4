"""The credential_process output: one compact JSON line (SPEC section 4)."""

from __future__ import annotations

import json
import time
from typing import Any

from credproc.entry import Credentials


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
