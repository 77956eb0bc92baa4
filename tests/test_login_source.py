"""Issue 12, part 4: a profile made by `aws login` (botocore's login_session) as a source,
resolved by botocore: from the token cache `aws login` leaves, refreshed at a loopback
stand-in for AWS Sign-In's token endpoint with a DPoP proof made with the cache's key; a role
with mfa_serial above it assumed with the code; every way it fails named with its fix."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tests.conftest import COUNTING, DEVICE, ROLE, World, section
from tests.fake_sources import (
    LOGIN_KEY,
    LOGIN_ROTATED,
    LOGIN_SECRET,
    LOGIN_SESSION_TOKEN,
    FakeSources,
)

SESSION_ARN = "arn:aws:iam::123456789012:user/alice"  # what `aws login` names the session
CACHED_KEY = "ASIAQQQQLOGINCACHED1"
CACHED_SECRET = "login/cached/SECRET/QQQQQQQQQQQQQQQQQQQQQQQ"
CACHED_SESSION_TOKEN = "login-cached-session-token-QQQQ"
CLIENT_ID = "arn:aws:signin:::devtools/same-device"
INSTALL_AWSCRT = (
    "(install awscrt: pip install 'credproc[login]', "
    "or build credproc.pyz with make -f zipapp.mk EXTRAS=login)"
)


@pytest.fixture
def sources() -> Iterator[FakeSources]:
    fake = FakeSources()
    yield fake
    fake.stop()


def _iso(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def _id_token(subject: str) -> str:
    part = [json.dumps(p).encode() for p in ({"alg": "ES256"}, {"sub": subject})]
    return ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in [*part, b"sig"])


class Login:
    """An `aws login` as the AWS CLI leaves it: the profile, and its token cache file."""

    def __init__(self, world: World, sources: FakeSources, access_expires_in: float) -> None:
        self.refresh_token = f"login-refresh-token-{uuid.uuid4()}"
        key = ec.generate_private_key(ec.SECP256R1())
        sources.signin.keys[self.refresh_token] = key.public_key()
        self.dpop_pem = key.private_bytes(
            Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()
        ).decode()  # SEC1, "BEGIN EC PRIVATE KEY", as the AWS CLI writes it
        folder = world.home / ".aws" / "login" / "cache"
        folder.mkdir(parents=True, exist_ok=True)
        self.cache = folder / f"{hashlib.sha256(SESSION_ARN.encode()).hexdigest()}.json"
        self.token = {
            "accessToken": {
                "accessKeyId": CACHED_KEY,
                "secretAccessKey": CACHED_SECRET,
                "sessionToken": CACHED_SESSION_TOKEN,
                "accountId": "123456789012",
                "expiresAt": _iso(access_expires_in),
            },
            "tokenType": "aws_sigv4",
            "clientId": CLIENT_ID,
            "refreshToken": self.refresh_token,
            "idToken": _id_token(SESSION_ARN),
            "dpopKey": self.dpop_pem,
        }
        self.cache.write_text(json.dumps(self.token))
        self.cache.chmod(0o600)
        world.config(
            section("console", login_session=SESSION_ARN, region="us-east-1"),
            section(
                "admin",
                role_arn=ROLE,
                source_profile="console",
                mfa_serial=DEVICE,
                credproc_mfa_process=COUNTING,
            ),
            section("app", credential_process="{credproc} --profile admin"),
        )
        world.env["AWS_ENDPOINT_URL_SIGNIN"] = sources.url

    def secrets(self) -> set[str]:
        """What no byte credproc writes outside its stdout may hold."""
        long = {CACHED_SECRET, CACHED_SESSION_TOKEN, LOGIN_SECRET, LOGIN_SESSION_TOKEN}
        body = "".join(self.dpop_pem.splitlines()[1:-1])
        return long | {self.refresh_token, LOGIN_ROTATED, body[10:60]}


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("credproc: ") and "Traceback" not in done.stderr
    return done.stderr.strip()


def test_login_source_uses_the_token_cache_aws_login_left(
    world: World, sources: FakeSources
) -> None:
    Login(world, sources, access_expires_in=14 * 60)
    arn = world.boto3("app")["Arn"]  # boto3 runs credproc, which runs botocore's login provider
    assert arn.startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assume = world.sts.calls[0]
    assert world.sts.actions() == ["AssumeRole", "GetCallerIdentity"]  # no GetSessionToken
    assert assume["TokenCode"] and assume["SerialNumber"] == DEVICE
    assert world.sts.signers[0] == CACHED_KEY
    assert sources.requests == []  # 14 minutes left: botocore refreshes only under 5
    assert world.prompts() == 1


def test_expired_access_token_is_refreshed_with_the_caches_dpop_key(
    world: World, sources: FakeSources
) -> None:
    login = Login(world, sources, access_expires_in=-60)
    world.serve("admin")
    assert sources.requests == ["POST /v1/token"]
    (proof,) = sources.signin.proofs  # signed with the key in the token cache, checked
    assert proof["htm"] == "POST" and proof["htu"] == f"{sources.url}/v1/token"
    assert world.sts.actions() == ["AssumeRole"] and world.sts.signers == [LOGIN_KEY]
    saved = json.loads(login.cache.read_text())  # botocore keeps the refreshed token, as the CLI
    assert saved["refreshToken"] == LOGIN_ROTATED
    assert saved["accessToken"]["accessKeyId"] == LOGIN_KEY
    assert saved["dpopKey"] == login.dpop_pem


def test_a_cached_role_from_a_login_source_is_served_without_botocore_or_awscrt(
    world: World, sources: FakeSources
) -> None:
    Login(world, sources, access_expires_in=14 * 60)
    first = world.serve("admin")
    world.sts.reset()
    done, imported = world.imports("--profile", "admin")
    assert done.returncode == 0 and json.loads(done.stdout) == first
    assert "credproc.entry" in imported
    assert {m for m in imported if m.split(".")[0] in ("botocore", "awscrt", "_awscrt")} == set()
    assert world.sts.calls == [] and world.prompts() == 1


def test_expired_aws_login_names_aws_login(world: World, sources: FakeSources) -> None:
    login = Login(world, sources, access_expires_in=-60)
    sources.signin.expired.add(login.refresh_token)
    line = one_line_error(world.run("--profile", "admin"), 6)
    assert line == (
        "credproc: the `aws login` session of profile console is missing or expired "
        "(run `aws login --profile console`)"
    )
    assert world.prompts() == 0 and world.sts.calls == []


def test_missing_login_token_cache_names_aws_login(world: World, sources: FakeSources) -> None:
    Login(world, sources, access_expires_in=3600).cache.unlink()
    line = one_line_error(world.run("--profile", "admin"), 6)
    assert line.endswith("(run `aws login --profile console`)")
    assert world.prompts() == 0 and sources.requests == []


def test_unreachable_signin_endpoint_is_reported_as_unreachable(
    world: World, sources: FakeSources
) -> None:
    Login(world, sources, access_expires_in=-60)
    started = time.monotonic()
    done = world.run("--profile", "admin", env={"AWS_ENDPOINT_URL_SIGNIN": "http://127.0.0.1:9"})
    assert time.monotonic() - started < 15  # a bound against a hang, not a speed test
    line = one_line_error(done, 7)
    assert "cannot reach the credential source of profile console" in line
    assert world.prompts() == 0


def without_awscrt(world: World) -> dict[str, str]:
    """PYTHONPATH first finds an awscrt that fails to import, as a missing one does."""
    package = world.root / "no-awscrt" / "awscrt"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError(\"No module named 'awscrt'\")\n")
    return {"PYTHONPATH": str(package.parent)}


def test_without_awscrt_a_login_source_names_what_to_install(
    world: World, sources: FakeSources
) -> None:
    Login(world, sources, access_expires_in=14 * 60)
    env = without_awscrt(world)
    line = one_line_error(world.run("--profile", "admin", env=env), 3)
    assert line == (
        "credproc: profile console is an `aws login` profile (login_session), which botocore "
        f"reads only with the awscrt package {INSTALL_AWSCRT}"
    )
    assert world.prompts() == 0 and world.sts.calls == [] and sources.requests == []
    check = world.run("check", "--profile", "admin", env=env)
    assert check.returncode == 3 and "source: profile console, login" in check.stdout
    assert f"problem: {line.removeprefix('credproc: ')}" in check.stdout
    assert world.run("check", "--profile", "admin").returncode == 0  # with awscrt: no problem


def test_awscrt_disabled_for_botocore_names_the_switch(world: World, sources: FakeSources) -> None:
    Login(world, sources, access_expires_in=14 * 60)
    done = world.run("--profile", "admin", env={"BOTO_DISABLE_CRT": "true"})
    assert one_line_error(done, 3).endswith("(unset BOTO_DISABLE_CRT: botocore needs awscrt)")


def test_no_login_secret_reaches_stderr_or_credprocs_files(
    world: World, sources: FakeSources
) -> None:
    login = Login(world, sources, access_expires_in=-60)
    runs = [world.run("--profile", "admin", "-v"), world.run("login", "--profile", "admin", "-v")]
    sources.signin.expired.add(LOGIN_ROTATED)  # the next refresh is refused
    world.run("clear", "--all")
    login.cache.write_text(json.dumps({**login.token, "refreshToken": LOGIN_ROTATED}))
    runs.append(world.run("--profile", "admin", "-v"))
    runs.append(world.run("--profile", "admin", "-v", env=without_awscrt(world)))
    assert [done.returncode for done in runs] == [0, 0, 6, 3]
    written = {f"stderr {i}": done.stderr.encode() for i, done in enumerate(runs)}
    written["login stdout"] = runs[1].stdout.encode()
    for folder in (world.cache_dir, world.key_file.parent):
        for path in folder.iterdir():
            if path != world.key_file:
                written[str(path)] = path.read_bytes()
    assert len(written) > 5
    for secret in login.secrets():
        for where, data in written.items():
            assert secret.encode() not in data, f"a login secret in {where}"


def test_login_source_appears_in_check(world: World, sources: FakeSources) -> None:
    Login(world, sources, access_expires_in=14 * 60)
    done = world.run("check", "--profile", "admin")
    assert done.returncode == 0, done.stdout
    assert "source: profile console, login (temporary credentials)" in done.stdout
    assert f"AssumeRole {ROLE} (3600 s, MFA code for {DEVICE})" in done.stdout


def test_login_token_cache_folder_follows_aws_login_cache_directory(
    world: World, sources: FakeSources, tmp_path: Path
) -> None:
    login = Login(world, sources, access_expires_in=14 * 60)
    moved = tmp_path / "elsewhere"
    login.cache.parent.rename(moved)
    world.serve("admin", env={"AWS_LOGIN_CACHE_DIRECTORY": str(moved)})
    assert world.sts.signers == [CACHED_KEY]
