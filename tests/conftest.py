"""Real parts for end-to-end tests: moto's STS server on 127.0.0.1 behind a recording front,
a throw-away HOME with AWS config files, and credproc run as a real program."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from credproc.cache import Store
from credproc.entry import CacheEntry
from tests.secret_service import SecretService
from tests.sts_front import StsFront

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CREDPROC = str(BIN / "credproc")
PYTHON = sys.executable
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
DEVICE = "arn:aws:iam::111111111111:mfa/alice"
# long-term keys of the test user: distinctive, so a test can look for them anywhere
BASE_KEY_ID = "AKIAQQQQBASEKEYID0001"
BASE_SECRET = "base/SECRET/ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
COUNTING = "{mfa_process}"  # World.config fills in the counting MFA program
BASE: dict[str, str | None] = {"region": "us-east-1"}  # its keys are in the credentials file
# the profile credproc reads in most tests: a role with MFA, sourced from base's keys
PROD_MFA: dict[str, str | None] = {"role_arn": ROLE, "source_profile": "base", "mfa_serial": DEVICE}


def require_installed(path: Path | str, what: str) -> None:
    """No silent skip: scripts/test installs every outside program the tests drive, so one
    that is missing is a broken test machine."""
    if not Path(path).exists():
        pytest.fail(f"{what} not found at {path}: run scripts/install-test-deps", pytrace=False)


def section(name: str, **keys: str | None) -> str:
    """`[profile NAME]` (`[default]` for default) with `keys` in order; None leaves a key out."""
    header = "[default]" if name == "default" else f"[profile {name}]"
    return header + "\n" + "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None) + "\n"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def sts_front(moto_url: str) -> Iterator[StsFront]:
    front = StsFront(moto_url)
    yield front
    front.stop()


@pytest.fixture
def sts(sts_front: StsFront) -> StsFront:
    """The STS front, with its record and faults cleared for this test."""
    sts_front.reset()
    return sts_front


class World:
    """One user's machine: HOME, ~/.aws files, a counting MFA program, credproc to run."""

    def __init__(self, root: Path, sts: StsFront) -> None:
        self.root = root
        self.home = root / "home"
        (self.home / ".aws").mkdir(parents=True)
        self.state = root / "mfa"
        self.state.mkdir()
        self.config_file = self.home / ".aws" / "config"
        self.credentials_file = self.home / ".aws" / "credentials"
        self.mfa_process = f"{PYTHON} {ROOT / 'tests' / 'fake_mfa.py'} {self.state}"
        self.credproc = CREDPROC  # the command line SDKs run as credential_process
        self.program = [CREDPROC]  # what run() starts: the installed command, or credproc.pyz
        self.sts = sts
        self.env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(self.config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.credentials_file.write_text(
            f"[base]\naws_access_key_id = {BASE_KEY_ID}\naws_secret_access_key = {BASE_SECRET}\n"
        )

    @property
    def cache_dir(self) -> Path:
        return self.home / ".cache" / "credproc"

    @property
    def key_file(self) -> Path:
        return self.home / ".local" / "share" / "credproc" / "key"

    @property
    def vault_dir(self) -> Path:
        return self.home / ".local" / "share" / "credproc" / "vault"

    def config(self, *sections: str) -> None:
        """Write ~/.aws/config; {credproc}, {mfa_process}, {role}, {device} are filled in."""
        text = "".join(sections)
        self.config_file.write_text(
            text.format(
                credproc=self.credproc, mfa_process=self.mfa_process, role=ROLE, device=DEVICE
            )
        )

    def standard_config(
        self,
        *more: str,
        mfa_process: str | None = COUNTING,
        base: dict[str, str | None] | None = None,
        **prod_mfa: str | None,
    ) -> None:
        """The layout of SPEC section 2: `base` (its keys in the credentials file; the MFA
        program, by default the counting one; more keys from `base`), `prod-mfa` (PROD_MFA,
        changed by `prod_mfa`; None removes a key), `prod` for SDKs; then `more` sections."""
        self.config(
            section(
                "base",
                **{"region": "us-east-1", "credproc_mfa_process": mfa_process, **(base or {})},
            ),
            section("prod-mfa", **{**PROD_MFA, **prod_mfa}),
            section("prod", credential_process="{credproc} --profile prod-mfa"),
            *more,
        )

    def entries(self) -> list[tuple[Path, CacheEntry | None]]:
        """Every cache entry file (no locks, no temp files), with what it holds or None."""
        store = Store(str(self.cache_dir), self.key_file.read_bytes())
        files = sorted(p for p in self.cache_dir.iterdir() if "." not in p.name)
        return [(path, store.read(path.name)) for path in files]

    def entry(self, kind: str) -> Path:
        """The one cache entry of this kind."""
        (found,) = [path for path, record in self.entries() if record and record.kind == kind]
        return found

    def prompts(self) -> int:
        """How many times the MFA program was asked for a code."""
        calls = self.state / "calls"
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    def answers(self, *lines: str) -> None:
        """What the MFA program prints on its next calls, before its fresh codes."""
        (self.state / "answers").write_text("".join(line + "\n" for line in lines))

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        """credproc with no controlling terminal and stdin from /dev/null, as an SDK runs it."""
        return subprocess.run(
            [*self.program, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            start_new_session=True,
            **kwargs,
        )

    def imports(self, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
        """credproc run as `python -X importtime -m credproc ARGS`, and what it imported."""
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-m", "credproc", *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            timeout=30,
        )
        return done, {line.split("|")[-1].strip() for line in done.stderr.splitlines()}

    def serve(self, profile: str = "prod-mfa", **kwargs: object) -> dict[str, object]:
        done = self.run("--profile", profile, **kwargs)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        lines = done.stdout.splitlines()
        assert len(lines) == 1
        return json.loads(lines[0])

    def hit_imports(self, profile: str = "prod-mfa") -> set[str]:
        """The modules `credproc --profile P` imports; it must serve."""
        done, imported = self.imports("--profile", profile)
        assert done.returncode == 0 and json.loads(done.stdout)["Version"] == 1, done.stderr
        assert "credproc.entry" in imported and "credproc.obtain" in imported  # the log is whole
        return imported

    def boto3(self, profile: str = "prod", env: dict[str, str] | None = None) -> dict[str, str]:
        """boto3 in its own process, getting credentials through credential_process."""
        script = (
            f"import boto3, json; s = boto3.Session(profile_name={profile!r}); "
            "c = s.get_credentials().get_frozen_credentials(); "
            "i = s.client('sts', region_name='us-east-1').get_caller_identity(); "
            "print(json.dumps({'Arn': i['Arn'], 'AccessKeyId': c.access_key}))"
        )
        done = subprocess.run(
            [PYTHON, "-c", script],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=90,
            start_new_session=True,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def world(tmp_path: Path, sts: StsFront) -> World:
    return World(tmp_path, sts)


@pytest.fixture(scope="session")
def first_use(tmp_path_factory: pytest.TempPathFactory, sts_front: StsFront) -> Path:
    """A world's folder after a first use (cache, key, MFA program count), made once."""
    sts_front.reset()
    template = World(tmp_path_factory.mktemp("first-use"), sts_front)
    template.standard_config()
    template.serve()
    assert template.prompts() == 1 and sts_front.actions() == ["GetSessionToken", "AssumeRole"]
    return template.root


@pytest.fixture
def primed(world: World, first_use: Path) -> World:
    """`world` as after its first use: the cache and key, modes and all, and the MFA
    program's count (its next code is a fresh one), copied from `first_use`."""
    world.standard_config()
    for folder in ("home/.cache", "home/.local"):
        shutil.copytree(first_use / folder, world.root / folder, symlinks=True)
    shutil.copy2(first_use / "mfa" / "calls", world.state / "calls")
    world.serve()  # a hit: the copy is whole
    assert world.prompts() == 1 and world.sts.calls == []
    return world


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    """GNOME Keyring's Secret Service in a private D-Bus session, started once."""
    for program, package in [
        ("/usr/bin/gnome-keyring-daemon", "gnome-keyring"),
        ("/usr/bin/dbus-daemon", "dbus"),
        ("/usr/bin/dbus-monitor", "dbus"),
    ]:
        require_installed(program, package)
    service = SecretService(tmp_path_factory.mktemp("secret-service"))
    yield service
    service.stop()


@pytest.fixture
def keystore(secret_service: SecretService, world: World) -> SecretService:
    """`world` with the Secret Service as its keystore, which holds no vault key yet."""
    secret_service.delete_vault_key()
    world.env.update(secret_service.env)
    return secret_service


class IamUser:
    """A user that moto's IAM knows, with one access key: the world's `base` keys."""

    def __init__(self, world: World, moto_url: str) -> None:
        self.iam = boto3_client("iam", moto_url)
        self.name = f"alice-{uuid.uuid4().hex[:8]}"
        self.arn = self.iam.create_user(UserName=self.name)["User"]["Arn"]
        made = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        self.key_id, self.secret = made["AccessKeyId"], made["SecretAccessKey"]
        world.credentials_file.write_text(
            f"[base]\naws_access_key_id = {self.key_id}\naws_secret_access_key = {self.secret}\n"
        )
        world.env["AWS_ENDPOINT_URL_IAM"] = world.sts.url  # IAM through the recording front

    def key_ids(self) -> list[str]:
        """The user's access keys, as IAM itself lists them."""
        listed = self.iam.list_access_keys(UserName=self.name)["AccessKeyMetadata"]
        return sorted(key["AccessKeyId"] for key in listed)


def boto3_client(service: str, url: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTADMIN0000000",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def iam_user(world: World, moto_url: str) -> IamUser:
    return IamUser(world, moto_url)
