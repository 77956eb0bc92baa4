"""A cache entry and a vault entry: the typed records of what each holds, and their one
sealed format.

Sealed: b"CPE", a version byte, a 96-bit nonce, then AES-256-GCM of the record as JSON with
the header and the file name as associated data, so an entry copied over another's name
does not open. Every way a blob can be bad, down to a field of the wrong type inside an
authentic payload, raises InvalidEntry; there are no partial answers.
"""

import os
import time
from typing import Any, NamedTuple, Optional

MAGIC = b"CPE"
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16

# the kinds of entry
SESSION = "session"  # an MFA session: GetSessionToken with a code
ROLE = "role"  # role credentials: AssumeRole
USED_CODES = "used-codes"  # keyed hashes of the codes sent lately for one device
KINDS = (SESSION, ROLE, USED_CODES)
VAULT_KEYS = "vault-keys"  # an IAM user's long-term keys, in the vault (not the cache)

# Records are NamedTuples, not dataclasses: importing dataclasses (and inspect) costs about
# 9 ms, a fifth of the cache-hit path. No `from __future__ import annotations` here: a
# NamedTuple compiles every field annotation given as a string, and the first compile() of a
# process costs the cache hit 1.5 ms.


class Credentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: int  # Unix time, whole seconds; 0 for long-term keys
    account_id: str = ""

    def seconds_left(self, now: Optional[float] = None) -> float:
        return self.expiration - (time.time() if now is None else now)


class CacheEntry(NamedTuple):
    """What one cache file holds."""

    kind: str  # one of KINDS
    profile: str = ""  # the profile whose step minted it, for `status`
    role_arn: str = ""  # a role entry's role
    mfa_serial: str = ""  # the device: a session's, or the one whose codes these are
    credentials: Optional[Credentials] = None  # a session's or a role's
    used_codes: tuple[tuple[str, float], ...] = ()  # (keyed hash, when sent), for USED_CODES


class VaultKeys(NamedTuple):
    """What one vault file holds: the long-term keys of one profile."""

    profile: str  # the profile they belong to; also checked against the file's name
    access_key_id: str
    secret_access_key: str
    added: int  # Unix time they were stored
    user_arn: str = ""  # who AWS said they are; "" when added with --no-verify
    kind: str = VAULT_KEYS

    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key, "", 0)


class InvalidEntry(Exception):
    """Not an entry this key and this version of credproc wrote under this name."""


def _header() -> bytes:
    return MAGIC + bytes([VERSION])


def _to_json(entry: CacheEntry) -> dict[str, Any]:
    record = entry._asdict()
    record["credentials"] = entry.credentials._asdict() if entry.credentials else None
    record["used_codes"] = [list(pair) for pair in entry.used_codes]
    return record


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEntry("holds no valid record")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEntry("holds no valid record")
    return value


def _credentials(record: object) -> Optional[Credentials]:
    if record is None:
        return None
    if not isinstance(record, dict) or set(record) != set(Credentials._fields):
        raise InvalidEntry("holds no valid record")
    expiration = _number(record["expiration"])
    if not isinstance(expiration, int):
        raise InvalidEntry("holds no valid record")
    return Credentials(
        _text(record["access_key_id"]),
        _text(record["secret_access_key"]),
        _text(record["session_token"]),
        expiration,
        _text(record["account_id"]),
    )


def _from_json(record: object) -> CacheEntry:
    if not isinstance(record, dict):
        raise InvalidEntry("holds no record")
    if set(record) != set(CacheEntry._fields) or record["kind"] not in KINDS:
        raise InvalidEntry("holds no valid record")
    codes = record["used_codes"]
    if not isinstance(codes, list) or not all(isinstance(c, list) and len(c) == 2 for c in codes):
        raise InvalidEntry("holds no valid record")
    entry = CacheEntry(
        kind=_text(record["kind"]),
        profile=_text(record["profile"]),
        role_arn=_text(record["role_arn"]),
        mfa_serial=_text(record["mfa_serial"]),
        credentials=_credentials(record["credentials"]),
        used_codes=tuple((_text(digest), _number(when)) for digest, when in codes),
    )
    if (entry.credentials is None) != (entry.kind == USED_CODES):
        raise InvalidEntry("holds no valid record")
    return entry


def _vault_from_json(record: object) -> VaultKeys:
    if not isinstance(record, dict) or set(record) != set(VaultKeys._fields):
        raise InvalidEntry("holds no valid record")
    added = _number(record["added"])
    if record["kind"] != VAULT_KEYS or not isinstance(added, int):
        raise InvalidEntry("holds no valid record")
    return VaultKeys(
        _text(record["profile"]),
        _text(record["access_key_id"]),
        _text(record["secret_access_key"]),
        added,
        _text(record["user_arn"]),
    )


# cryptography is imported where a box is sealed or opened, not with this module: commands
# that read no entry (completion at each TAB) do not pay its 35 ms; json likewise, which the
# cache hit's shortcut does without


def seal_bytes(key: bytes, name: str, plain: bytes) -> bytes:
    """The sealed box around `plain`, which opens only under this key and this file name."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return _header() + nonce + AESGCM(key).encrypt(nonce, plain, _header() + name.encode())


def unseal_bytes(key: bytes, name: str, blob: bytes) -> bytes:
    """What seal_bytes sealed under this key and name; InvalidEntry for anything else."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = _header()
    if blob[: len(MAGIC)] != MAGIC or len(blob) <= len(MAGIC):
        raise InvalidEntry("is not a credproc entry")
    if blob[len(MAGIC)] != VERSION:
        raise InvalidEntry(f"has format version {blob[len(MAGIC)]}, not {VERSION}")
    if len(blob) < len(header) + NONCE_BYTES + TAG_BYTES:
        raise InvalidEntry("is truncated")
    nonce = blob[len(header) : len(header) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(header) + NONCE_BYTES :], header + name.encode())
    except (InvalidTag, ValueError):
        raise InvalidEntry("does not decrypt with this key under this name") from None


def _seal_json(key: bytes, name: str, record: dict[str, Any]) -> bytes:
    import json

    return seal_bytes(key, name, json.dumps(record, separators=(",", ":")).encode())


def _unseal_json(key: bytes, name: str, blob: bytes) -> object:
    import json

    plain = unseal_bytes(key, name, blob)
    try:
        return json.loads(plain)
    except ValueError:
        raise InvalidEntry("does not decrypt with this key under this name") from None


def seal(key: bytes, name: str, entry: CacheEntry) -> bytes:
    return _seal_json(key, name, _to_json(entry))


def unseal(key: bytes, name: str, blob: bytes) -> CacheEntry:
    return _from_json(_unseal_json(key, name, blob))


def seal_vault(key: bytes, name: str, keys: VaultKeys) -> bytes:
    return _seal_json(key, name, keys._asdict())


def unseal_vault(key: bytes, name: str, blob: bytes) -> VaultKeys:
    return _vault_from_json(_unseal_json(key, name, blob))
