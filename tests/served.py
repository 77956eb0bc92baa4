"""`credproc exec --server` running tests/server_cmd.py as its CMD, and raw HTTP requests to
the server (http.client, so every header is the test's choice)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

from tests.conftest import CREDPROC, PYTHON, ROOT, World
from tests.test_parallel import start as start_credproc

SERVER_CMD = str(ROOT / "tests" / "server_cmd.py")
# role credentials that the front hands out stale within this many seconds: credproc serves
# only credentials with more than 16 minutes left, so the next request after it renews them
STALE_AFTER = 3
SHORT_ROLE = {"AssumeRole": 16 * 60 + STALE_AFTER}
STATE = "{state}"  # in a command: the folder where server_cmd.py reports
_numbers = itertools.count()


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, body

    def json(self) -> Any:
        return json.loads(self.raw)


def request(
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    host: str | None = None,
    timeout: float = 30,
) -> Reply:
    """One request; `host` replaces the Host header http.client would send."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.putrequest(method, parts.path or "/", skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        reply = connection.getresponse()
        return Reply(reply.status, dict(reply.getheaders()), reply.read())
    finally:
        connection.close()


class Served:
    """credproc exec --profile PROFILE --server [ARGS] -- server_cmd.py MODE STATE [MORE]."""

    def __init__(
        self,
        world: World,
        *args: str,
        mode: str = "hold",
        more: tuple[str, ...] = (),
        profile: str = "prod-mfa",
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        start: bool = True,
    ) -> None:
        self.world = world
        self.state = world.root / f"served-{next(_numbers)}"
        self.state.mkdir()
        cmd = command or [PYTHON, SERVER_CMD, mode, STATE, *more]
        cmd = [str(self.state) if arg == STATE else arg for arg in cmd]
        self.argv = [CREDPROC, "exec", "--profile", profile, "--server", *args, "--", *cmd]
        self.report: dict[str, Any] = {}
        if not start:  # the test starts self.argv its own way
            return
        self.proc = start_credproc(world, *self.argv[1:], env=env)  # as an SDK would

    def ready(self, timeout: float = 60) -> Served:
        """Wait until CMD runs and has written what it was given."""
        report = self.state / "env.json"
        deadline = time.monotonic() + timeout
        while not report.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"credproc ended with {self.proc.returncode}: {err}{out}")
            assert time.monotonic() < deadline, "CMD did not start"
            time.sleep(0.02)
        self.report = json.loads(report.read_text())
        return self

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = self.report["env"]
        return env

    @property
    def url(self) -> str:
        return self.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]

    @property
    def token(self) -> str:
        return self.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 0

    def get(self, **kwargs: Any) -> Reply:
        """A request as an SDK sends it: the token as the whole Authorization header."""
        headers = {"Authorization": self.token, **kwargs.pop("headers", {})}
        return request(self.url, headers=headers, **kwargs)

    def credentials(self) -> dict[str, str]:
        reply = self.get()
        assert reply.status == 200, reply.raw
        answer: dict[str, str] = reply.json()
        return answer

    def stop(self, timeout: float = 30) -> tuple[int, str, str]:
        """Let CMD end; credproc's exit status, stdout and stderr."""
        (self.state / "stop").touch()
        return self.finish(timeout)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()

    def signals(self) -> list[str]:
        path = self.state / "signals"
        return path.read_text().split() if path.exists() else []


def proc_counts(pid: int) -> tuple[int, int]:
    """Open file descriptors and threads of a process, from /proc."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir())), len(
        list(Path(f"/proc/{pid}/task").iterdir())
    )
