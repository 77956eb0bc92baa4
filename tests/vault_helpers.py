"""What the vault tests share: keys for `credproc add`, and a look into the vault as it is on
disk (opened with the vault key read from the keystore, as credproc opens it)."""

from __future__ import annotations

import base64
import subprocess

from credproc import entry
from credproc.entry import VaultKeys
from credproc.plan import vault_name
from tests.conftest import World
from tests.secret_service import SecretService

# long-term keys of the shape AWS gives (moto's STS answers for any keys); distinctive, so a
# test can look for them anywhere
KEY_ID = "AKIAQQQQVAULTKEY0001"
SECRET = "vault/SECRET/XXXXXXXXXXXXXXXXXXXXXXXXXXX"
OTHER_KEY_ID = "AKIAQQQQOTHERKEY0002"
OTHER_SECRET = "other/SECRET/YYYYYYYYYYYYYYYYYYYYYYYYYY"
CREDENTIALS = f"[base]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"


def keys_in_file(world: World, *more: str) -> None:
    """The standard layout with `base`'s keys (of the shape AWS gives) in the credentials file."""
    world.standard_config(*more)
    world.credentials_file.write_text(CREDENTIALS)


def from_env(key_id: str, secret: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}


def add(
    world: World, profile: str, *args: str, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return world.run("add", profile, *args, **kwargs)  # type: ignore[arg-type]


def added(world: World, profile: str, *args: str, **kwargs: object) -> str:
    done = add(world, profile, *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def vault_files(world: World) -> list[str]:
    if not world.vault_dir.exists():
        return []
    return sorted(p.name for p in world.vault_dir.iterdir() if "." not in p.name)


def in_vault(world: World, keystore: SecretService, profile: str) -> VaultKeys:
    """What the vault holds for `profile`, opened as credproc opens it."""
    text = keystore.vault_key()
    assert text is not None
    name = vault_name(profile)
    return entry.unseal_vault(base64.b64decode(text), name, (world.vault_dir / name).read_bytes())


def reseal(world: World, keystore: SecretService, keys: VaultKeys) -> None:
    """Write a vault entry as credproc would (for states a test cannot wait for)."""
    text = keystore.vault_key()
    assert text is not None
    name = vault_name(keys.profile)
    blob = entry.seal_vault(base64.b64decode(text), name, keys)
    (world.vault_dir / name).write_bytes(blob)


def one_line_failure(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The one stderr line of a failure with exit `code`, never a traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("credproc: ") and lines[0].endswith(")"), lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]
