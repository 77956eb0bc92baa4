"""The on-disk cache: private folders, the key file, atomic writes of sealed entries.

Checks follow ssh's for private keys: a folder, key or entry another user owns, that others
can write (or read, for the key), or that is a symlink, is refused with the fix, never
trusted and never repaired behind the user's back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time

from credproc import entry, log, paths
from credproc.entry import CacheEntry, Credentials
from credproc.errors import StoreError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in place of a file must not hang us
POSIX = hasattr(os, "getuid")
MAX_ENTRY_BYTES = 1 << 16
TEMP_SUFFIX = ".tmp"
POINTER_SUFFIX = ".hit"  # shortcut.py's pointers: a dot, so no entry name
STALE_TEMP_SECONDS = 60  # a write takes milliseconds: an older temp file lost its writer


def _refuse(path: str, problem: str, fix: str) -> StoreError:
    return StoreError(f"refusing {path}: {problem}", fix)


def _me() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def check_private(path: str, st: os.stat_result, *, secret: bool, directory: bool) -> None:
    """Refuse what another user owns or could tamper with (or read, when secret)."""
    kind = "folder" if directory else "file"
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "it is a symlink", f"replace it with a real {kind}")
    if not (stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)):
        raise _refuse(path, f"it is not a {kind}", f"remove {path}")
    if not POSIX:
        return
    if st.st_uid != os.getuid():
        raise _refuse(path, f"it is owned by uid {st.st_uid}, not you", f"chown {_me()} {path}")
    if stat.S_IMODE(st.st_mode) & (0o077 if secret else 0o022):
        what = "read or write" if secret else "write to"
        mode = "700" if directory else "600"
        raise _refuse(path, f"group or others can {what} it", f"chmod {mode} {path}")


def private_dir(path: str, *, secret: bool = False) -> str:
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


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def open_private(path: str, *, secret: bool) -> int | None:
    """An fd on a checked private file (not a symlink), or None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        st = _lstat(path)
        if st is not None:  # a symlink (ELOOP) or a foreign file is refused, not misread
            check_private(path, st, secret=secret, directory=False)
        raise
    try:
        check_private(path, os.fstat(fd), secret=secret, directory=False)
    except StoreError:
        os.close(fd)
        raise
    return fd


def read_private(path: str, limit: int, *, secret: bool) -> bytes | None:
    """A checked private file's bytes (at most `limit`), or None when it does not exist."""
    fd = open_private(path, secret=secret)
    if fd is None:
        return None
    try:
        return read_all(fd, limit)
    finally:
        os.close(fd)


def remove_private(path: str) -> bool:
    """Remove a file of ours; False when it was not there."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot remove {path}: {exc.strerror}", "check its permissions") from None


def read_all(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def fsync_dir(path: str) -> None:
    """Make a rename durable; a filesystem that cannot sync folders is let be."""
    if POSIX:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                raise
        finally:
            os.close(fd)


def write_private(path: str, data: bytes, *, replace: bool = True) -> bool:
    """Write atomically with mode 0600: temp file, fsync, rename (or link when not replacing).

    Returns False when not replacing and the file already existed.
    """
    folder = os.path.dirname(path) or "."
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
        try:
            write_private(self.path(name), entry.seal_bytes(self.key, name, plain))
            return True
        except OSError as exc:
            log.warn(f"could not write cache file {name} ({exc.strerror})")
            return False

    def credentials(self, name: str, kind: str) -> Credentials | None:
        """The credentials of entry `name` if it is a `kind` entry, else None."""
        found = self.read(name)
        return found.credentials if found is not None and found.kind == kind else None

    def write(self, name: str, record: CacheEntry) -> bool:
        """Seal and store; a failure (disk full, read-only) is a warning, not an error."""
        self.sweep(older_than=STALE_TEMP_SECONDS)
        try:
            write_private(self.path(name), entry.seal(self.key, name, record))
            return True
        except OSError as exc:
            log.warn(f"could not write cache entry {name} ({exc.strerror}): not cached")
            return False

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
