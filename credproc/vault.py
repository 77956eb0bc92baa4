"""The vault: one sealed file per profile in the data folder's vault/, named by a hash of the
profile (no profile name reaches a file name), holding its long-term keys under the vault key.

Entries are sealed as cache entries are (entry.py) and checked as they are (cache.py), but a
bad one is an error naming `credproc add`, never a miss: these keys cannot be minted again.
Reads take no lock (writes are atomic renames); writers of one profile hold its lock, so two
`add`s or `rotate`s at once cannot lose a key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from credproc import entry, keystore, lock, log, paths, rules
from credproc.cache import MAX_ENTRY_BYTES
from credproc.entry import VaultKeys
from credproc.errors import VaultError
from credproc.plan import vault_name
from credproc.private import private_dir, read_private, remove_private, write_private


class Vault:
    def __init__(self) -> None:
        self.folder = private_dir(paths.vault_dir())
        self._key: bytes | None = None  # asked of the keystore once per process

    def path(self, profile: str) -> str:
        return os.path.join(self.folder, vault_name(profile))

    def names(self) -> list[str]:
        """Entry names; locks and temp files aside."""
        return sorted(n for n in os.listdir(self.folder) if "." not in n)

    def key(self, *, create: bool = False) -> bytes | None:
        if self._key is None:
            self._key = keystore.load(adding=create)
            if self._key is None and create:
                others = len(self.names())
                if others:
                    log.alert(
                        f"no vault key in {keystore.where()}: made a new one; the keys of "
                        f"{others} profile(s) already in the vault were sealed with another "
                        "vault key and do not open with this one"
                    )
                self._key = keystore.create()
        return self._key

    def read(self, profile: str) -> VaultKeys:
        """`profile`'s keys; VaultError with the fix when they cannot be had."""
        found = self.lookup(profile)
        if isinstance(found, str):
            raise VaultError(found, f"run `credproc add {profile}` to store its keys again")
        return found

    def lookup(self, profile: str) -> VaultKeys | str:
        """`profile`'s keys, or why they cannot be read (absent, damaged, no vault key);
        VaultError when the keystore cannot be asked."""
        name = vault_name(profile)
        blob = self._blob(os.path.join(self.folder, name))
        if blob is None:
            return f"the vault holds no keys for profile {profile}"
        key = self.key()
        if key is None:
            return (
                f"the vault key is missing from {keystore.where()}, so the keys of profile "
                f"{profile} cannot be read"
            )
        try:
            found = entry.unseal_vault(key, name, blob)
        except entry.InvalidEntry as exc:
            return f"the vault entry of profile {profile} {exc}"
        if found.profile != profile:  # a forgery made with the vault key itself
            return f"the vault entry of profile {profile} holds another profile's keys"
        return found

    def read_name(self, name: str) -> VaultKeys | None:
        """The entry in file `name`, or None when it does not open (for `status`)."""
        blob, key = self._blob(os.path.join(self.folder, name)), self.key()
        if blob is None or key is None:
            return None
        try:
            return entry.unseal_vault(key, name, blob)
        except entry.InvalidEntry:
            return None

    def write(self, keys: VaultKeys) -> None:
        key = self.key(create=True)
        assert key is not None
        path = self.path(keys.profile)
        try:
            write_private(path, entry.seal_vault(key, vault_name(keys.profile), keys))
        except OSError as exc:
            raise VaultError(
                f"cannot write the vault entry of profile {keys.profile}: {exc.strerror}",
                f"free some space or check the permissions of {self.folder}",
            ) from None

    def remove(self, profile: str) -> bool:
        return remove_private(self.path(profile))

    @contextlib.contextmanager
    def writing(self, profile: str) -> Iterator[None]:
        """Hold `profile`'s lock: one add, rotate or remove of its keys at a time."""
        who = f"pid {os.getpid()}, vault keys of profile {profile}"
        with lock.held(self.path(profile) + ".lock", who, lock.wait_bound(rules.prompt_timeout())):
            yield

    def _blob(self, path: str) -> bytes | None:
        try:
            return read_private(path, MAX_ENTRY_BYTES, secret=False)
        except OSError as exc:
            raise VaultError(
                f"cannot read {path}: {exc.strerror}", "check its permissions"
            ) from None


def source_keys(profile: str) -> entry.Credentials:
    """The long-term keys a miss signs with, for a source profile whose keys are in the vault."""
    keys = Vault().read(profile)
    log.debug(f"source keys of profile {profile} read from the vault")
    return keys.credentials()
