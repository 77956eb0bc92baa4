"""Diagnostics on stderr, off by default (`-v` or CREDPROC_LOG_LEVEL). Never pass secrets here."""

from __future__ import annotations

import os
import sys

LEVELS = ("error", "warning", "debug")
level = os.environ.get("CREDPROC_LOG_LEVEL", "error").lower()


def set_level(name: str) -> None:
    global level
    level = name


def debug(message: str) -> None:
    if level == "debug":
        print(f"credproc: {message}", file=sys.stderr)


def warn(message: str) -> None:
    if level in ("warning", "debug"):
        print(f"credproc: warning: {message}", file=sys.stderr)
