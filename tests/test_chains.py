"""Issue 3: the profiles people already have: chains, every source, loops, refresh rules."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import pytest

from tests.conftest import COUNTING, CREDPROC, DEVICE, ROLE, World, section
from tests.fake_sources import ECS_KEY, IMDS_KEY, SSO_KEY, TOKEN, FakeSources

MFA = {"mfa_serial": DEVICE, "credproc_mfa_process": COUNTING}


@pytest.fixture(scope="module")
def sources() -> Iterator[FakeSources]:
    fake = FakeSources()
    yield fake
    fake.stop()


def chain(depth: int, mfa_hop: int = 1) -> str:
    """Profiles hop1..hopN, hop1 sourced from base; hop number `mfa_hop` names the device."""
    return "".join(
        section(
            f"hop{hop}",
            role_arn=f"arn:aws:iam::123456789012:role/R{hop}",
            source_profile="base" if hop == 1 else f"hop{hop - 1}",
            **(MFA if hop == mfa_hop else {}),
        )
        for hop in range(1, depth + 1)
    )


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_chain_asks_once_and_caps_chained_hops_at_an_hour(world: World, depth: int) -> None:
    world.config(
        chain(depth), section("app", credential_process=f"{{credproc}} --profile hop{depth}")
    )
    arn = world.boto3("app")["Arn"]
    assert arn.startswith(f"arn:aws:sts::123456789012:assumed-role/R{depth}/")
    assert world.sts.actions()[:-1] == ["GetSessionToken"] + ["AssumeRole"] * depth
    roles = [c for c in world.sts.calls if c["Action"] == "AssumeRole"]
    assert [c["RoleArn"].rsplit("/", 1)[1] for c in roles] == [f"R{i}" for i in range(1, depth + 1)]
    assert all(int(c["DurationSeconds"]) <= 3600 and "TokenCode" not in c for c in roles)
    assert world.prompts() == 1
    world.sts.reset()
    assert world.boto3("app")["Arn"] == arn
    assert world.sts.actions() == ["GetCallerIdentity"]


def test_mfa_on_an_inner_hop_is_sent_with_that_hops_assume_role(world: World) -> None:
    world.config(chain(2, mfa_hop=2))
    done = world.run("--profile", "hop2", "-v")
    assert done.returncode == 0, done.stderr
    assert world.sts.actions() == ["AssumeRole", "AssumeRole"]
    first, second = world.sts.calls
    assert "TokenCode" not in first and second["TokenCode"] and second["RoleArn"].endswith("/R2")
    assert "temporary credentials, which cannot call GetSessionToken" in done.stderr


def test_static_session_token_source_assumes_with_the_code_directly(world: World) -> None:
    world.credentials_file.write_text(
        "[base]\naws_access_key_id = ASIAQQQQTEMPSOURCE01\n"
        "aws_secret_access_key = s\naws_session_token = t\n"
    )
    world.config(chain(1))
    world.serve("hop1")
    assert world.sts.actions() == ["AssumeRole"] and world.sts.calls[0]["TokenCode"]


def test_static_keys_in_the_config_file_are_a_source(world: World) -> None:
    world.credentials_file.write_text("")
    world.config(
        section("base", aws_access_key_id="AKIAQQQQCONFIGFILE01", aws_secret_access_key="s"),
        chain(1),
    )
    world.serve("hop1")
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]


@pytest.mark.parametrize(
    "token, flow", [("", ["GetSessionToken", "AssumeRole"]), ("t", ["AssumeRole"])]
)
def test_environment_source(world: World, token: str, flow: list[str]) -> None:
    world.config(section("e", role_arn=ROLE, credential_source="Environment", **MFA))
    env = {"AWS_ACCESS_KEY_ID": "AKIAQQQQENVSOURCE001", "AWS_SECRET_ACCESS_KEY": "s"}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    world.serve("e", env=env)
    assert world.sts.actions() == flow


def test_source_profile_with_its_own_credential_process(world: World) -> None:
    printer = world.root / "source.json"
    printer.write_text(
        json.dumps(
            {
                "Version": 1,
                "AccessKeyId": "ASIAQQQQPROCSOURCE01",
                "SecretAccessKey": "s",
                "SessionToken": "t",
            }
        )
    )
    world.credentials_file.write_text("")
    world.config(section("base", credential_process=f"cat {printer}"), chain(1))
    done = world.run("--profile", "hop1", "-v")
    assert done.returncode == 0, done.stderr
    assert world.sts.actions() == ["AssumeRole"] and world.sts.calls[0]["TokenCode"]
    assert world.sts.signers[0] == "ASIAQQQQPROCSOURCE01"


def test_ecs_container_source(world: World, sources: FakeSources) -> None:
    world.config(section("c", role_arn=ROLE, credential_source="EcsContainer"))
    world.serve("c", env={"AWS_CONTAINER_CREDENTIALS_FULL_URI": sources.url + "/ecs-credentials"})
    assert world.sts.actions() == ["AssumeRole"]
    assert ECS_KEY in world.sts.signers[0]


def test_instance_metadata_source(world: World, sources: FakeSources) -> None:
    world.config(section("i", role_arn=ROLE, credential_source="Ec2InstanceMetadata"))
    world.serve(
        "i",
        env={
            "AWS_EC2_METADATA_DISABLED": "false",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": sources.url + "/",
        },
    )
    assert world.sts.actions() == ["AssumeRole"]
    assert IMDS_KEY in world.sts.signers[0]


def sso_world(world: World, sources: FakeSources, expires_in: float) -> None:
    cache = world.home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    name = hashlib.sha1(b"my-sso").hexdigest()
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in))
    (cache / f"{name}.json").write_text(
        json.dumps(
            {
                "startUrl": "https://example.awsapps.com/start",
                "region": "us-east-1",
                "accessToken": TOKEN,
                "expiresAt": expires,
            }
        )
    )
    world.config(
        "[sso-session my-sso]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
        + section(
            "sso", sso_session="my-sso", sso_account_id="123456789012", sso_role_name="Reader"
        )
        + section("admin", role_arn=ROLE, source_profile="sso", **MFA)
    )
    world.env["AWS_ENDPOINT_URL_SSO"] = sources.url


def test_sso_source_uses_the_token_cache_of_aws_sso_login(
    world: World, sources: FakeSources
) -> None:
    sso_world(world, sources, 3600)
    world.serve("admin")
    assert world.sts.actions() == ["AssumeRole"] and world.sts.calls[0]["TokenCode"]
    assert SSO_KEY in world.sts.signers[0]


def test_expired_sso_login_names_aws_sso_login(world: World, sources: FakeSources) -> None:
    sso_world(world, sources, -60)
    done = world.run("--profile", "admin")
    assert done.returncode == 6 and done.stdout == ""
    assert done.stderr.strip().endswith("(run `aws sso login --profile sso`)")
    assert world.prompts() == 0


def test_credproc_calling_itself_through_a_source_is_stopped(world: World) -> None:
    world.config(
        section("a", role_arn=ROLE, source_profile="b"),
        section("b", credential_process="{credproc} --profile a"),
    )
    started = time.monotonic()
    done = world.run("--profile", "a")
    assert done.returncode != 0 and done.stdout == ""
    assert "credproc calls itself in a loop: a -> a" in done.stderr
    assert time.monotonic() - started < 10


def test_role_credentials_are_renewed_from_the_mfa_session_without_a_code(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = {"AssumeRole": 15 * 60}  # below the 16 minutes served from cache
    first = world.serve()
    second = world.serve()
    assert first["AccessKeyId"] != second["AccessKeyId"]
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert world.prompts() == 1


def cached_then_no_way_to_ask(world: World, role_minutes: int) -> dict[str, object]:
    """Role credentials cached with `role_minutes` left, an MFA session about to end, and
    the same profile without credproc_mfa_process: renewing needs a code nobody can give."""
    world.standard_config()
    world.sts.faults.lifetime = {"GetSessionToken": 3 * 60, "AssumeRole": role_minutes * 60}
    first = world.serve()
    world.standard_config(mfa_process=None)
    return first


def test_no_prompt_possible_serves_credentials_with_more_than_11_minutes(world: World) -> None:
    first = cached_then_no_way_to_ask(world, 13)
    quiet = world.serve()
    assert quiet == first
    verbose = world.run("--profile", "prod-mfa", "-v")
    assert "serving cached credentials with 13 min left" in verbose.stderr
    assert world.prompts() == 1


def test_no_prompt_possible_and_under_11_minutes_names_login(world: World) -> None:
    cached_then_no_way_to_ask(world, 10)
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 4 and "credproc login --profile prod-mfa" in done.stderr


def test_partitions_pick_their_own_sts(world: World) -> None:
    world.config(
        section("cn", role_arn="arn:aws-cn:iam::123456789012:role/R", source_profile="base"),
        section("gov", role_arn="arn:aws-us-gov:iam::123456789012:role/R", source_profile="base"),
        section(
            "fips",
            role_arn=ROLE,
            source_profile="base",
            region="us-west-2",
            use_fips_endpoint="true",
        ),
        section("legacy", role_arn=ROLE, source_profile="base", sts_regional_endpoints="legacy"),
    )
    expected = {
        "cn": "https://sts.cn-north-1.amazonaws.com.cn",
        "gov": "https://sts.us-gov-west-1.amazonaws.com",
        "fips": "https://sts-fips.us-west-2.amazonaws.com",
        "legacy": "https://sts.amazonaws.com",
    }
    for profile, endpoint in expected.items():
        done = world.run("--profile", profile, "-v", env={"AWS_ENDPOINT_URL_STS": ""}, timeout=60)
        assert done.returncode == 7, done.stderr
        assert f"via {endpoint}" in done.stderr
        assert f"cannot reach STS at {endpoint}" in done.stderr


def test_check_explains_the_chain_and_names_a_profile_sdks_take_over(world: World) -> None:
    world.config(
        chain(2),
        section(
            "app",
            credential_process="{credproc} --profile hop2",
            role_arn=ROLE,
            source_profile="base",
        ),
    )
    done = world.run("check", "--profile", "hop2")
    assert done.returncode == 3
    assert "step 1: GetSessionToken" in done.stdout and "step 3: AssumeRole" in done.stdout
    assert "profile app has role_arn, so every SDK assumes the role itself" in done.stdout
    assert CREDPROC not in done.stderr


@pytest.mark.parametrize(
    "command, words",
    [
        ("/nonexistent/helper", "cannot get the credentials of profile base"),
        ("echo not-json", "cannot get the credentials of profile base"),
        ("sh -c 'printf \"\\377\\376\" >&2; exit 1'", "cannot get the credentials of profile base"),
    ],
)
def test_a_failing_source_process_is_one_line_not_a_crash(
    world: World, command: str, words: str
) -> None:
    world.credentials_file.write_text("")
    world.config(section("base", credential_process=command), chain(1))
    done = world.run("--profile", "hop1")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert world.prompts() == 0


def test_unreachable_sso_portal_is_reported_as_unreachable(
    world: World, sources: FakeSources
) -> None:
    sso_world(world, sources, 3600)
    world.env["AWS_ENDPOINT_URL_SSO"] = "http://127.0.0.1:9"
    done = world.run("--profile", "admin")
    assert done.returncode == 7, done.stderr
    assert "cannot reach the credential source of profile sso" in done.stderr


def test_sts_failing_serves_cached_credentials_with_more_than_11_minutes(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = {"AssumeRole": 13 * 60}
    first = world.serve()
    world.sts.faults.server_errors = 100  # STS answers 500 to every attempt from now on
    assert world.serve() == first
    verbose = world.run("--profile", "prod-mfa", "-v")
    assert f"STS at {world.sts.url} failed AssumeRole" in verbose.stderr
    assert "serving cached credentials with 13 min left" in verbose.stderr


def test_login_never_settles_for_old_credentials(world: World) -> None:
    cached_then_no_way_to_ask(world, 13)
    done = world.run("login", "--profile", "prod-mfa")
    assert done.returncode == 4 and "no terminal to ask in" in done.stderr


def test_web_identity_source(world: World) -> None:
    token = world.root / "token"
    token.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.")
    world.config(
        section(
            "wi",
            role_arn="arn:aws:iam::123456789012:role/Web",
            web_identity_token_file=str(token),
        ),
        section("admin", role_arn=ROLE, source_profile="wi", **MFA),
    )
    world.serve("admin")
    assert world.sts.actions() == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    assert world.sts.calls[1]["TokenCode"] and world.prompts() == 1


def test_a_revoked_mfa_session_is_dropped_and_obtained_again(world: World) -> None:
    world.standard_config()
    world.sts.faults.lifetime = {"AssumeRole": 15 * 60}  # renewed from the session every call
    world.serve()
    world.sts.calls.clear()
    world.sts.faults.revoked_sessions = 1  # AWS no longer takes the cached MFA session
    done = world.run("--profile", "prod-mfa", "-v")
    assert done.returncode == 0, done.stderr
    assert "dropping the cached session" in done.stderr
    assert world.sts.actions() == ["AssumeRole", "GetSessionToken", "AssumeRole"]
    assert world.prompts() == 2
