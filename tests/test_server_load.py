"""`credproc exec --server` under load: 50 SDKs at once at a renewal renew once and ask at most
once; 1,000 requests in a row leave no descriptor or thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from credproc import rules
from tests.conftest import World
from tests.served import SHORT_ROLE, STALE_AFTER, Reply, Served, proc_counts

AT_ONCE = 50


def all_at_once(served: Served, count: int) -> list[Reply]:
    start = threading.Barrier(count)
    replies: list[Reply] = []

    def one() -> None:
        start.wait()
        replies.append(served.get())

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(replies) == count
    return replies


@pytest.mark.parametrize("renewal", ["from the MFA session", "with a new code"])
def test_50_requests_at_a_renewal_renew_once_and_ask_at_most_once(
    world: World, renewal: str
) -> None:
    world.standard_config()
    world.sts.faults.lifetime = dict(SHORT_ROLE)
    minted = ["AssumeRole"]
    if renewal == "with a new code":  # the MFA session, too, is no good for another role soon
        world.sts.faults.lifetime["GetSessionToken"] = rules.SOURCE_SECONDS + STALE_AFTER
        minted = ["GetSessionToken", "AssumeRole"]
    served = Served(world).ready()
    try:
        first = served.credentials()
        time.sleep(STALE_AFTER + 0.5)
        before, prompts = len(world.sts.calls), world.prompts()
        replies = all_at_once(served, AT_ONCE)
    finally:
        code, _, stderr = served.stop()
    assert (code, stderr) == (0, "")
    assert [reply.status for reply in replies] == [200] * AT_ONCE
    keys = {reply.json()["AccessKeyId"] for reply in replies}
    assert len(keys) == 1 and first["AccessKeyId"] not in keys
    assert world.sts.actions()[before:] == minted
    assert world.prompts() - prompts == len(minted) - 1


def test_1000_requests_leave_no_descriptor_or_thread_behind(primed: World) -> None:
    served = Served(primed).ready()
    pid = served.proc.pid
    try:
        for _ in range(20):  # whatever is made once (imports, the cache's key) is made now
            served.credentials()
        before = settled(pid)
        start = time.perf_counter()
        keys = {served.credentials()["AccessKeyId"] for _ in range(1000)}
        elapsed = time.perf_counter() - start
        after = settled(pid)
    finally:
        served.stop()
    print(f"1000 sequential requests: {1000 / elapsed:.0f} per second; fds, threads {after}")
    assert len(keys) == 1
    assert after == before
    assert before[1] == SETTLED_THREADS
    assert primed.sts.calls == []


SETTLED_THREADS = 2  # the main thread waiting for CMD, and the one accepting requests


def settled(pid: int) -> tuple[int, int]:
    """Descriptors and threads, once the threads of answered requests have ended."""
    deadline = time.monotonic() + 5
    counts = proc_counts(pid)
    while counts[1] != SETTLED_THREADS and time.monotonic() < deadline:
        time.sleep(0.05)
        counts = proc_counts(pid)
    return counts


def test_requests_that_waited_for_a_failed_prompt_share_its_503_and_the_next_recovers(
    world: World,
) -> None:
    slow = f"sh -c 'sleep 1; exec {world.mfa_process}'"  # all 50 are waiting when it fails
    world.standard_config(mfa_process=slow)
    world.sts.faults.lifetime = {
        **SHORT_ROLE,
        "GetSessionToken": rules.SOURCE_SECONDS + STALE_AFTER,
    }
    served = Served(world).ready()
    try:
        served.credentials()
        time.sleep(STALE_AFTER + 0.5)
        prompts = world.prompts()
        world.answers("not a code")  # the renewal's prompt fails
        replies = all_at_once(served, AT_ONCE)
        recovered = served.get()
    finally:
        code, _, stderr = served.stop()
    assert (code, stderr) == (0, "")
    assert [reply.status for reply in replies] == [503] * AT_ONCE
    assert {reply.json()["code"] for reply in replies} == {"MfaUnavailable"}
    assert recovered.status == 200
    assert world.prompts() - prompts == 2  # the failed one, then the next request's
