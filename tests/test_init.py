"""`credproc init PROFILE`: a role profile adopted into SPEC section 2's layout, byte for byte,
then read back by botocore's own loader and used by boto3 through credproc against moto."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import botocore.session
import pytest

from tests.conftest import BIN, CREDPROC, DEVICE, PROD_MFA, ROLE, World, section

# the lines above the change, the same before and after
ABOVE = (
    "# my AWS config\n"
    "[default]\n"
    "region = us-east-1\n"
    "\n"
    "[profile base]\n"
    "region = us-east-1\n"
    "credproc_mfa_process = {mfa_process}\n"
    "\n"
    "# production: be careful\n"
    "[profile prod]\n"
    "region=eu-west-1\n"
)
# a person's file: comments, odd spacing, other profiles, an sso-session, keys in odd order
BEFORE = ABOVE + (
    f"role_arn = {ROLE}\n"
    "; the long-term keys\n"
    "source_profile = base\n"
    "output   = json\n"
    f"mfa_serial = {DEVICE}\n"
    "credproc_prompt = process\n"
    "duration_seconds = 3600\n"
    "\n"
    "[sso-session corp]\n"
    "sso_region = eu-west-1\n"
)
AFTER = ABOVE + (
    "; the long-term keys\n"
    "output   = json\n"
    "credential_process = credproc --profile prod-mfa\n"
    "\n"
    "[profile prod-mfa]\n"
    f"role_arn = {ROLE}\n"
    "source_profile = base\n"
    f"mfa_serial = {DEVICE}\n"
    "credproc_prompt = process\n"
    "duration_seconds = 3600\n"
    "region = eu-west-1\n"  # copied: STS in the region the SDK used for AssumeRole
    "\n"
    "[sso-session corp]\n"
    "sso_region = eu-west-1\n"
)
HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_diff(original: str, diff: str) -> str:
    """`diff` (unified, as diff(1) writes it) applied to `original`, every context line checked."""
    old, lines = original.splitlines(keepends=True), diff.splitlines(keepends=True)
    assert lines[0].startswith("--- ") and lines[1].startswith("+++ ")
    out: list[str] = []
    at, n = 0, 2
    while n < len(lines) and (match := HUNK.match(lines[n])):
        start, length = int(match.group(1)), int(match.group(2) or 1)
        new_length = int(match.group(4) or 1)
        begin = start - 1 if length else start
        out += old[at:begin]
        at, n = begin, n + 1
        seen_old = seen_new = 0
        while seen_old < length or seen_new < new_length:
            line = lines[n]
            text = line[1:]
            if n + 1 < len(lines) and lines[n + 1].startswith("\\"):
                text, n = text[:-1], n + 1  # no newline at the end of the file
            n += 1
            if line[0] in " -":
                assert old[at] == text, (old[at], text)
                at, seen_old = at + 1, seen_old + 1
            if line[0] in " +":
                out.append(text)
                seen_new += 1
    return "".join(out + old[at:])


def shown(world: World, *args: str, env: dict[str, str] | None = None) -> str:
    done = world.run("init", *args, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_init_shows_the_change_as_a_diff_and_changes_nothing(world: World) -> None:
    world.config(BEFORE)
    before = world.config_file.read_bytes()
    out = shown(world, "prod")
    assert out.endswith("# to make this change: credproc init prod --write\n")
    assert world.config_file.read_bytes() == before
    assert apply_diff(before.decode(), out) == world_text(world, AFTER)
    assert "+credential_process = credproc --profile prod-mfa\n+\n+[profile prod-mfa]\n" in out
    assert " source_profile = base\n" in out and f" role_arn = {ROLE}\n" in out


def world_text(world: World, text: str) -> str:
    return text.format(mfa_process=world.mfa_process)


def test_write_makes_exactly_the_change_shown_keeping_every_other_byte_and_the_mode(
    world: World,
) -> None:
    world.config(BEFORE)
    world.config_file.chmod(0o640)
    original = world.config_file.read_text()
    out = shown(world, "prod", "--write")
    written = world.config_file.read_text()
    assert written == world_text(world, AFTER) == apply_diff(original, out)
    assert stat.S_IMODE(world.config_file.stat().st_mode) == 0o640
    assert out.endswith("check it with: credproc check --profile prod-mfa\n")
    leftovers = [p.name for p in world.config_file.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temp file left beside it


def test_adopted_profiles_load_in_botocore_and_boto3_gets_the_role_through_credproc(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.config(BEFORE)
    shown(world, "prod", "--write")
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, world.env[name])
    prod = botocore.session.Session(profile="prod").get_scoped_config()
    assert prod == {
        "region": "eu-west-1",
        "output": "json",
        "credential_process": "credproc --profile prod-mfa",
    }
    role = botocore.session.Session(profile="prod-mfa").get_scoped_config()
    assert role == {
        "role_arn": ROLE,
        "source_profile": "base",
        "mfa_serial": DEVICE,
        "credproc_prompt": "process",
        "duration_seconds": "3600",
        "region": "eu-west-1",
    }
    check = world.run("check", "--profile", "prod-mfa")
    assert check.returncode == 0 and "no problems found" in check.stdout, check.stdout
    got = world.boto3("prod")
    assert got["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assert world.serve("prod-mfa")["AccessKeyId"] == got["AccessKeyId"]  # from the cache


def test_the_absolute_path_is_written_when_credproc_on_path_is_another(world: World) -> None:
    other = world.root / "elsewhere"
    other.mkdir()
    (other / "credproc").write_text("#!/bin/sh\nexit 1\n")
    (other / "credproc").chmod(0o755)
    world.config(BEFORE)
    for path in (f"{other}:/usr/bin:/bin", "/usr/bin:/bin"):
        out = shown(world, "prod", env={"PATH": path})
        assert f"+credential_process = {CREDPROC} --profile prod-mfa\n" in out
    assert Path(CREDPROC).parent == BIN


def test_crlf_lines_a_missing_last_line_break_and_default_are_kept(world: World) -> None:
    text = f"[default]\r\nrole_arn = {ROLE}\r\nsource_profile = base\r\nregion = eu-west-1"
    world.config_file.write_bytes(text.encode())
    out = shown(world, "default", "--write")
    expected = (
        "[default]\r\nregion = eu-west-1\r\ncredential_process = credproc --profile default-mfa"
        f"\r\n\r\n[profile default-mfa]\r\nrole_arn = {ROLE}\r\nsource_profile = base\r\n"
        "region = eu-west-1\r\n\r\n"
    )
    assert world.config_file.read_bytes() == expected.encode()
    assert "\\ No newline at end of file\n" in out


def test_a_symlinked_config_stays_a_symlink(world: World) -> None:
    target = world.root / "dotfiles-config"
    target.write_text(world_text(world, BEFORE))
    world.config_file.symlink_to(target)
    shown(world, "prod", "--write")
    assert world.config_file.is_symlink() and target.read_text() == world_text(world, AFTER)


def test_secret_values_in_the_diffs_context_are_masked(world: World) -> None:
    world.config(
        "[profile leaky]\naws_secret_access_key = hush-hush-secret\n",
        section("prod", **PROD_MFA),
    )
    out = shown(world, "prod")
    assert "hush-hush-secret" not in out and " aws_secret_access_key = ****\n" in out


CONFIG_ONLY_KEYS = "[base]\naws_access_key_id = AKIAQQQQBASEKEYID0001\naws_secret_access_key = s\n"


@pytest.mark.parametrize(
    ("config", "credentials", "words"),
    [
        (section("base", region="eu-west-1"), None, "base has no role_arn: it is not a role"),
        (
            section("prod", **PROD_MFA) + section("prod-mfa", region="eu-west-1"),
            None,
            "profile prod-mfa exists already",
        ),
        (
            section("prod", credential_process="aws-vault export --format=json prod"),
            None,
            "profile prod already uses credential_process",
        ),
        (
            section("prod", credential_process="{credproc} --profile prod-mfa"),
            None,
            "already uses credential_process: it runs credproc",
        ),
        ("", CONFIG_ONLY_KEYS + f"[prod]\nrole_arn = {ROLE}\nsource_profile = base\n", "only in"),
        (
            section("prod", region="eu-west-1"),
            CONFIG_ONLY_KEYS + f"[prod]\nrole_arn = {ROLE}\nsource_profile = base\n",
            "has role_arn, source_profile in",
        ),
        (
            section("prod", role_arn=ROLE, source_profile="prod"),
            CONFIG_ONLY_KEYS + "[prod]\naws_access_key_id = AKIAQQQQPRODKEYID0001\n"
            "aws_secret_access_key = s\n",
            "has access keys of its own",
        ),
        (
            section("prod", role_arn=ROLE, web_identity_token_file="/t"),
            None,
            "with web_identity_token_file",
        ),
        (section("prod", role_arn=ROLE), None, "cannot be adopted as it is: "),
        ("", None, "profile 'prod' is not in"),
    ],
)  # fmt: skip
def test_refusals_say_why_and_leave_the_files_alone(
    world: World, config: str, credentials: str | None, words: str
) -> None:
    world.config(config)
    if credentials is not None:
        world.credentials_file.write_text(credentials)
    files = (world.config_file, world.credentials_file)
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    target = "base" if words.startswith("base") else "prod"
    for args in ((target,), (target, "--write")):
        done = world.run("init", *args)
        assert done.returncode == 3 and done.stdout == ""
        assert words in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before


def test_init_takes_the_profile_as_its_argument(world: World) -> None:
    done = world.run("init", "prod", "--profile", "prod")
    assert done.returncode == 2 and "init takes the profile as its argument" in done.stderr
    assert world.run("init").returncode == 2


def test_a_second_init_after_write_refuses_and_the_file_stays(world: World) -> None:
    world.config(BEFORE)
    shown(world, "prod", "--write")
    adopted = world.config_file.read_bytes()
    done = world.run("init", "prod", "--write")
    assert done.returncode == 3 and "it runs credproc" in done.stderr
    assert world.config_file.read_bytes() == adopted
    assert os.access(world.config_file, os.R_OK)
