"""scripts/demo, the README's first command: one MFA prompt, then a cache hit."""

from __future__ import annotations

import os
import subprocess

import pexpect

from tests.conftest import PYTHON, ROOT

DEMO = str(ROOT / "scripts" / "demo")


def test_demo_without_a_terminal_answers_by_program_and_hits_the_cache() -> None:
    done = subprocess.run(
        [PYTHON, DEMO],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    assert "credproc_mfa_process answers the MFA prompt" in done.stdout
    assert done.stdout.count("assumed-role/Admin/") == 2
    assert "session  arn:aws:iam::111111111111:mfa/alice" in done.stdout


def test_demo_in_a_terminal_asks_there_once() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CREDPROC_"))}
    child = pexpect.spawn(PYTHON, [DEMO], env=env, encoding="utf-8", timeout=60)
    child.expect("MFA code for profile demo-mfa")
    child.sendline("123456")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "MFA code for" not in child.before  # asked once only
    assert child.before.count("assumed-role/Admin/") == 2
