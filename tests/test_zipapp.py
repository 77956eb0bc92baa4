"""dist/credproc.pyz, built by `make -f zipapp.mk`, run by a plain python3 outside any venv:
every flow from the built file, its first run (once, safely, somewhere private), its size and
contents, and a second build of the same commit giving the same bytes.

Slower than most: the build (once per session) takes about 10 s when build/pyz holds the
wheels, and fetches them from PyPI (about 14 MB) when it does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from credproc import __version__
from tests.conftest import ROOT, World
from tests.fake_sources import LOGIN_KEY, SSO_KEY, FakeSources
from tests.secret_service import SecretService
from tests.served import SHORT_ROLE, STALE_AFTER
from tests.test_chains import chain, sso_world
from tests.test_login_source import Login
from tests.vault_helpers import KEY_ID, keys_in_file

pytestmark = pytest.mark.zipapp

# no venv on PATH: `python3` is the system's, which has neither botocore nor our cryptography
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"
SERVICES = {"sts", "sso", "sso-oidc", "iam", "signin"}
SHARED = {"endpoints.json", "partitions.json", "_retry.json", "sdk-default-configuration.json"}
MB = 1_000_000


def make(*variables: str) -> None:
    done = subprocess.run(
        ["make", "-f", "zipapp.mk", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if done.returncode != 0:
        pytest.fail(f"make -f zipapp.mk failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="session")
def pyz() -> Path:
    """The one-file build, made from this checkout (a failed build fails the tests)."""
    make()
    return ROOT / "dist" / "credproc.pyz"


@pytest.fixture(scope="module")
def sources() -> Iterator[FakeSources]:
    fake = FakeSources()
    yield fake
    fake.stop()


@pytest.fixture
def plain(world: World, pyz: Path) -> World:
    """A world whose credproc is the built file, run by the system's python3."""
    world.env["PATH"] = PLAIN_PATH
    world.credproc = str(pyz)
    world.program = [str(pyz)]
    return world


def build_id(pyz: Path) -> str:
    with zipfile.ZipFile(pyz) as outer:
        boot = outer.read("__main__.py").decode()
    found = re.search(r'^BUILD = "([^"]+)"', boot, re.M)
    assert found, "the boot names no build"
    return found.group(1)


def payload(pyz: Path) -> list[str]:
    with zipfile.ZipFile(pyz) as outer, zipfile.ZipFile(outer.open("payload.zip")) as inner:
        return inner.namelist()


def unpacked(world: World) -> list[Path]:
    root = world.home / ".cache" / "credproc-pyz"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_two_builds_of_one_commit_are_byte_identical(pyz: Path) -> None:
    first = pyz.read_bytes()
    digest = hashlib.sha256(first).hexdigest()
    assert pyz.with_name("credproc.pyz.sha256").read_text() == f"{digest}  credproc.pyz\n"
    pyz.unlink()
    make()
    assert pyz.read_bytes() == first


def test_the_file_is_small_and_carries_only_what_credproc_runs(pyz: Path) -> None:
    assert pyz.stat().st_size <= 20 * MB
    names = payload(pyz)
    data = {n.split("/")[3] for n in names if n.split("/")[1:3] == ["botocore", "data"]}
    assert data == SERVICES | SHARED
    packages = {n.split("/")[1] for n in names}
    assert {"credproc", "botocore", "cryptography", "platformdirs"} <= packages
    assert not packages & {"boto3", "s3transfer", "pex", "pip", "setuptools"}
    assert "lib/credproc/__pycache__/cli.cpython-311.pyc" in names  # no compiling on a run


def test_version_names_the_versions_inside(plain: World, pyz: Path) -> None:
    lock = (ROOT / "pyz" / "lock.txt").read_text()
    botocore = re.search(r"^botocore-([^-]+)-.* 3\.11", lock, re.M)
    cryptography = re.search(r"^cryptography-([^-]+)-.* 3\.11", lock, re.M)
    assert botocore and cryptography
    done = plain.run("--version")
    assert done.returncode == 0, done.stderr
    inside = f"botocore {botocore.group(1)}, cryptography {cryptography.group(1)}"
    assert done.stdout == f"credproc {__version__} ({inside})\n"


def test_the_first_run_unpacks_once_and_later_runs_write_nothing(plain: World, pyz: Path) -> None:
    world = plain
    assert world.env["PYTHONDONTWRITEBYTECODE"] == "1"
    via_python = subprocess.run(
        ["python3", str(pyz), "--version"], env=world.env, capture_output=True, text=True
    )
    assert via_python.returncode == 0, via_python.stderr
    (copy,) = unpacked(world)
    assert copy.name == f"{build_id(pyz)}-cp311"
    assert size_on_disk(copy) <= 60 * MB
    assert (copy / "lib" / "credproc" / "__pycache__" / "cli.cpython-311.pyc").is_file()
    before = {p: p.stat().st_mtime_ns for p in world.home.rglob("*")}
    assert world.run("--version").stdout == via_python.stdout  # as a program: its sh head
    assert {p: p.stat().st_mtime_ns for p in world.home.rglob("*")} == before


def test_pyz_as_credential_process_asks_once_then_serves_from_cache(plain: World) -> None:
    world = plain
    world.standard_config()
    first = world.boto3()
    assert first["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assert len(unpacked(world)) == 1 and os.listdir(world.cache_dir)
    world.sts.reset()
    second = world.boto3()
    assert second["AccessKeyId"] == first["AccessKeyId"]
    assert world.prompts() == 1 and world.sts.actions() == ["GetCallerIdentity"]


def test_a_role_chain_from_the_file(plain: World) -> None:
    world = plain
    world.config(chain(2))
    world.serve("hop2")
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert world.prompts() == 1


def test_an_sso_source_from_the_file(plain: World, sources: FakeSources) -> None:
    world = plain
    sso_world(world, sources, 3600)
    world.serve("admin")
    assert world.sts.actions() == ["AssumeRole"] and SSO_KEY in world.sts.signers[0]


@pytest.mark.parametrize(
    ("profile", "env", "code", "words"),
    [
        ("nope", {}, 3, "profile 'nope' is not in"),
        ("prod-mfa", {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"}, 7, "cannot reach STS"),
        ("prod-mfa", {"CREDPROC_PROMPT": "pinentry"}, 4, "pinentry"),
    ],
)
def test_failures_from_the_file_are_one_line(
    plain: World, profile: str, env: dict[str, str], code: int, words: str
) -> None:
    world = plain
    world.standard_config()
    done = world.run("--profile", profile, env=env)
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("credproc: ")
    assert words in done.stderr and "Traceback" not in done.stderr


def test_twenty_first_runs_at_once_agree(plain: World) -> None:
    world = plain
    world.standard_config()
    answer = world.serve()  # the first code; the file was unpacked by this run
    for copy in unpacked(world):
        subprocess.run(["rm", "-rf", str(copy)], check=True)
    runs = [
        subprocess.Popen(
            [*world.program, "--profile", "prod-mfa"],
            env=world.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [(run.returncode, err) for run, (_, err) in zip(runs, outputs)] == [(0, "")] * 20
    assert {out for out, _ in outputs} == {json.dumps(answer, separators=(",", ":")) + "\n"}
    root = world.home / ".cache" / "credproc-pyz"
    (copy,) = unpacked(world)
    assert sorted(p.name for p in root.iterdir()) == [".lock", copy.name]  # no half copies
    assert world.prompts() == 1


def test_an_unwritable_cache_folder_falls_back_to_a_private_temporary_one(
    plain: World, pyz: Path
) -> None:
    world = plain
    blocker = world.root / "a-file"
    blocker.write_text("")
    temp = world.root / "tmp"
    temp.mkdir()
    env = {"XDG_CACHE_HOME": str(blocker / "cache"), "TMPDIR": str(temp)}
    done = world.run("--version", env=env)
    assert done.returncode == 0, done.stderr
    fallback = temp / f"credproc-pyz-{os.getuid()}"
    assert (fallback.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in fallback.iterdir() if p.is_dir()] == [f"{build_id(pyz)}-cp311"]


def test_a_folder_others_can_write_to_is_never_run_from(plain: World, pyz: Path) -> None:
    world = plain
    shared = world.root / "shared"
    planted = shared / f"{build_id(pyz)}-cp311" / "lib" / "credproc"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "cli.py").write_text("def main():\n    print('planted')\n    return 0\n")
    shared.chmod(0o777)
    done = world.run("--version", env={"CREDPROC_PYZ_DIR": str(shared)})
    assert done.returncode == 0 and "planted" not in done.stdout
    assert done.stdout.startswith("credproc ") and len(unpacked(world)) == 1


def test_a_half_unpacked_copy_of_a_killed_first_run_is_cleaned_up(plain: World) -> None:
    world = plain
    half = world.home / ".cache" / "credproc-pyz" / ".tmp-99999" / "lib"
    half.mkdir(parents=True)
    (half / "junk").write_text("x")
    half.parent.parent.chmod(0o700)
    done = world.run("--version")
    assert done.returncode == 0, done.stderr
    assert not half.parent.exists() and len(unpacked(world)) == 1


def test_pyz_init_writes_its_own_path_which_sdks_then_run(plain: World, pyz: Path) -> None:
    world = plain
    world.config(
        "[profile base]\ncredproc_mfa_process = {mfa_process}\n\n"
        "[profile prod]\nrole_arn = {role}\nsource_profile = base\nmfa_serial = {device}\n"
    )
    plain = {**world.env, "PATH": PLAIN_PATH}
    for argv in (["python3", str(pyz)], [str(pyz)]):
        done = subprocess.run(
            [*argv, "init", "prod"], env=plain, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert f"+credential_process = {pyz.resolve()} --profile prod-mfa\n" in done.stdout
    done = subprocess.run(
        [str(pyz), "init", "prod", "--write"], env=plain, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = world.boto3(env={"PATH": PLAIN_PATH})  # the SDK runs the file itself
    assert got["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.prompts() == 1


def test_the_vault_works_from_the_file_with_the_real_keystore(
    plain: World, keystore: SecretService
) -> None:
    """keyring, SecretStorage and jeepney inside the file find GNOME Keyring's Secret
    Service, and a miss reads the keys from the vault."""
    world = plain
    keys_in_file(world)
    done = world.run("add", "base", "--from-file", "--no-verify")
    assert done.returncode == 0, done.stderr
    assert "aws_access_key_id" not in world.credentials_file.read_text()
    assert keystore.vault_key() is not None
    world.serve()
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]
    assert world.sts.signers[0] == KEY_ID


@pytest.fixture(scope="session")
def login_pyz(pyz: Path) -> Path:
    """The one-file build with the login extra (awscrt), beside the default one."""
    out = ROOT / "build" / "credproc-login.pyz"
    make("EXTRAS=login", f"PYZ={out}")
    return out


def test_an_aws_login_source_needs_the_login_build_and_works_from_it(
    plain: World, login_pyz: Path, sources: FakeSources
) -> None:
    world = plain
    sources.requests.clear()
    Login(world, sources, access_expires_in=-60)  # botocore refreshes it: awscrt's DPoP
    done = world.run("--profile", "admin")
    assert done.returncode == 3 and done.stdout == ""
    assert "EXTRAS=login" in done.stderr and done.stderr.count("\n") == 1
    world.credproc, world.program = str(login_pyz), [str(login_pyz)]
    world.serve("admin")
    assert sources.requests == ["POST /v1/token"]
    assert world.sts.actions() == ["AssumeRole"] and world.sts.signers == [LOGIN_KEY]


def test_pyz_exec_server_serves_and_renews(world: World, pyz: Path) -> None:
    world.standard_config()
    world.sts.faults.lifetime = SHORT_ROLE
    # the system's python3 as the command: only the standard library, as a plain tool has
    fetch_twice = (
        "import http.client, json, os, time, urllib.parse\n"
        "url = urllib.parse.urlsplit(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])\n"
        "for pause in (0, float(os.environ['PAUSE'])):\n"
        "    time.sleep(pause)\n"
        "    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)\n"
        "    c.request('GET', '/', headers={"
        "'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
        "    print(json.loads(c.getresponse().read())['AccessKeyId'])\n"
    )
    done = subprocess.run(
        [str(pyz), "exec", "--profile", "prod-mfa", "--server", "--", "python3", "-c", fetch_twice],
        env={**world.env, "PATH": PLAIN_PATH, "PAUSE": str(STALE_AFTER + 0.5)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    keys = done.stdout.split()
    assert len(keys) == 2 and keys[0] != keys[1]  # the second was renewed inside the file
    assert world.prompts() == 1 and world.sts.actions().count("GetSessionToken") == 1
