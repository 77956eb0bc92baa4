"""The command set around the protocol: status, clear, env, exec, check, --version."""

from __future__ import annotations

import json
import re
import resource
import subprocess

import botocore
import cryptography

from credproc import __version__
from tests.conftest import PROD_MFA, PYTHON, ROLE, World, section


def allow_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, resource.RLIM_INFINITY))


def test_version(world: World) -> None:
    done = world.run("--version")
    inside = f"botocore {botocore.__version__}, cryptography {cryptography.__version__}"
    assert (done.returncode, done.stdout.strip()) == (0, f"credproc {__version__} ({inside})")


def test_status_lists_entries_without_secrets(world: World) -> None:
    world.standard_config()  # minted now: the role has 0h59m left
    out = world.serve()
    human = world.run("status")
    assert human.returncode == 0
    # the primed role entry was minted when the session's first test needed it: under an hour
    assert re.search(
        r"^prod-mfa +role +arn:aws:iam::123456789012:role/Admin  expires in 0h[0-5]\dm$",
        human.stdout,
        re.M,
    )
    assert re.search(
        r"^prod-mfa +session +arn:aws:iam::111111111111:mfa/alice  expires in 1[01]h",
        human.stdout,
        re.M,
    )
    rows = json.loads(world.run("status", "--json").stdout)
    assert sorted(r["kind"] for r in rows) == ["role", "session"]
    assert all(0 < r["expires_in_seconds"] <= 43200 for r in rows)
    for secret in (out["AccessKeyId"], out["SecretAccessKey"], out["SessionToken"]):
        assert str(secret) not in human.stdout + json.dumps(rows)


def test_clear_profile_forces_a_new_code(primed: World) -> None:
    world = primed
    world.serve()
    done = world.run("clear", "--profile", "prod-mfa")
    assert done.returncode == 0 and "removed 2 cached entries" in done.stdout
    world.serve()
    assert world.prompts() == 2


def test_clear_all_empties_the_cache(primed: World) -> None:
    world = primed
    world.serve()
    assert world.run("clear", "--all").returncode == 0
    assert json.loads(world.run("status", "--json").stdout) == []


def test_clear_needs_a_target(world: World) -> None:
    done = world.run("clear")
    assert done.returncode == 2 and "--profile P or --all" in done.stderr


def test_env_formats(primed: World) -> None:
    world = primed
    out = world.serve()
    sh = world.run("env", "--profile", "prod-mfa").stdout
    assert f"export AWS_ACCESS_KEY_ID='{out['AccessKeyId']}'" in sh
    as_json = json.loads(world.run("env", "--profile", "prod-mfa", "--format", "json").stdout)
    assert as_json["AWS_SESSION_TOKEN"] == out["SessionToken"]
    assert as_json["AWS_CREDENTIAL_EXPIRATION"] == out["Expiration"]
    fish = world.run("env", "--profile", "prod-mfa", "--format", "fish").stdout
    assert fish.startswith("set -gx AWS_ACCESS_KEY_ID ")
    ps = world.run("env", "--profile", "prod-mfa", "--format", "powershell").stdout
    assert ps.startswith("$Env:AWS_ACCESS_KEY_ID = '")
    dotenv = world.run("env", "--profile", "prod-mfa", "--format", "dotenv").stdout
    assert f"AWS_SECRET_ACCESS_KEY={out['SecretAccessKey']}" in dotenv
    # what sh prints, sh reads back exactly
    echoed = subprocess.run(
        ["sh", "-c", sh + '\nprintf %s "$AWS_SESSION_TOKEN"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert echoed.stdout == out["SessionToken"]


def test_exec_runs_the_command_with_the_credentials_and_its_exit_code(primed: World) -> None:
    world = primed
    out = world.serve()
    script = (
        "import os, sys; print(os.environ['AWS_ACCESS_KEY_ID']); "
        "print(os.environ.get('AWS_PROFILE')); sys.exit(3)"
    )
    done = world.run(
        "exec", "--profile", "prod-mfa", "--", PYTHON, "-c", script, env={"AWS_PROFILE": "prod"}
    )
    assert done.returncode == 3
    assert done.stdout.splitlines() == [out["AccessKeyId"], "None"]


def test_exec_without_a_command_is_a_usage_error(world: World) -> None:
    world.standard_config()
    done = world.run("exec", "--profile", "prod-mfa", "--")
    assert done.returncode == 2 and "exec needs a command" in done.stderr


def test_check_of_a_sound_profile(world: World) -> None:
    world.standard_config()
    done = world.run("check", "--profile", "prod-mfa")
    assert done.returncode == 0, done.stdout
    assert "step 1: GetSessionToken (43200 s, MFA code for" in done.stdout
    assert "MFA code asked via: process" in done.stdout and "no problems found" in done.stdout
    assert world.sts.calls == []


def test_check_reports_a_bad_prompt_setting_as_a_problem(world: World) -> None:
    world.standard_config()
    done = world.run("check", "--profile", "prod-mfa", env={"CREDPROC_PROMPT": "bogus"})
    assert done.returncode == 3 and "step 2: AssumeRole" in done.stdout
    assert "problem: CREDPROC_PROMPT=bogus is not known" in done.stdout


def test_check_reports_a_config_error_as_a_problem(world: World) -> None:
    world.config(section("a", role_arn=ROLE, source_profile="nope"))
    done = world.run("check", "--profile", "a")
    assert done.returncode == 3 and "problem: " in done.stdout and "names no profile" in done.stdout


def test_credproc_and_its_mfa_program_never_dump_core_but_exec_keeps_the_users_limit(
    world: World,
) -> None:
    probe = world.root / "limits.py"
    probe.write_text(
        "import resource, sys\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE)[0], file=open(sys.argv[1], 'w'))\n"
        "print('123456')\n"
    )
    seen = world.root / "seen"
    world.config(section("p", **PROD_MFA, credproc_mfa_process=f"{PYTHON} {probe} {seen}"))
    world.serve("p", preexec_fn=allow_core_dumps)
    assert seen.read_text().strip() == "0"
    show = "import resource; print(resource.getrlimit(resource.RLIMIT_CORE)[0])"
    done = world.run(
        "exec", "--profile", "p", "--", PYTHON, "-c", show, preexec_fn=allow_core_dumps
    )
    assert done.stdout.strip() == str(1 << 20)


def test_exec_children_can_run_credproc_for_the_same_profile(world: World) -> None:
    world.config(
        section("envrole", role_arn=ROLE, credential_source="Environment"),
        section("tool", credential_process="{credproc} --profile envrole"),
    )
    source_keys = {"AWS_ACCESS_KEY_ID": "AKIAQQQQENVSOURCE001", "AWS_SECRET_ACCESS_KEY": "s"}
    nested = (
        "import boto3; s = boto3.Session(profile_name='tool'); "
        "print(s.get_credentials().get_frozen_credentials().access_key)"
    )
    # the child's own AWS_* variables would win over its profile; run it with the profile only
    done = world.run(
        "exec",
        "--profile",
        "envrole",
        "--",
        "env",
        "-u",
        "AWS_ACCESS_KEY_ID",
        "-u",
        "AWS_SECRET_ACCESS_KEY",
        "-u",
        "AWS_SESSION_TOKEN",
        f"AWS_ACCESS_KEY_ID={source_keys['AWS_ACCESS_KEY_ID']}",
        "AWS_SECRET_ACCESS_KEY=s",
        PYTHON,
        "-c",
        nested,
        env=source_keys,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("ASIA")


def test_a_bad_endpoint_port_is_a_configuration_error(world: World) -> None:
    world.config(section("r", role_arn=ROLE, source_profile="base"))
    done = world.run("--profile", "r", env={"AWS_ENDPOINT_URL_STS": "http://localhost:99999"})
    assert done.returncode == 3 and "has a bad port" in done.stderr
    assert done.stderr.count("\n") == 1
