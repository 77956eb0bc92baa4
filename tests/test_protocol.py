"""The credential_process output format (SPEC section 4)."""

from __future__ import annotations

import json

from credproc.protocol import Credentials, from_entry, process_output


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


def test_cache_record_round_trips_and_wrong_kind_is_a_miss() -> None:
    creds = Credentials("a", "b", "c", 123, "1")
    payload = {"kind": "role", "credentials": creds.to_record()}
    assert from_entry(payload, "role") == creds
    assert from_entry(payload, "session") is None
    assert from_entry({"kind": "role", "credentials": {"access_key_id": "a"}}, "role") is None
    assert from_entry(None, "role") is None
