"""No key, secret, token or MFA code in any byte credproc writes outside its stdout: stderr (-v
included), the cache folder, the key folder (the key aside), lock files, a prompt program's
environment and command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from credproc.entry import ROLE, SESSION, USED_CODES
from tests.conftest import (
    BASE_KEY_ID,
    BASE_SECRET,
    PROD_MFA,
    PYTHON,
    ROOT,
    IamUser,
    World,
    section,
)
from tests.secret_service import SecretService
from tests.vault_helpers import OTHER_KEY_ID, OTHER_SECRET, from_env, in_vault

FILE_KEY = {"CREDPROC_VAULT_KEY": "file"}

# what the MFA program answers, in order: distinctive codes
ANSWERS = ["913572", "857391", "246813", "975310", "682049", "730615", "594827"]
REJECTED = ANSWERS[2]


def test_no_secret_reaches_stderr_files_or_a_child_environment(world: World) -> None:
    dump = world.root / "mfa-env.jsonl"
    probe = f"{PYTHON} {ROOT / 'tests' / 'mfa_probe.py'} {world.state} --dump-env {dump}"
    from_env = section(
        "from-env",
        **{**PROD_MFA, "source_profile": None},
        credential_source="Environment",
        credproc_mfa_process=probe,  # no source_profile: the settings of base are not found
    )
    world.standard_config(from_env, mfa_process=probe)
    world.answers(*ANSWERS)
    world.sts.faults.invalid_codes.add(REJECTED)
    stderr: list[str] = []
    printed: list[dict[str, str]] = []

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = world.run(*args, env=env)
        stderr.append(done.stderr)
        return done

    def serve(*args: str, env: dict[str, str] | None = None) -> None:
        done = run(*args, env=env)
        assert done.returncode == 0, done.stderr
        printed.append(json.loads(done.stdout))

    serve("--profile", "prod-mfa", "-v")  # the first code
    serve("--profile", "prod-mfa", "-v")  # a cache hit
    login = run("login", "--profile", "prod-mfa", "-v")  # the second code
    status = run("status", "-v")
    status_json = run("status", "--json")
    # keys in the environment: the MFA program must not see them
    base_env = {"AWS_ACCESS_KEY_ID": BASE_KEY_ID, "AWS_SECRET_ACCESS_KEY": BASE_SECRET}
    serve("--profile", "from-env", "-v", env=base_env)  # STS rejects a code, the next passes
    world.sts.faults.deny = "no way"
    failed = run("login", "--profile", "from-env", "-v", env=base_env)
    failed_quiet = run("login", "--profile", "prod-mfa", env=base_env)
    world.sts.faults.deny = ""
    unreachable = run(
        "login", "--profile", "prod-mfa", "-v", env={"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"}
    )
    assert login.returncode == 0 and status.returncode == 0 and status_json.returncode == 0
    assert failed.returncode == 6 and failed_quiet.returncode == 6 and unreachable.returncode == 7

    cached = [record for _, record in world.entries() if record]
    assert {record.kind for record in cached} >= {SESSION, ROLE, USED_CODES}
    assert world.prompts() == len(ANSWERS)
    secrets = {BASE_KEY_ID, BASE_SECRET, *ANSWERS}
    for record in cached:  # the MFA sessions were never printed anywhere
        if record.credentials:
            secrets |= set(record.credentials[:3])
    for out in printed:
        secrets |= {out["AccessKeyId"], out["SecretAccessKey"], out["SessionToken"]}
    sent = {call["TokenCode"] for call in world.sts.calls if "TokenCode" in call}
    assert sent == set(ANSWERS[:-1])  # the last one never reached STS

    written: dict[str, bytes] = {f"stderr {i}": e.encode() for i, e in enumerate(stderr)}
    written["login stdout"] = login.stdout.encode()
    written["status stdout"] = status.stdout.encode() + status_json.stdout.encode()
    for folder in (world.cache_dir, world.key_file.parent):
        for path in folder.iterdir():
            if path != world.key_file:
                written[str(path)] = path.read_bytes()
    locks = [p for p in world.cache_dir.iterdir() if p.name.endswith(".lock")]
    assert locks and all(p.read_text().startswith("pid ") for p in locks)
    # the shortcut's pointers hold a copy of the credentials they answer with: sealed
    assert any(p.name.endswith(".hit") for p in world.cache_dir.iterdir())
    written["MFA program env and argv"] = dump.read_bytes()
    assert len(dump.read_text().splitlines()) == len(ANSWERS)

    leaks = [(where, s) for where, data in written.items() for s in secrets if s.encode() in data]
    assert leaks == []
    assert "AWS refused" in failed.stderr and "cannot reach STS" in unreachable.stderr
    assert_child_env_is_clean(dump)


def assert_child_env_is_clean(dump: Path) -> None:
    for line in dump.read_text().splitlines():
        env = json.loads(line)["env"]
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)


def test_no_vault_secret_reaches_stderr_files_or_the_keystore(
    world: World, keystore: SecretService, iam_user: IamUser
) -> None:
    """add, serve, status, check, rotate (one refused), remove, and the file fallback: the
    long-term keys live only sealed in the vault, and the keystore holds only the vault key."""
    world.standard_config(section("solo", region="us-east-1"))
    world.credentials_file.write_text(
        f"# alice\n[base]\naws_access_key_id = {iam_user.key_id}\n"
        f"aws_secret_access_key = {iam_user.secret}\nregion = us-east-1\n"
    )
    typed = from_env(OTHER_KEY_ID, OTHER_SECRET)
    runs = [
        world.run("add", "base", "--from-file", "-v"),
        world.run("--profile", "prod-mfa", "-v"),
        world.run("status", "-v"),
        world.run("status", "--json"),
        world.run("check", "--profile", "prod-mfa", "-v"),
        world.run("rotate", "base", "-v"),
        world.run("add", "solo", "--from-env", "-v", env={**typed, **FILE_KEY}),
        world.run("--profile", "solo", "-v", env=FILE_KEY),
    ]
    world.sts.faults.refuse["CreateAccessKey"] = "no"
    refused = world.run("rotate", "base", "-v")
    new = in_vault(world, keystore, "base")
    runs += [refused, world.run("remove", "solo", "--yes", "-v")]
    assert [r.returncode for r in runs] == [0] * 8 + [6, 0], [r.stderr for r in runs]
    assert new.access_key_id != iam_user.key_id

    secrets = {iam_user.key_id, iam_user.secret, new.access_key_id, new.secret_access_key}
    secrets |= {OTHER_KEY_ID, OTHER_SECRET}
    for _, record in world.entries():
        if record and record.credentials:
            secrets |= set(record.credentials[:3])
    written = {f"run {i} stderr": r.stderr.encode() for i, r in enumerate(runs)}
    written |= {f"run {i} stdout": r.stdout.encode() for i, r in enumerate(runs) if i not in (1, 7)}
    for folder in (world.cache_dir, world.key_file.parent, world.vault_dir, world.home / ".aws"):
        for path in folder.iterdir():
            if path.is_file() and path.name not in ("key", "vault-key"):
                written[str(path)] = path.read_bytes()
    assert any(str(world.vault_dir) in where for where in written)
    leaks = [(where, s) for where, data in written.items() for s in secrets if s.encode() in data]
    assert leaks == []
    assert keystore.vault_key() not in (None, *secrets)  # the keystore: the vault key alone
