"""credproc as the credential_process of real boto3, against moto's STS over HTTP."""

from __future__ import annotations

from tests.conftest import ROLE, World


def test_first_call_prompts_once_and_second_call_is_a_cache_hit(world: World) -> None:
    world.standard_config()
    first = world.boto3()
    assert first["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    session, role = world.sts.calls[0], world.sts.calls[1]
    assert session["SerialNumber"].endswith("mfa/alice") and session["TokenCode"] == "100000"
    assert role["RoleArn"] == ROLE and "TokenCode" not in role
    assert role["DurationSeconds"] == "3600"
    world.sts.reset()
    second = world.boto3()
    assert second["AccessKeyId"] == first["AccessKeyId"]
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetCallerIdentity"]
