"""`credproc exec --server`: what it answers, what it refuses, and what CMD is given."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from credproc import rules
from credproc.server import DROPPED
from tests.conftest import COUNTING, CREDPROC, DEVICE, PROD_MFA, PYTHON, World, section
from tests.prompt_session import Session, token_codes
from tests.served import SERVER_CMD, SHORT_ROLE, STALE_AFTER, Served, request

PROMPT = f"MFA code for profile prod-mfa ({DEVICE}): "
NOT_SERVED = "the server hands out only credentials with more than 15 min left"


def test_answers_the_cached_credentials_in_the_container_format(primed: World) -> None:
    world = primed
    out = world.serve()
    served = Served(world).ready()
    try:
        answer = served.credentials()
    finally:
        code, stdout, stderr = served.stop()
    assert (code, stdout, stderr) == (0, "", "")
    assert set(answer) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId"}
    assert answer["AccessKeyId"] == out["AccessKeyId"] and answer["Token"] == out["SessionToken"]
    assert answer["Expiration"] == out["Expiration"] and answer["AccountId"] == "123456789012"
    assert world.sts.calls == [] and world.prompts() == 1


def test_command_gets_the_server_and_nothing_that_would_shadow_it(primed: World) -> None:
    world = primed
    world.standard_config(base={"region": "eu-central-1"})
    inherited = {name: "inherited" for name in DROPPED}
    served = Served(world, env={**inherited, "CREDPROC_CHAIN": "elsewhere"}).ready()
    try:
        env, port = served.env, served.port
        answer = served.credentials()
    finally:
        assert served.stop()[0] == 0
    assert set(DROPPED) & set(env) == set()
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"http://127.0.0.1:{port}/"
    token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"  # from base
    assert env["HOME"] == world.env["HOME"] and env["AWS_ENDPOINT_URL_STS"] == world.sts.url
    assert answer["AccountId"] == "123456789012"


def test_the_sdk_profile_of_the_layout_is_served_as_its_role_with_its_own_region(
    primed: World,
) -> None:
    world = primed
    world.config(
        section("base", region="us-east-1", credproc_mfa_process=COUNTING),
        section("prod-mfa", **PROD_MFA),
        section("prod", credential_process="{credproc} --profile prod-mfa", region="eu-west-3"),
    )
    out = world.serve()
    served = Served(world, profile="prod").ready()
    try:
        answer = served.credentials()
    finally:
        assert served.stop() == (0, "", "")
    assert served.env["AWS_REGION"] == "eu-west-3"  # prod's, as SDKs using prod see it
    assert answer["AccessKeyId"] == out["AccessKeyId"] and world.prompts() == 1


def test_a_region_in_the_environment_is_kept(primed: World) -> None:
    served = Served(primed, env={"AWS_REGION": "ap-south-1"}).ready()
    served.stop()
    assert served.env["AWS_REGION"] == "ap-south-1" and "AWS_DEFAULT_REGION" not in served.env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_port_given_is_used_and_a_taken_port_is_a_usage_error(primed: World) -> None:
    port = free_port()
    served = Served(primed, "--port", str(port)).ready()
    try:
        assert served.port == port
        taken = Served(primed, "--port", str(port))
        code, stdout, stderr = taken.finish()
    finally:
        served.stop()
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"credproc: cannot listen on 127.0.0.1:{port}: ")
    assert stderr.count("\n") == 1 and "--port" in stderr
    assert not (taken.state / "env.json").exists()


@pytest.mark.parametrize("args", [["--port", "70000"], ["--port", "x"]])
def test_a_bad_port_is_a_usage_error(primed: World, args: list[str]) -> None:
    code, stdout, stderr = Served(primed, *args).finish()
    assert (code, stdout) == (2, "") and stderr.count("\n") == 1


def test_port_without_server_is_a_usage_error(primed: World) -> None:
    done = primed.run("exec", "--profile", "prod-mfa", "--port", "8080", "--", "true")
    assert done.returncode == 2 and "--port needs --server" in done.stderr


def test_refuses_what_is_not_the_commands_sdk(primed: World) -> None:
    world = primed
    served = Served(world).ready()
    url, token, port = served.url, served.token, served.port
    wrong = ("A" if token[0] != "A" else "B") + token[1:]  # same length, one byte off
    auth = {"Authorization": token}
    cases = [  # (what, headers, method, Host, status)
        ("no token", {}, "GET", None, 401),
        ("a wrong token", {"Authorization": wrong}, "GET", None, 403),
        ("a token with a prefix", {"Authorization": "Bearer " + token}, "GET", None, 403),
        ("DNS rebinding", auth, "GET", f"evil.example:{port}", 403),
        ("another port", auth, "GET", f"127.0.0.1:{port + 1}", 403),
        ("no port", auth, "GET", "127.0.0.1", 403),
        ("a web page", {**auth, "Origin": "https://evil.example"}, "GET", None, 403),
        ("a page of itself", {**auth, "Origin": f"http://127.0.0.1:{port}"}, "GET", None, 403),
        ("POST", auth, "POST", None, 405),
        ("PUT", auth, "PUT", None, 405),
        ("DELETE", auth, "DELETE", None, 405),
        ("PROPFIND", auth, "PROPFIND", None, 405),
    ]
    try:
        replies = {what: request(url, h, method, host) for what, h, method, host, _ in cases}
        by_name = served.get(host=f"localhost:{port}")
        plain = served.get()
    finally:
        served.stop()
    for what, _, _, _, status in cases:
        reply = replies[what]
        assert reply.status == status, what
        body = reply.json()
        assert set(body) == {"code", "message"}, what
        assert token not in reply.raw.decode() and "AccessKeyId" not in body, what
    assert replies["POST"].headers["Allow"] == "GET"
    assert by_name.status == plain.status == 200
    assert world.sts.calls == []


def test_renews_stale_credentials_and_says_503_while_aws_refuses(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = SHORT_ROLE
    served = Served(world).ready()
    try:
        first = served.credentials()
        time.sleep(STALE_AFTER + 0.5)
        world.sts.faults.deny = "User is not authorized to perform: sts:AssumeRole"
        refused = served.get()
        again = served.get()
        world.sts.faults.deny = ""
        renewed = served.credentials()
    finally:
        code, _, stderr = served.stop()
    assert (code, stderr) == (0, "")
    assert refused.status == again.status == 503
    body = refused.json()
    assert body["code"] == "AwsRefused" and "not authorized" in body["message"]
    assert renewed["AccessKeyId"] != first["AccessKeyId"]
    actions = world.sts.actions()
    assert actions[0] == "GetSessionToken" and set(actions[1:]) == {"AssumeRole"}
    # the first, two refused, the renewal; one more if the first request found them stale
    assert len(actions) - 1 in (4, 5)
    assert world.prompts() == 1  # renewed from the cached MFA session


def test_credentials_with_15_minutes_or_less_are_never_served(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = {"AssumeRole": 14 * 60}
    served = Served(world)
    code, stdout, stderr = served.finish()
    assert (code, stdout) == (4, "")
    assert stderr.startswith("credproc: the credentials of profile prod-mfa have only 14 min")
    assert NOT_SERVED in stderr and stderr.count("\n") == 1
    assert not (served.state / "env.json").exists()


@pytest.mark.parametrize("where", ["credential_process", "keys"])
def test_warns_when_the_default_profile_would_shadow_the_server(primed: World, where: str) -> None:
    world = primed
    if where == "keys":
        world.credentials_file.write_text(
            world.credentials_file.read_text()
            + "[default]\naws_access_key_id = AKIAQQQQDEFAULT00001\naws_secret_access_key = s\n"
        )
        world.standard_config()
        found = "aws_access_key_id"
    else:
        world.standard_config(section("default", credential_process="{credproc} --profile x"))
        found = "credential_process"
    served = Served(world).ready()
    code, _, stderr = served.stop()
    assert code == 0
    assert stderr.splitlines() == [
        f"credproc: warning: profile default has its own credentials ({found}), which SDKs in "
        f"{os.path.basename(PYTHON)} use before the server (move them to a named profile)"
    ]


def test_a_client_that_gives_up_during_a_prompt_leaves_the_renewal_to_the_next(
    world: World,
) -> None:
    """An SDK waits a second or two; a code takes longer. The renewal goes on without it."""
    slow = f"sh -c 'sleep 2; exec {world.mfa_process}'"
    world.standard_config(mfa_process=slow)
    world.sts.faults.lifetime = {**SHORT_ROLE, "GetSessionToken": rules.SOURCE_SECONDS + 3}
    served = Served(world).ready()
    try:
        first = served.credentials()
        time.sleep(STALE_AFTER + 0.5)
        with pytest.raises(TimeoutError):
            served.get(timeout=1)
        renewed = served.credentials()
    finally:
        code, _, stderr = served.stop()
    assert (code, stderr) == (0, "")
    assert renewed["AccessKeyId"] != first["AccessKeyId"] and world.prompts() == 2
    assert world.sts.actions().count("GetSessionToken") == 2


def test_a_renewal_that_needs_a_code_asks_on_the_terminal(world: World) -> None:
    """The MFA session runs out mid-job: the server asks on the terminal, as credproc would."""
    world.standard_config(mfa_process=None)
    world.sts.faults.lifetime = {**SHORT_ROLE, "GetSessionToken": rules.SOURCE_SECONDS + 3}
    pause = str(STALE_AFTER + 0.5)
    fetch = [PYTHON, SERVER_CMD, "fetch", "-", "2", pause]
    session = Session(
        world, command=[CREDPROC, "exec", "--profile", "prod-mfa", "--server", "--", *fetch]
    )
    session.expect(PROMPT)  # before CMD starts
    session.type("123456\r")
    session.expect(PROMPT, timeout=30)  # the renewal, from the server
    session.type("654321\r")
    assert session.finish() == 0
    keys = session.stdout().split()
    assert len(keys) == 2 and keys[0] != keys[1] and keys[1].startswith("ASIA")
    assert token_codes(world) == ["123456", "654321"]
    assert session.stderr() == "" and session.left_terminal_sane()
