"""Ask on the terminal itself (/dev/tty or the Windows console), never on stdin or stderr."""

from __future__ import annotations

from credproc.prompt.request import CodeRequest, no_prompt
from credproc.prompt.terminal import open_terminal


def ask(request: CodeRequest, problem: str) -> str:
    terminal = open_terminal()
    if terminal is None:
        raise no_prompt(
            request.profile,
            "credproc_prompt = tty but there is no terminal, or credproc runs in the background",
        )
    try:
        terminal.discard_typeahead()
        if problem:
            terminal.write(f"credproc: {problem}\n")
        terminal.write(f"MFA code for profile {request.profile} ({request.mfa_serial}): ")
        return terminal.read_line(request.timeout)
    finally:
        terminal.close()
