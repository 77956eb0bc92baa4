"""The faults a credential helper meets: a flaky or unreachable STS, a wrong clock, a full or
read-only disk, a writer killed mid-write, a caller that stopped listening."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credproc import cache
from credproc.entry import ROLE, CacheEntry, Credentials
from tests.conftest import CREDPROC, PYTHON, World

# --- STS: retried, reported, bounded --------------------------------------------------------


def failure(world: World, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and the one stderr line of a run that must fail."""
    done = world.run("--profile", "prod-mfa", *args, env=env)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("credproc: "), done.stderr
    return done.returncode, done.stderr


@pytest.mark.parametrize("fault", ["throttle", "server_errors"])
def test_throttling_and_server_errors_are_retried_in_standard_mode(
    world: World, fault: str
) -> None:
    world.standard_config()
    setattr(world.sts.faults, fault, 2)
    world.serve()
    assert world.sts.actions() == ["GetSessionToken"] * 3 + ["AssumeRole"]
    codes = {call["TokenCode"] for call in world.sts.calls if "TokenCode" in call}
    assert codes == {"100000"}  # botocore resent the request; nobody was asked again
    assert world.prompts() == 1


def test_throttling_that_outlasts_the_retries_is_reported(world: World) -> None:
    world.standard_config()
    world.sts.faults.throttle = 3
    code, line = failure(world)
    assert code == 6
    assert "throttled GetSessionToken 3 times (Throttling)" in line
    assert world.sts.actions() == ["GetSessionToken"] * 3


def test_server_errors_that_outlast_the_retries_name_the_endpoint(world: World) -> None:
    world.standard_config()
    world.sts.faults.server_errors = 3
    code, line = failure(world)
    assert code == 7
    assert f"STS at {world.sts.url} failed GetSessionToken 3 times" in line
    assert "InternalFailure (HTTP 500)" in line
    assert world.sts.actions() == ["GetSessionToken"] * 3


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens here once it is closed


def test_a_refused_connection_ends_quickly_in_one_line_naming_the_endpoint(world: World) -> None:
    world.standard_config()
    endpoint = f"http://127.0.0.1:{closed_port()}"
    began = time.monotonic()
    code, line = failure(world, env={"AWS_ENDPOINT_URL_STS": endpoint})
    assert time.monotonic() - began < 30
    assert code == 7
    assert f"cannot reach STS at {endpoint}: connection refused (3 attempts)" in line


def test_a_host_name_that_does_not_resolve_ends_in_one_line_naming_the_endpoint(
    world: World,
) -> None:
    world.standard_config()
    endpoint = "https://sts.no-such-host.invalid"
    began = time.monotonic()
    code, line = failure(world, env={"AWS_ENDPOINT_URL_STS": endpoint})
    assert time.monotonic() - began < 30
    assert code == 7
    assert f"cannot reach STS at {endpoint}: the host name does not resolve" in line


def test_a_resolver_that_never_answers_is_given_5_seconds(world: World, tmp_path: Path) -> None:
    """As root only: a mount namespace gives credproc a resolv.conf naming a silent server."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private /etc/resolv.conf")
    world.standard_config()
    endpoint = "https://sts.no-such-host.invalid"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.45.67.89", 53))  # takes queries, never answers
        conf = tmp_path / "resolv.conf"
        conf.write_text("nameserver 127.45.67.89\noptions timeout:30 attempts:1\n")
        wrapper = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        command = ["unshare", "--mount", "--", "sh", "-c", wrapper, str(conf), CREDPROC]
        began = time.monotonic()
        done = subprocess.run(
            [*command, "--profile", "prod-mfa"],
            env={**world.env, "AWS_ENDPOINT_URL_STS": endpoint},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        took = time.monotonic() - began
    if "mount" in done.stderr and "credproc" not in done.stderr:
        pytest.skip(f"no private mount here: {done.stderr.strip()}")
    assert done.returncode == 7 and done.stdout == ""
    assert done.stderr == f"credproc: cannot reach STS at {endpoint}: no DNS answer in 5 s " + (
        "(check the network, region and endpoint_url / AWS_ENDPOINT_URL_STS)\n"
    )
    assert 5 <= took < 30


def test_a_stalled_sts_ends_within_30_seconds_naming_the_endpoint(world: World) -> None:
    """Slow by nature (about 15 s): three attempts each wait out the 5 s read timeout."""
    world.standard_config()
    world.sts.faults.stall = 5.5
    began = time.monotonic()
    code, line = failure(world)
    took = time.monotonic() - began
    time.sleep(0.7)  # let the front's stalled replies go out before the next test
    assert took < 30
    assert code == 7
    assert f"cannot reach STS at {world.sts.url}: no answer within 5 s (3 attempts)" in line
    assert world.sts.actions() == ["GetSessionToken"] * 3


@pytest.mark.parametrize(("offset", "words"), [(600, "10 min behind"), (-660, "11 min ahead of")])
def test_a_clock_more_than_5_minutes_off_is_reported_as_such(
    world: World, offset: float, words: str
) -> None:
    world.standard_config()
    world.sts.faults.clock_offset = offset
    world.sts.faults.deny = (
        "Signature expired: 20260101T000000Z is now earlier than 20260101T001000Z"
    )
    code, line = failure(world)
    assert code == 6
    assert f"this computer's clock is {words} AWS" in line
    assert "set the clock right" in line


def test_a_small_clock_difference_is_not_blamed(world: World) -> None:
    world.standard_config()
    world.sts.faults.clock_offset = 120
    world.sts.faults.deny = "not allowed"
    code, line = failure(world)
    assert code == 6
    assert "clock" not in line and "AWS refused GetSessionToken: not allowed" in line


def test_a_request_sts_would_refuse_is_a_configuration_error_before_any_prompt(
    world: World,
) -> None:
    world.standard_config(external_id="x")  # STS wants 2 to 1224 characters
    code, line = failure(world)
    assert code == 3
    assert "external_id is not 2 to 1224" in line
    assert world.prompts() == 0 and world.sts.calls == []


def test_a_bad_endpoint_url_is_a_configuration_error(world: World) -> None:
    world.standard_config()
    code, line = failure(world, env={"AWS_ENDPOINT_URL_STS": "not a url"})
    assert code == 3
    assert "cannot make an STS client for profile prod-mfa: Invalid endpoint: not a url" in line


# --- the disk: full, read-only, or a writer killed at any instant ---------------------------


def _mount(args: list[str]) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@contextlib.contextmanager
def full_disk(folder: Path) -> Iterator[dict[str, Any]]:
    """A full filesystem at `folder`; yields extra arguments for world.run.

    As root with mount rights: a tmpfs of one page, filled (writes fail with ENOSPC).
    Otherwise: RLIMIT_FSIZE 0 for credproc (writes fail with EFBIG), as a full disk does.
    """
    if _mount(["-t", "tmpfs", "-o", "size=4k,mode=700", "tmpfs", str(folder)]):
        try:
            with contextlib.suppress(OSError), open(folder / "filler", "wb") as filler:
                filler.write(b"\0" * 65536)
            yield {}
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    else:
        yield {"preexec_fn": _limit_file_size}


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made read-only in a way that stops root too.

    As root with mount rights: an empty read-only tmpfs over it (EROFS). Else as root: the
    immutable attribute (EPERM). Else: chmod 500, which is enough for a plain user.
    """
    if _mount(["-t", "tmpfs", "-o", "ro,mode=700", "tmpfs", str(folder)]):
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    elif os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("root without mount or chattr: no way to make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)


def cold_cache_with_key(world: World) -> None:
    """The cache folder and the key exist; no entry does."""
    world.standard_config()
    assert world.run("status").returncode == 0
    assert world.key_file.exists() and world.cache_dir.is_dir()
    assert not list(world.cache_dir.iterdir())


def test_a_read_only_cache_folder_still_gives_credentials(world: World) -> None:
    cold_cache_with_key(world)
    with read_only(world.cache_dir):
        with pytest.raises(OSError):
            (world.cache_dir / "probe").write_text("")  # really read-only, root or not
        quiet = world.serve()
        verbose = world.run("--profile", "prod-mfa", "-v")
    assert verbose.returncode == 0 and json.loads(verbose.stdout)["AccessKeyId"]
    assert "cannot create lock" in verbose.stderr
    assert "warning: could not write cache entry" in verbose.stderr
    assert quiet["AccessKeyId"] != json.loads(verbose.stdout)["AccessKeyId"]
    assert world.prompts() == 2  # nothing could be cached, so each call asked


def test_a_full_disk_still_gives_credentials(world: World) -> None:
    cold_cache_with_key(world)
    with full_disk(world.cache_dir) as extra:
        quiet = world.serve(**extra)
        verbose = world.run("--profile", "prod-mfa", "-v", **extra)
        leftovers = [p.name for p in world.cache_dir.iterdir() if p.name != "filler"]
    assert verbose.returncode == 0 and json.loads(verbose.stdout)["AccessKeyId"]
    assert "warning: could not write cache entry" in verbose.stderr
    assert quiet["AccessKeyId"] != json.loads(verbose.stdout)["AccessKeyId"]
    assert all(name.endswith(".lock") for name in leftovers)  # no temp file left behind


# each record says which write it is (role_arn), is padded to a random size (mfa_serial) and
# carries a checksum of both (the access key id)
WRITER = """
import hashlib, random, sys
from credproc.cache import Store
from credproc.entry import ROLE, CacheEntry, Credentials
store = Store(sys.argv[1], bytes.fromhex(sys.argv[2]))
i = 0
while True:
    name = "%032x" % (i % 4)
    pad = "x" * random.randrange(0, 20000)
    check = hashlib.sha256(f"{name}:{i}:{pad}".encode()).hexdigest()
    creds = Credentials(check, "secret", "token", 2000000000)
    assert store.write(name, CacheEntry(ROLE, name, str(i), pad, creds))
    if i == 3:
        print("ready", flush=True)
    i += 1
"""


def test_a_writer_killed_at_any_instant_leaves_only_whole_entries(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    key = os.urandom(32)
    store = cache.Store(str(folder), key)
    rng = random.Random(5)
    seen: set[int] = set()
    for _ in range(12):
        writer = subprocess.Popen(
            [PYTHON, "-c", WRITER, str(folder), key.hex()], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.08))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert store.names() == [f"{n:032x}" for n in range(4)]
        for name in store.names():
            record = store.read(name)
            assert record is not None and record.credentials, f"entry {name} is damaged"
            digest = f"{name}:{record.role_arn}:{record.mfa_serial}".encode()
            assert record.profile == name
            assert record.credentials.access_key_id == hashlib.sha256(digest).hexdigest()
            seen.add(int(record.role_arn))
    temps = [p for p in folder.iterdir() if p.name.endswith(cache.TEMP_SUFFIX)]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())
    store.sweep(older_than=0)
    assert sorted(p.name for p in folder.iterdir()) == store.names()
    assert len(seen) > 4, "the writer was always killed at the same place"
    print(f"{len(temps)} temp files left by kills")


def test_the_next_write_sweeps_what_a_killed_writer_left_but_not_a_write_under_way(
    tmp_path: Path,
) -> None:
    store = cache.Store(cache.private_dir(str(tmp_path / "c")), os.urandom(32))
    left = Path(store.path("a" * 32 + ".4242.0badcafe" + cache.TEMP_SUFFIX))
    under_way = Path(store.path("a" * 32 + ".4343.0ddba11" + cache.TEMP_SUFFIX))
    for temp in (left, under_way):
        temp.write_bytes(b"half an entry")
    long_ago = time.time() - cache.STALE_TEMP_SECONDS - 1
    os.utime(left, (long_ago, long_ago))
    creds = Credentials("ASIAEXAMPLE", "secret", "token", 2000000000)
    assert store.write("b" * 32, CacheEntry(ROLE, credentials=creds))
    assert not left.exists()
    assert under_way.exists()
    assert store.names() == ["b" * 32]


# --- the caller that stopped listening ------------------------------------------------------


def test_a_closed_stdout_ends_quietly_and_the_session_is_kept(world: World) -> None:
    world.standard_config()
    proc = subprocess.Popen(
        [CREDPROC, "--profile", "prod-mfa"],
        env=world.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the caller is gone before credproc writes a byte
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert err == b"", err.decode()
    assert world.prompts() == 1 and world.sts.actions() == ["GetSessionToken", "AssumeRole"]
    world.serve()  # minted with a person's code: cached before the write that failed
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]
