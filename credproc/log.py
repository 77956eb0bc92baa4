"""Diagnostics on stderr, off by default (`-v` or CREDPROC_LOG_LEVEL). Never pass secrets here."""

from __future__ import annotations

import sys

LEVELS = ("error", "warning", "debug")
level = "error"


def set_level(name: str) -> None:
    """`name` from LEVELS; anything else is the default, error."""
    global level
    level = name.strip().lower() if name.strip().lower() in LEVELS else "error"


def debug(message: str) -> None:
    if level == "debug":
        print(f"credproc: {message}", file=sys.stderr)


def warn(message: str) -> None:
    if level in ("warning", "debug"):
        alert(message)


def alert(message: str) -> None:
    """A warning shown at every level: for what empties the cache or may be tampering."""
    print(f"credproc: warning: {message}", file=sys.stderr)
