"""What goes wrong with the vault: a damaged or swapped entry, a vault key gone from the
keystore, a keystore that is locked, missing or stopped, a backend that is no keystore, the
file fallback, and concurrent writers. Each ends in one line with the fix, never a traceback;
still-valid cached credentials are served meanwhile."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credproc.plan import vault_name
from tests.conftest import CREDPROC, World, section
from tests.secret_service import SecretService
from tests.vault_helpers import (
    KEY_ID,
    OTHER_KEY_ID,
    OTHER_SECRET,
    SECRET,
    add,
    added,
    from_env,
    in_vault,
    keys_in_file,
    one_line_failure,
    vault_files,
)

FILE_KEY = {"CREDPROC_VAULT_KEY": "file"}


@pytest.fixture
def own_keystore(tmp_path: Path, world: World) -> Iterator[SecretService]:
    """A Secret Service of this test alone, to lock or stop."""
    service = SecretService(tmp_path / "own-keystore")
    world.env.update(service.env)
    yield service
    service.stop()


def vault_world(world: World) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")


def test_a_damaged_vault_entry_is_an_error_naming_add_not_a_miss(
    world: World, keystore: SecretService
) -> None:
    vault_world(world)
    path = world.vault_dir / vault_name("base")
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert "vault entry of profile base" in line and "credproc add base" in line
    assert world.sts.calls == []


def test_a_vault_entry_copied_over_another_profiles_is_refused(
    world: World, keystore: SecretService
) -> None:
    vault_world(world)
    added(world, "other", "--from-env", "--no-verify", env=from_env(OTHER_KEY_ID, OTHER_SECRET))
    world.config_file.write_text(
        world.config_file.read_text().replace("source_profile = base", "source_profile = other")
        + section("other", region="us-east-1")
    )
    shutil.copy(world.vault_dir / vault_name("base"), world.vault_dir / vault_name("other"))
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert "vault entry of profile other" in line and "credproc add other" in line
    assert world.sts.calls == []  # base's keys were not used in other's place


def test_a_vault_key_deleted_from_the_keystore_names_add(
    world: World, keystore: SecretService
) -> None:
    vault_world(world)
    keystore.delete_vault_key()
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert "vault key is missing from the OS keystore" in line and "credproc add base" in line
    added(world, "base", "--from-env", "--no-verify", env=from_env(KEY_ID, SECRET))  # the fix
    world.serve()


def test_a_locked_keystore_is_exit_8_with_how_to_unlock_and_cache_is_served(
    world: World, own_keystore: SecretService
) -> None:
    # a session about to end, role credentials with 14 minutes left: renewing needs the keys
    world.sts.faults.lifetime = {"GetSessionToken": 200, "AssumeRole": 14 * 60}
    vault_world(world)
    first = world.serve()
    own_keystore.lock()
    assert world.serve() == first  # between 11 and 16 minutes left: served meanwhile
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]
    verbose = world.run("--profile", "prod-mfa", "-v")
    assert verbose.returncode == 0 and "the OS keystore is locked; serving cached" in verbose.stderr
    line = one_line_failure(world.run("login", "--profile", "prod-mfa"), 8)
    assert "the OS keystore is locked" in line and "unlock" in line
    status = world.run("status")  # what the cache holds is shown; the vault's rows cannot be
    assert "the OS keystore is locked" in one_line_failure(status, 8)
    assert "prod-mfa                 role" in status.stdout and "vault" not in status.stdout


def test_a_stopped_bus_is_exit_8_at_once(world: World, own_keystore: SecretService) -> None:
    vault_world(world)
    own_keystore.stop_bus()
    started = time.monotonic()
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert time.monotonic() - started < 5
    assert "no OS keystore" in line and "Secret Service" in line and "start" in line


def test_a_keystore_that_never_answers_ends_within_the_prompt_timeout(
    world: World, own_keystore: SecretService
) -> None:
    vault_world(world)
    os.kill(own_keystore.daemon.pid, signal.SIGSTOP)  # on the bus, but answering nothing
    try:
        started = time.monotonic()
        done = world.run("--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "2"})
        assert time.monotonic() - started < 10
    finally:
        os.kill(own_keystore.daemon.pid, signal.SIGCONT)
    assert "did not answer within 2 s" in one_line_failure(done, 8)


def test_a_bus_that_never_answers_ends_within_the_prompt_timeout(
    world: World, own_keystore: SecretService
) -> None:
    vault_world(world)
    os.kill(own_keystore.bus_pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = world.run("--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "2"})
        assert time.monotonic() - started < 10
    finally:
        os.kill(own_keystore.bus_pid, signal.SIGCONT)
    line = one_line_failure(done, 8)  # jeepney's own 1 s or credproc's 2 s, whichever first
    assert "did not answer within 2 s" in line or "no OS keystore answers" in line


def test_no_keystore_at_all_refuses_add_naming_both_ways_out(world: World) -> None:
    keys_in_file(world)
    line = one_line_failure(add(world, "base", "--from-file", "--no-verify"), 8)
    assert "no OS keystore" in line and "Secret Service" in line
    assert "CREDPROC_VAULT_KEY=file" in line
    assert (
        vault_files(world) == [] and "aws_secret_access_key" in world.credentials_file.read_text()
    )


@pytest.mark.parametrize(
    "backend", ["keyring.backends.null.Keyring", "keyring.backends.fail.Keyring"]
)
def test_a_backend_that_keeps_nothing_is_never_a_keystore(
    world: World, keystore: SecretService, backend: str
) -> None:
    keys_in_file(world)
    done = add(world, "base", "--from-file", "--no-verify", env={"PYTHON_KEYRING_BACKEND": backend})
    line = one_line_failure(done, 8)
    assert "no OS keystore" in line and "CREDPROC_VAULT_KEY=file" in line
    assert vault_files(world) == [] and keystore.vault_key() is None


def test_the_file_fallback_keeps_the_vault_key_beside_the_cache_key(world: World) -> None:
    world.env.update(FILE_KEY)
    vault_world(world)
    vault_key = world.key_file.parent / "vault-key"
    assert vault_key.stat().st_size == 32 and stat.S_IMODE(vault_key.stat().st_mode) == 0o600
    world.serve()
    assert world.sts.signers[0] == KEY_ID
    vault_key.write_bytes(b"short")
    world.run("clear", "--all")
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert "has 5 bytes, not 32" in line and vault_key.read_bytes() == b"short"  # not replaced


def test_a_file_vault_key_reached_without_its_setting_names_the_setting(world: World) -> None:
    world.env.update(FILE_KEY)
    vault_world(world)
    del world.env["CREDPROC_VAULT_KEY"]  # as an SDK may start credproc, without the variable
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert "set CREDPROC_VAULT_KEY=file wherever credproc runs" in line
    assert world.sts.calls == []


def test_an_unknown_vault_key_setting_is_a_configuration_error(world: World) -> None:
    keys_in_file(world)
    done = add(world, "base", "--from-file", env={"CREDPROC_VAULT_KEY": "plaintext"})
    assert "CREDPROC_VAULT_KEY=plaintext is not known" in one_line_failure(done, 3)


def test_first_adds_at_once_agree_on_one_vault_key(world: World, keystore: SecretService) -> None:
    world.standard_config()
    names = [f"user{n}" for n in range(5)]
    running = [
        subprocess.Popen(
            [CREDPROC, "add", name, "--from-env", "--no-verify"],
            env={**world.env, **from_env(f"AKIAQQQQCONCURRENT0{n}", SECRET)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, name in enumerate(names)
    ]
    assert [p.wait(60) for p in running] == [0] * 5, [p.stderr.read() for p in running if p.stderr]
    for n, name in enumerate(names):  # every entry opens with the one key in the keystore
        assert in_vault(world, keystore, name).access_key_id == f"AKIAQQQQCONCURRENT0{n}"


def test_adds_of_one_profile_at_once_store_one_and_refuse_the_others(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    running = [
        subprocess.Popen(
            [CREDPROC, "add", "base", "--from-env", "--no-verify"],
            env={**world.env, **from_env(f"AKIAQQQQSAMEPROFILE{n}", SECRET)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    codes = [p.wait(60) for p in running]
    assert sorted(codes) == [0, 2, 2, 2]
    winner = codes.index(0)
    assert in_vault(world, keystore, "base").access_key_id == f"AKIAQQQQSAMEPROFILE{winner}"


def test_a_vault_folder_others_can_write_is_refused(world: World, keystore: SecretService) -> None:
    vault_world(world)
    os.chmod(world.vault_dir, 0o777)
    line = one_line_failure(world.run("--profile", "prod-mfa"), 8)
    assert f"chmod 700 {world.vault_dir}" in line


def test_a_keyring_that_does_not_import_is_a_vault_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from credproc import keystore
    from credproc.errors import VaultError

    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` raises
    with pytest.raises(VaultError) as found:
        keystore._ask(lambda: keystore._backend(False), False)
    assert found.value.what.startswith("keyring cannot start: ModuleNotFoundError")
