"""Every flow of SPEC section 3 (chains aside) and every failure, through the real program."""

from __future__ import annotations

import time

import pytest

from tests.conftest import BASE_KEY_ID, COUNTING, DEVICE, ROLE, World, section

ROLE_WITHOUT_MFA = section("r", role_arn=ROLE, source_profile="base")


def test_output_is_the_credential_process_format(world: World) -> None:
    world.standard_config()
    out = world.serve()
    assert set(out) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
        "AccountId",
    }
    assert out["Version"] == 1 and out["AccountId"] == "123456789012"
    expires = time.mktime(time.strptime(str(out["Expiration"]), "%Y-%m-%dT%H:%M:%SZ"))
    assert 3000 < expires - time.mktime(time.gmtime()) <= 3600


# never on a hit: the SDK, the prompt, the keystore, other commands' code, a second OpenSSL
NEVER_ON_A_HIT = (
    "boto3",
    "botocore",
    "awscrt",
    "_awscrt",
    "keyring",
    "jeepney",
    "platformdirs",
    "argparse",
    "dataclasses",
    "hashlib",
    "_hashlib",
    "webbrowser",
    "difflib",
)
NEVER_ON_A_HIT_MODULES = ("credproc.resolve", "credproc.prompt", "credproc.lock")
NEVER_ON_A_HIT_MODULES += ("credproc.vault", "credproc.keystore")
NEVER_ON_A_HIT_MODULES += ("credproc.console", "credproc.handoff", "credproc.adopt")
NEVER_ON_A_HIT_MODULES += ("credproc.server", "credproc.supervise", "http")
NEVER_ON_A_HIT_MODULES += ("credproc.commands", "credproc.clients", "credproc.args")
# nor, when the config is unchanged, the config, the plan or JSON (the shortcut's answer is
# not JSON inside, and the output line is written without the json module)
PLANNING = ("configparser", "credproc.config", "credproc.plan", "credproc.profiles", "json")


def heavy(imported: set[str], modules: tuple[str, ...]) -> set[str]:
    return {
        m
        for m in imported
        if m.split(".")[0] in NEVER_ON_A_HIT or m.startswith(NEVER_ON_A_HIT_MODULES + modules)
    }


def test_cache_hit_imports_neither_botocore_nor_the_prompt(world: World) -> None:
    world.standard_config()
    world.serve()
    imported = world.hit_imports()
    assert "credproc.shortcut" in imported
    assert heavy(imported, (*PLANNING, "credproc.checks")) == set()
    assert world.prompts() == 1 and world.sts.calls[-1]["Action"] == "AssumeRole"


def test_cache_hit_after_a_config_edit_plans_without_botocore_or_the_prompt(
    world: World,
) -> None:
    world.standard_config()
    world.serve()
    world.standard_config(section("added", region="eu-west-1"))
    imported = world.hit_imports()
    assert "credproc.plan" in imported and "configparser" in imported
    assert heavy(imported, ()) == set()
    assert world.prompts() == 1 and len(world.sts.calls) == 2


def test_the_sdk_profile_answers_with_the_credentials_of_the_profile_it_runs(
    world: World,
) -> None:
    """`credproc exec --profile prod` (or env, login, console) means prod-mfa's role."""
    world.standard_config()
    assert world.serve("prod") == world.serve("prod-mfa")
    assert world.prompts() == 1 and world.sts.actions() == ["GetSessionToken", "AssumeRole"]


def test_second_role_of_the_same_device_needs_no_new_code(world: World) -> None:
    world.standard_config(
        section(
            "other",
            role_arn="arn:aws:iam::123456789012:role/Other",
            source_profile="base",
            mfa_serial=DEVICE,
        )
    )
    world.serve("prod-mfa")
    other = world.serve("other")
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert "TokenCode" not in world.sts.calls[2]
    assert other["AccountId"] == "123456789012"


def test_no_mfa_session_assumes_the_role_with_the_code(world: World) -> None:
    world.standard_config(
        credproc_mfa_session="false",
        external_id="ext-1",
        role_session_name="alice",
        duration_seconds="7200",
    )
    world.serve()
    assert world.sts.actions() == ["AssumeRole"]
    call = world.sts.calls[0]
    assert call["SerialNumber"] == DEVICE and call["TokenCode"] == "100000"
    assert (call["ExternalId"], call["RoleSessionName"], call["DurationSeconds"]) == (
        "ext-1",
        "alice",
        "7200",
    )


def test_long_duration_role_is_assumed_directly_with_the_code(world: World) -> None:
    world.standard_config(duration_seconds="43200")
    out = world.serve()
    assert world.sts.actions() == ["AssumeRole"]
    assert world.sts.calls[0]["DurationSeconds"] == "43200" and world.sts.calls[0]["TokenCode"]
    assert out["AccountId"] == "123456789012"


def test_mfa_without_role_serves_the_mfa_session(world: World) -> None:
    world.credentials_file.write_text(world.credentials_file.read_text().replace("[base]", "[me]"))
    world.config(
        section(
            "me",
            mfa_serial=DEVICE,
            credproc_mfa_process=COUNTING,
            credproc_session_duration="7200",
        )
    )
    out = world.serve("me")
    assert world.sts.actions() == ["GetSessionToken"]
    assert world.sts.calls[0]["DurationSeconds"] == "7200"
    assert out["AccountId"] == "111111111111"
    assert world.serve("me") == out and world.prompts() == 1


def test_role_without_mfa_needs_no_code(world: World) -> None:
    world.config(ROLE_WITHOUT_MFA)
    world.serve("r")
    assert world.sts.actions() == ["AssumeRole"] and "TokenCode" not in world.sts.calls[0]
    assert world.prompts() == 0


def test_endpoint_url_in_the_profile_is_used(world: World) -> None:
    world.config(section("r", role_arn=ROLE, source_profile="base", endpoint_url=world.sts.url))
    world.serve("r", env={"AWS_ENDPOINT_URL_STS": ""})
    assert world.sts.actions() == ["AssumeRole"]


def test_global_endpoint_variable_is_used(world: World) -> None:
    world.config(ROLE_WITHOUT_MFA)
    world.serve("r", env={"AWS_ENDPOINT_URL_STS": "", "AWS_ENDPOINT_URL": world.sts.url})
    assert world.sts.actions() == ["AssumeRole"]


def test_login_renews_now_and_prints_expiry_without_secrets(world: World) -> None:
    world.standard_config()
    out = world.serve()
    done = world.run("login", "--profile", "prod-mfa")
    assert done.returncode == 0, done.stderr
    assert "credentials valid until" in done.stdout and "MFA session valid until" in done.stdout
    assert out["AccessKeyId"] not in done.stdout and str(out["SecretAccessKey"]) not in done.stdout
    assert world.prompts() == 2
    assert world.sts.actions().count("GetSessionToken") == 2
    assert world.serve() != out  # the renewed credentials are what is served now


def failure(world: World, profile: str = "prod-mfa", **kw: object) -> tuple[int, str]:
    done = world.run("--profile", profile, **kw)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("credproc: ") and lines[0].endswith(")"), lines[0]
    assert "Traceback" not in done.stderr and BASE_KEY_ID not in done.stderr
    return done.returncode, lines[0]


@pytest.mark.parametrize(
    "config, profile, code, words",
    [
        ("[profile a]\nregion = x\n", "nope", 3, "profile 'nope' is not in"),
        ("[profile a]\nrole_arn = {role}\nsource_profile = gone\n", "a", 3, "names no profile"),
        ("[profile a\nrole_arn = {role}\n", "a", 3, "cannot parse"),
        (
            "[profile a]\nrole_arn = arn:aws:iam::role/x\nsource_profile = base\n",
            "a",
            3,
            "is not a role ARN",
        ),
        (
            "[profile a]\nrole_arn = {role}\nsource_profile = base\nmfa_serial = {device}\n",
            "a",
            4,
            "credproc login --profile a",
        ),
    ],
)
def test_failures_are_one_line_with_a_fix_and_a_documented_exit_code(
    world: World, config: str, profile: str, code: int, words: str
) -> None:
    world.config(config)
    started = time.monotonic()
    returncode, line = failure(world, profile)
    assert returncode == code and words in line
    assert time.monotonic() - started < 5


def test_no_way_to_ask_names_login_and_mfa_process(world: World) -> None:
    world.standard_config(mfa_process=None)
    _, line = failure(world, "prod-mfa")
    assert "credproc login --profile prod-mfa" in line and "credproc_mfa_process" in line
    assert world.sts.calls == []


def test_access_denied_is_reported_with_the_role(world: World) -> None:
    world.standard_config()
    world.sts.faults.deny = "User is not authorized to perform: sts:AssumeRole"
    returncode, line = failure(world)
    assert returncode == 6 and "not authorized" in line


def test_unreachable_endpoint_names_it(world: World) -> None:
    world.standard_config()
    returncode, line = failure(world, env={"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"})
    assert returncode == 7 and "http://127.0.0.1:9" in line


def test_usage_error_is_one_line_with_exit_code_2(world: World) -> None:
    done = world.run("--profile")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("credproc: ")
