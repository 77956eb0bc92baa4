"""A damaged cache entry is a miss, never a crash: unit tests of the format, then the real CLI."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from credproc import cache, entry
from credproc.entry import ROLE, SESSION, USED_CODES, CacheEntry, Credentials
from tests.conftest import World

KEY = bytes(range(32))
NAME = "0123456789abcdef0123456789abcdef"
RECORD = CacheEntry(
    ROLE,
    profile="prod-mfa",
    role_arn="arn:aws:iam::123456789012:role/Admin",
    credentials=Credentials("ASIAEXAMPLE", "secret", "token", 1795716245, "123456789012"),
)


def sealed() -> bytes:
    return entry.seal(KEY, NAME, RECORD)


def test_a_sealed_entry_opens_with_its_key_under_its_name() -> None:
    blob = sealed()
    assert entry.unseal(KEY, NAME, blob) == RECORD
    assert blob[:4] == b"CPE\x01"
    assert b"ASIAEXAMPLE" not in blob
    assert sealed()[4:16] != blob[4:16]  # a fresh nonce every time


def test_every_flipped_bit_is_rejected() -> None:
    blob = sealed()
    for index in range(len(blob)):
        for bit in (0x01, 0x80):
            damaged = bytearray(blob)
            damaged[index] ^= bit
            with pytest.raises(entry.InvalidEntry):
                entry.unseal(KEY, NAME, bytes(damaged))


def test_every_truncation_is_rejected() -> None:
    blob = sealed()
    for length in range(len(blob)):
        with pytest.raises(entry.InvalidEntry):
            entry.unseal(KEY, NAME, blob[:length])
    with pytest.raises(entry.InvalidEntry):
        entry.unseal(KEY, NAME, blob + b"\0")


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"", "is not a credproc entry"),
        (b"CPE", "is not a credproc entry"),
        (b"CPE\x02" + bytes(60), "has format version 2, not 1"),
        (b"CPE\x00" + bytes(60), "has format version 0, not 1"),
        (b"CPE\x01" + bytes(20), "is truncated"),
        (b'{"kind": "role"}', "is not a credproc entry"),
    ],
)
def test_what_is_not_an_entry_says_why(blob: bytes, reason: str) -> None:
    with pytest.raises(entry.InvalidEntry, match=reason):
        entry.unseal(KEY, NAME, blob)


def test_random_bytes_are_rejected() -> None:
    rng = random.Random(1)
    for size in (0, 1, 15, 16, 31, 32, 33, 100, 1000):
        for prefix in (b"", b"CPE\x01"):
            blob = prefix + rng.randbytes(size)
            with pytest.raises(entry.InvalidEntry):
                entry.unseal(KEY, NAME, blob)


def test_another_key_cannot_open_an_entry() -> None:
    with pytest.raises(entry.InvalidEntry, match="does not decrypt"):
        entry.unseal(os.urandom(32), NAME, sealed())


def test_an_entry_copied_under_another_name_does_not_open() -> None:
    with pytest.raises(entry.InvalidEntry, match="under this name"):
        entry.unseal(KEY, "f" * 32, sealed())


def test_every_kind_of_record_round_trips() -> None:
    used = CacheEntry(USED_CODES, mfa_serial="arn:aws:iam::1:mfa/a", used_codes=(("ab", 1.5),))
    session = RECORD._replace(kind=SESSION, role_arn="", mfa_serial="arn:aws:iam::1:mfa/a")
    for record in (RECORD, session, used):
        assert entry.unseal(KEY, NAME, entry.seal(KEY, NAME, record)) == record


def seal_json(text: str) -> bytes:
    """An authentic blob (this key, this name, this version) around any JSON text."""
    header, nonce = b"CPE\x01", os.urandom(12)
    return header + nonce + AESGCM(KEY).encrypt(nonce, text.encode(), header + NAME.encode())


def as_json(**changes: object) -> str:
    """RECORD as the JSON inside an entry, with fields changed or added."""
    return json.dumps({**entry._to_json(RECORD), **changes}, separators=(",", ":"))


def with_credentials(**changes: object) -> str:
    assert RECORD.credentials is not None
    return as_json(credentials={**RECORD.credentials._asdict(), **changes})


GOOD_JSON = as_json()
FORGED = {
    "a list": '["not", "a", "record"]',
    "a field missing": GOOD_JSON.replace('"mfa_serial":"",', ""),
    "a field too many": as_json(extra=1),
    "an unknown kind": as_json(kind="admin"),
    "a role without credentials": as_json(credentials=None),
    "codes with credentials": as_json(kind=USED_CODES),
    "a text expiration": with_credentials(expiration="1795716245"),
    "a fractional expiration": with_credentials(expiration=1795716245.5),
    "a true expiration": with_credentials(expiration=True),
    "a numeric key id": with_credentials(access_key_id=12),
    "a credential field missing": as_json(credentials={"access_key_id": "ASIAEXAMPLE"}),
    "a code without its time": as_json(used_codes=[["ab"]]),
}


@pytest.mark.parametrize("forged", FORGED, ids=list(FORGED))
def test_an_authentic_payload_that_is_not_a_valid_record_is_rejected(forged: str) -> None:
    text = FORGED[forged]
    assert text != GOOD_JSON
    with pytest.raises(entry.InvalidEntry, match="holds no"):
        entry.unseal(KEY, NAME, seal_json(text))
    assert entry.unseal(KEY, NAME, seal_json(GOOD_JSON)) == RECORD  # the forging is all


def test_an_authentic_payload_that_is_not_json_is_rejected() -> None:
    with pytest.raises(entry.InvalidEntry, match="does not decrypt"):
        entry.unseal(KEY, NAME, seal_json(GOOD_JSON[:-1]))


def test_a_key_of_the_wrong_size_opens_nothing() -> None:
    with pytest.raises(entry.InvalidEntry):
        entry.unseal(KEY[:16] + b"x", NAME, sealed())


def test_the_store_reads_damage_as_a_miss(tmp_path: Path) -> None:
    store = cache.Store(cache.private_dir(str(tmp_path / "c")), KEY)
    assert store.write(NAME, RECORD)
    assert store.read(NAME) == RECORD
    path = Path(store.path(NAME))
    path.write_bytes(path.read_bytes()[:-1])
    assert store.read(NAME) is None
    path.write_bytes(b"\0" * (cache.MAX_ENTRY_BYTES + 10))
    assert store.read(NAME) is None
    assert store.read("f" * 32) is None  # absent


# --- through the real CLI: damage the role entry, then the cached MFA session re-mints it ---

Damage = Callable[[Path, Path], None]  # (the role entry, the session entry)


def flip(role: Path, _: Path) -> None:
    blob = bytearray(role.read_bytes())
    blob[len(blob) // 2] ^= 0x10
    role.write_bytes(bytes(blob))


def truncate(role: Path, _: Path) -> None:
    role.write_bytes(role.read_bytes()[:40])


def empty(role: Path, _: Path) -> None:
    role.write_bytes(b"")


def random_bytes(role: Path, _: Path) -> None:
    role.write_bytes(os.urandom(700))


def other_key(role: Path, _: Path) -> None:
    role.write_bytes(entry.seal(os.urandom(32), role.name, RECORD))


def future_version(role: Path, _: Path) -> None:
    blob = role.read_bytes()
    role.write_bytes(blob[:3] + b"\x07" + blob[4:])


def swapped(role: Path, session: Path) -> None:
    role.write_bytes(session.read_bytes())  # a valid entry, under another entry's name


DAMAGE: dict[str, tuple[Damage, str]] = {
    "flipped byte": (flip, "does not decrypt"),
    "truncated": (truncate, "does not decrypt"),
    "empty": (empty, "is not a credproc entry"),
    "random bytes": (random_bytes, "is not a credproc entry"),
    "another key": (other_key, "does not decrypt"),
    "unknown format version": (future_version, "has format version 7"),
    "another entry's file": (swapped, "does not decrypt with this key under this name"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_entry_is_a_quiet_miss_and_is_minted_again(primed: World, damage: str) -> None:
    world, (harm, reason) = primed, DAMAGE[damage]
    first = world.serve()
    role, session = world.entry(ROLE), world.entry(SESSION)

    harm(role, session)
    world.sts.reset()
    quiet = world.serve()  # stderr empty without -v: checked by serve
    assert quiet["AccessKeyId"] != first["AccessKeyId"]
    assert world.sts.actions() == ["AssumeRole"]  # from the cached MFA session, no code

    harm(role, session)
    world.sts.reset()
    verbose = world.run("--profile", "prod-mfa", "-v")
    assert verbose.returncode == 0 and json.loads(verbose.stdout)["AccessKeyId"]
    assert f"warning: cache entry {role.name} {reason}" in verbose.stderr
    assert "treated as a miss" in verbose.stderr and "Traceback" not in verbose.stderr
    assert world.sts.actions() == ["AssumeRole"]
    assert world.prompts() == 1  # the cached MFA session served every renewal
    world.serve()
    assert world.sts.actions() == ["AssumeRole"]  # the re-minted entry is whole again
