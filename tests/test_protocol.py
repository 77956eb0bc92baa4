"""The credential_process output format (SPEC section 4)."""

from __future__ import annotations

import json

from credproc.entry import Credentials
from credproc.protocol import process_output


def test_output_is_one_compact_json_line_with_version_1_and_utc_z_expiration() -> None:
    creds = Credentials("ASIAX", "secret", "token", 1795716245, "123456789012")
    line = process_output(creds)
    assert "\n" not in line and " " not in line
    assert json.loads(line) == {
        "Version": 1,
        "AccessKeyId": "ASIAX",
        "SecretAccessKey": "secret",
        "SessionToken": "token",
        "Expiration": "2026-11-26T18:04:05Z",
        "AccountId": "123456789012",
    }


def test_account_id_is_left_out_when_unknown() -> None:
    assert "AccountId" not in json.loads(process_output(Credentials("a", "b", "c", 0)))
