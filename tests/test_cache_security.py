"""The cache and key are checked as ssh checks a private key: foreign owners, loose modes and
symlinks are refused with the path and the fix; profile names never reach a path."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from credproc import cache, config, plan
from credproc.entry import ROLE
from credproc.errors import StoreError
from tests.conftest import PROD_MFA, World, section

ENTRY_OR_LOCK = re.compile(r"[0-9a-f]{32}(\.lock|\.hit)?")  # entry, its lock, a pointer
NOBODY = pwd.getpwnam("nobody").pw_uid
ME = pwd.getpwuid(os.getuid()).pw_name


def refusal(world: World) -> str:
    done = world.run("--profile", "prod-mfa")
    assert done.returncode == 8 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("credproc: refusing ")
    return done.stderr


def symlinked(path: Path) -> Path:
    """Move `path` aside and leave a symlink to it in its place."""
    real = path.with_name(path.name + "-real")
    path.rename(real)
    path.symlink_to(real)
    return path


# each case: damage the world, return (the path named, the fix that must be given)
Case = Callable[[World], tuple[Path, str]]


def chown(path: Path) -> tuple[Path, str]:
    os.chown(path, NOBODY, -1)
    return path, f"chown {ME} {path}"


def chmod(path: Path, mode: int, fix: str) -> tuple[Path, str]:
    path.chmod(mode)
    return path, f"chmod {fix} {path}"


REAL_FOLDER = "replace it with a real folder"
CASES: dict[str, Case] = {
    "cache folder of another user": lambda w: chown(w.cache_dir),
    "key folder of another user": lambda w: chown(w.key_file.parent),
    "key of another user": lambda w: chown(w.key_file),
    "entry of another user": lambda w: chown(w.entry(ROLE)),
    "group-writable cache folder": lambda w: chmod(w.cache_dir, 0o770, "700"),
    "others-writable key folder": lambda w: chmod(w.key_file.parent, 0o703, "700"),
    "group-readable key": lambda w: chmod(w.key_file, 0o640, "600"),
    "others-readable key": lambda w: chmod(w.key_file, 0o604, "600"),
    "group-writable entry": lambda w: chmod(w.entry(ROLE), 0o620, "600"),
    "symlinked key": lambda w: (symlinked(w.key_file), "replace it with a real file"),
    "symlinked entry": lambda w: (symlinked(w.entry(ROLE)), "replace it with a real file"),
    "symlinked cache folder": lambda w: (symlinked(w.cache_dir), REAL_FOLDER),
    "symlinked key folder": lambda w: (symlinked(w.key_file.parent), REAL_FOLDER),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_unsafe_cache_or_key_is_refused_with_the_path_and_the_fix(primed: World, case: str) -> None:
    world = primed
    path, fix = CASES[case](world)
    line = refusal(world)
    assert f"refusing {path}: " in line
    assert f"({fix}" in line
    assert world.prompts() == 1 and world.sts.calls == []


def test_a_symlink_in_place_of_a_lock_is_refused(primed: World) -> None:
    world = primed
    target = world.entry(ROLE)
    lock = target.with_name(target.name + ".lock")
    lock.unlink()
    lock.symlink_to(world.root / "elsewhere")
    target.unlink()  # a miss, so the lock is needed
    line = refusal(world)
    assert f"refusing {lock}: it is a symlink" in line
    assert not (world.root / "elsewhere").exists()


def test_readable_but_not_writable_cache_folder_and_entries_are_accepted(primed: World) -> None:
    world = primed
    world.cache_dir.chmod(0o755)
    for path, _ in world.entries():
        path.chmod(0o644)  # sealed: reading them gives nothing without the key
    world.serve()
    assert world.prompts() == 1 and world.sts.calls == []


def test_everything_credproc_writes_is_private(world: World) -> None:
    world.standard_config()
    world.serve()
    assert stat.S_IMODE(world.cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(world.key_file.parent.stat().st_mode) == 0o700
    files = [world.key_file, *world.cache_dir.iterdir()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert any(p.name.endswith(".lock") for p in files) and len(world.entries()) >= 2


NAMES = ["a/b", "../../escape", "..", "ünïcødé prød", "x:y\\z", "~"]


def test_profile_names_never_reach_a_path(world: World) -> None:
    world.standard_config(*(section(name, **PROD_MFA) for name in NAMES))
    before = {p for p in world.root.rglob("*") if world.state not in p.parents}
    for name in NAMES:
        world.serve(name)
    after = {p for p in world.root.rglob("*") if world.state not in p.parents}
    new = sorted(str(p.relative_to(world.root)) for p in after - before)
    names = [p.name for p in world.cache_dir.iterdir()]
    assert names and all(ENTRY_OR_LOCK.fullmatch(n) for n in names), names
    cache_files = {str((world.cache_dir / n).relative_to(world.root)) for n in names}
    key_files = {"home/.local", "home/.local/share", "home/.local/share/credproc"}
    key_files |= {"home/.local/share/credproc/key", "home/.cache", "home/.cache/credproc"}
    assert set(new) == cache_files | key_files
    assert world.prompts() == 1  # one device, one MFA session for all of them


def test_nul_and_unicode_profile_names_become_hashes(tmp_path: Path) -> None:
    # argv cannot carry a NUL, a config file can
    names = ["nul\0name", "../x\0/..", "日本語", "a/../../b"]
    text = "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n"
    text += "".join(
        f"[profile {n}]\nrole_arn = arn:aws:iam::123456789012:role/R\nsource_profile = base\n"
        for n in names
    )
    (tmp_path / "config").write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "config"))
        loaded = config.load()
        identities = {plan.build(loaded, n).target.identity for n in names}
    assert len(identities) == 1  # the profile name is not part of what the entry is
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in identities)


def test_a_key_of_the_wrong_size_is_replaced_with_a_warning(primed: World) -> None:
    world = primed
    world.key_file.write_bytes(b"short key")
    done = world.run("--profile", "prod-mfa")  # no -v: this warning is always shown
    assert done.returncode == 0 and done.stdout
    assert done.stderr.count("\n") == 1
    assert f"warning: key {world.key_file} has 9 bytes, not 32" in done.stderr
    assert len(world.key_file.read_bytes()) == 32
    assert stat.S_IMODE(world.key_file.stat().st_mode) == 0o600
    assert world.prompts() == 2  # every entry became a miss
    world.serve()
    assert world.prompts() == 2


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "data" / "key")
    keys = {cache.load_key(path) for _ in range(3)}
    assert len(keys) == 1 and len(keys.pop()) == 32
    assert sorted(os.listdir(tmp_path / "data")) == ["key"]


def test_a_key_folder_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as failure:
        cache.load_key(str(tmp_path / "file" / "key"))
    assert str(tmp_path / "file") in failure.value.what


def test_a_fifo_in_place_of_an_entry_is_refused_without_hanging(tmp_path: Path) -> None:
    store = cache.Store(cache.private_dir(str(tmp_path / "c")), os.urandom(32))
    os.mkfifo(store.path("0" * 32), 0o600)
    with pytest.raises(StoreError, match="it is not a file"):
        store.read("0" * 32)
    shutil.rmtree(tmp_path / "c")
