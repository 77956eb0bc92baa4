"""Config reading and planning: what credproc would do for a profile, without any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from credproc import checks, config, plan
from credproc.errors import ConfigError

KEYS = "aws_access_key_id = AKIAUNITTEST00000001\naws_secret_access_key = s\n"
ROLE = "arn:aws:iam::123456789012:role/Admin"
DEVICE = "arn:aws:iam::111111111111:mfa/alice"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cfg, creds = tmp_path / "config", tmp_path / "credentials"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for var in (
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ):
        monkeypatch.delenv(var, raising=False)
    creds.write_text(f"[base]\n{KEYS}")
    return cfg, creds


def build(cfg: Path, text: str, name: str = "p") -> plan.Plan:
    cfg.write_text(text)
    return plan.build(config.load(), name)


def error(cfg: Path, text: str, name: str = "p") -> str:
    with pytest.raises(ConfigError) as caught:
        build(cfg, text, name)
    return caught.value.line()


def test_credentials_file_values_win_over_config_file(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    cfg.write_text("[profile base]\nregion = eu-west-1\naws_access_key_id = FROMCONFIG\n")
    profile = config.load().profile("base")
    assert profile.get("aws_access_key_id") == "AKIAUNITTEST00000001"
    assert profile.get("region") == "eu-west-1"


def test_default_section_and_sections_that_are_not_profiles(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    cfg.write_text("[default]\nregion = x\n[sso-session s]\nsso_region = y\n[services s]\n")
    assert set(config.load().profiles) == {"default", "base"}


def test_role_with_mfa_and_long_term_keys_uses_an_mfa_session(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    p = build(
        cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {DEVICE}\n"
    )
    assert [s.kind for s in p.steps] == ["session", "role"]
    session, role = p.steps
    assert session.mfa_serial == DEVICE and session.duration == 43200
    assert role.mfa_serial == "" and role.duration == 3600
    assert p.source.long_term and p.source.kind == "static"


def test_two_roles_of_one_device_share_the_mfa_session(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    text = "".join(
        f"[profile {n}]\nrole_arn = arn:aws:iam::123456789012:role/{n}\nsource_profile = base\n"
        f"mfa_serial = {DEVICE}\n"
        for n in ("a", "b")
    )
    a, b = build(cfg, text, "a"), build(cfg, text, "b")
    assert a.steps[0].identity == b.steps[0].identity
    assert a.target.identity != b.target.identity


def test_long_duration_or_no_session_means_assume_role_with_the_code(
    files: tuple[Path, Path],
) -> None:
    cfg, _ = files
    base = f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {DEVICE}\n"
    for extra in ("duration_seconds = 7200\n", "credproc_mfa_session = false\n"):
        p = build(cfg, base + extra)
        assert [s.kind for s in p.steps] == ["role"]
        assert p.target.mfa_serial == DEVICE
    assert build(cfg, base + "duration_seconds = 7200\n").target.duration == 7200


def test_mfa_without_role_is_the_session_itself(files: tuple[Path, Path]) -> None:
    cfg, creds = files
    creds.write_text(f"[p]\n{KEYS}")
    p = build(cfg, f"[profile p]\nmfa_serial = {DEVICE}\ncredproc_session_duration = 3600\n")
    assert [(s.kind, s.duration) for s in p.steps] == [("session", 3600)]


def test_role_without_mfa_is_one_assume_role(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    p = build(
        cfg,
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\nexternal_id = xid\n"
        "role_session_name = me\n",
    )
    assert [(s.kind, s.mfa_serial, s.external_id, s.session_name) for s in p.steps] == [
        ("role", "", "xid", "me")
    ]


def test_chain_asks_for_mfa_at_the_hop_that_names_it_and_caps_chained_hops(
    files: tuple[Path, Path],
) -> None:
    cfg, _ = files
    p = build(
        cfg,
        f"[profile mid]\nrole_arn = arn:aws:iam::123456789012:role/Mid\n"
        f"source_profile = base\nmfa_serial = {DEVICE}\n"
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = mid\nduration_seconds = 7200\n",
    )
    assert [(s.kind, s.profile, bool(s.mfa_serial), s.duration) for s in p.steps] == [
        ("session", "mid", True, 43200),
        ("role", "mid", False, 3600),
        ("role", "p", False, 3600),
    ]


def test_temporary_source_assumes_the_role_with_the_code_directly(files: tuple[Path, Path]) -> None:
    cfg, creds = files
    creds.write_text(f"[base]\n{KEYS}aws_session_token = t\n")
    p = build(
        cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {DEVICE}\n"
    )
    assert [(s.kind, s.mfa_serial) for s in p.steps] == [("role", DEVICE)]
    assert not p.source.long_term


def test_settings_come_from_the_first_profile_up_the_chain(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    p = build(
        cfg,
        "[profile base]\ncredproc_mfa_process = ykman oath accounts code\n"
        "credproc_prompt = tty\n"
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\ncredproc_prompt = process\n",
    )
    assert p.settings.mfa_process == "ykman oath accounts code"
    assert p.settings.prompt == "process"


def test_a_config_change_is_a_new_entry(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    base = f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\n"
    first = build(cfg, base).target.identity
    assert build(cfg, base + "external_id = other\n").target.identity != first
    assert build(cfg, base + "region = eu-west-1\n").target.identity == first


def test_endpoint_and_region_follow_environment_then_profiles(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _ = files
    text = (
        f"[profile base]\nregion = eu-west-1\n[profile p]\nrole_arn = {ROLE}\n"
        "source_profile = base\nendpoint_url = http://config.example\n"
    )
    assert build(cfg, text).target[7:9] == ("http://config.example", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://global.example")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert build(cfg, text).target[7:9] == ("http://global.example", "ap-south-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://sts.example")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert build(cfg, text).target[7:9] == ("http://sts.example", "us-west-2")


@pytest.mark.parametrize(
    "partition, region",
    [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1"), ("aws", "us-east-1")],
)
def test_partition_of_the_role_picks_the_default_region(
    files: tuple[Path, Path], partition: str, region: str
) -> None:
    cfg, _ = files
    p = build(
        cfg,
        f"[profile p]\nrole_arn = arn:{partition}:iam::123456789012:role/R\n"
        "source_profile = base\n",
    )
    assert p.target.region == region


def test_self_referencing_source_profile_uses_its_own_keys(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    p = build(cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = p\n{KEYS}")
    assert p.source.kind == "static" and p.source.profile == "p"


def test_loop_is_reported_with_its_path(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    line = error(
        cfg,
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = q\n"
        f"[profile q]\nrole_arn = {ROLE}\nsource_profile = p\n",
    )
    assert "source_profile loop: p -> q -> p" in line


def test_chain_deeper_than_eight_hops_is_refused(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    text = (
        "".join(f"[profile h{i}]\nrole_arn = {ROLE}\nsource_profile = h{i + 1}\n" for i in range(9))
        + f"[profile h9]\nrole_arn = {ROLE}\nsource_profile = base\n"
    )
    assert "deeper than 8" in error(cfg, text, "h0")
    assert len(build(cfg, text, "h2").steps) == 8


R = f"role_arn = {ROLE}\nsource_profile = base\n"  # a sound role, for one bad key more


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "role_arn = arn:aws:iam::12:role/x\nsource_profile = base\n",
            "role_arn = arn:aws:iam::12:role/x is not a role ARN",
        ),
        (
            R + "mfa_serial = arn:aws:iam::1:mfa/x\n",
            "mfa_serial = arn:aws:iam::1:mfa/x is not an MFA device",
        ),
        (
            R + "duration_seconds = 100\n",
            "duration_seconds = 100 is not a whole number from 900 to 43200",
        ),
        (
            R + "duration_seconds = 50000\n",
            "duration_seconds = 50000 is not a whole number from 900 to 43200",
        ),
        (
            R + "credproc_session_duration = 200000\n",
            "credproc_session_duration = 200000 is not a whole number from 900 to 129600",
        ),
        (R + "credproc_promt = tty\n", "credproc_promt is not a credproc setting"),
        (
            R + "credential_source = Environment\n",
            "source_profile and credential_source are both set",
        ),
        (
            f"role_arn = {ROLE}\ncredential_source = Laptop\n",
            "credential_source = Laptop is not known",
        ),
        (
            f"role_arn = {ROLE}\nsource_profile = nowhere\n",
            "source_profile = nowhere names no profile",
        ),
        (f"role_arn = {ROLE}\n", "role_arn is set without source_profile or credential_source"),
        (
            "region = x\n",
            "has neither role_arn nor mfa_serial: there is nothing for credproc to do",
        ),
        (R + "credproc_prompt = loud\n", "credproc_prompt = loud is not known"),
        (R + "external_id = x\n", "external_id is not 2 to 1224 letters, digits or +=,.@:/-"),
        (R + "credproc_mfa_session = maybe\n", "credproc_mfa_session = maybe is not true or false"),
    ],
)
def test_config_errors_quote_file_profile_and_key(
    files: tuple[Path, Path], text: str, expected: str
) -> None:
    cfg, _ = files
    line = error(cfg, "[profile p]\n" + text)
    assert line.startswith(f"credproc: {cfg}: profile 'p': {expected} (")
    assert line.endswith(")")  # every error says how to fix it


def test_unknown_setting_lists_the_known_ones(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    line = error(cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\ncredproc_x = 1\n")
    assert all(key in line for key in checks.SETTING_KEYS)


def test_malformed_file_is_a_config_error_naming_the_file(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    cfg.write_text("[profile p\nrole_arn = x\n")
    with pytest.raises(ConfigError) as caught:
        config.load()
    assert str(cfg) in caught.value.line() and "INI syntax" in caught.value.line()


def test_unknown_profile_names_both_files(files: tuple[Path, Path]) -> None:
    cfg, creds = files
    line = error(cfg, "", "nope")
    assert str(cfg) in line and str(creds) in line


def test_a_source_profiles_own_keys_win_over_its_role_as_in_botocore(
    files: tuple[Path, Path],
) -> None:
    cfg, creds = files
    creds.write_text(f"[base]\n{KEYS}")
    p = build(
        cfg,
        "[profile base]\nrole_arn = arn:aws:iam::123456789012:role/BaseRole\n"
        "source_profile = base\n"
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\nduration_seconds = 7200\n",
    )
    assert [(s.kind, s.role_arn, s.duration) for s in p.steps] == [("role", ROLE, 7200)]
    assert p.source.kind == "static" and p.source.long_term


def test_web_identity_profile_is_a_source_not_a_hop(files: tuple[Path, Path]) -> None:
    cfg, _ = files
    p = build(
        cfg,
        "[profile wi]\nrole_arn = arn:aws:iam::123456789012:role/Web\n"
        "web_identity_token_file = /var/run/token\n"
        f"[profile p]\nrole_arn = {ROLE}\nsource_profile = wi\nmfa_serial = {DEVICE}\n",
    )
    assert p.source.kind == "web-identity" and not p.source.long_term
    assert [(s.kind, s.mfa_serial) for s in p.steps] == [("role", DEVICE)]


@pytest.mark.parametrize("key", ["duration_seconds", "credproc_session_duration"])
def test_durations_too_short_to_be_served_from_the_cache_are_refused(
    files: tuple[Path, Path], key: str
) -> None:
    cfg, _ = files
    line = error(cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\n{key} = 900\n")
    assert f"{key} = 900 is too short to cache" in line and f"set {key} to 1200 or more" in line
    build(cfg, f"[profile p]\nrole_arn = {ROLE}\nsource_profile = base\n{key} = 1200\n")


def test_the_sdk_profile_of_the_layout_is_resolved_as_the_profile_it_runs_credproc_for(
    files: tuple[Path, Path],
) -> None:
    cfg, _ = files
    text = (
        f"[profile prod-mfa]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {DEVICE}\n"
        "[profile prod]\ncredential_process = /opt/credproc.pyz -v --profile prod-mfa\n"
        "[profile loop]\ncredential_process = credproc --profile loop\n"
        "[profile taken]\ncredential_process = credproc --profile prod-mfa\n"
        f"role_arn = {ROLE}\nsource_profile = base\n"
    )
    prod, prod_mfa = build(cfg, text, "prod"), build(cfg, text, "prod-mfa")
    assert prod == prod_mfa and prod.profile == "prod-mfa"
    assert "has neither role_arn nor mfa_serial" in error(cfg, text, "loop")  # not followed
    assert build(cfg, text, "taken").steps[0].mfa_serial == ""  # its own role: SDKs' too
