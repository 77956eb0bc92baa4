"""pinentry over Assuan: a scripted peer for the protocol's edge cases, the real pinentry-tty
and pinentry-curses in a pseudo-terminal, and the choice of pinentry by `auto`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from credproc.errors import CredprocError, MfaCancelled, MfaUnavailable, NoPrompt
from credproc.profiles import Settings
from credproc.prompt.pinentry import LINE_LIMIT, converse, escape, unescape
from credproc.prompt.request import CodeRequest, PromptTimedOut
from tests.conftest import DEVICE, PYTHON, ROLE, ROOT, World, require_installed
from tests.prompt_session import Session, count, token_codes

PEER = ROOT / "tests" / "assuan_peer.py"
PINENTRY_TTY = "/usr/bin/pinentry-tty"
PINENTRY_CURSES = "/usr/bin/pinentry-curses"


class Peer:
    """A scripted pinentry program: a tiny executable that runs tests/assuan_peer.py."""

    def __init__(self, folder: Path, mode: str, pin: str = "123456") -> None:
        self.log = folder / f"peer-{mode}.log"
        self.program = folder / f"pinentry-{mode}"
        self.program.write_text(f"#!/bin/sh\nexec {PYTHON} {PEER} {self.log} {mode} '{pin}'\n")
        self.program.chmod(0o755)

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def sent(self) -> list[str]:
        """The command lines credproc sent, raw."""
        return [r["raw"] for r in self.records() if "raw" in r]

    def decoded(self, verb: str) -> str:
        [text] = [r["decoded"] for r in self.records() if r.get("raw", "").startswith(verb + " ")]
        return str(text)

    def env(self) -> list[str]:
        return list(self.records()[0]["env"])


def request(profile: str = "prod-mfa", timeout: float = 5) -> CodeRequest:
    return CodeRequest(profile, DEVICE, ROLE, Settings(), timeout)


def ask(peer: Peer, *, problem: str = "", on_terminal: bool = False, **kwargs: Any) -> str:
    return converse(str(peer.program), request(**kwargs), problem, on_terminal)


def test_escape_encodes_percent_cr_lf_and_a_trailing_backslash() -> None:
    assert escape("100% sure\r\nnext") == "100%25 sure%0D%0Anext"
    assert escape("tab\there") == "tab%09here"
    assert escape("ends with \\") == "ends with %5C"
    assert escape("a\\b") == "a\\b"
    assert escape("x" * 5000).encode() == b"x" * (LINE_LIMIT - 64)


def test_unescape_decodes_data_lines_and_refuses_broken_escapes() -> None:
    assert unescape(b"12%253%0A4%0d") == b"12%3\n4\r"
    for broken in (b"12%", b"12%4", b"%G0"):
        with pytest.raises(ValueError):
            unescape(broken)


def test_conversation_names_profile_role_and_device_and_ends_with_bye(tmp_path: Path) -> None:
    peer = Peer(tmp_path, "ok")
    assert ask(peer, problem="code already used, waiting for the next one") == "123456"
    verbs = [line.split(" ")[0] for line in peer.sent()]
    assert verbs == [
        "SETTITLE",
        "SETDESC",
        "SETPROMPT",
        "SETERROR",
        "SETTIMEOUT",
        "GETPIN",
        "BYE",
    ]
    assert {"inquire-answer": "END"} in peer.records()  # an INQUIRE mid-GETPIN got END
    description = peer.decoded("SETDESC")
    assert "Profile: prod-mfa" in description and f"Role: {ROLE}" in description
    assert f"Device: {DEVICE}" in description
    assert peer.decoded("SETPROMPT") == "MFA code:"
    assert peer.decoded("SETERROR") == "code already used, waiting for the next one"
    assert peer.decoded("SETTIMEOUT") == "5"


def test_escaped_characters_survive_both_ways(tmp_path: Path) -> None:
    peer = Peer(tmp_path, "ok", pin="12%3\r\n45")
    weird = "100%\r\nprod\\"
    answer = ask(peer, problem="50% off\nnext line", profile=weird)
    assert answer == "12%3\r\n45"  # two D lines with %25, %0D, %0A, joined
    assert f"Profile: {weird}\n" in peer.decoded("SETDESC")
    assert peer.decoded("SETERROR") == "50% off\nnext line"
    assert "SETDESC" in peer.sent()[1] and "%25%0D%0Aprod" in peer.sent()[1]


def test_terminal_options_are_sent_when_there_is_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("LC_ALL", "")
    monkeypatch.setenv("LC_CTYPE", "de_DE.UTF-8")
    peer = Peer(tmp_path, "ok")
    ask(peer, on_terminal=True)
    assert peer.sent()[:3] == [
        "OPTION ttyname=/dev/tty",
        "OPTION ttytype=xterm-256color",
        "OPTION lc-ctype=de_DE.UTF-8",
    ]


def test_an_older_pinentry_that_refuses_options_still_asks(tmp_path: Path) -> None:
    peer = Peer(tmp_path, "old")
    assert ask(peer, on_terminal=True) == "123456"


def test_long_texts_are_cut_to_the_assuan_line_limit(tmp_path: Path) -> None:
    peer = Peer(tmp_path, "ok")
    ask(peer, profile="p" * 3000, problem="%" * 3000)
    assert all(len(line.encode()) + 1 <= LINE_LIMIT for line in peer.sent())


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("cancel", MfaCancelled, "cancelled in pinentry-cancel"),
        ("timeout", PromptTimedOut, "no MFA code typed within 5 s"),
        ("noscreen", NoPrompt, "could not ask (Inappropriate ioctl for device <Pinentry>)"),
        ("die", MfaUnavailable, "ended without answering"),
        ("garbage", MfaUnavailable, "is not the Assuan protocol"),
        ("toolong", MfaUnavailable, "is not the Assuan protocol"),
    ],
)
def test_refusals_and_broken_peers_are_clear_errors(
    tmp_path: Path, mode: str, error: type[CredprocError], words: str
) -> None:
    peer = Peer(tmp_path, mode)
    started = time.monotonic()
    with pytest.raises(error) as raised:
        ask(peer)
    assert type(raised.value) is error
    assert words in raised.value.what
    assert "123456" not in raised.value.line()  # the garbage line carries six digits
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("mode", ["mute", "silent", "hang"])
def test_a_peer_that_never_answers_times_out(tmp_path: Path, mode: str) -> None:
    peer = Peer(tmp_path, mode)
    started = time.monotonic()
    with pytest.raises(MfaUnavailable) as raised:
        ask(peer, timeout=0.5)
    elapsed = time.monotonic() - started
    # setup has the prompt timeout; GETPIN that plus the grace pinentry's own timeout gets
    assert elapsed < 6
    assert (
        "did not answer within" in raised.value.what
        if mode != "hang"
        else "no MFA code typed within" in raised.value.what
    )


def test_a_pinentry_killed_mid_question_does_not_leave_the_terminal_raw(world: World) -> None:
    peer = Peer(world.root, "rawhang")
    pinentry_config(world, str(peer.program), credproc_prompt="pinentry")
    session = Session(world, "--profile", "prod-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "0.5"})
    assert session.finish(timeout=15) == 4
    assert "no MFA code typed within 0.5 s" in session.stderr()
    assert session.left_terminal_sane()


def test_the_pinentry_gets_no_aws_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "secret-" + name)
    monkeypatch.setenv("DISPLAY", ":7")
    peer = Peer(tmp_path, "ok")
    ask(peer)
    env = peer.env()
    assert "DISPLAY" in env
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)


# credproc end to end, with no terminal: the scripted peer stands for a graphical pinentry


def pinentry_config(world: World, program: str, **prod_mfa: str) -> None:
    world.standard_config(mfa_process=None, credproc_pinentry=program, **prod_mfa)


def test_auto_uses_pinentry_in_a_graphical_session_without_terminal(world: World) -> None:
    peer = Peer(world.root, "ok", pin="654321")
    pinentry_config(world, str(peer.program))
    world.serve(env={"DISPLAY": ":0"})
    assert token_codes(world) == ["654321"]
    assert not any(line.startswith("OPTION") for line in peer.sent())  # no terminal


def test_auto_without_display_or_terminal_does_not_run_pinentry(world: World) -> None:
    peer = Peer(world.root, "ok")
    pinentry_config(world, str(peer.program))
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 4 and "credproc login --profile prod-mfa" in done.stderr
    assert peer.records() == []


def test_environment_forces_pinentry_over_the_config(world: World) -> None:
    peer = Peer(world.root, "ok")
    pinentry_config(world, str(peer.program), credproc_prompt="tty")
    world.serve(env={"CREDPROC_PROMPT": "pinentry"})
    assert token_codes(world) == ["123456"]


def test_a_cancel_ends_the_asking_at_once_with_exit_code_5(world: World) -> None:
    peer = Peer(world.root, "cancel")
    pinentry_config(world, str(peer.program), credproc_prompt="pinentry")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 5 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "credproc: MFA prompt cancelled in pinentry-cancel (run again to retry)"
    ]
    assert peer.sent().count("GETPIN") == 1  # asked once: no retry storm
    assert world.sts.calls == []


def test_the_pinentry_typo_is_asked_again_with_seterror(world: World) -> None:
    peer = Peer(world.root, "ok", pin="12345")
    pinentry_config(world, str(peer.program), credproc_prompt="pinentry")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 4 and "after 3 tries" in done.stderr
    assert peer.sent().count("GETPIN") == 3
    assert [r["decoded"] for r in peer.records() if r.get("raw", "").startswith("SETERROR")] == [
        "that was not a 6-digit code, try again"
    ] * 2


@pytest.mark.parametrize("setting", ["/nonexistent/pinentry", "no-such-pinentry-program"])
def test_forced_pinentry_without_the_program_is_a_configuration_error(
    world: World, setting: str
) -> None:
    pinentry_config(world, setting, credproc_prompt="pinentry")
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 3
    [line] = done.stderr.splitlines()
    assert setting in line and "credproc_pinentry" in line


# the real pinentry programs of Debian, in a pseudo-terminal


def real_config(world: World, program: str) -> None:
    require_installed(program, os.path.basename(program))
    pinentry_config(world, program, credproc_prompt="pinentry")


def test_real_pinentry_tty_asks_on_the_terminal(world: World) -> None:
    real_config(world, PINENTRY_TTY)
    session = Session(world, "--profile", "prod-mfa")
    session.expect("Profile: prod-mfa")
    session.expect(f"Device: {DEVICE}")
    session.expect("MFA code:")
    session.type("12345\r")  # a typo: asked again, with the error shown by pinentry
    session.expect("that was not a 6-digit code, try again")
    session.expect("MFA code:")
    session.type("123456\r")
    assert session.finish() == 0
    assert session.credentials()["Version"] == 1 and session.stderr() == ""
    assert "123456" not in session.screen  # pinentry does not echo the code
    assert token_codes(world) == ["123456"]
    assert session.left_terminal_sane()


@pytest.mark.parametrize(("keys", "how"), [("\x04", "in pinentry-tty"), ("12\x03", "with Ctrl-C")])
def test_real_pinentry_tty_cancel_leaves_the_terminal_sane(
    world: World, keys: str, how: str
) -> None:
    real_config(world, PINENTRY_TTY)
    session = Session(world, "--profile", "prod-mfa")
    session.expect("MFA code:")
    session.type(keys)
    assert session.finish() == 5
    assert session.stderr() == f"credproc: MFA prompt cancelled {how} (run again to retry)\n"
    assert count(session.screen, "MFA code:") == 1
    assert world.sts.calls == []
    assert session.left_terminal_sane()


def test_real_pinentry_curses_runs_headless_in_a_terminal(world: World) -> None:
    real_config(world, PINENTRY_CURSES)
    session = Session(world, "--profile", "prod-mfa", env={"TERM": "xterm"})
    session.expect("MFA code:")
    session.type("123456\r")
    assert session.finish() == 0
    assert session.credentials()["Version"] == 1 and session.stderr() == ""
    assert token_codes(world) == ["123456"]
    assert session.left_terminal_sane()
