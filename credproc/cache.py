"""The on-disk cache: private folders, the key file, atomic writes of sealed entries.

Checks follow ssh's for private keys: a folder or key another user owns, that others can
use, or that is a symlink, is refused with the fix, never trusted and never repaired behind
the user's back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from typing import Any

from credproc import entry, log, paths
from credproc.errors import StoreError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
POSIX = hasattr(os, "getuid")
MAX_ENTRY_BYTES = 1 << 16
TEMP_SUFFIX = ".tmp"


def _refuse(path: str, problem: str, fix: str) -> StoreError:
    return StoreError(f"refusing {path}: {problem}", fix)


def check_private(path: str, st: os.stat_result, *, secret: bool, directory: bool) -> None:
    """Refuse what another user owns or could tamper with (or read, when secret)."""
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(
            path, "it is a symlink", f"replace it with a real {'folder' if directory else 'file'}"
        )
    if directory != stat.S_ISDIR(st.st_mode):
        raise _refuse(path, f"it is not a {'folder' if directory else 'file'}", "remove it")
    if not POSIX:
        return
    if st.st_uid != os.getuid():
        raise _refuse(
            path, f"it is owned by uid {st.st_uid}, not you", f"chown {os.getuid()} {path}"
        )
    loose = stat.S_IMODE(st.st_mode) & (0o077 if secret else 0o022)
    if loose:
        mode = "700" if directory else "600"
        who = "others can read or write it" if secret else "others can write to it"
        raise _refuse(path, who, f"chmod {mode} {path}")


def private_dir(path: str, *, secret: bool = True) -> str:
    """Create (0700) or check a folder of ours."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise StoreError(
            f"cannot create {path}: {exc.strerror}", "check the path and its permissions"
        ) from None
    check_private(path, st, secret=secret, directory=True)
    return path


def fsync_dir(path: str) -> None:
    if POSIX:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private(path: str, data: bytes, *, replace: bool = True) -> bool:
    """Write atomically with mode 0600: temp file, fsync, rename (or link when not replacing).

    Returns False when not replacing and the file already existed.
    """
    folder = os.path.dirname(path)
    temp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # atomic "create with this content unless it exists"
            except FileExistsError:
                return False
        fsync_dir(folder)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # gone after a rename; a second name after a link


def load_key(path: str) -> bytes:
    """The 32-byte key, created once; a key of the wrong size is replaced with a warning."""
    private_dir(os.path.dirname(path) or ".", secret=False)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | NOFOLLOW)
        except FileNotFoundError:
            if write_private(path, os.urandom(entry.KEY_BYTES), replace=False):
                log.debug(f"created a new key in {path}")
            continue  # read back whichever key won a race
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(path, "it is a symlink", "replace it with a real file") from None
            raise StoreError(
                f"cannot read key {path}: {exc.strerror}", "check its permissions"
            ) from None
        try:
            check_private(path, os.fstat(fd), secret=True, directory=False)
            key = os.read(fd, entry.KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(key) == entry.KEY_BYTES:
            return key
        log.warn(
            f"key {path} has {len(key)} bytes, not {entry.KEY_BYTES}: "
            "made a new key, every cached entry is now a miss"
        )
        write_private(path, os.urandom(entry.KEY_BYTES))
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

    def read(self, name: str) -> dict[str, Any] | None:
        """The entry's payload, or None for a miss (absent, damaged, foreign)."""
        try:
            fd = os.open(self.path(name), os.O_RDONLY | NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warn(f"cache entry {name} unreadable ({exc.strerror}): treated as a miss")
            return None
        try:
            blob = os.read(fd, MAX_ENTRY_BYTES)
        finally:
            os.close(fd)
        try:
            return entry.unseal(self.key, name, blob)
        except entry.InvalidEntry as exc:
            log.warn(f"cache entry {name} {exc}: treated as a miss")
            return None

    def write(self, name: str, payload: dict[str, Any]) -> bool:
        """Seal and store; a failure (disk full, read-only) is a warning, not an error."""
        try:
            write_private(self.path(name), entry.seal(self.key, name, payload))
            return True
        except OSError as exc:
            log.warn(f"could not write cache entry {name}: {exc.strerror}")
            return False

    def remove(self, name: str) -> bool:
        try:
            os.unlink(self.path(name))
            return True
        except FileNotFoundError:
            return False

    def names(self) -> list[str]:
        """Entry names; locks and temp files aside."""
        return sorted(n for n in os.listdir(self.folder) if "." not in n and not n.startswith("."))

    def sweep(self, older_than: float = 3600) -> None:
        """Remove temp files that a killed writer left behind."""
        now = time.time()
        for name in os.listdir(self.folder):
            path = self.path(name)
            if name.endswith(TEMP_SUFFIX) and now - os.lstat(path).st_mtime > older_than:
                os.unlink(path)
