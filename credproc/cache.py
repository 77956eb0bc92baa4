"""The on-disk cache: its private folder, the key file, atomic writes of sealed entries
(the checks of private files are `private.py`'s)."""

from __future__ import annotations

import contextlib
import os
import time

from credproc import entry, log, paths
from credproc.entry import CacheEntry, Credentials
from credproc.errors import StoreError
from credproc.private import (
    TEMP_SUFFIX,
    open_private,
    private_dir,
    read_all,
    read_private,
    remove_private,
    write_private,
)

MAX_ENTRY_BYTES = 1 << 16
POINTER_SUFFIX = ".hit"  # shortcut.py's pointers: a dot, so no entry name
STALE_TEMP_SECONDS = 60  # a write takes milliseconds: an older temp file lost its writer


def _new_key(path: str, *, replace: bool) -> bool:
    try:
        return write_private(path, os.urandom(entry.KEY_BYTES), replace=replace)
    except OSError as exc:
        raise StoreError(
            f"cannot create key {path}: {exc.strerror}",
            "free some space or check the folder's permissions",
        ) from None


def load_key(path: str) -> bytes:
    """The 32-byte key, created once; a key of the wrong size is replaced with a warning."""
    private_dir(os.path.dirname(path) or ".")
    for _ in range(3):
        try:
            fd = open_private(path, secret=True)
        except OSError as exc:
            raise StoreError(
                f"cannot read key {path}: {exc.strerror}", "check its permissions"
            ) from None
        if fd is None:
            if _new_key(path, replace=False):
                log.debug(f"created a new key in {path}")
            continue  # read back whichever key won a race
        try:
            key = read_all(fd, entry.KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(key) == entry.KEY_BYTES:
            return key
        log.alert(
            f"key {path} has {len(key)} bytes, not {entry.KEY_BYTES}: "
            "made a new key, every cached entry is now a miss"
        )
        _new_key(path, replace=True)
    raise StoreError(f"cannot create key {path}", "check the folder's permissions")


class Store:
    """Sealed entries in one private folder, one file per entry identity."""

    def __init__(self, folder: str, key: bytes) -> None:
        self.folder = folder
        self.key = key

    @classmethod
    def open(cls) -> Store:
        folder = private_dir(paths.cache_dir())
        return cls(folder, load_key(paths.key_file()))

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def _blob(self, name: str) -> bytes | None:
        try:
            return read_private(self.path(name), MAX_ENTRY_BYTES, secret=False)
        except OSError as exc:
            log.warn(f"cache entry {name} unreadable ({exc.strerror}): treated as a miss")
            return None

    def read(self, name: str) -> CacheEntry | None:
        """The entry, or None for a miss (absent, damaged, foreign)."""
        found = self.read_raw(name)
        return found[0] if found else None

    def read_raw(self, name: str) -> tuple[CacheEntry, bytes] | None:
        """The entry and the bytes it was read from, or None for a miss."""
        blob = self._blob(name)
        try:
            return None if blob is None else (entry.unseal(self.key, name, blob), blob)
        except entry.InvalidEntry as exc:
            log.warn(f"cache entry {name} {exc}: treated as a miss")
            return None

    def raw(self, name: str) -> bytes | None:
        """Entry `name`'s bytes as they are on disk, not opened (a fresh nonce makes every
        write of an entry different)."""
        return self._blob(name)

    def read_sealed(self, name: str) -> bytes | None:
        """What write_sealed stored under `name`, or None (absent, damaged, foreign)."""
        blob = self._blob(name)
        try:
            return None if blob is None else entry.unseal_bytes(self.key, name, blob)
        except entry.InvalidEntry as exc:
            log.warn(f"cache file {name} {exc}: ignored")
            return None

    def write_sealed(self, name: str, plain: bytes) -> bool:
        """Seal `plain` under `name` and store it; a failure is a warning, as in write."""
        return self._put(name, entry.seal_bytes(self.key, name, plain))

    def _put(self, name: str, sealed: bytes) -> bool:
        try:
            write_private(self.path(name), sealed)
            return True
        except OSError as exc:
            log.warn(f"could not write cache entry {name} ({exc.strerror}): not cached")
            return False

    def credentials(self, name: str, kind: str) -> Credentials | None:
        """The credentials of entry `name` if it is a `kind` entry, else None."""
        found = self.read(name)
        return found.credentials if found is not None and found.kind == kind else None

    def write(self, name: str, record: CacheEntry) -> bool:
        """Seal and store; a failure (disk full, read-only) is a warning, not an error."""
        self.sweep(older_than=STALE_TEMP_SECONDS)
        return self._put(name, entry.seal(self.key, name, record))

    def remove(self, name: str) -> bool:
        return remove_private(self.path(name))

    def forget(self, names: list[str]) -> int:
        """Remove these entries and every shortcut pointer, which hold copies of entries'
        credentials (the next hit makes its pointer again); how many entries were removed."""
        for pointer in os.listdir(self.folder):
            if pointer.endswith(POINTER_SUFFIX):
                self.remove(pointer)
        return sum(self.remove(name) for name in names)

    def names(self) -> list[str]:
        """Entry names; locks and temp files aside."""
        return sorted(n for n in os.listdir(self.folder) if "." not in n and not n.startswith("."))

    def sweep(self, older_than: float) -> None:
        """Remove temp files that a killed writer left behind; a read-only folder keeps them."""
        now = time.time()
        for name in os.listdir(self.folder):
            if not name.endswith(TEMP_SUFFIX):
                continue
            with contextlib.suppress(OSError):  # gone already, or a folder we cannot write
                if now - os.lstat(self.path(name)).st_mtime > older_than:
                    os.unlink(self.path(name))
