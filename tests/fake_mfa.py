"""A credproc_mfa_process for tests: logs each call and prints a fresh code every time.

Usage: fake_mfa.py STATE_DIR. If STATE_DIR/answers exists, its lines are printed one per
call first (to script typos); then codes 100000, 100001, ... follow.
"""

import fcntl
import os
import sys

state = sys.argv[1]
with open(os.path.join(state, "calls.lock"), "a") as guard:
    fcntl.flock(guard, fcntl.LOCK_EX)
    calls_path = os.path.join(state, "calls")
    with open(calls_path, "a+") as calls:
        calls.seek(0)
        count = len(calls.read().splitlines())
        calls.write(f"{os.getpid()}\n")
    answers_path = os.path.join(state, "answers")
    answers = []
    if os.path.exists(answers_path):
        with open(answers_path) as handle:
            answers = handle.read().splitlines()
    if answers:
        with open(answers_path, "w") as handle:
            handle.write("".join(line + "\n" for line in answers[1:]))
        print(answers[0])
    else:
        print(100000 + count)
