"""The vault (SPEC section 10): `add`, `remove`, keys from the vault as a source for every flow,
`status` and `check`, against GNOME Keyring's real Secret Service and moto's STS."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from credproc.plan import vault_name
from tests.conftest import DEVICE, ROLE, World, section
from tests.prompt_session import Session
from tests.secret_service import SecretService
from tests.vault_helpers import (
    CREDENTIALS,
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
    reseal,
    vault_files,
)

# a credentials file as people keep them: comments, blank lines, odd spacing, other profiles
MESSY = (
    "# my keys, do not share\n"
    "[default]\n"
    "aws_access_key_id = AKIAQQQQDEFAULTK0003\n"
    "aws_secret_access_key = default/SECRET/WWWWWWWWWWWWWWWWWWWWW\n"
    "\n"
    "[base]   \n"
    "; alice's long-term keys\n"
    f"aws_access_key_id={KEY_ID}\n"
    "\n"
    "# rotated 2025-01-01\n"
    f"aws_secret_access_key : {SECRET}\n"
    "region = eu-west-1\n"
    "[other]\n"
    f"aws_access_key_id = {OTHER_KEY_ID}\n"
    f"aws_secret_access_key = {OTHER_SECRET}\n"
)


def test_add_from_file_moves_exactly_the_key_lines_and_keeps_the_mode(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    world.credentials_file.write_text(MESSY)
    os.chmod(world.credentials_file, 0o640)
    out = added(world, "base", "--from-file")
    assert "AKIA...0001" in out and KEY_ID not in out
    assert "arn:aws:" in out and str(world.credentials_file) in out
    moved = {f"aws_access_key_id={KEY_ID}\n", f"aws_secret_access_key : {SECRET}\n"}
    expected = "".join(line for line in MESSY.splitlines(True) if line not in moved)
    assert world.credentials_file.read_text() == expected
    assert stat.S_IMODE(world.credentials_file.stat().st_mode) == 0o640
    assert in_vault(world, keystore, "base")[:3] == ("base", KEY_ID, SECRET)
    assert vault_files(world) == [vault_name("base")]  # a hash: no profile name on disk
    assert stat.S_IMODE(world.vault_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((world.vault_dir / vault_name("base")).stat().st_mode) == 0o600
    world.serve()  # the keys now come from the vault
    assert world.sts.actions() == ["GetCallerIdentity", "GetSessionToken", "AssumeRole"]
    assert world.sts.signers[:2] == [KEY_ID, KEY_ID]


def test_add_from_file_also_moves_keys_written_in_the_config_file(
    world: World, keystore: SecretService
) -> None:
    world.standard_config(base={"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET})
    world.credentials_file.write_text("# nothing here\n")
    config_before = world.config_file.read_text()
    added(world, "base", "--from-file", "--no-verify")
    assert world.config_file.read_text() == config_before.replace(
        f"aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n", ""
    )
    assert world.credentials_file.read_text() == "# nothing here\n"


def test_add_from_env_proves_the_keys_and_prints_whose_they_are(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    out = added(world, "base", "--from-env", env=from_env(KEY_ID, SECRET))
    assert "arn:aws:" in out and ":user/" in out
    assert world.sts.actions() == ["GetCallerIdentity"] and world.sts.signers == [KEY_ID]
    assert in_vault(world, keystore, "base").user_arn.startswith("arn:aws:")


def test_keys_aws_refuses_are_exit_6_and_nothing_is_stored(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world)
    world.sts.faults.rejected_keys.add(KEY_ID)
    line = one_line_failure(add(world, "base", "--from-file"), 6)
    assert "InvalidClientTokenId" in line and "nothing was stored" in line
    assert vault_files(world) == [] and world.credentials_file.read_text() == CREDENTIALS


def test_no_verify_stores_without_asking_aws(world: World, keystore: SecretService) -> None:
    keys_in_file(world)
    out = added(world, "base", "--from-file", "--no-verify")
    assert world.sts.calls == [] and "not verified" in out
    assert in_vault(world, keystore, "base").user_arn == ""


def test_keys_that_are_not_long_term_are_refused_with_the_reason(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    cases = [
        (from_env("ASIAQQQQTEMPORARY001", SECRET), "temporary key (ASIA...)"),
        (from_env("AKIA-not-a-key", SECRET), "AKIA and 16 upper-case letters or digits"),
        (from_env(KEY_ID, "has blanks in it"), "characters AWS never uses"),
        ({**from_env(KEY_ID, SECRET), "AWS_SESSION_TOKEN": "t"}, "temporary credentials"),
        ({"AWS_ACCESS_KEY_ID": KEY_ID}, "needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ]
    for env, words in cases:
        line = one_line_failure(add(world, "base", "--from-env", env=env), 2)
        assert words in line, line
        assert "not-a-key" not in line and "blanks" not in line  # what was given is not quoted
    assert vault_files(world) == [] and world.sts.calls == []


def test_keys_never_come_from_the_command_line(world: World) -> None:
    done = add(world, "base", KEY_ID, SECRET)
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
    assert KEY_ID not in done.stderr and SECRET not in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [KEY_ID, SECRET],
        [f"{KEY_ID}'{SECRET}"],  # argparse shows this one in double quotes
        ["add", "base", f"--from-env={SECRET}"],
        ["add", "base", f"--from=a b {SECRET}"],  # an ambiguous option with its value
        ["env", "--profile", "prod", "--format", SECRET],
        ["exec", "--profile", "prod", "--server", "--port", SECRET, "--", "true"],
    ],
)
def test_what_was_typed_is_never_echoed_in_a_usage_error(world: World, argv: list[str]) -> None:
    done = world.run(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "not shown here, in case" in done.stderr
    assert KEY_ID not in done.stderr and SECRET not in done.stderr


def test_add_asks_on_the_terminal_and_never_shows_the_secret(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    session = Session(world, "add", "base", "--no-verify", env=keystore.env)
    session.expect("Access key id for profile base: ")
    session.type(KEY_ID + "\r")
    session.expect("Secret access key (not shown): ")
    session.type(SECRET + "\r")
    assert session.finish() == 0, session.stderr()
    assert KEY_ID in session.screen  # the key id is echoed; the secret is not
    assert SECRET not in session.screen and SECRET not in session.stdout() + session.stderr()
    assert session.left_terminal_sane()
    assert in_vault(world, keystore, "base")[1:3] == (KEY_ID, SECRET)


def test_ctrl_c_at_the_secret_cancels_with_exit_5_and_echo_back_on(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    session = Session(world, "add", "base", env=keystore.env)
    session.expect("Access key id for profile base: ")
    session.type(KEY_ID + "\r")
    session.expect("Secret access key (not shown): ")
    session.type("half-typed\x03")
    assert session.finish() == 5
    assert "cancelled" in session.stderr() and session.left_terminal_sane()
    assert vault_files(world) == [] and world.sts.calls == []


def test_ctrl_d_at_the_key_id_cancels_with_exit_5(world: World, keystore: SecretService) -> None:
    world.standard_config()
    session = Session(world, "add", "base", env=keystore.env)
    session.expect("Access key id for profile base: ")
    session.type("\x04")
    assert session.finish() == 5 and session.left_terminal_sane()
    assert vault_files(world) == []


def test_add_without_a_terminal_names_the_other_ways(world: World) -> None:
    world.standard_config()
    line = one_line_failure(add(world, "base"), 2)
    assert "--from-env" in line and "--from-file" in line


def test_other_keys_for_a_profile_in_the_vault_are_refused_not_replaced(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    added(world, "base", "--from-env", env=from_env(KEY_ID, SECRET))
    again = add(world, "base", "--from-env", env=from_env(OTHER_KEY_ID, OTHER_SECRET))
    line = one_line_failure(again, 2)
    assert "credproc rotate base" in line and "credproc remove base" in line
    assert in_vault(world, keystore, "base").access_key_id == KEY_ID
    # the same keys again finish an interrupted move: the file's copy goes
    world.credentials_file.write_text(CREDENTIALS)
    added(world, "base", "--from-file")
    assert world.credentials_file.read_text() == "[base]\n"


def test_keys_added_where_a_vault_entry_was_deleted_by_hand_mint_anew(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    added(world, "base", "--from-env", "--no-verify", env=from_env(KEY_ID, SECRET))
    world.serve()
    (world.vault_dir / vault_name("base")).unlink()  # the cache still holds base's sessions
    added(world, "base", "--from-env", "--no-verify", env=from_env(OTHER_KEY_ID, OTHER_SECRET))
    world.sts.reset()
    world.serve()
    assert world.sts.signers[0] == OTHER_KEY_ID  # not the session the other keys minted


def test_vault_keys_win_over_keys_in_the_file_and_check_says_so(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world)
    added(world, "base", "--from-env", env=from_env(OTHER_KEY_ID, OTHER_SECRET))
    world.sts.reset()
    world.serve()
    assert world.sts.signers[0] == OTHER_KEY_ID  # GetSessionToken, signed with the vault's
    done = world.run("check", "--profile", "prod-mfa")
    assert done.returncode == 3
    assert "source: profile base, keys in credproc's vault (long-term keys)" in done.stdout
    assert f"plaintext keys in {world.credentials_file}" in done.stdout
    assert "credproc add base --from-file" in done.stdout


def test_check_of_vault_keys_alone_finds_no_problem(world: World, keystore: SecretService) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file")
    done = world.run("check", "--profile", "prod-mfa")
    assert done.returncode == 0, done.stdout
    assert "keys in credproc's vault" in done.stdout and "no problems found" in done.stdout


def test_a_profile_of_vault_keys_answers_with_a_session_never_the_keys(
    world: World, keystore: SecretService
) -> None:
    """`aws --profile base` after the move: base runs credproc for itself."""
    world.config(section("base", credential_process="{credproc} --profile base"))
    world.credentials_file.write_text(CREDENTIALS)
    added(world, "base", "--from-file")
    world.sts.reset()
    out = world.serve("base")
    assert (out["AccessKeyId"], out["SecretAccessKey"]) != (KEY_ID, SECRET) and out["SessionToken"]
    assert world.sts.actions() == ["GetSessionToken"] and "TokenCode" not in world.sts.calls[0]
    assert world.serve("base") == out  # a cache hit
    arn = world.boto3("base")["Arn"]  # boto3 runs credproc as base's credential_process
    assert arn.startswith("arn:aws:") and world.sts.actions().count("GetSessionToken") == 1


def test_a_profile_of_vault_keys_with_mfa_serial_answers_with_an_mfa_session(
    world: World, keystore: SecretService
) -> None:
    world.config(
        section(
            "base",
            mfa_serial=DEVICE,
            credproc_mfa_process="{mfa_process}",
            credential_process="{credproc} --profile base",
        )
    )
    world.credentials_file.write_text(CREDENTIALS)
    added(world, "base", "--from-file", "--no-verify")
    out = world.serve("base")
    assert out["AccessKeyId"] != KEY_ID and out["SessionToken"]
    assert world.sts.actions() == ["GetSessionToken"] and world.sts.calls[0]["TokenCode"]
    assert world.prompts() == 1


def test_a_role_without_mfa_and_a_chain_are_minted_from_vault_keys(
    world: World, keystore: SecretService
) -> None:
    other_role = "arn:aws:iam::123456789012:role/Next"
    keys_in_file(
        world,
        section("plain", role_arn=ROLE, source_profile="base"),
        section("hop", role_arn=other_role, source_profile="prod-mfa"),
    )
    added(world, "base", "--from-file", "--no-verify")
    world.serve("plain")
    assert world.sts.actions() == ["AssumeRole"] and world.sts.signers == [KEY_ID]
    world.sts.reset()
    world.serve("hop")
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert world.sts.signers[0] == KEY_ID and world.sts.calls[2]["RoleArn"] == other_role


def test_remove_forgets_the_keys_and_what_they_minted(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world, section("plain", role_arn=ROLE, source_profile="base"))
    added(world, "base", "--from-file", "--no-verify")
    world.serve()
    world.serve("plain")
    done = world.run("remove", "base", "--yes")
    assert done.returncode == 0, done.stderr
    assert "3 cached entries" in done.stdout and "still active in IAM" in done.stdout
    assert vault_files(world) == []
    assert {record.kind for _, record in world.entries() if record} == {"used-codes"}
    assert [p for p in world.cache_dir.iterdir() if p.name.endswith(".hit")] == []
    line = one_line_failure(world.run("--profile", "prod-mfa"), 3)
    assert "has neither role_arn nor mfa_serial" in line or "no credentials" in line


def test_remove_asks_first_on_the_terminal(world: World, keystore: SecretService) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")
    session = Session(world, "remove", "base", env=keystore.env)
    session.expect("Remove the keys of profile base from the vault? [y/N] ")
    session.type("n\r")
    assert session.finish() == 0 and "kept" in session.stdout()
    assert vault_files(world) == [vault_name("base")]
    session = Session(world, "remove", "base", env=keystore.env)
    session.expect("[y/N] ")
    session.type("y\r")
    assert session.finish() == 0 and vault_files(world) == []
    without_terminal = one_line_failure(world.run("remove", "base"), 2)
    assert "no keys for profile base" in without_terminal


def test_remove_without_a_terminal_needs_yes(world: World, keystore: SecretService) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")
    assert "--yes" in one_line_failure(world.run("remove", "base"), 2)
    assert vault_files(world) == [vault_name("base")]


def test_clear_all_never_touches_the_vault(world: World, keystore: SecretService) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file", "--no-verify")
    world.serve()
    assert world.run("clear", "--all").returncode == 0
    assert vault_files(world) == [vault_name("base")]
    world.serve()


def test_status_shows_masked_keys_their_age_and_flags_old_ones(
    world: World, keystore: SecretService
) -> None:
    keys_in_file(world)
    added(world, "base", "--from-file")
    added(world, "other", "--from-env", "--no-verify", env=from_env(OTHER_KEY_ID, OTHER_SECRET))
    old = in_vault(world, keystore, "other")
    reseal(world, keystore, old._replace(added=int(time.time()) - 91 * 86400))
    human = world.run("status")
    assert human.returncode == 0, human.stderr
    [base_line] = [line for line in human.stdout.splitlines() if line.startswith("base ")]
    [other_line] = [line for line in human.stdout.splitlines() if line.startswith("other ")]
    assert "AKIA...0001" in base_line and "0 days ago" in base_line and "rotate" not in base_line
    assert "AKIA...0002" in other_line and "91 days ago" in other_line
    assert "run `credproc rotate other`" in other_line
    rows = [r for r in json.loads(world.run("status", "--json").stdout) if r["kind"] == "vault"]
    assert sorted((r["profile"], r["key_id"], r["rotate"]) for r in rows) == [
        ("base", "AKIA...0001", False),
        ("other", "AKIA...0002", True),
    ]
    for secret in (KEY_ID, SECRET, OTHER_KEY_ID, OTHER_SECRET):
        assert secret not in human.stdout + json.dumps(rows)


def test_status_without_a_vault_never_asks_the_keystore(
    world: World, keystore: SecretService
) -> None:
    world.standard_config()
    with keystore.watch() as calls:
        assert world.run("status").stdout == "no cached credentials\n"
        assert calls.count("OpenSession") == 0 and calls.count("SearchItems") == 0


def test_the_windows_console_reads_a_secret_without_showing_it() -> None:
    from tests.test_prompt_tty import Console

    console = Console("se\x08ecret\r")
    assert console.terminal().read_line(5, echo=False) == "secret"
    assert console.shown == "\r\n"  # not a character of it, not even the backspace


def test_sigterm_at_the_secret_prompt_puts_echo_back(world: World, keystore: SecretService) -> None:
    world.standard_config()
    session = Session(world, "add", "base", env=keystore.env)
    session.expect("Access key id for profile base: ")
    session.type(KEY_ID + "\r")
    session.expect("Secret access key (not shown): ")
    [(credproc, _)] = descendants(session.child.pid)  # below the terminal's session leader
    os.kill(credproc, signal.SIGTERM)
    assert session.finish() == 5 and session.left_terminal_sane()
    assert vault_files(world) == []


def descendants(pid: int) -> list[tuple[int, str]]:
    """The processes below `pid`, with their command lines (from /proc)."""
    found, parents = [], {pid}
    for _ in range(3):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
                argv = Path(f"/proc/{entry}/cmdline").read_text().replace("\0", " ")
            except OSError:
                continue
            parent = int(stat_line.rsplit(")", 1)[1].split()[1])
            if parent in parents and int(entry) not in parents:
                parents.add(int(entry))
                found.append((int(entry), argv))
    return found
