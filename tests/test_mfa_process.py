"""credproc_mfa_process: a program that prints the code (ykman, op, oathtool), run without a
shell, stdin closed, its stderr on the terminal, its output checked like a typed code."""

from __future__ import annotations

import json
import subprocess
import time

from tests.conftest import BASE_KEY_ID, BASE_SECRET, CREDPROC, PYTHON, ROOT, World
from tests.prompt_session import Session, count, token_codes

PROGRAM = ROOT / "tests" / "mfa_program.py"


def process_config(world: World, mode: str, args: str = "") -> None:
    """credproc_mfa_process is tests/mfa_program.py in `mode`."""
    world.standard_config(mfa_process=f"{PYTHON} {PROGRAM} {world.state} {mode} {args}".strip())


def calls(world: World) -> int:
    path = world.state / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def recorded(world: World, name: str) -> object:
    return json.loads((world.state / name).read_text())


def test_the_command_is_split_like_a_shell_but_no_shell_runs_it(world: World) -> None:
    process_config(world, "argv", """'two words' "$HOME" ';' '|' * a\\ b""")
    world.serve()
    assert recorded(world, "argv.json") == ["two words", "$HOME", ";", "|", "*", "a b"]
    assert token_codes(world) == ["123456"]


def test_the_program_gets_a_closed_stdin_even_from_a_never_closed_pipe(world: World) -> None:
    """As the JS and Java SDKs start credproc: stdin a pipe that nobody ever closes."""
    process_config(world, "stdin")
    child = subprocess.Popen(
        [CREDPROC, "--profile", "prod-mfa"], env=world.env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stderr is not None
        stdout, stderr = child.stdout.read(), child.stderr.read()  # stdin stays open
        assert child.wait(timeout=30) == 0, stderr
    finally:
        child.kill()
        child.wait()
        assert child.stdin is not None
        child.stdin.close()
    assert json.loads(stdout)["Version"] == 1
    assert recorded(world, "stdin.json") == ""


def test_a_terminal_shows_what_credproc_waits_for_and_the_programs_own_words(
    world: World,
) -> None:
    process_config(world, "chatty")
    session = Session(world, "--profile", "prod-mfa")
    assert session.finish() == 0
    screen = session.screen
    assert count(screen, "credproc: waiting for python to give the MFA code for profile") == 1
    assert "Touch your YubiKey..." in screen  # the program's stderr, shown to the person
    assert session.stderr() == ""  # ...and not mixed into what the SDK reads
    assert session.credentials()["Version"] == 1
    assert token_codes(world) == ["123456"]  # "  123 456 " trimmed and validated


def test_a_failing_program_is_a_clear_error_that_never_shows_a_code(world: World) -> None:
    process_config(world, "fail")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 4 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "credproc_mfa_process exited with status 2: error: no YubiKey detected" in line
    assert "654321" not in done.stderr
    assert calls(world) == 1 and world.sts.calls == []


def test_a_program_that_prints_no_code_fails_at_once_without_echoing_it(world: World) -> None:
    process_config(world, "junk")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 4
    assert "not a 6-digit code" in done.stderr and "Account" not in done.stderr
    assert calls(world) == 1  # asking a program again gives the same answer: no re-runs


def test_a_program_that_hangs_is_stopped_at_the_prompt_timeout(world: World) -> None:
    process_config(world, "slow")
    started = time.monotonic()
    done = world.run("--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "1"})
    assert time.monotonic() - started < 6
    assert done.returncode == 4
    assert "credproc_mfa_process gave no code within 1 s" in done.stderr


def test_a_missing_program_is_a_configuration_error(world: World) -> None:
    world.standard_config(mfa_process="/nonexistent/ykman oath accounts code --single aws")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 3
    assert "/nonexistent/ykman not found" in done.stderr


def test_a_script_without_a_shebang_line_is_a_configuration_error(world: World) -> None:
    script = world.root / "aws-code"
    script.write_text("echo 123456\n")  # runs in a shell, but exec() refuses it: ENOEXEC
    script.chmod(0o755)
    world.standard_config(mfa_process=str(script))
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 3 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert f"credproc_mfa_process: cannot run {script}: Exec format error" in line
    assert "#!" in line and world.sts.calls == []


def test_the_program_gets_no_aws_secrets(world: World) -> None:
    world.standard_config(
        source_profile=None,
        credential_source="Environment",
        credproc_mfa_process=f"{PYTHON} {PROGRAM} {world.state} env",
    )
    env = {"AWS_ACCESS_KEY_ID": BASE_KEY_ID, "AWS_SECRET_ACCESS_KEY": BASE_SECRET}
    world.serve(env=env)
    names = recorded(world, "env.json")
    assert isinstance(names, list) and "HOME" in names
    assert "AWS_ACCESS_KEY_ID" not in names and "AWS_SECRET_ACCESS_KEY" not in names


def test_a_code_sts_rejects_is_asked_for_again(world: World) -> None:
    world.standard_config()
    world.answers("000000")
    world.serve()
    assert token_codes(world) == ["000000", "100001"]
    assert world.prompts() == 2


UNKNOWN_DEVICE = (
    "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA "
    "serial number is valid and associated with this user."
)


def test_a_device_aws_does_not_know_is_reported_once_not_asked_again(world: World) -> None:
    """Only AWS's "invalid MFA one time pass code" means another code may pass; a wrong or
    unassigned mfa_serial is AWS's refusal, with AWS's words."""
    world.standard_config()
    world.sts.faults.deny = UNKNOWN_DEVICE
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 6 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert UNKNOWN_DEVICE in line
    assert world.prompts() == 1 and world.sts.actions() == ["GetSessionToken"]
