"""A credproc_mfa_process with one behaviour per test; every call is logged to STATE/calls.

Usage: mfa_program.py STATE MODE [ARGS...]
  argv     record ARGS (as the program received them) in STATE/argv.json; print a code
  env      record the names of its environment variables in STATE/env.json; print a code
  stdin    read stdin to its end (hangs if stdin is a pipe nobody closes); print a code
  chatty   a line on stderr (as ykman's "Touch your YubiKey..."), the code padded with blanks
  fail     two lines on stderr, one with a code in it; exit 2
  slow     sleep a minute
  junk     print something that is not a code
"""

import json
import os
import sys
import time

state, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(os.path.join(state, "calls"), "a") as calls:
    calls.write(f"{mode}\n")


def record(name: str, value: object) -> None:
    with open(os.path.join(state, name), "w") as handle:
        json.dump(value, handle)


if mode == "argv":
    record("argv.json", args)
elif mode == "env":
    record("env.json", sorted(os.environ))
elif mode == "stdin":
    record("stdin.json", sys.stdin.read())
elif mode == "chatty":
    sys.stderr.write("Touch your YubiKey...\n")
    sys.stderr.flush()
    print("  123 456 \n")
    sys.exit(0)
elif mode == "fail":
    sys.stderr.write("error: code 654321 was not accepted\nerror: no YubiKey detected\n")
    sys.exit(2)
elif mode == "slow":
    time.sleep(60)
elif mode == "junk":
    print("Account: aws, code: none")
    sys.exit(0)
print("123456")
