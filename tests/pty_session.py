"""Runs inside a pseudo-terminal (as its session leader) and starts a command there the way a
shell would, with its stdout and stderr going to files, so a test can tell what reached the
terminal from what reached the pipes an SDK would read.

Usage: pty_session.py OUT ERR COMMAND...   Prints on the terminal:
  MODES-BEFORE <stty -g> / EXIT <code> / MODES-AFTER <stty -g> / ECHO on|off
"""

import os
import signal
import subprocess
import sys
import termios


def modes() -> str:
    return subprocess.run(["stty", "-g"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    out, err, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command, not for us
    print(f"MODES-BEFORE {modes()}", flush=True)
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        code = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ).returncode
    print(f"EXIT {code}", flush=True)
    print(f"MODES-AFTER {modes()}", flush=True)
    echo = termios.tcgetattr(os.open("/dev/tty", os.O_RDONLY))[3] & termios.ECHO
    print(f"ECHO {'on' if echo else 'off'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
