"""The shortcut of the cache hit (credproc/shortcut.py): a sealed pointer from a profile and
everything its answer depends on to its entry. Every change that could change the answer
makes credproc plan again, and no pointer ever leads to another profile's credentials.

Whether a run took the shortcut is read from `-X importtime`: the full plan imports
credproc.plan, the shortcut does not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from credproc.cache import POINTER_SUFFIX, Store
from tests.conftest import BASE_KEY_ID, PYTHON, World, section

OTHER_ROLE = "arn:aws:iam::123456789012:role/Other"


def run(world: World, profile: str = "prod-mfa", **env: str) -> tuple[bool, dict[str, object]]:
    """(whether credproc planned, its answer) for one `credproc --profile P`."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "credproc", "--profile", profile],
        env={**world.env, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "credproc.entry" in imported  # the import log is complete
    return "credproc.plan" in imported, json.loads(done.stdout)


def pointers(world: World) -> list[Path]:
    return sorted(p for p in world.cache_dir.iterdir() if p.name.endswith(POINTER_SUFFIX))


def test_an_unchanged_config_is_answered_without_planning(primed: World) -> None:
    world = primed
    planned, first = run(world)
    assert not planned and world.sts.calls == []
    assert run(world) == (False, first)
    assert len(pointers(world)) == 1
    assert all("prod" not in p.name for p in world.cache_dir.iterdir())


def test_a_new_role_in_the_config_is_assumed_at_once(primed: World) -> None:
    world = primed
    _, before = run(world)
    world.standard_config(role_arn=OTHER_ROLE)
    planned, after = run(world)
    assert planned and after["AccessKeyId"] != before["AccessKeyId"]
    assert world.sts.actions() == ["AssumeRole"] and world.sts.calls[0]["RoleArn"] == OTHER_ROLE
    assert run(world) == (False, after)


def test_an_edit_that_keeps_size_inode_and_mtime_is_seen(primed: World) -> None:
    world = primed
    run(world)
    path = world.config_file
    st = path.stat()
    text = path.read_text()
    edited = text.replace("role/Admin", "role/Admix")
    assert len(edited) == len(text) and edited != text
    with open(path, "r+") as handle:  # in place: the same inode
        handle.write(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )
    planned, _ = run(world)
    assert planned and world.sts.calls[0]["RoleArn"].endswith("role/Admix")


def test_new_keys_in_the_credentials_file_mint_a_new_session(primed: World) -> None:
    world = primed
    run(world)
    text = world.credentials_file.read_text()
    world.credentials_file.write_text(text.replace(BASE_KEY_ID, BASE_KEY_ID[:-1] + "2"))
    planned, _ = run(world)
    assert planned and world.sts.actions() == ["GetSessionToken", "AssumeRole"]
    assert world.prompts() == 2


def test_keys_put_in_the_vault_are_the_source_at_once(primed: World) -> None:
    """`add` without --from-file leaves the file's keys, but the vault's win: the answer is
    now minted from them, so the pointer of the file's keys must not answer."""
    world = primed
    file_key = {"CREDPROC_VAULT_KEY": "file"}  # the vault key beside the cache key
    _, from_file = run(world, **file_key)
    keys = {"AWS_ACCESS_KEY_ID": "AKIAQQQQVAULTSHORT01", "AWS_SECRET_ACCESS_KEY": "s" * 40}
    done = world.run("add", "base", "--from-env", "--no-verify", env={**file_key, **keys})
    assert done.returncode == 0, done.stderr
    planned, _ = run(world, **file_key)
    assert planned and world.sts.actions() == ["GetSessionToken", "AssumeRole"]
    assert world.sts.signers[0] == "AKIAQQQQVAULTSHORT01"
    assert run(world, **file_key)[0] is False  # and the new answer is a shortcut again
    done = world.run("remove", "base", "--yes", env=file_key)
    assert done.returncode == 0, done.stderr
    planned, again = run(world, **file_key)  # the file's keys again, and what they minted
    assert planned and again == from_file and len(world.sts.calls) == 2


def test_a_deleted_credentials_file_is_a_change_too(primed: World) -> None:
    world = primed
    run(world)
    world.credentials_file.unlink()
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 3 and "has no credentials" in done.stderr


# each: a variable and a value that differs from the world's
ANSWER_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    "AWS_USE_FIPS_ENDPOINT": "false",
    "AWS_USE_DUALSTACK_ENDPOINT": "false",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "AKIAQQQQENVIRONMENT1",
    "AWS_SESSION_TOKEN": "token",
    "AWS_SECURITY_TOKEN": "token",
    "CREDPROC_SOMETHING_NEW": "1",
}


@pytest.mark.parametrize("name", ANSWER_ENV)
def test_a_variable_that_may_change_the_answer_makes_credproc_plan(
    primed: World, name: str
) -> None:
    world = primed
    _, before = run(world)
    planned, after = run(world, **{name: ANSWER_ENV[name]})
    assert planned and after == before  # none of these changes this profile's entry
    assert run(world, **{name: ANSWER_ENV[name]}) == (False, after)  # recorded again


def test_another_sts_endpoint_is_another_entry(primed: World) -> None:
    world = primed
    _, before = run(world)
    localhost = world.sts.url.replace("127.0.0.1", "localhost")
    planned, after = run(world, AWS_ENDPOINT_URL_STS=localhost)
    assert planned and after["AccessKeyId"] != before["AccessKeyId"]
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]


def test_other_config_and_credentials_files_are_other_inputs(primed: World) -> None:
    world = primed
    _, before = run(world)
    for variable, path in (
        ("AWS_CONFIG_FILE", world.config_file),
        ("AWS_SHARED_CREDENTIALS_FILE", world.credentials_file),
    ):
        copy = world.root / f"copy-of-{path.name}"
        shutil.copy(path, copy)
        assert run(world, **{variable: str(copy)}) == (True, before)


def test_variables_that_cannot_change_the_answer_keep_the_shortcut(primed: World) -> None:
    world = primed
    _, before = run(world)
    for name, value in (("AWS_PROFILE", "x"), ("CREDPROC_LOG_LEVEL", "error"), ("TERM", "y")):
        assert run(world, **{name: value}) == (False, before)


def two_profiles(world: World) -> tuple[dict[str, object], dict[str, object]]:
    world.standard_config(
        section("other", role_arn=OTHER_ROLE, source_profile="base", mfa_serial="{device}")
    )
    _, prod = run(world)
    _, other = run(world, "other")
    assert prod["AccessKeyId"] != other["AccessKeyId"]
    world.sts.reset()
    return prod, other


def test_each_profile_is_served_its_own_credentials(primed: World) -> None:
    world = primed
    prod, other = two_profiles(world)
    assert run(world) == (False, prod)
    assert run(world, "other") == (False, other)
    assert len(pointers(world)) == 2


def test_a_pointer_copied_over_another_does_not_open(primed: World) -> None:
    world = primed
    prod, other = two_profiles(world)
    first, second = pointers(world)
    first.write_bytes(second.read_bytes())  # now both files hold one profile's pointer
    answers = {json.dumps(run(world)[1]), json.dumps(run(world, "other")[1])}
    assert answers == {json.dumps(prod), json.dumps(other)}
    assert world.sts.calls == []


def test_a_damaged_pointer_is_no_shortcut(primed: World) -> None:
    world = primed
    _, before = run(world)
    (pointer,) = pointers(world)
    blob = bytearray(pointer.read_bytes())
    blob[-1] ^= 1
    pointer.write_bytes(bytes(blob))
    assert run(world) == (True, before)
    assert run(world) == (False, before)


def test_a_cleared_entry_is_not_served_through_its_pointer(primed: World) -> None:
    world = primed
    _, before = run(world)
    assert world.run("clear", "--profile", "prod-mfa").returncode == 0
    planned, after = run(world)
    assert planned and after["AccessKeyId"] != before["AccessKeyId"]
    assert world.prompts() == 2


@pytest.mark.parametrize("which", [("--profile", "prod-mfa"), ("--all",)])
def test_clear_removes_the_pointers_with_the_entries(primed: World, which: tuple[str, ...]) -> None:
    world = primed
    run(world)
    assert pointers(world)
    assert world.run("clear", *which).returncode == 0
    assert pointers(world) == []  # they hold sealed copies of the credentials cleared


def test_the_loop_guard_comes_before_the_shortcut(primed: World) -> None:
    world = primed
    run(world)
    done = world.run("--profile", "prod-mfa", env={"CREDPROC_CHAIN": "prod,prod-mfa"})
    assert done.returncode == 3 and "loop" in done.stderr and done.stdout == ""


def test_a_renewed_entry_is_served_not_an_older_pointers_copy(primed: World) -> None:
    world = primed
    _, before = run(world)
    (pointer,) = pointers(world)
    old = pointer.read_bytes()
    assert world.run("login", "--profile", "prod-mfa").returncode == 0
    planned, renewed = run(world)
    assert not planned and renewed != before  # login recorded its own answer
    pointer.write_bytes(old)  # a pointer to the entry as it was before the renewal
    assert run(world) == (True, renewed)


def test_an_entry_rewritten_with_the_same_credentials_is_planned_again(primed: World) -> None:
    world = primed
    _, before = run(world)
    store = Store(str(world.cache_dir), world.key_file.read_bytes())
    role = world.entry("role")
    old = role.read_bytes()
    record = store.read(role.name)
    assert record is not None and store.write(role.name, record)  # a new nonce, same record
    assert role.read_bytes() != old
    assert run(world) == (True, before)  # not the pointer's: the entry is another write
    assert run(world) == (False, before) and world.sts.calls == []


def test_a_damaged_entry_is_minted_again_not_served_through_its_pointer(primed: World) -> None:
    world = primed
    _, before = run(world)
    role = next(path for path, record in world.entries() if record and record.kind == "role")
    blob = bytearray(role.read_bytes())
    blob[len(blob) // 2] ^= 1  # the tag at its end is untouched: the bytes still differ
    role.write_bytes(bytes(blob))
    planned, after = run(world)
    assert planned and after["AccessKeyId"] != before["AccessKeyId"]
    assert world.sts.actions() == ["AssumeRole"]
