"""Ask on the terminal itself (/dev/tty or the Windows console), never on stdin or stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from credproc.errors import NoPrompt
from credproc.terminal import open_terminal

if TYPE_CHECKING:
    from credproc.prompt import CodeRequest


def ask(request: CodeRequest, problem: str) -> str:
    terminal = open_terminal()
    if terminal is None:
        raise NoPrompt(
            "credproc_prompt = tty but there is no terminal",
            f"run `credproc login --profile {request.profile}` in a terminal",
        )
    try:
        if problem:
            terminal.write(f"credproc: {problem}\n")
        terminal.write(f"MFA code for {request.profile} ({request.mfa_serial}): ")
        try:
            return terminal.read_line(request.timeout)
        except KeyboardInterrupt:
            terminal.write("\n")
            raise
    finally:
        terminal.close()
