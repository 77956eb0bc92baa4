"""Build dist/credproc.pyz, or its lock: run by zipapp.mk with the build tools' Python.

    build.py lock  --system S --pythons "3.10 ..."    resolve pyproject's dependencies for
                   [--extras login]                   each Python; write pyz/lock.txt
                                                      (pyz/lock-login.txt with the extra)
    build.py build --system S --pythons "3.10 ..."    fetch exactly the locked wheels (by
                   --epoch T --out dist/credproc.pyz  hash), pack credproc and them
                   [--extras login]

The lock is derived from pyproject.toml: it names the dependencies it was resolved from, and
a build refuses a lock made from other ones. A build is reproducible: the same wheels, files
in sorted order, timestamps from the commit (--epoch), fixed modes, bytecode compiled with
unchecked hashes under a fixed hash seed. See boot.py for how the file runs.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import io
import os
import py_compile
import re
import shutil
import subprocess
import sys
import time
import zipfile

try:
    import tomllib
except ImportError:  # Python 3.10
    sys.exit("building credproc.pyz needs python3 3.11 or later (tomllib)")
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "pyz"
LOCK = ROOT / "pyz" / "lock.txt"
BOOT = ROOT / "pyz" / "boot.py"
HEAD = b'#!/bin/sh\nexec "${CREDPROC_PYTHON:-python3}" -IS "$0" "$@"\n'
# Of botocore's data, what credproc's flows load: the services it calls and the shared files.
sys.path.insert(0, str(ROOT))
from credproc.rules import BOTOCORE_SERVICES  # noqa: E402  (stdlib only; defined once there)

BOTOCORE_SHARED = ("endpoints.json", "partitions.json", "_retry.json")
BOTOCORE_SHARED += ("sdk-default-configuration.json",)
NOT_RUN = re.compile(r"[^/]+\.data/scripts/|[^/]+\.dist-info/RECORD$")  # not needed to run


def dependencies(extras: list[str]) -> list[str]:
    """pyproject's dependencies, and those of the optional extras asked for."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    found: list[str] = list(project["dependencies"])
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            sys.exit(f"pyproject.toml has no extra {extra!r}")
        found += project["optional-dependencies"][extra]
    return sorted(found)


def lock_file(extras: list[str]) -> Path:
    return LOCK.with_name("-".join(["lock", *extras]) + ".txt")


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def target(system: str, python: str) -> list[str]:
    """pip's options for wheels of `system` and CPython `python`, never a source build."""
    options = ["--only-binary=:all:", "--platform", system, "--python-version", python]
    return [*options, "--implementation", "cp"]


def lock(system: str, pythons: list[str], extras: list[str]) -> None:
    """Resolve pyproject's dependencies for each Python; one line per wheel and its Pythons."""
    wheels: dict[str, tuple[str, list[str]]] = {}
    for python in pythons:
        folder = WORK / "lock" / python
        shutil.rmtree(folder, ignore_errors=True)
        pip("download", *target(system, python), "-d", str(folder), *dependencies(extras))
        for path in sorted(folder.glob("*.whl")):
            wheels.setdefault(path.name, (sha256(path), []))[1].append(python)
    lines = [
        "# made by `make -f zipapp.mk lock`; the wheels inside dist/credproc.pyz, by hash",
        f"# dependencies: {', '.join(dependencies(extras))}",
        f"# system: {system}",
        f"# pythons: {' '.join(pythons)}",
        *(f"{name} sha256={digest} {' '.join(used)}" for name, (digest, used) in wheels.items()),
    ]
    lock_file(extras).write_text("\n".join(lines) + "\n")


def locked(system: str, pythons: list[str], extras: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The lock's wheels; an error when it was made from other dependencies or targets."""
    path = lock_file(extras)
    text = path.read_text() if path.exists() else ""
    header = dict(re.findall(r"^# (dependencies|system|pythons): (.*)$", text, re.M))
    wanted = {"dependencies": ", ".join(dependencies(extras)), "system": system}
    wanted["pythons"] = " ".join(pythons)
    if header != wanted:
        again = "make -f zipapp.mk lock" + (f" EXTRAS={','.join(extras)}" if extras else "")
        sys.exit(
            f"pyz/{path.name} was made for {header or 'nothing'}, not {wanted}: "
            f"run `{again}` and commit pyz/{path.name}"
        )
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, digest, *used = line.split()
            found[name] = (digest.removeprefix("sha256="), used)
    return found


def fetch(system: str, pythons: list[str], extras: list[str]) -> dict[Path, list[str]]:
    """The locked wheels, downloaded once into build/pyz/wheels and checked by hash."""
    wheels = locked(system, pythons, extras)
    folder = WORK / "wheels"
    for python in pythons:
        needed = [(n, d) for n, (d, used) in wheels.items() if python in used]
        missing = [
            (n, d) for n, d in needed if not (folder / n).exists() or sha256(folder / n) != d
        ]
        if missing:
            pins = WORK / f"pins-{python}.txt"
            pins.write_text("".join(f"{pin(n)} --hash=sha256:{d}\n" for n, d in missing))
            options = ["--no-deps", "--require-hashes", "-d", str(folder), "-r", str(pins)]
            pip("download", *target(system, python), *options)
    for name, (digest, _) in wheels.items():
        if sha256(folder / name) != digest:
            sys.exit(f"{name}: its hash is not the one in pyz/{lock_file(extras).name}")
    return {folder / name: used for name, (_, used) in wheels.items()}


def have(path: Path, digest: str) -> bool:
    return path.is_file() and sha256(path) == digest


def pin(wheel: str) -> str:
    name, version = wheel.split("-")[:2]
    return f"{name}=={version}"


def carried(path: str) -> bool:
    """Whether a wheel's file goes into the pyz: botocore's data only as credproc needs it."""
    if NOT_RUN.match(path):
        return False
    if path.startswith("botocore/data/"):
        rest = path[len("botocore/data/") :]
        return rest in BOTOCORE_SHARED or rest.split("/")[0] in BOTOCORE_SERVICES
    return True


def unpack_wheel(wheel: Path, into: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = re.sub(r"^[^/]+\.data/(purelib|platlib)/", "", info.filename)
            if info.is_dir() or not carried(name):
                continue
            path = into / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(info))


def stage(wheels: dict[Path, list[str]], pythons: list[str]) -> Path:
    """build/pyz/stage: lib/ (credproc and what every Python shares), and a lib-cpXY.cpXZ/
    for the wheels of only some Pythons (each wheel once, whatever the number of Pythons)."""
    folder = WORK / "stage"
    shutil.rmtree(folder, ignore_errors=True)
    for wheel, used in sorted(wheels.items()):
        unpack_wheel(wheel, folder / lib(used, pythons))
    for source in sorted((ROOT / "credproc").rglob("*.py")):
        path = folder / "lib" / source.relative_to(ROOT)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    here = tag(f"{sys.version_info[0]}.{sys.version_info[1]}")
    for path in sorted(folder.iterdir()):  # bytecode for this Python (the others compile it)
        if path.name == "lib" or here in path.name[len("lib-") :].split("."):
            compiled = compileall.compile_dir(
                path,
                ddir=path.name,
                quiet=2,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            if not compiled:
                sys.exit(f"compiling {path} failed")
    return folder


def tag(python: str) -> str:
    return "cp" + python.replace(".", "")


def lib(used: list[str], pythons: list[str]) -> str:
    """The folder of a wheel that these Pythons use: lib for all, else lib-cp311.cp312..."""
    return "lib" if used == pythons else "lib-" + ".".join(tag(python) for python in used)


def zipped(files: list[tuple[str, bytes]], epoch: int, stored: bool = False) -> bytes:
    """A zip of these files, sorted, with fixed times and modes: the same bytes every time."""
    when = time.gmtime(max(epoch, 315532800))[:6]  # zip times start in 1980
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, date_time=when)
            info.external_attr, info.create_system = 0o644 << 16, 3
            info.compress_type = method
            archive.writestr(info, data, compresslevel=None if stored else 9)
    return out.getvalue()


def build(system: str, pythons: list[str], extras: list[str], epoch: int, out: Path) -> None:
    folder = stage(fetch(system, pythons, extras), pythons)
    found = sorted(path for path in folder.rglob("*") if path.is_file())
    files = [(path.relative_to(folder).as_posix(), path.read_bytes()) for path in found]
    payload = zipped([(name, data) for name, data in files if "/" in name], epoch)
    build_id = f"{credproc_version()}-{hashlib.sha256(payload).hexdigest()[:16]}"
    boot = BOOT.read_text().replace("@BUILD@", build_id).replace("@SYSTEM@", system_name(system))
    boot = boot.replace("@PYTHONS@", " ".join(tag(p) for p in pythons))
    main = [("__main__.py", boot.encode()), ("__main__.pyc", compiled(boot))]
    outer = zipped([*main, ("payload.zip", payload)], epoch, stored=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(out.name + ".tmp")
    temp.write_bytes(HEAD + outer)
    temp.chmod(0o755)
    temp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, sha256 {digest}")


def compiled(source: str) -> bytes:
    """Bytecode of the boot for this Python, which zipimport takes over the source (and
    passes by for another Python): a run need not compile it."""
    (WORK / "__main__.py").write_text(source)
    py_compile.compile(
        str(WORK / "__main__.py"),
        cfile=str(WORK / "__main__.pyc"),
        dfile="__main__.py",
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return (WORK / "__main__.pyc").read_bytes()


def credproc_version() -> str:
    found = re.search(r'__version__ = "(.*)"', (ROOT / "credproc" / "__init__.py").read_text())
    return found.group(1) if found else "unknown"


def system_name(system: str) -> str:
    """The wheel platform tag as boot.py sees the machine: sys.platform and os.uname()."""
    machine = re.sub(r"^(manylinux\d*|manylinux_\d+_\d+|macosx_\d+_\d+)_", "", system)
    return ("darwin" if system.startswith("macosx") else "linux") + f"-{machine}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("lock", "build"))
    parser.add_argument("--system", required=True, help="a wheel platform tag")
    parser.add_argument("--pythons", required=True, help='CPython versions, e.g. "3.10 3.11"')
    parser.add_argument("--epoch", type=int, default=315532800, help="timestamp of the files")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "credproc.pyz")
    parser.add_argument("--extras", default="", help="optional extras of pyproject, e.g. login")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":  # sets in the bytecode keep their order
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    pythons, extras = args.pythons.split(), sorted(filter(None, args.extras.split(",")))
    WORK.mkdir(parents=True, exist_ok=True)
    if args.command == "lock":
        lock(args.system, pythons, extras)
    else:
        build(args.system, pythons, extras, args.epoch, args.out)


if __name__ == "__main__":
    main()
