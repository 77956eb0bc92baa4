"""`credproc rotate`: a new key from IAM, stored, proven, the old one deleted, checked against
IAM's own list of the user's keys in moto; a fault at each step leaves a working key in the
vault and a message that says which key exists where."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.conftest import CREDPROC, DEVICE, IamUser, World, section
from tests.secret_service import SecretService
from tests.vault_helpers import added, from_env, in_vault, one_line_failure


def mask(key_id: str) -> str:
    return f"{key_id[:4]}...{key_id[-4:]}"


def user_world(world: World, iam_user: IamUser, **base: str | None) -> None:
    world.standard_config(base=base)
    world.credentials_file.write_text(
        f"[base]\naws_access_key_id = {iam_user.key_id}\n"
        f"aws_secret_access_key = {iam_user.secret}\n"
    )
    added(world, "base", "--from-file")
    world.sts.reset()


def signs_with(world: World, profile: str = "prod-mfa") -> str:
    """The key that signs the first STS call of a fresh plan, with the cache emptied."""
    world.run("clear", "--all")
    world.sts.reset()
    world.serve(profile)
    return world.sts.signers[0]


def test_rotate_replaces_the_key_in_iam_and_in_the_vault(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    old = iam_user.key_id
    done = world.run("rotate", "base")
    assert done.returncode == 0, done.stderr
    [new] = iam_user.key_ids()
    assert new != old and in_vault(world, keystore, "base").access_key_id == new
    assert mask(new) in done.stdout and mask(old) in done.stdout and new not in done.stdout
    assert f"the old key {mask(old)} was deleted from IAM" in done.stdout
    actions = world.sts.actions()
    calls = ["ListAccessKeys", "CreateAccessKey", "GetCallerIdentity", "DeleteAccessKey"]
    assert actions[-4:] == calls
    assert signs_with(world) == new


def test_rotate_signs_with_the_key_itself_when_no_chain_names_a_device(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.standard_config(mfa_serial=None)
    done = world.run("rotate", "base")
    assert done.returncode == 0, done.stderr
    actions = world.sts.actions()
    assert "GetSessionToken" not in actions and world.prompts() == 0
    assert world.sts.signers[actions.index("CreateAccessKey")] == iam_user.key_id


def test_an_old_key_deleted_meanwhile_is_a_rotation_done(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    old = iam_user.key_id
    world.sts.faults.after["CreateAccessKey"] = lambda: iam_user.iam.delete_access_key(
        UserName=iam_user.name, AccessKeyId=old
    )
    done = world.run("rotate", "base")
    assert done.returncode == 0, done.stderr
    [new] = iam_user.key_ids()
    assert in_vault(world, keystore, "base").access_key_id == new
    assert f"the old key {mask(old)} was gone from IAM already" in done.stdout
    assert old not in done.stdout + done.stderr and new not in done.stdout + done.stderr


DEVICE_ON = {  # where the layout names the device: base's keys, prod-mfa's
    "base": ({"mfa_serial": DEVICE}, {"mfa_serial": None}),
    "the role above": ({}, {}),
    "a role assumed with the code": ({}, {"duration_seconds": "7200"}),  # no session step
}


@pytest.mark.parametrize("device_on", DEVICE_ON)
def test_rotate_signs_with_the_mfa_session_of_the_users_device(
    world: World, keystore: SecretService, iam_user: IamUser, device_on: str
) -> None:
    base, prod_mfa = DEVICE_ON[device_on]
    user_world(world, iam_user, **base)
    world.standard_config(base=base, **prod_mfa)
    done = world.run("rotate", "base")
    assert done.returncode == 0, done.stderr
    actions, signers = world.sts.actions(), world.sts.signers
    assert actions[0] == "GetSessionToken" and world.sts.calls[0]["SerialNumber"] == DEVICE
    assert world.sts.calls[0]["TokenCode"]
    session_key = signers[actions.index("CreateAccessKey")]
    assert session_key not in (iam_user.key_id, *iam_user.key_ids())  # the session's, not a key
    assert signers[actions.index("DeleteAccessKey")] == session_key
    assert world.prompts() == 1


def test_the_mfa_session_rotate_made_serves_the_role_without_a_second_code(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    assert world.run("rotate", "base").returncode == 0
    world.serve()  # prod-mfa's MFA session is the one rotate made
    assert world.prompts() == 1 and world.sts.actions().count("GetSessionToken") == 1


def test_a_new_key_is_retried_while_iam_spreads_it(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.new_key_refusals = 2
    done = world.run("rotate", "base")
    assert done.returncode == 0, done.stderr
    [new] = iam_user.key_ids()
    proofs = [s for a, s in zip(world.sts.actions(), world.sts.signers) if a == "GetCallerIdentity"]
    assert proofs.count(new) == 3  # refused twice, then accepted


def test_create_refused_changes_nothing(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.refuse["CreateAccessKey"] = "not authorized to perform iam:CreateAccessKey"
    line = one_line_failure(world.run("rotate", "base"), 6)
    assert "not authorized to perform iam:CreateAccessKey" in line
    assert f"no new key was made: the vault holds the old key {mask(iam_user.key_id)}" in line
    assert iam_user.key_ids() == [iam_user.key_id]
    assert signs_with(world) == iam_user.key_id


def test_a_new_key_that_never_works_is_undone_and_the_old_one_kept(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.new_key_refusals = 10**6
    started = time.monotonic()
    line = one_line_failure(world.run("rotate", "base", timeout=60), 6)
    assert 14 < time.monotonic() - started < 40  # it tried for its 15 s, then gave up
    assert "did not accept the new key AKIA" in line
    assert f"the vault holds the old key {mask(iam_user.key_id)} again, which works" in line
    assert "was deleted again" in line
    assert iam_user.key_ids() == [iam_user.key_id]
    assert in_vault(world, keystore, "base").access_key_id == iam_user.key_id


def test_a_new_key_that_cannot_be_undone_is_named_with_where_it_is(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.new_key_refusals = 10**6
    world.sts.faults.refuse["DeleteAccessKey"] = "not authorized to perform iam:DeleteAccessKey"
    line = one_line_failure(world.run("rotate", "base", timeout=60), 6)
    [new] = [k for k in iam_user.key_ids() if k != iam_user.key_id]
    assert f"the new key {mask(new)} is in IAM but not in the vault" in line
    assert in_vault(world, keystore, "base").access_key_id == iam_user.key_id


def test_delete_refused_leaves_the_new_key_in_the_vault_and_says_the_old_one_is_active(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.refuse["DeleteAccessKey"] = "not authorized to perform iam:DeleteAccessKey"
    line = one_line_failure(world.run("rotate", "base"), 6)
    [new] = [k for k in iam_user.key_ids() if k != iam_user.key_id]
    assert f"the vault holds the new key {mask(new)}, which works" in line
    assert f"the old key {mask(iam_user.key_id)} is still active in IAM" in line
    assert f"ending in {iam_user.key_id[-4:]}" in line
    assert sorted(iam_user.key_ids()) == sorted([iam_user.key_id, new])
    assert signs_with(world) == new


def test_a_user_with_two_keys_already_is_told_which_to_delete(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    second = iam_user.iam.create_access_key(UserName=iam_user.name)["AccessKey"]["AccessKeyId"]
    line = one_line_failure(world.run("rotate", "base"), 6)
    assert mask(second) in line and f"ending in {second[-4:]}" in line
    assert "CreateAccessKey" not in world.sts.actions()
    assert sorted(iam_user.key_ids()) == sorted([iam_user.key_id, second])


def test_rotate_needs_keys_in_the_vault(world: World, keystore: SecretService) -> None:
    world.standard_config(section("solo", region="us-east-1"))
    assert "credproc add solo" in one_line_failure(world.run("rotate", "solo"), 2)


def start_rotation(world: World) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CREDPROC, "rotate", "base"],
        env=world.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(world: World, rotating: subprocess.Popen[str], action: str, count: int) -> None:
    """Until STS or IAM has seen `action` `count` times, the rotation still running."""
    deadline = time.monotonic() + 30
    while world.sts.actions().count(action) < count:
        assert time.monotonic() < deadline and rotating.poll() is None
        time.sleep(0.05)


def test_two_rotations_at_once_lose_no_key(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    """The second waits for the first's lock, then rotates the key the first stored."""
    user_world(world, iam_user)
    running = [start_rotation(world) for _ in range(2)]
    assert [p.wait(90) for p in running] == [0, 0], [p.stderr.read() for p in running if p.stderr]
    [left] = iam_user.key_ids()
    assert left != iam_user.key_id and in_vault(world, keystore, "base").access_key_id == left
    assert world.sts.actions().count("CreateAccessKey") == 2


def test_ctrl_c_while_the_new_key_is_proven_puts_the_old_key_back(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.new_key_refusals = 10**6
    rotating = start_rotation(world)
    wait_for(world, rotating, "GetCallerIdentity", 2)  # the old key's, then a new one's
    rotating.send_signal(signal.SIGINT)
    _, stderr = rotating.communicate(timeout=30)
    assert rotating.returncode == 5 and stderr.count("\n") == 1
    assert "rotation cancelled" in stderr
    assert f"the vault holds the old key {mask(iam_user.key_id)} again" in stderr
    assert iam_user.key_ids() == [iam_user.key_id]
    assert in_vault(world, keystore, "base").access_key_id == iam_user.key_id


def test_an_add_during_a_rotation_waits_and_cannot_put_the_old_key_back(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    user_world(world, iam_user)
    world.sts.faults.new_key_refusals = 1  # the rotation holds the vault's lock for seconds
    rotating = start_rotation(world)
    wait_for(world, rotating, "CreateAccessKey", 1)
    adding = world.run(
        "add", "base", "--from-env", "--no-verify", env=from_env(iam_user.key_id, iam_user.secret)
    )
    assert "DeleteAccessKey" in world.sts.actions()  # add waited for the whole rotation
    _, stderr = rotating.communicate(timeout=60)
    assert rotating.returncode == 0, stderr
    [new] = iam_user.key_ids()
    assert f"already holds other keys for profile base ({mask(new)}" in one_line_failure(adding, 2)
    assert in_vault(world, keystore, "base").access_key_id == new
