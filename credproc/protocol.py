"""The credential_process output: one compact JSON line (SPEC section 4).

Written without the json module, whose import costs the cache hit 5 %: the line is a flat
object of strings and one integer, encoded as json.dumps would (ensure_ascii, compact);
tests/test_protocol.py holds the two to the same bytes.
"""

from __future__ import annotations

import time

from credproc.entry import Credentials

# what json.dumps writes as itself: printable ASCII, but the quote and the backslash
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def utc_iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _escaped(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code > 0xFFFF:  # a surrogate pair, as json.dumps writes it
        code -= 0x10000
        return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
    return f"\\u{code:04x}"


def json_string(text: str) -> str:
    """`text` as a JSON string, byte for byte what json.dumps(text) gives."""
    if _PLAIN.issuperset(text):
        return f'"{text}"'
    return '"' + "".join(c if c in _PLAIN else _escaped(c) for c in text) + '"'


def process_output(creds: Credentials) -> str:
    """One compact JSON line in the credential_process format."""
    fields = [
        ("AccessKeyId", creds.access_key_id),
        ("SecretAccessKey", creds.secret_access_key),
        ("SessionToken", creds.session_token),
        ("Expiration", utc_iso(creds.expiration)),
    ]
    if creds.account_id:
        fields.append(("AccountId", creds.account_id))
    return '{"Version":1,' + ",".join(f'"{k}":{json_string(v)}' for k, v in fields) + "}"
