"""credproc as the credential_process of the real AWS CLI v2 and AWS SDK for JavaScript v3,
and started the way the JavaScript and Java SDKs start it: a stdin pipe never closed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import CREDPROC, ROOT, World, require_installed, section

AWS_CLI = "/usr/bin/aws"  # Debian's awscli, v2; the `aws` first on PATH may be a v1 shim
JS_DIR = ROOT / "tests" / "js"
MINTING = {"GetSessionToken", "AssumeRole"}


def aws_cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """The AWS CLI v2. Debian's 2.9.19 predates AWS_ENDPOINT_URL_STS: the endpoint is passed."""
    require_installed(AWS_CLI, "the AWS CLI v2")
    return subprocess.run(
        [AWS_CLI, *args, "--endpoint-url", world.sts.url, "--region", "us-east-1"],
        env={**world.env, "AWS_PAGER": ""},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=90,
        start_new_session=True,
    )


def aws_whoami(world: World, profile: str = "prod") -> dict[str, str]:
    done = aws_cli(world, "sts", "get-caller-identity", "--profile", profile, "--output", "json")
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    # The CLI does not print the key it signed with; `configure export-credentials` would
    # run credential_process again, so the key is read back from the front's record.
    return {"Arn": identity["Arn"], "AccessKeyId": world.sts.signers[-1]}


def js(world: World, *args: str, profile: str = "prod") -> subprocess.CompletedProcess[str]:
    """tests/js/whoami.mjs: the JavaScript SDK v3 with AWS_PROFILE, as its users run it."""
    require_installed(shutil.which("node") or "node", "Node.js")
    require_installed(JS_DIR / "node_modules" / "@aws-sdk" / "client-sts", "the JavaScript SDK v3")
    return subprocess.run(
        ["node", str(JS_DIR / "whoami.mjs"), *args],
        cwd=JS_DIR,
        env={**world.env, "AWS_PROFILE": profile},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=90,
        start_new_session=True,
    )


def js_whoami(world: World, *args: str) -> dict[str, str]:
    done = js(world, *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_aws_cli_is_version_2() -> None:
    require_installed(AWS_CLI, "the AWS CLI v2")
    done = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True, timeout=30)
    assert done.stdout.startswith("aws-cli/2."), done.stdout + done.stderr


def test_aws_cli_prompts_once_then_hits_the_cache(world: World) -> None:
    world.standard_config()
    first = aws_whoami(world)
    assert first["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assert world.prompts() == 1
    world.sts.reset()
    second = aws_whoami(world)
    assert second == first
    assert world.sts.actions() == ["GetCallerIdentity"]
    assert world.prompts() == 1


@pytest.mark.parametrize("provider", ["chain", "process"])
def test_javascript_sdk_prompts_once_then_hits_the_cache(world: World, provider: str) -> None:
    world.standard_config()
    first = js_whoami(world, provider)
    assert first["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    # The call was signed with credproc's role credentials, and went through the front.
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assert world.sts.signers[-1] == first["AccessKeyId"]
    assert world.prompts() == 1
    world.sts.reset()
    second = js_whoami(world, provider)
    assert second == first
    assert world.sts.actions() == ["GetCallerIdentity"]
    assert world.prompts() == 1


def test_boto3_javascript_and_aws_cli_share_one_cached_session(world: World) -> None:
    world.standard_config()
    from_boto3 = world.boto3()
    assert world.prompts() == 1
    world.sts.reset()
    from_js = js_whoami(world)
    from_cli = aws_whoami(world)
    assert from_js["AccessKeyId"] == from_cli["AccessKeyId"] == from_boto3["AccessKeyId"]
    assert from_js["Arn"] == from_cli["Arn"] == from_boto3["Arn"]
    assert not MINTING & set(world.sts.actions())
    assert world.prompts() == 1


def _open_stdin(kind: str) -> tuple[int, int]:
    """(child end, our end) of a stdin that stays open: Java uses a pipe, Node a socketpair."""
    if kind == "pipe":
        read, write = os.pipe()
        return read, write
    ours, theirs = socket.socketpair()
    return theirs.detach(), ours.detach()


@pytest.mark.parametrize("stdin", ["pipe", "socketpair"])
def test_never_closed_stdin_without_terminal_or_mfa_process_fails_at_once(
    world: World, stdin: str
) -> None:
    """Started as the Java (pipe) and JavaScript (socketpair) SDKs start it: stdin open and
    never written to or closed, no controlling terminal, no credproc_mfa_process, no cache."""
    world.standard_config(mfa_process=None)
    child_end, our_end = _open_stdin(stdin)
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            [CREDPROC, "--profile", "prod-mfa"],
            env=world.env,
            stdin=child_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        os.close(child_end)
    try:
        # Output is far below a pipe's buffer, so waiting before reading cannot deadlock.
        code = child.wait(timeout=20)
        elapsed = time.monotonic() - started
        stdout, stderr = child.communicate()  # stdin is not ours to close: it stays open
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # its own session: children that hold pipes too
        child.wait()
        pytest.fail("credproc still running after 20 s: it waits on stdin or a prompt")
    finally:
        os.close(our_end)
    print(f"credproc failed in {elapsed:.2f} s with a never-closed {stdin} as stdin")
    assert code != 0
    assert elapsed < 2.0, f"{elapsed:.2f} s"  # the bound is loose: this is about not waiting
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert re.fullmatch(r"credproc: [^()]+ \(.+\)", lines[0]), lines[0]
    assert "credproc login --profile prod-mfa" in lines[0]
    assert "credproc_mfa_process" in lines[0]
    assert world.sts.actions() == []


def _config_with_typo(world: World) -> None:
    """Profile `typo` names a profile that does not exist in its credential_process line."""
    world.config(section("typo", credential_process="{credproc} --profile no-such-profile"))


# credproc's own line, whole: it names the profile and ends with its fix in brackets
TYPO_LINE = r"credproc: [^\n]*'no-such-profile'[^\n]* \(.+\)$"


def test_aws_cli_shows_credprocs_message_for_an_unknown_profile(world: World) -> None:
    _config_with_typo(world)
    done = aws_cli(world, "sts", "get-caller-identity", "--profile", "typo")
    assert done.returncode != 0
    assert done.stdout == ""
    # botocore puts the process's stderr after its own words, on the same line
    assert re.search(TYPO_LINE, done.stderr, re.M), done.stderr
    assert world.sts.actions() == []


def test_javascript_sdk_shows_credprocs_message_for_an_unknown_profile(world: World) -> None:
    """Through fromProcess(). The SDK's default chain hides every provider's error behind
    "Could not load credentials from any providers", whatever the process printed."""
    _config_with_typo(world)
    done = js(world, "process", profile="typo")
    assert done.returncode == 1
    assert done.stdout == ""
    # the SDK's message ends with the process's stderr, credproc's line intact
    assert re.search("^" + TYPO_LINE, done.stderr, re.M), done.stderr
    assert world.sts.actions() == []
