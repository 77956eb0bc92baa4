"""fake_mfa.py with extras for the locking and secrets tests.

Usage: mfa_probe.py STATE_DIR [--hold-first SECONDS] [--dump-env FILE]
  --hold-first: on the first call only, write "CREDPROC_PID MY_PID" to STATE_DIR/holding,
                then sleep (the credproc that ran us holds its locks meanwhile)
  --dump-env:   append our environment and command line to FILE (the code is never in them)
Then it answers like fake_mfa.py.
"""

import argparse
import json
import os
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("state")
parser.add_argument("--hold-first", type=float, default=0.0)
parser.add_argument("--dump-env", default="")
args = parser.parse_args()

if args.dump_env:
    with open(args.dump_env, "a") as dump:
        dump.write(json.dumps({"argv": sys.argv, "env": dict(os.environ)}) + "\n")

if args.hold_first:
    try:  # the first probe to get here holds; later ones answer at once
        fd = os.open(os.path.join(args.state, "holding"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        fd = -1
    if fd >= 0:
        os.write(fd, f"{os.getppid()} {os.getpid()}\n".encode())
        os.close(fd)
        time.sleep(args.hold_first)

sys.argv = [os.path.join(HERE, "fake_mfa.py"), args.state]
runpy.run_path(sys.argv[0], run_name="__main__")
