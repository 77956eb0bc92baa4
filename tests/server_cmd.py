"""The CMD of `credproc exec --server` in tests: a program as a job would be, reporting what it
was given to the test through files in STATE (never on stdout or stderr, which are credproc's).

Usage: server_cmd.py MODE STATE [ARGS...]
  hold [CODE]   write STATE/env.json (its environment and pid, its parent's pid), then wait
                until STATE/stop exists; exit CODE (default 0)
  signals [N]   record each delivery of SIGINT, SIGTERM and SIGHUP in STATE/signals; after
                N (default 1), wait a second for more, then die of the last one
  fetch N PAUSE N GETs, PAUSE seconds apart; the AccessKeyId of each on stdout
  boto3 N PAUSE N calls of boto3, each with a new session (so a new default chain, which finds
                the container endpoint), PAUSE seconds apart; a JSON line on stdout each
  bench N R S   time N sequential GETs on a warm cache, then R renewals S seconds apart as
                botocore's container provider sees them; one line of JSON on stdout
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import time
import urllib.parse
from pathlib import Path


def write_env(state: Path) -> None:
    report = {"env": dict(os.environ), "pid": os.getpid(), "ppid": os.getppid()}
    (state / "env.json.tmp").write_text(json.dumps(report))
    (state / "env.json.tmp").rename(state / "env.json")


def hold(state: Path, code: int) -> int:
    write_env(state)
    while not (state / "stop").exists():
        time.sleep(0.02)
    return code


def signals(state: Path, expected: int) -> int:
    # every delivery writes a byte to the wakeup pipe at once, where Python's own handlers
    # would run once for two deliveries that came close together
    deliveries, wakeup = os.pipe()
    os.set_blocking(wakeup, False)
    signal.set_wakeup_fd(wakeup)
    for signo in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signo, lambda *_: None)
    write_env(state)
    os.set_blocking(deliveries, False)
    seen: list[int] = []
    deadline = None
    # busy, not asleep: a signal to a running process is taken at once, so one relayed a
    # moment after the terminal's arrives as a second delivery instead of merging with it
    while deadline is None or time.monotonic() < deadline:
        try:
            seen += os.read(deliveries, 64)
        except BlockingIOError:
            continue
        with open(state / "signals", "w") as log:
            log.write("".join(f"{signal.Signals(signo).name}\n" for signo in seen))
        if deadline is None and len(seen) >= expected:
            deadline = time.monotonic() + 1.0  # one delivered twice would come within this
    signal.signal(seen[-1], signal.SIG_DFL)
    os.kill(os.getpid(), seen[-1])
    return 1


def get(url: str, token: str) -> tuple[int, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", parts.path or "/", headers={"Authorization": token})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def bench(count: int, renewals: int, stale_after: float) -> int:
    url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    start = time.perf_counter()
    keys = set()
    for _ in range(count):
        status, body = get(url, token)
        assert status == 200, body
        keys.add(body["AccessKeyId"])
    warm = time.perf_counter() - start
    renewal_seconds = []
    for _ in range(renewals):
        time.sleep(stale_after)  # the served credentials turn stale
        from botocore.credentials import ContainerProvider  # what boto3 runs for this URI

        begin = time.perf_counter()
        fetched = ContainerProvider().load().get_frozen_credentials()
        renewal_seconds.append(time.perf_counter() - begin)
        keys.add(fetched.access_key)
    print(json.dumps({"warm_seconds": warm, "renewals": renewal_seconds, "keys": len(keys)}))
    return 0


def fetch(times: int, pause: float) -> int:
    url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    for call in range(times):
        if call:
            time.sleep(pause)
        status, body = get(url, token)
        print(body["AccessKeyId"] if status == 200 else f"{status} {body}", flush=True)
    return 0


def boto3_calls(times: int, pause: float) -> int:
    import boto3

    for call in range(times):
        if call:
            time.sleep(pause)
        session = boto3.Session()
        credentials = session.get_credentials()
        identity = session.client("sts").get_caller_identity()
        key, method = credentials.get_frozen_credentials().access_key, credentials.method
        print(json.dumps({"Arn": identity["Arn"], "AccessKeyId": key, "method": method}))
        sys.stdout.flush()
    return 0


def main() -> int:
    mode, state = sys.argv[1], Path(sys.argv[2])
    if mode == "hold":
        return hold(state, int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    if mode == "signals":
        return signals(state, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    if mode == "fetch":
        return fetch(int(sys.argv[3]), float(sys.argv[4]))
    if mode == "boto3":
        return boto3_calls(int(sys.argv[3]), float(sys.argv[4]))
    if mode == "bench":
        return bench(int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    raise SystemExit(f"server_cmd.py: unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
