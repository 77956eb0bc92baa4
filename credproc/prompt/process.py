"""Take the code from a command (credproc_mfa_process), e.g. a YubiKey or a password manager."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import TYPE_CHECKING

from credproc.errors import ConfigError, MfaUnavailable
from credproc.terminal import open_terminal

if TYPE_CHECKING:
    from credproc.prompt import CodeRequest

SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


def child_env() -> dict[str, str]:
    """Our environment without AWS secrets: a helper program has no business with them."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    # a line that looks like it holds a code is left out: codes never reach an error message
    lines = [line for line in lines if not re.search(r"\d{6}", line)]
    return f": {lines[-1][:200]}" if lines else ""


def ask(request: CodeRequest, problem: str) -> str:
    command = request.settings.mfa_process
    try:
        argv = shlex.split(command, posix=os.name != "nt")
    except ValueError as exc:
        raise ConfigError(
            f"credproc_mfa_process cannot be split: {exc}", "fix its quoting"
        ) from None
    if not argv:
        raise ConfigError(
            "credproc_mfa_process is empty", "set it to a command that prints the code"
        )
    terminal = open_terminal()
    fix = "check credproc_mfa_process by running it by hand"
    try:
        if terminal is not None:
            if problem:
                terminal.write(f"credproc: {problem}\n")
            terminal.write(
                f"credproc: waiting for {argv[0]} to give the MFA code for "
                f"{request.profile} (touch your key if it asks)\n"
            )
        stderr = getattr(terminal, "fd", None) or subprocess.PIPE
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                timeout=request.timeout,
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
        except subprocess.TimeoutExpired:
            raise MfaUnavailable(
                f"credproc_mfa_process gave no code within {request.timeout:.0f} s",
                fix + ", or raise CREDPROC_PROMPT_TIMEOUT",
            ) from None
        if done.returncode != 0:
            raise MfaUnavailable(
                f"credproc_mfa_process exited with status {done.returncode}"
                f"{_last_line(done.stderr or b'')}",
                fix,
            )
        return done.stdout.decode(errors="replace").strip()
    finally:
        if terminal is not None:
            terminal.close()
