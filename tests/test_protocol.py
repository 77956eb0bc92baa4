"""The credential_process output format (SPEC section 4)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from credproc.entry import Credentials
from credproc.protocol import json_string, process_output


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


@given(st.text())
def test_strings_are_written_as_json_dumps_writes_them(text: str) -> None:
    assert json_string(text) == json.dumps(text)


@given(st.text(), st.text(), st.text(), st.integers(0, 2**33), st.text())
def test_the_line_is_what_json_dumps_gives(
    key_id: str, secret: str, token: str, expiration: int, account: str
) -> None:
    creds = Credentials(key_id, secret, token, expiration, account)
    expected = {"Version": 1, "AccessKeyId": key_id, "SecretAccessKey": secret}
    expected |= {
        "SessionToken": token,
        "Expiration": json.loads(process_output(creds))["Expiration"],
    }
    if account:
        expected["AccountId"] = account
    assert process_output(creds) == json.dumps(expected, separators=(",", ":"))
