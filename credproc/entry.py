"""The encrypted cache entry format: one version byte, a nonce, AES-256-GCM ciphertext.

The file name is associated data, so an entry copied over another's name does not open.
Every way an entry can be bad raises InvalidEntry; there are no partial answers.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CPE"
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16


class InvalidEntry(Exception):
    """Not an entry this key and this version of credproc wrote under this name."""


def _header() -> bytes:
    return MAGIC + bytes([VERSION])


def seal(key: bytes, name: str, payload: dict[str, Any]) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(payload, separators=(",", ":")).encode()
    return _header() + nonce + AESGCM(key).encrypt(nonce, plain, _header() + name.encode())


def unseal(key: bytes, name: str, blob: bytes) -> dict[str, Any]:
    header = _header()
    if blob[: len(MAGIC)] != MAGIC or len(blob) <= len(MAGIC):
        raise InvalidEntry("is not a credproc entry")
    if blob[len(MAGIC)] != VERSION:
        raise InvalidEntry(f"has format version {blob[len(MAGIC)]}, not {VERSION}")
    if len(blob) < len(header) + NONCE_BYTES + TAG_BYTES:
        raise InvalidEntry("is truncated")
    nonce = blob[len(header) : len(header) + NONCE_BYTES]
    try:
        plain = AESGCM(key).decrypt(
            nonce, blob[len(header) + NONCE_BYTES :], header + name.encode()
        )
        payload = json.loads(plain)
    except (InvalidTag, ValueError):
        raise InvalidEntry("does not decrypt with this key under this name") from None
    if not isinstance(payload, dict):
        raise InvalidEntry("holds no record")
    return payload
