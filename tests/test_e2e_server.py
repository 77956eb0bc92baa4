"""`credproc exec --server` with the real boto3, AWS CLI v2 and JavaScript SDK v3 as the
command, or started by a shell script that is the command, across real renewals: the test's
front hands out role credentials that turn stale within seconds, so each call after a pause
is answered with credentials the server renewed from the cached MFA session."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.conftest import CREDPROC, PYTHON, World, require_installed
from tests.served import SERVER_CMD, SHORT_ROLE, STALE_AFTER
from tests.test_e2e_clients import AWS_CLI, JS_DIR

PAUSE = STALE_AFTER + 0.5  # long enough for what was served before to be stale
ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/Admin/"


def exec_server(world: World, *command: str) -> str:
    """credproc exec --server -- COMMAND; what COMMAND printed."""
    done = subprocess.run(
        [CREDPROC, "exec", "--profile", "prod-mfa", "--server", "--", *command],
        env=world.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "credproc:" not in done.stderr  # (Node.js may warn about its own version there)
    return done.stdout


def json_lines(text: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in text.splitlines()]


def aws_cli_call(world: World) -> list[str]:
    require_installed(AWS_CLI, "the AWS CLI v2")
    # Debian's 2.9 predates AWS_ENDPOINT_URL_STS: the endpoint is passed
    return [AWS_CLI, "sts", "get-caller-identity", "--endpoint-url", world.sts.url]


def node() -> str:
    path = shutil.which("node") or "node"
    require_installed(path, "Node.js")
    require_installed(JS_DIR / "node_modules" / "@aws-sdk" / "client-sts", "the JavaScript SDK v3")
    return path


def signers_of_calls(world: World) -> list[str]:
    """The key that signed each GetCallerIdentity, in order."""
    pairs = zip(world.sts.actions(), world.sts.signers)
    return [signer for action, signer in pairs if action == "GetCallerIdentity"]


def assert_renewed_without_codes(world: World, calls: int) -> None:
    """One code for the whole job: one MFA session, and a role renewed for every call."""
    actions = world.sts.actions()
    assert world.prompts() == 1 and actions.count("GetSessionToken") == 1
    assert calls <= actions.count("AssumeRole") <= calls + 1  # +1: the first may be the start's


def test_boto3_as_the_command_across_three_renewals_asks_one_code(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = SHORT_ROLE
    calls = json_lines(exec_server(world, PYTHON, SERVER_CMD, "boto3", "-", "4", str(PAUSE)))
    keys = [call["AccessKeyId"] for call in calls]
    assert len(set(keys)) == 4  # each call after a renewal
    assert all(call["Arn"].startswith(ROLE_ARN) for call in calls)
    assert {call["method"] for call in calls} == {"container-role"}
    assert signers_of_calls(world) == keys
    assert_renewed_without_codes(world, 4)


def test_javascript_sdk_as_the_command_renews(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = SHORT_ROLE
    calls = json_lines(exec_server(world, node(), str(JS_DIR / "renewals.mjs"), "2", str(PAUSE)))
    keys = [call["AccessKeyId"] for call in calls]
    assert len(set(keys)) == 2 and all(call["Arn"].startswith(ROLE_ARN) for call in calls)
    assert signers_of_calls(world) == keys
    assert_renewed_without_codes(world, 2)


def test_aws_cli_as_the_command_reads_the_server(primed: World) -> None:
    world = primed
    out = world.serve()
    arn = exec_server(world, *aws_cli_call(world), "--query", "Arn", "--output", "text")
    assert arn.startswith(ROLE_ARN) and arn.count("\n") == 1
    assert world.sts.actions() == ["GetCallerIdentity"]
    assert world.sts.signers == [out["AccessKeyId"]]  # the cached credentials, served


def test_tools_started_by_a_shell_script_share_the_server_across_a_renewal(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = SHORT_ROLE
    round_ = " && ".join(
        [
            f"{PYTHON} {SERVER_CMD} boto3 - 1 0",
            " ".join(aws_cli_call(world)) + " --output json | tr -d '\\n' && echo",
            f"{node()} {JS_DIR / 'renewals.mjs'} 1",
        ]
    )
    script = f"{round_} && sleep {PAUSE} && {round_}"
    calls = json_lines(exec_server(world, "sh", "-c", script))
    assert len(calls) == 6 and all(call["Arn"].startswith(ROLE_ARN) for call in calls)
    signers = signers_of_calls(world)
    assert len(signers) == 6
    for tool in range(3):  # each tool: before and after the renewal
        assert signers[tool] != signers[tool + 3]
    assert [calls[i]["AccessKeyId"] for i in (0, 2, 3, 5)] == [signers[i] for i in (0, 2, 3, 5)]
    assert_renewed_without_codes(world, 2)
