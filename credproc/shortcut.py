"""The cache hit without the config: a sealed pointer per profile from everything its answer
depends on (the AWS files' bytes, the environment variables that change it) to its cache
entry and that entry's credentials, so an unchanged config is neither parsed nor planned,
and the entry is not opened either.

The pointer's file name is a keyed hash of the profile (no profile name reaches a file name);
it is sealed as an entry is, with that name as associated data, so a pointer copied over
another's name does not open; inside, it repeats its profile and fingerprint, which must
match. It serves its copy of the credentials only while the entry on disk is, byte for byte,
the write it copied (a tag of its bytes): an entry renewed, removed (`clear`), damaged or
replaced sends the call to the full plan. Anything that does not match is no shortcut: the
full plan decides, and records the pointer again.

Names and fingerprints are AES-SIV tags (a deterministic MAC, in the module that AES-GCM
comes from) under a key derived from the cache key: no hashlib, whose import loads a second
copy of OpenSSL, and no HMAC, whose first use costs OpenSSL a millisecond of setup.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from credproc import __version__, paths
from credproc.cache import POINTER_SUFFIX, Store
from credproc.entry import Credentials

FORMAT = b"credproc-shortcut 1"
# The MAC key is the AES-CTR keystream of the cache key at a nonce used for nothing else (a
# random 96-bit entry nonce meets it with probability 2**-96), over a fixed plaintext.
KEY_NONCE = b"credproc-mac"
MAC_KEY_BYTES = 64  # AES-256-SIV
ANSWER_FIELDS = 7  # entry name, a tag of its bytes, key id, secret, token, expiration, account
# Environment variables that change a profile's answer (plan.py and profiles.py read them),
# besides AWS_ENDPOINT_URL* and CREDPROC_*. AWS_SECRET_ACCESS_KEY is not among them: an
# Environment source is known by its key id.
ANSWER_ENV = (
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
ANSWER_ENV_PREFIXES = ("AWS_ENDPOINT_URL", "CREDPROC_")
# CREDPROC_* variables that change how credproc speaks, never what it answers (the loop
# guard reads CREDPROC_CHAIN before any shortcut)
NOT_ANSWER_ENV = ("CREDPROC_CHAIN", "CREDPROC_LOG_LEVEL")


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _file(path: str) -> bytes | None:
    """A file's path and bytes (absent is an answer too); None when it cannot be read, which
    the full plan reports."""
    try:
        with open(path, "rb") as handle:
            return b"file\0" + os.fsencode(path) + b"\0" + handle.read()
    except FileNotFoundError:
        return b"absent\0" + os.fsencode(path)
    except OSError:
        return None


def _folder(path: str) -> bytes:
    """What a folder holds, as its stat shows it: an entry added, removed or renamed into it
    changes its mtime (for the vault, whose entries are written by rename)."""
    try:
        st = os.stat(path)
    except OSError:
        return b"absent\0" + os.fsencode(path)
    return b"folder\0" + os.fsencode(path) + f"\0{st.st_ino}:{st.st_mtime_ns}".encode()


def _environment() -> bytes:
    chosen = sorted(
        (name, value)
        for name, value in os.environ.items()
        if (name in ANSWER_ENV or name.startswith(ANSWER_ENV_PREFIXES))
        and name not in NOT_ANSWER_ENV
    )
    return b"\0".join(_text(f"{name}={value}") for name, value in chosen)


def ingredients(profile: str) -> list[bytes] | None:
    """Everything a profile's answer depends on, read now; None when a file cannot be read.
    One more input is one more line here."""
    config_file, credentials_file = paths.aws_files()
    found = [
        FORMAT,
        _text(__version__),
        _text(profile),
        _environment(),
        _file(config_file),
        _file(credentials_file),
        _folder(paths.vault_dir()),  # keys added to or removed from the vault
    ]
    return None if None in found else [part for part in found if part is not None]


def _mac_key(cache_key: bytes) -> AESSIV:
    stream = AESGCM(cache_key).encrypt(KEY_NONCE, bytes(MAC_KEY_BYTES), b"credproc shortcut")
    return AESSIV(stream[:MAC_KEY_BYTES])


def _mac(key: AESSIV, message: bytes) -> str:
    """A keyed 128-bit tag of `message`: AES-SIV's synthetic IV of no plaintext."""
    return key.encrypt(b"", [message]).hex()


class Shortcut:
    """The pointer of one profile, fingerprinted when made: before the config is read, so a
    change made while the full plan runs leaves a pointer that no longer matches."""

    def __init__(self, store: Store, profile: str) -> None:
        key = self.key = _mac_key(store.key)
        self.store, self.profile = store, profile
        self.name = _mac(key, b"pointer\0" + _text(profile)) + POINTER_SUFFIX
        parts = ingredients(profile)
        self.fingerprint = (
            None
            if parts is None
            else _mac(key, b"".join(len(p).to_bytes(8, "big") + p for p in parts))
        )

    def _tag(self, blob: bytes | None) -> str:
        return "" if blob is None else _mac(self.key, b"entry\0" + blob)

    def _header(self) -> bytes:
        return b"\n".join((FORMAT, _text(self.profile), str(self.fingerprint).encode(), b""))

    def credentials(self) -> Credentials | None:
        """The credentials recorded for this profile and these inputs, while their entry is
        the write they were copied from; else None."""
        if self.fingerprint is None:
            return None
        plain, header = self.store.read_sealed(self.name), self._header()
        if plain is None or not plain.startswith(header):
            return None
        fields = plain[len(header) :].decode(errors="replace").split("\n")
        if len(fields) != ANSWER_FIELDS:
            return None
        name, tag, key_id, secret, token, expiration, account = fields
        if not expiration.isdigit() or self._tag(self.store.raw(name)) != tag:
            return None
        return Credentials(key_id, secret, token, int(expiration), account)

    def remember(self, name: str, kind: str) -> None:
        """Record that these inputs are answered by entry `name` of `kind`, as it is now."""
        found = self.store.read_raw(name) if self.fingerprint is not None else None
        record, blob = found or (None, None)
        if record is None or record.kind != kind or record.credentials is None:
            return
        creds = record.credentials
        fields = [name, self._tag(blob), *creds[:3], str(creds.expiration), creds.account_id]
        if any("\n" in field for field in fields):
            return  # not a line apiece: no shortcut for it
        answer = self._header() + "\n".join(fields).encode()
        if self.store.read_sealed(self.name) != answer:
            self.store.write_sealed(self.name, answer)
