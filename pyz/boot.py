"""credproc.pyz's __main__: run credproc from the copy unpacked once beside the user's cache.

cryptography's compiled module cannot load from inside a zip and botocore reads its data
from files, so the payload (payload.zip inside this file) is unpacked on the first run, and
only what this Python needs: the shared packages and this Python version's compiled ones
(the folders lib and lib-cpXY...).
Unpacking goes into a temporary folder renamed into place, under a lock, so parallel first
runs wait for one another and nobody ever sees half a copy. Later runs only look for the
folder (a few stat calls) and import from it: no zipfile, no hashing.

Stdlib only, and on the warm path only os and sys. The build (pyz/build.py) fills in the
upper-case constants below.
"""

import os
import sys

BUILD = "@BUILD@"  # credproc's version and the payload's digest: one folder per build
PYTHONS = "@PYTHONS@"  # the CPython versions whose compiled packages are inside: cp310 ...
SYSTEM = "@SYSTEM@"  # the operating system and machine the compiled packages are for
LOCK_SECONDS = 60.0  # another first run unpacks in about a second
STORE_ERROR = 8  # credproc's exit code for "local cache or key unusable"


def fail(what: str, fix: str, code: int = STORE_ERROR) -> None:
    sys.stderr.write(f"credproc: {what} ({fix})\n")
    sys.exit(code)


def candidates() -> list[str]:
    """Where to unpack, first choice first: CREDPROC_PYZ_DIR, the user's cache, /tmp."""
    chosen = os.environ.get("CREDPROC_PYZ_DIR", "").strip()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache")
    temp = os.environ.get("TMPDIR", "").strip() or "/tmp"
    found = [chosen] if chosen else []
    found.append(os.path.join(cache, "credproc-pyz"))
    found.append(os.path.join(temp, f"credproc-pyz-{os.getuid()}"))
    return found


def trusted(folder: str) -> bool:
    """Ours (or root's) and writable by nobody else: code is imported from it."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    mine = st.st_uid in (os.getuid(), 0)
    return os.path.isdir(folder) and not os.path.islink(folder) and mine and not st.st_mode & 0o022


def copy_in(root: str, tag: str) -> str:
    return os.path.join(root, f"{BUILD}-{tag}")


def find(tag: str) -> str:
    """The unpacked copy of this build for this Python in the first folder that has one or
    can take one (unpacking it there)."""
    problems = []
    for root in candidates():
        if trusted(root) and os.path.isdir(os.path.join(copy_in(root, tag), "lib")):
            return copy_in(root, tag)
        try:
            return unpack(root, tag)
        except OSError as exc:
            problems.append(f"{root}: {exc.strerror or exc}")
    fail(
        "cannot unpack credproc.pyz: " + "; ".join(problems),
        "set CREDPROC_PYZ_DIR to a folder you own that can be written",
    )
    raise AssertionError  # fail() exits


def private_root(root: str) -> None:
    os.makedirs(root, mode=0o700, exist_ok=True)
    if not trusted(root):
        raise PermissionError(0, "it belongs to someone else or others can write to it")


def lock(root: str) -> int:
    """An exclusive lock on the root (released when the process ends), waited for briefly."""
    import fcntl
    import time

    fd = os.open(os.path.join(root, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                message = "another credproc.pyz has been unpacking for a minute"
                raise TimeoutError(0, message) from None
            time.sleep(0.02)


def unpack(root: str, tag: str) -> str:
    private_root(root)
    fd = lock(root)
    try:
        final = copy_in(root, tag)
        if os.path.isdir(os.path.join(final, "lib")):
            return final  # another first run finished it while we waited
        import shutil

        for name in os.listdir(root):  # half copies of first runs that were killed
            if name.startswith(".tmp-"):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        temp = os.path.join(root, f".tmp-{os.getpid()}")
        extract(temp, tag)
        os.rename(temp, final)
        return final
    finally:
        os.close(fd)


def extract(folder: str, tag: str) -> None:
    """The shared packages and this Python's compiled ones, from the payload into `folder`."""
    import io
    import zipfile

    with zipfile.ZipFile(os.path.dirname(__file__)) as outer:
        payload = io.BytesIO(outer.read("payload.zip"))
    with zipfile.ZipFile(payload) as inner:
        for info in inner.infolist():
            if not ours(info.filename.split("/")[0], tag) or info.is_dir():
                continue
            path = os.path.join(folder, *info.filename.split("/"))
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(inner.read(info))
    os.chmod(folder, 0o755)


def ours(lib: str, tag: str) -> bool:
    """lib holds what every Python uses; lib-cp311.cp312 what those two do."""
    return lib == "lib" or (lib.startswith("lib-") and tag in lib[len("lib-") :].split("."))


def system() -> str:
    return f"{sys.platform}-{os.uname().machine}"


def main() -> None:
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    if sys.implementation.name != "cpython" or tag not in PYTHONS.split() or system() != SYSTEM:
        fail(
            f"this credproc.pyz is for {SYSTEM} with CPython "
            + ", ".join(f"{p[2]}.{p[3:]}" for p in PYTHONS.split())
            + f"; this is {system()} with {sys.implementation.name} {sys.version.split()[0]}",
            "run it with one of those Pythons, or build one here: make -f zipapp.mk",
            code=1,
        )
    where = find(tag)
    archive = os.path.dirname(__file__)
    libs = [os.path.join(where, lib) for lib in sorted(os.listdir(where))]
    sys.path[:] = libs + [entry for entry in sys.path if entry != archive]
    from credproc.cli import main as credproc

    sys.exit(credproc())


if __name__ == "__main__":
    main()
