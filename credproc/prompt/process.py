"""Take the code from a command (credproc_mfa_process), e.g. a YubiKey or a password manager."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from credproc.errors import ConfigError, MfaUnavailable
from credproc.prompt.request import CodeRequest, cancelled, normalize, timed_out
from credproc.prompt.terminal import open_terminal

SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
FIX = "check credproc_mfa_process by running it by hand"
# Windows command lines keep their backslashes (paths) and lose only their quotes
POSIX_WORDS = sys.platform != "win32"


def child_env() -> dict[str, str]:
    """Our environment without AWS secrets: a helper program has no business with them."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


def command_line(command: str) -> list[str]:
    """Split like a POSIX shell would (quotes, backslashes), but nothing runs a shell."""
    try:
        argv = shlex.split(command, posix=POSIX_WORDS)
    except ValueError as exc:
        raise ConfigError(
            f"credproc_mfa_process cannot be split: {exc}", "fix its quoting"
        ) from None
    if not POSIX_WORDS:
        argv = [w[1:-1] if len(w) > 1 and w[0] == w[-1] == '"' else w for w in argv]
    if not argv:
        raise ConfigError(
            "credproc_mfa_process is empty", "set it to a command that prints the code"
        )
    return argv


def _last_line(stderr: bytes) -> str:
    """The program's last words, for the error; a line with 6 digits in it may hold a code."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line and sum(c.isdigit() for c in line) < 6]
    return f": {lines[-1][:200]}" if lines else ""


def _run(argv: list[str], stderr: int, timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            timeout=timeout,
            env=child_env(),
        )
    except FileNotFoundError:
        raise ConfigError(
            f"credproc_mfa_process: {argv[0]} not found", "install it or fix the path"
        ) from None
    except PermissionError:
        raise ConfigError(
            f"credproc_mfa_process: {argv[0]} is not executable", "chmod +x it"
        ) from None
    except OSError as exc:  # e.g. ENOEXEC: a script without a #! line
        raise ConfigError(
            f"credproc_mfa_process: cannot run {argv[0]}: {exc.strerror}",
            "give a script a #! line, or fix the command",
        ) from None
    except subprocess.TimeoutExpired:
        raise timed_out(
            timeout, "credproc_mfa_process gave no code", FIX + ", or raise CREDPROC_PROMPT_TIMEOUT"
        ) from None
    except KeyboardInterrupt:  # run() has killed the program already
        raise cancelled("with Ctrl-C") from None


def ask(request: CodeRequest, problem: str) -> str:
    argv = command_line(request.settings.mfa_process)
    terminal = open_terminal()
    try:
        if terminal is not None:
            if problem:
                terminal.write(f"credproc: {problem}\n")
            terminal.write(
                f"credproc: waiting for {os.path.basename(argv[0])} to give the MFA code for "
                f"profile {request.profile} ({request.mfa_serial}); touch your key if it blinks\n"
            )
        fd = getattr(terminal, "fd", None)  # the program's own prompts go to the person
        if fd is not None:
            os.set_blocking(fd, True)  # our open of the terminal: a program expects blocking
        done = _run(argv, subprocess.PIPE if fd is None else fd, request.timeout)
    finally:
        if terminal is not None:
            terminal.close()
    if done.returncode != 0:
        raise MfaUnavailable(
            f"credproc_mfa_process exited with status {done.returncode}"
            f"{_last_line(done.stderr or b'')}",
            FIX,
        )
    answer = done.stdout.decode(errors="replace").strip()
    if normalize(answer) is None:  # asking a program again gives the same answer
        raise MfaUnavailable(
            f"credproc_mfa_process printed {len(answer)} characters, not a 6-digit code",
            FIX + "; it must print only the code",
        )
    return answer
