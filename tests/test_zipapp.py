"""dist/credproc.pyz, built by `make -f zipapp.mk`, run by a plain python3 outside any venv.

Slower than most: the build (once per session, and only when a source changed: make decides)
takes 20 to 40 s, with PyPI when build/pex-root is empty; each test then unpacks the file into
a fresh HOME (3 to 4 s). About 45 s in all with a build, 10 s without.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from credproc import __version__
from tests.conftest import ROOT, World
from tests.served import SHORT_ROLE, STALE_AFTER

pytestmark = pytest.mark.zipapp

# no venv on PATH: `python3` is the system's, which has neither boto3 nor cryptography
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="session")
def pyz() -> Path:
    """The one-file build, made from this checkout (a failed build fails the tests)."""
    done = subprocess.run(
        ["make", "-f", "zipapp.mk"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        pytest.fail(f"make -f zipapp.mk failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return ROOT / "dist" / "credproc.pyz"


def _version(world: World, *argv: str) -> str:
    done = subprocess.run(
        argv,
        env={**world.env, "PATH": PLAIN_PATH},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _compiled_cli(world: World) -> Path:
    pex_root = world.home / ".cache" / "pex"
    found = {path.resolve() for path in pex_root.rglob("credproc/__pycache__/cli.*.pyc")}
    assert len(found) == 1, "the unpacked copy must keep credproc's bytecode"
    return found.pop()


def test_pyz_runs_on_plain_python3_and_keeps_its_bytecode(world: World, pyz: Path) -> None:
    assert world.env["PYTHONDONTWRITEBYTECODE"] == "1"
    version = f"credproc {__version__}\n"
    assert _version(world, "/usr/bin/env", "python3", "-I", str(pyz), "--version") == version
    written = _compiled_cli(world).stat().st_mtime_ns
    assert _version(world, "/usr/bin/env", "python3", "-I", str(pyz), "--version") == version
    assert _compiled_cli(world).stat().st_mtime_ns == written, "the second run compiled again"
    # as a program: its /bin/sh head execs the unpacked copy, no Python bootstrap first
    assert _version(world, str(pyz), "--version") == version


def test_pyz_as_credential_process_asks_once_then_serves_from_cache(
    world: World, pyz: Path
) -> None:
    world.credproc = f"python3 {pyz}"
    world.standard_config()
    plain = {"PATH": PLAIN_PATH}
    first = world.boto3(env=plain)
    assert first["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Admin/")
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assert (world.home / ".cache" / "pex").is_dir(), "the file unpacked somewhere else"
    assert os.listdir(world.cache_dir), "no credproc cache entry was written"

    world.sts.reset()
    second = world.boto3(env=plain)
    assert second["AccessKeyId"] == first["AccessKeyId"]
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetCallerIdentity"]


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
