"""Codes: six digits, the `auto` order and its overrides, and a code used lately for a device
never sent again, remembered across processes as keyed hashes in the encrypted cache."""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credproc.cache import Store
from credproc.entry import USED_CODES, unseal
from credproc.errors import MfaUnavailable
from credproc.plan import identity
from credproc.profiles import Settings
from credproc.prompt import METHODS, CodeSource, seconds_to_next_code
from credproc.prompt.request import CodeRequest, normalize
from credproc.rules import PROMPT_METHODS, TOTP_STEP
from credproc.rules import USED_CODE_SECONDS as REMEMBER_SECONDS
from credproc.used_codes import UsedCodes
from tests.conftest import COUNTING, CREDPROC, DEVICE, PYTHON, ROOT, World
from tests.prompt_session import Session, direct_roles, token_codes


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("123456", "123456"),
        (" 123 456\n", "123456"),
        ("12345", None),
        ("1234567", None),
        ("12a456", None),
        ("١٢٣٤٥٦", None),  # digits, but not ASCII ones
        ("", None),
    ],
)
def test_a_code_is_six_ascii_digits_blanks_aside(typed: str, code: str | None) -> None:
    assert normalize(typed) == code


def test_every_prompt_setting_has_a_way_of_asking_and_only_a_program_repeats_codes() -> None:
    assert tuple(METHODS) == PROMPT_METHODS
    assert [name for name, method in METHODS.items() if method.repeats_codes] == ["process"]


def test_the_next_code_is_awaited_until_one_second_into_the_next_step() -> None:
    step_start = 1_700_000_010.0  # a multiple of 30
    assert seconds_to_next_code(step_start) == 31.0
    assert seconds_to_next_code(step_start + 10) == 21.0
    assert seconds_to_next_code(step_start + 29.5) == 1.5


def repeating_program(folder: Path, *answers: str, timeout: float = 60) -> CodeRequest:
    """A request whose credproc_mfa_process prints `answers`, then 100000 + its call count."""
    (folder / "answers").write_text("".join(a + "\n" for a in answers))
    settings = Settings(mfa_process=f"{PYTHON} {ROOT / 'tests' / 'fake_mfa.py'} {folder}")
    return CodeRequest("prod-mfa", DEVICE, "", settings, timeout)


def test_a_program_repeating_a_used_code_is_run_again_one_second_into_the_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    sent = {"123456"}  # sent a moment ago by another credproc

    def claim(code: str) -> bool:
        fresh = code not in sent
        sent.add(code)
        return fresh

    slept: list[float] = []
    source = CodeSource(
        repeating_program(tmp_path, "123456"),
        claim,
        sleep=slept.append,
        clock=lambda: 1_700_000_020.0,  # 10 s into a TOTP step
    )
    assert source.next() == "100001"
    assert slept == [21.0] and source.tries == 2


def test_three_used_codes_end_the_asking_without_a_last_useless_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    slept: list[float] = []
    source = CodeSource(
        repeating_program(tmp_path, "123456", "123456", "123456"),
        lambda code: False,
        sleep=slept.append,
        clock=lambda: 1_700_000_020.0,
    )
    with pytest.raises(MfaUnavailable, match="after 3 tries"):
        source.next()
    assert len(slept) == 2


class SkippingClock:
    """The wall clock, plus the seconds a stand-in sleep pretended to wait."""

    def __init__(self, into_step: float) -> None:
        self.skipped = into_step - time.time() % TOTP_STEP  # now is `into_step` s into a step

    def __call__(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds


def used_then_slow(folder: Path) -> Settings:
    """A credproc_mfa_process that prints 123456 on its first run and hangs on later ones."""
    program = folder / "mfa"
    program.write_text(f"#!/bin/sh\n[ -e {folder}/ran ] && exec sleep 60\ntouch {folder}/ran\n"
                       "echo 123456\n")  # fmt: skip
    program.chmod(0o755)
    return Settings(mfa_process=str(program))


def test_all_tries_share_one_prompt_timeout_from_the_first_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """123456 was used lately; 9 s of a 10 s timeout go by waiting for the next code: the
    program then gets the 1 s left, not a new 10 s, and the error names the 10 s."""
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    clock = SkippingClock(into_step=TOTP_STEP - 8)  # the next code shows in 9 s
    request = CodeRequest("prod-mfa", DEVICE, "", used_then_slow(tmp_path), 10)
    source = CodeSource(request, lambda code: code != "123456", sleep=clock.sleep, clock=clock)
    started = time.monotonic()
    with pytest.raises(MfaUnavailable) as raised:
        source.next()
    assert raised.value.what == "credproc_mfa_process gave no code within 10 s"
    assert time.monotonic() - started < 6  # stopped after what was left: about 1 s
    assert source.tries == 2


def test_a_wait_for_the_next_code_past_the_prompt_timeout_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    slept: list[float] = []
    source = CodeSource(
        repeating_program(tmp_path, "123456", timeout=20),
        lambda code: code != "123456",
        sleep=slept.append,
        clock=lambda: 1_700_000_020.0,  # the next code shows in 21 s
    )
    with pytest.raises(MfaUnavailable) as raised:
        source.next()
    assert raised.value.line() == (
        "credproc: no MFA code within 20 s (run again, or raise CREDPROC_PROMPT_TIMEOUT)"
    )
    assert slept == [] and source.tries == 1


def test_a_code_asked_again_after_sts_refused_one_gets_only_what_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sts.mint asks again after a rejection: that ask belongs to the same prompt timeout."""
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    clock = Clock()
    source = CodeSource(
        repeating_program(tmp_path, timeout=5), lambda code: True, sleep=lambda s: None, clock=clock
    )
    assert source.next() == "100000"
    clock.now += 4  # of 5 s
    assert source.next("AWS did not accept that code") == "100001"
    clock.now += 1
    with pytest.raises(MfaUnavailable, match="no MFA code within 5 s"):
        source.next("AWS did not accept that code")
    assert (tmp_path / "calls").read_text().count("\n") == 2  # not run a third time


def test_the_prompt_lock_is_held_around_each_ask_alone_and_bounded_by_the_time_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDPROC_PROMPT", "process")
    events: list[object] = []
    clock = Clock()

    @contextlib.contextmanager
    def asking(seconds: float) -> Iterator[None]:
        events.append(("asking", seconds))
        yield
        events.append("asked")

    def claim(code: str) -> bool:
        events.append(("claim", code))
        clock.now += 2
        return code != "123456"

    source = CodeSource(
        repeating_program(tmp_path, "123456", timeout=60),
        claim,
        asking=asking,
        sleep=lambda seconds: setattr(clock, "now", clock.now + seconds),
        clock=clock,
    )
    assert source.next() == "100001"
    waited = seconds_to_next_code(1_700_000_002.0)  # the claim took 2 s
    assert events == [
        ("asking", 60.0), "asked", ("claim", "123456"),  # released before the claim
        ("asking", 60.0 - 2 - waited), "asked", ("claim", "100001"),
    ]  # fmt: skip


def test_only_one_process_of_a_user_asks_at_a_time_whatever_the_device(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(str(tmp_path), b"k" * 32)
    alice = UsedCodes(store, DEVICE, "pid 1, profile role-a", 5, clock=clock)
    bob = UsedCodes(store, DEVICE.replace("alice", "bob"), "pid 2, profile role-b", 5, clock=clock)
    with alice.asking(1):
        waiting = pytest.raises(MfaUnavailable, match=r"another credproc \(pid 1, profile role-a\)")
        with waiting, bob.asking(0.2):
            pass
        assert alice.claim("123456")  # its own used-codes lock is another lock
    with bob.asking(0.2):
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def used_codes(folder: Path, clock: Clock, key: bytes = b"k" * 32) -> UsedCodes:
    return UsedCodes(Store(str(folder), key), DEVICE, "test", 5, clock=clock)


def test_a_code_is_refused_for_90_seconds_after_it_was_sent(tmp_path: Path) -> None:
    clock = Clock()
    codes = used_codes(tmp_path, clock)
    assert codes.claim("123456")
    assert codes.claim("654321")
    clock.now += REMEMBER_SECONDS - 1
    assert not codes.claim("123456")
    assert not used_codes(tmp_path, clock).claim("654321")  # another process, same store
    clock.now += 2
    assert codes.claim("123456")


def test_used_codes_are_kept_as_keyed_hashes_in_the_encrypted_cache(tmp_path: Path) -> None:
    clock = Clock()
    codes = used_codes(tmp_path, clock)
    codes.claim("123456")
    [entry] = [p for p in tmp_path.iterdir() if "." not in p.name]
    blob = entry.read_bytes()
    assert b"123456" not in blob
    [(digest, _)] = unseal(b"k" * 32, entry.name, blob).used_codes
    assert re.fullmatch("[0-9a-f]{64}", digest)
    plain = [hashlib.sha256(m.encode()).hexdigest() for m in ("123456", f"{DEVICE}\0123456")]
    assert digest not in plain  # keyed: not a hash anyone can compute for 10^6 codes
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    used_codes(elsewhere, clock, key=b"x" * 32).claim("123456")
    other = unseal(b"x" * 32, entry.name, (elsewhere / entry.name).read_bytes())
    assert digest not in dict(other.used_codes)  # another key, another hash


def start(world: World, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CREDPROC, *args],
        env=world.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_two_processes_given_the_same_code_never_send_it_twice(world: World) -> None:
    """The one slow test here: the second process waits for the next 30-second TOTP step,
    so it takes up to 31 s (16 s on average)."""
    direct_roles(world, mfa_process=COUNTING)
    world.answers("123456", "123456")  # the MFA program prints the same code twice
    started = time.monotonic()
    children = [start(world, "--profile", profile, "-v") for profile in ("role-a", "role-b")]
    results = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], results
    assert time.monotonic() - started < 40
    codes = token_codes(world)
    assert sorted(codes) == ["100002", "123456"]  # each sent once; none refused by STS
    assert world.sts.actions() == ["AssumeRole", "AssumeRole"]
    waited = [err for _, err in results if "code already used, waiting for the next one" in err]
    assert len(waited) == 1
    assert world.prompts() == 3
    for path in world.cache_dir.iterdir():
        assert b"123456" not in path.read_bytes() and b"100002" not in path.read_bytes()
    name = identity(kind=USED_CODES, mfa_serial=DEVICE)
    record = unseal(world.key_file.read_bytes(), name, (world.cache_dir / name).read_bytes())
    assert len(record.used_codes) == 2
    assert "123456" not in repr(record) and "100002" not in repr(record)


def choose_in(world: World, env: dict[str, str], terminal: bool = False) -> str:
    """What `auto` picks for profile prod-mfa, asked in a process with or without a terminal."""
    script = (
        "from credproc.config import load; from credproc.plan import build;"
        "from credproc.prompt import choose; from credproc.errors import CredprocError\n"
        "try: print('method=' + choose(build(load(), 'prod-mfa').settings))\n"
        "except CredprocError as e: print('error=' + e.line())"
    )
    if terminal:
        session = Session(world, command=[PYTHON, "-c", script], env=env)
        assert session.finish() == 0
        return session.stdout().strip()
    done = subprocess.run(
        [PYTHON, "-c", script], env={**world.env, **env}, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


GRAPHICAL = "pinentry-gnome3"  # stands for an executable of that name, made by the test
PINENTRY = {"credproc_pinentry": GRAPHICAL}
GUI = {"DISPLAY": ":0"}
MFA_PROGRAM = {"credproc_mfa_process": "true"}


@pytest.mark.parametrize(
    ("base", "env", "terminal", "picked"),
    [
        ({**MFA_PROGRAM, **PINENTRY}, GUI, True, "method=process"),
        (PINENTRY, GUI, True, "method=tty"),
        (PINENTRY, GUI, False, "method=pinentry"),
        (PINENTRY, {"WAYLAND_DISPLAY": "wayland-0"}, False, "method=pinentry"),
        (PINENTRY, {}, False, "method=none"),
        ({"credproc_pinentry": "/nonexistent/pinentry"}, GUI, False, "method=none"),
        ({"credproc_pinentry": "/usr/bin/pinentry-tty"}, GUI, False, "method=none"),
        ({"credproc_pinentry": "/usr/bin/pinentry-curses"}, GUI, False, "method=none"),
        ({"credproc_prompt": "process", **MFA_PROGRAM}, {}, True, "method=process"),
        ({"credproc_prompt": "process"}, {}, False, "error=credproc: credproc_prompt = process"),
        (MFA_PROGRAM, {"CREDPROC_PROMPT": "tty"}, False, "method=tty"),
        ({"credproc_prompt": "tty"}, {"CREDPROC_PROMPT": "pinentry"}, False, "method=pinentry"),
        ({}, {"CREDPROC_PROMPT": "yubikey"}, False, "error=credproc: CREDPROC_PROMPT=yubikey"),
    ],
)
def test_auto_order_and_overrides(
    world: World, base: dict[str, str], env: dict[str, str], terminal: bool, picked: str
) -> None:
    """The credproc_* keys sit on the source profile: found up the source_profile chain."""
    graphical = world.root / GRAPHICAL
    graphical.write_text("#!/bin/sh\nexit 1\n")
    graphical.chmod(0o755)
    on_base = {k: str(graphical) if v == GRAPHICAL else v for k, v in base.items()}
    world.standard_config(mfa_process=None, base=on_base)
    assert choose_in(world, env, terminal).startswith(picked)


def test_a_prompt_timeout_that_is_not_a_number_is_a_configuration_error(world: World) -> None:
    world.standard_config()
    for value in ("soon", "0", "-5"):
        done = world.run("--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": value})
        assert done.returncode == 3 and f"CREDPROC_PROMPT_TIMEOUT={value}" in done.stderr
    assert world.prompts() == 0
