"""The vault on the hot path: a day of use asks the keystore once (counted by dbus-monitor on
the keystore's own bus), and a cache hit neither imports keyring nor touches the vault."""

from __future__ import annotations

from tests.conftest import World
from tests.secret_service import SecretService
from tests.vault_helpers import added, keys_in_file

KEYSTORE_MODULES = ("keyring", "secretstorage", "jeepney")


def test_a_day_of_one_login_100_hits_and_5_renewals_asks_the_keystore_once(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")
    world.sts.reset()
    world.sts.faults.lifetime = {"AssumeRole": 15 * 60}  # too short to serve: renewed each call
    with keystore.watch() as calls:
        login = world.run("login", "--profile", "prod-mfa")
        assert login.returncode == 0, login.stderr
        for _ in range(4):
            world.serve()  # renewals 1 to 4, from the cached MFA session
        world.sts.faults.lifetime = {}
        renewed = world.serve()  # renewal 5, good for an hour
        hits = [world.serve() for _ in range(100)]
        asked, searched = calls.count("GetSecret"), calls.count("SearchItems")
        sessions = calls.count("OpenSession")
    assert world.sts.actions() == ["GetSessionToken"] + ["AssumeRole"] * 6
    assert hits == [renewed] * 100 and world.prompts() == 1
    assert (asked, searched, sessions) == (1, 1, 1)


def test_a_cache_hit_from_vault_keys_imports_no_keystore_code(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")
    world.serve()
    with keystore.watch() as calls:
        imported = world.hit_imports()
        assert calls.count("OpenSession") == 0 and calls.count("SearchItems") == 0
    heavy = {
        m
        for m in imported
        if m.split(".")[0] in (*KEYSTORE_MODULES, "boto3", "botocore")
        or m.startswith(("credproc.vault", "credproc.keystore", "credproc.resolve"))
    }
    assert heavy == set()
