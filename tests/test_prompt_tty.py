"""Asking on the terminal: credproc in a real pseudo-terminal opens /dev/tty itself; the
Windows console path with its console functions stood in for."""

from __future__ import annotations

import re
import time

import pexpect
import pytest

from credproc.errors import MfaCancelled, MfaUnavailable
from credproc.prompt.terminal import WindowsTerminal
from tests.conftest import CREDPROC, DEVICE, PYTHON, World
from tests.prompt_session import Session, count, direct_roles, token_codes

PROMPT = f"MFA code for profile prod-mfa ({DEVICE}): "
BOTO3 = (
    "import boto3; s = boto3.Session(profile_name='prod');"
    "print(s.client('sts', region_name='us-east-1').get_caller_identity()['Arn'])"
)


def test_prompt_is_on_the_terminal_once_and_never_on_stdout_or_stderr(world: World) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa")
    session.expect(PROMPT)
    session.type("123456\r")
    assert session.finish() == 0
    assert session.credentials()["Version"] == 1
    assert session.stderr() == ""
    assert count(session.screen, "MFA code for profile") == 1
    assert token_codes(world) == ["123456"]
    assert session.left_terminal_sane()


def test_boto3_running_credproc_gets_the_prompt_on_the_terminal(world: World) -> None:
    """botocore pipes credproc's stdout and stderr: the prompt must reach the person anyway."""
    world.standard_config(mfa_process=None)
    session = Session(world, command=[PYTHON, "-c", BOTO3])
    session.expect(PROMPT)
    session.type("123456\r")
    assert session.finish() == 0, session.stderr()
    assert session.stdout().startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert session.stderr() == ""
    assert count(session.screen, "MFA code for profile") == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]


def test_environment_prompt_setting_beats_the_config(world: World) -> None:
    world.standard_config()  # credproc_mfa_process is set: `auto` would run it
    session = Session(world, "--profile", "prod-mfa", env={"CREDPROC_PROMPT": "tty"})
    session.expect(PROMPT)
    session.type("123456\r")
    assert session.finish() == 0
    assert world.prompts() == 0 and token_codes(world) == ["123456"]


def test_typos_are_asked_again_and_the_third_ends_it(world: World) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa")
    for typo in ("12345", "12a456", "1234567"):
        session.expect(PROMPT)
        session.type(typo + "\r")
        if typo != "1234567":
            session.expect("credproc: that was not a 6-digit code, try again")
    assert session.finish() == 4
    assert session.stdout() == ""
    [line] = session.stderr().splitlines()
    assert "after 3 tries" in line and "credproc login --profile prod-mfa" in line
    assert count(session.screen, "MFA code for profile") == 3
    assert world.sts.calls == []


def test_a_typo_then_a_good_code_with_blanks_succeeds(world: World) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa")
    session.expect(PROMPT)
    session.type("12 34\r")
    session.expect("not a 6-digit code")
    session.expect(PROMPT)
    session.type(" 123 456 \r")
    assert session.finish() == 0
    assert token_codes(world) == ["123456"]


def test_a_code_sts_rejects_is_asked_again(world: World) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa")
    session.expect(PROMPT)
    session.type("000000\r")
    session.expect("credproc: AWS did not accept that code")
    session.expect(PROMPT)
    session.type("123456\r")
    assert session.finish() == 0
    assert token_codes(world) == ["000000", "123456"]
    assert session.stderr() == ""


def test_a_code_used_lately_for_the_device_is_never_sent_again(world: World) -> None:
    direct_roles(world)
    first = Session(world, "--profile", "role-a")
    first.expect(f"MFA code for profile role-a ({DEVICE}): ")
    first.type("123456\r")
    assert first.finish() == 0
    second = Session(world, "--profile", "role-b")
    second.expect(f"MFA code for profile role-b ({DEVICE}): ")
    second.type("123456\r")  # what the phone still shows
    second.expect("credproc: code already used, waiting for the next one")
    second.expect(f"MFA code for profile role-b ({DEVICE}): ")
    second.type("234567\r")
    assert second.finish() == 0
    assert token_codes(world) == ["123456", "234567"]
    assert world.sts.actions() == ["AssumeRole", "AssumeRole"]


@pytest.mark.parametrize(("keys", "how"), [("12\x03", "Ctrl-C"), ("\x04", "Ctrl-D")])
def test_ctrl_c_and_ctrl_d_cancel_at_once_and_leave_the_terminal_sane(
    world: World, keys: str, how: str
) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa")
    session.expect(PROMPT)
    session.type(keys)
    assert session.finish() == 5
    assert session.stderr() == f"credproc: MFA prompt cancelled with {how} (run again to retry)\n"
    assert session.stdout() == ""
    assert count(session.screen, "MFA code for profile") == 1  # no second ask
    assert world.sts.calls == []
    assert session.left_terminal_sane()


def test_no_answer_ends_with_a_clear_error_when_the_prompt_times_out(world: World) -> None:
    world.standard_config(mfa_process=None)
    session = Session(world, "--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "1"})
    session.expect(PROMPT)
    started = time.monotonic()
    assert session.finish(timeout=15) == 4
    assert time.monotonic() - started < 5
    assert "no MFA code typed within 1 s" in session.stderr()
    assert "CREDPROC_PROMPT_TIMEOUT" in session.stderr()
    assert session.left_terminal_sane()


def test_forced_tty_without_a_terminal_fails_fast_naming_login(world: World) -> None:
    world.standard_config(mfa_process=None, credproc_prompt="tty")
    started = time.monotonic()
    done = world.run("--profile", "prod-mfa")
    assert time.monotonic() - started < 5
    assert done.returncode == 4 and done.stdout == ""
    assert "credproc login --profile prod-mfa" in done.stderr
    assert "credproc_mfa_process" in done.stderr
    assert world.sts.calls == []


def pair(world: World) -> list[str]:
    """A shell in the terminal's foreground starting credproc for role-a and role-b at once,
    each with its own output files; it prints "a=EXIT b=EXIT" when both have ended."""
    run = " ".join(
        f"{CREDPROC} --profile role-{name} >{world.root / ('out-' + name)} "
        f"2>{world.root / ('err-' + name)} & {name.upper()}=$!;"
        for name in ("a", "b")
    )
    return ["sh", "-c", run + ' wait $A; a=$?; wait $B; echo "a=$a b=$?"']


def first_prompt(session: Session) -> str:
    """Wait for the first prompt; the other process must not be asking at the same time."""
    session.child.expect(f"MFA code for profile role-([ab]) {re.escape(f'({DEVICE}):')} ")
    first: str = session.child.match.group(1)
    other = "b" if first == "a" else "a"
    with pytest.raises(pexpect.TIMEOUT):  # while the person answers, one prompt only
        session.expect(f"MFA code for profile role-{other}", timeout=1)
    return other


def test_two_processes_on_one_terminal_ask_one_after_the_other(world: World) -> None:
    """Two roles of one device, each assumed with its own code: their prompts never share
    the terminal, and the code the phone still shows is not sent twice."""
    direct_roles(world)
    session = Session(world, command=pair(world))
    other = first_prompt(session)
    session.type("123456\r")
    session.expect(f"MFA code for profile role-{other} ({DEVICE}): ")
    session.type("123456\r")  # what the phone still shows
    session.expect("credproc: code already used, waiting for the next one")
    session.expect(f"MFA code for profile role-{other} ({DEVICE}): ")
    session.type("234567\r")
    assert session.finish() == 0
    assert session.stdout() == "a=0 b=0\n", session.screen
    assert sorted(token_codes(world)) == ["123456", "234567"]  # each reached STS once
    assert world.sts.actions() == ["AssumeRole", "AssumeRole"]
    assert count(session.screen, "MFA code for profile") == 3
    for name in ("a", "b"):
        assert (world.root / f"err-{name}").read_text() == ""
    assert session.left_terminal_sane()


def test_two_processes_on_one_terminal_end_within_their_prompt_timeout(world: World) -> None:
    """The person answers one prompt and walks away: the other process, which waited for
    the first, still gives up at its own prompt timeout, counted from its start."""
    direct_roles(world)
    session = Session(world, command=pair(world), env={"CREDPROC_PROMPT_TIMEOUT": "4"})
    started = time.monotonic()
    other = first_prompt(session)
    session.type("123456\r")
    session.expect(f"MFA code for profile role-{other} ({DEVICE}): ")
    assert session.finish(timeout=20) == 0
    assert time.monotonic() - started < 4 + 4  # 4 s, and starting two Pythons on a slow box
    codes = {"a": 0, "b": 0, other: 4}
    assert session.stdout() == f"a={codes['a']} b={codes['b']}\n"
    assert "no MFA code typed within 4 s" in (world.root / f"err-{other}").read_text()
    assert token_codes(world) == ["123456"]


# Two processes wait for a line on one terminal: both wake when it comes, one reads it. The
# other's select() said "readable" all the same; this script plays both, deterministically.
RACE = """
import os, select, threading
from credproc.errors import MfaUnavailable
from credproc.prompt.terminal import open_terminal

real_select, other = select.select, os.open("/dev/tty", os.O_RDONLY)
def select_then_lose_the_line(*args):
    ready = real_select(*args)
    if ready[0]:
        os.read(other, 256)  # the other process takes the line
    return ready
select.select = select_then_lose_the_line
got = ["still blocked in read()"]
def read():
    try:
        got[0] = open_terminal().read_line(2)
    except MfaUnavailable as exc:
        got[0] = exc.what
reader = threading.Thread(target=read, daemon=True)
reader.start()
open_terminal().write("READY\\n")
reader.join(6)
print(got[0], flush=True)
os._exit(0)
"""


def test_a_line_another_process_read_first_leaves_a_wait_that_still_ends(world: World) -> None:
    """select() woke for a line that another reader of the terminal took: credproc must go
    on waiting until its deadline, not block in read() until some later line."""
    session = Session(world, command=[PYTHON, "-c", RACE])
    session.expect("READY")
    session.type("123456\r")
    assert session.finish(timeout=20) == 0
    assert session.stdout() == "no MFA code typed within 2 s\n"


def test_a_background_job_does_not_stop_and_fails_fast_without_a_prompt(world: World) -> None:
    """`aws ... &` in a shell: /dev/tty opens, but reading or flushing it would stop the job
    with SIGTTIN/SIGTTOU; a process outside the terminal's foreground must not ask there."""
    world.standard_config(mfa_process=None)
    background = (
        "import os, sys; os.setpgid(0, 0);"  # its own process group: not the foreground one
        f"os.execv({CREDPROC!r}, [{CREDPROC!r}, '--profile', 'prod-mfa'])"
    )
    started = time.monotonic()
    session = Session(world, command=[PYTHON, "-c", background])
    assert session.finish(timeout=15) == 4
    assert time.monotonic() - started < 5
    [line] = session.stderr().splitlines()
    assert "credproc login --profile prod-mfa" in line and "credproc_mfa_process" in line
    assert count(session.screen, "MFA code for profile") == 0
    assert session.stdout() == "" and world.sts.calls == []
    assert session.left_terminal_sane()


class Console:
    """Stand-ins for msvcrt.kbhit/getwch/putwch and the clock, scripted with keys."""

    def __init__(self, keys: str) -> None:
        self.keys = list(keys)
        self.shown = ""
        self.now = 0.0

    def kbhit(self) -> bool:
        return bool(self.keys)

    def getwch(self) -> str:
        return self.keys.pop(0)

    def putwch(self, char: str) -> None:
        self.shown += char

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def terminal(self) -> WindowsTerminal:
        return WindowsTerminal(
            self.kbhit, self.getwch, self.putwch, sleep=self.sleep, clock=lambda: self.now
        )


def test_windows_console_reads_typed_keys_until_enter() -> None:
    console = Console("123456\rleft over")
    assert console.terminal().read_line(5) == "123456"
    assert console.shown == "123456\r\n"


def test_windows_console_backspace_erases_and_special_keys_are_ignored() -> None:
    console = Console("\x0812x\x08\x083\xe0K456\x01\r")
    assert console.terminal().read_line(5) == "13456"
    assert console.shown == "12x\b \b\b \b3456\r\n"


@pytest.mark.parametrize(
    ("key", "how"), [("\x03", "Ctrl-C"), ("\x1a", "Ctrl-Z"), ("\x04", "Ctrl-D")]
)
def test_windows_console_cancel_keys(key: str, how: str) -> None:
    console = Console(key + "123456\r")
    with pytest.raises(MfaCancelled) as raised:
        console.terminal().read_line(5)
    assert raised.value.exit_code == 5 and how in raised.value.what
    assert console.shown == "\r\n"


def test_windows_console_ctrl_z_after_typing_is_ignored_but_ctrl_c_still_cancels() -> None:
    assert Console("12\x1a3456\r").terminal().read_line(5) == "123456"
    with pytest.raises(MfaCancelled):
        Console("12\x03").terminal().read_line(5)


def test_windows_console_times_out_with_a_clear_error() -> None:
    console = Console("")
    with pytest.raises(MfaUnavailable) as raised:
        console.terminal().read_line(1)
    assert "no MFA code typed within 1 s" in raised.value.what
    assert 1 <= console.now < 1.1 and console.shown == "\r\n"


def test_windows_console_discards_keys_typed_before_the_prompt_and_writes_crlf() -> None:
    console = Console("\r\r9")
    terminal = console.terminal()
    terminal.discard_typeahead()
    assert console.keys == []
    terminal.write("credproc: a\nMFA code: ")
    assert console.shown == "credproc: a\r\nMFA code: "
