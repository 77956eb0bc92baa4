"""A damaged cache entry is a miss, never a crash: unit tests of the format, then the real CLI."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from credproc import cache, entry
from tests.conftest import World

KEY = bytes(range(32))
NAME = "0123456789abcdef0123456789abcdef"
PAYLOAD = {"kind": "role", "credentials": {"access_key_id": "ASIAEXAMPLE", "expiration": 1}}


def sealed() -> bytes:
    return entry.seal(KEY, NAME, PAYLOAD)


def test_a_sealed_entry_opens_with_its_key_under_its_name() -> None:
    blob = sealed()
    assert entry.unseal(KEY, NAME, blob) == PAYLOAD
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


def test_an_authentic_payload_that_is_not_a_record_is_rejected() -> None:
    blob = entry.seal(KEY, NAME, ["not", "a", "record"])  # type: ignore[arg-type]
    with pytest.raises(entry.InvalidEntry, match="holds no record"):
        entry.unseal(KEY, NAME, blob)


def test_a_key_of_the_wrong_size_opens_nothing() -> None:
    with pytest.raises(entry.InvalidEntry):
        entry.unseal(KEY[:16] + b"x", NAME, sealed())


def test_the_store_reads_damage_as_a_miss(tmp_path: Path) -> None:
    store = cache.Store(cache.private_dir(str(tmp_path / "c")), KEY)
    assert store.write(NAME, PAYLOAD)
    assert store.read(NAME) == PAYLOAD
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
    role.write_bytes(entry.seal(os.urandom(32), role.name, {"kind": "role"}))


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


def role_and_session(world: World) -> tuple[Path, Path]:
    store = cache.Store(str(world.cache_dir), world.key_file.read_bytes())
    kinds = {
        (store.read(p.name) or {}).get("kind"): p
        for p in world.cache_dir.iterdir()
        if "." not in p.name
    }
    return kinds["role"], kinds["session"]


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_entry_is_a_quiet_miss_and_is_minted_again(world: World, damage: str) -> None:
    harm, reason = DAMAGE[damage]
    world.standard_config()
    first = world.serve()
    role, session = role_and_session(world)

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
    assert world.prompts() == 1
    world.serve()
    assert world.sts.actions() == ["AssumeRole"]  # the re-minted entry is whole again
