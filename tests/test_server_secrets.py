"""No credential, token or MFA code in any byte `credproc exec --server` writes outside its
answers: its stderr under -v (renewals, refusals and a 503 included), the command lines of
credproc and CMD, credproc's own environment, the cache and key folders; and CMD's
environment holds the token, never the credentials."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import BASE_KEY_ID, BASE_SECRET, World
from tests.served import SHORT_ROLE, STALE_AFTER, Served, request

CODES = ["913572", "857391"]


def test_no_secret_reaches_the_servers_output_command_lines_or_files(world: World) -> None:
    world.standard_config()
    world.answers(*CODES)
    world.sts.faults.lifetime = SHORT_ROLE
    served = Served(world, "-v").ready()
    answers: list[dict[str, str]] = []
    try:
        answers.append(served.credentials())
        time.sleep(STALE_AFTER + 0.5)
        answers.append(served.credentials())  # renewed
        refused = [
            request(served.url, {"Authorization": served.token[::-1]}),
            request(served.url, {}),
            served.get(headers={"Origin": "https://evil.example"}),
        ]
        time.sleep(STALE_AFTER + 0.5)
        world.sts.faults.deny = "not with these"
        failed = served.get()
        world.sts.faults.deny = ""
        pids = [served.proc.pid, served.report["pid"]]
        written = {
            f"/proc/{pid}/{part}": Path(f"/proc/{pid}/{part}").read_bytes()
            for pid in pids
            for part in ("cmdline",)
        }
        written["credproc's environment"] = Path(f"/proc/{pids[0]}/environ").read_bytes()
    finally:
        code, stdout, stderr = served.stop()
    assert code == 0 and [r.status for r in refused] == [403, 401, 403] and failed.status == 503
    assert "server: 200" in stderr and "server: refused" in stderr and "server: 503" in stderr
    written["stdout and stderr"] = (stdout + stderr).encode()
    for folder in (world.cache_dir, world.key_file.parent):
        for path in folder.iterdir():
            if path != world.key_file:
                written[str(path)] = path.read_bytes()

    secrets = {served.token, BASE_KEY_ID, BASE_SECRET, *CODES}
    for answer in answers:
        secrets |= {answer["AccessKeyId"], answer["SecretAccessKey"], answer["Token"]}
    for _, record in world.entries():
        if record and record.credentials:
            secrets |= set(record.credentials[:3])
    assert world.prompts() == 1 and len({a["AccessKeyId"] for a in answers}) == 2
    leaks = [(where, s) for where, data in written.items() for s in secrets if s.encode() in data]
    assert leaks == []
    in_cmd_env = [s for s in secrets - {served.token} if s in "\n".join(served.env.values())]
    assert in_cmd_env == []
