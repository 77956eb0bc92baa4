"""Files and folders of this user's alone: checked as ssh checks private keys (a file or
folder another user owns, that others can write (or read, when secret), or that is a symlink,
is refused with the fix, never trusted and never repaired behind the user's back), read
without following links, written atomically with mode 0600."""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from credproc.errors import StoreError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in place of a file must not hang us
POSIX = hasattr(os, "getuid")
TEMP_SUFFIX = ".tmp"


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
