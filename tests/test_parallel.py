"""Many credproc processes at once: one prompt, one STS call per entry, a lock that dies with
its holder and a wait that ends. Real processes against moto's STS through the front."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from credproc import lock
from credproc.errors import MfaUnavailable
from tests.conftest import COUNTING, CREDPROC, PROD_MFA, PYTHON, ROOT, World, section

READ_ONLY_ROLE = "arn:aws:iam::123456789012:role/ReadOnly"


def start(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """credproc as an SDK starts it: pipes, stdin /dev/null, no controlling terminal."""
    return subprocess.Popen(
        [CREDPROC, *args],
        env={**world.env, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def two_roles_config(world: World, mfa_process: str = COUNTING) -> None:
    """prod-mfa (Admin) and readonly-mfa (ReadOnly): one device, one source, two roles."""
    readonly = section("readonly-mfa", **{**PROD_MFA, "role_arn": READ_ONLY_ROLE})
    world.standard_config(readonly, mfa_process=mfa_process)


def holding_probe(world: World, seconds: float) -> str:
    """An MFA program whose first call sleeps, holding its credproc's locks meanwhile."""
    return f"{PYTHON} {ROOT / 'tests' / 'mfa_probe.py'} {world.state} --hold-first {seconds}"


def wait_for_holder(world: World, proc: subprocess.Popen[str]) -> tuple[int, int]:
    """(credproc pid, MFA program pid) once the first prompt is under way."""
    note = world.state / "holding"
    deadline = time.monotonic() + 30
    while not note.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the MFA program was never started"
        time.sleep(0.02)
    holder, program = (int(n) for n in note.read_text().split())
    assert holder == proc.pid
    return holder, program


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_fifty_processes_on_a_cold_cache_prompt_once_and_agree(world: World) -> None:
    world.standard_config()
    procs = [start(world, "--profile", "prod-mfa") for _ in range(50)]
    results = [finish(proc) for proc in procs]
    assert [(code, err) for code, _, err in results] == [(0, "")] * 50
    outputs = {out for _, out, _ in results}
    assert len(outputs) == 1
    assert json.loads(outputs.pop())["AccessKeyId"]
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]


def test_two_roles_of_one_device_started_together_share_one_prompt(world: World) -> None:
    two_roles_config(world)
    procs = [start(world, "--profile", p) for p in ("prod-mfa", "readonly-mfa") * 25]
    results = [finish(proc) for proc in procs]
    assert [(code, err) for code, _, err in results] == [(0, "")] * 50
    admin = {out for proc, (_, out, _) in zip(procs, results) if "prod-mfa" in proc.args}
    read_only = {out for proc, (_, out, _) in zip(procs, results) if "readonly-mfa" in proc.args}
    assert len(admin) == 1 and len(read_only) == 1 and admin != read_only
    assert world.prompts() == 1
    actions = world.sts.actions()
    assert actions.count("GetSessionToken") == 1 and actions.count("AssumeRole") == 2
    roles = sorted(call["RoleArn"] for call in world.sts.calls if "RoleArn" in call)
    assert roles == sorted([f"arn:aws:iam::123456789012:role/{r}" for r in ("Admin", "ReadOnly")])


def test_killing_the_holder_mid_prompt_lets_the_next_caller_proceed(world: World) -> None:
    world.standard_config(mfa_process=holding_probe(world, 60))
    holder = start(world, "--profile", "prod-mfa")
    holder_pid, program_pid = wait_for_holder(world, holder)
    waiter = start(world, "--profile", "prod-mfa")
    try:
        time.sleep(0.5)  # the waiter is now polling the lock the holder keeps
        assert waiter.poll() is None
        kill(holder_pid)
        code, out, err = finish(waiter, timeout=30)
    finally:
        kill(program_pid)  # the holder's MFA program outlives it, without the lock
        kill(holder_pid)
        holder.communicate()
    assert (code, err) == (0, "")
    assert json.loads(out)["AccessKeyId"]
    assert holder.returncode == -signal.SIGKILL
    # the orphaned program never answered: the only recorded prompt is the waiter's
    assert world.prompts() == 1
    assert world.sts.actions() == ["GetSessionToken", "AssumeRole"]


def test_a_wait_for_a_stuck_prompt_ends_naming_the_holder(world: World) -> None:
    two_roles_config(world, holding_probe(world, 60))
    holder = start(world, "--profile", "prod-mfa")
    holder_pid, program_pid = wait_for_holder(world, holder)
    try:
        began = time.monotonic()
        # another role of the same device: it waits on the MFA session's lock
        code, out, err = finish(
            start(world, "--profile", "readonly-mfa", env={"CREDPROC_PROMPT_TIMEOUT": "1"}),
            timeout=30,
        )
        waited = time.monotonic() - began
    finally:
        kill(program_pid)
        kill(holder_pid)
        holder.communicate()
    assert code == 4 and out == ""
    assert err.count("\n") == 1 and err.startswith("credproc: gave up after waiting")
    assert f"pid {holder_pid}, profile prod-mfa" in err
    assert waited >= lock.wait_bound(1)
    assert world.prompts() == 0


def test_lock_is_exclusive_between_processes_and_released_on_exit(tmp_path: Path) -> None:
    path = str(tmp_path / "entry.lock")
    script = (
        "import sys, time; from credproc import lock\n"
        "with lock.held(sys.argv[1], 'pid 1, profile other', 5):\n"
        "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
    )
    other = subprocess.Popen([PYTHON, "-c", script, path, "0.6"], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline() == "held\n"
    began = time.monotonic()
    with lock.held(path, "pid 2, profile mine", 10):
        waited = time.monotonic() - began
        assert other.wait(timeout=5) == 0
    assert 0.2 < waited < 5
    assert (tmp_path / "entry.lock").read_text() == "pid 2, profile mine"
    assert oct((tmp_path / "entry.lock").stat().st_mode & 0o777) == "0o600"


def test_lock_wait_gives_up_with_the_holders_label(tmp_path: Path) -> None:
    path = str(tmp_path / "entry.lock")
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with lock.held(path, "pid 7, profile stuck\nsecond line", 5):
            inside.set()
            leave.wait(5)

    # flock locks belong to an open file, so a thread with its own open is another holder
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(5)
        began = time.monotonic()
        with pytest.raises(MfaUnavailable) as failure, lock.held(path, "pid 8, profile", 0.3):
            pass
        assert 0.3 <= time.monotonic() - began < 2
    finally:
        leave.set()
        holder.join()
    assert "(pid 7, profile stuck)" in failure.value.what
    assert "\n" not in failure.value.line()
