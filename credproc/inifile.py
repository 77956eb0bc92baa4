"""Changes to a person's AWS config or credentials file that keep every byte they were not
asked to change (comments, order, spacing, line endings), written atomically with the
file's mode kept. Lines are read as configparser reads them (stdlib only)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from typing import NamedTuple

from credproc.config import config_profile
from credproc.errors import ConfigError
from credproc.private import fsync_dir

SECTION = re.compile(r"\[(?P<header>.+)\]")  # configparser's SECTCRE
OPTION = re.compile(r"(?P<option>.*?)\s*[=:]\s*(?P<value>.*)$")  # and its OPTCRE
COMMENTS = ("#", ";")
ENCODING = "utf-8"  # as config.py reads; surrogateescape keeps any other byte as it was


class Key(NamedTuple):
    name: str  # lower-cased, as configparser and botocore read it
    start: int  # its first line
    end: int  # one past its last line (a value may continue on indented lines)


class Section(NamedTuple):
    header: str  # what is between the brackets
    start: int  # the header line
    end: int  # one past its last line: the next header, or the end of the file
    keys: tuple[Key, ...]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_filler(line: str) -> bool:
    """A blank or comment line: configparser passes over it, even inside a value."""
    stripped = line.strip()
    return not stripped or stripped.startswith(COMMENTS)


def sections(lines: list[str]) -> list[Section]:
    found: list[Section] = []
    header, start = "", -1
    keys: list[Key] = []
    key: Key | None = None
    key_indent = 0
    for number, line in enumerate(lines):
        if _is_filler(line):
            continue
        if key is not None and _indent(line) > key_indent:
            key = key._replace(end=number + 1)  # a continuation line
            keys[-1] = key
            continue
        match = SECTION.match(line.strip())
        if match:
            if start >= 0:
                found.append(Section(header, start, number, tuple(keys)))
            header, start, keys, key = match.group("header"), number, [], None
            continue
        option = OPTION.match(line.strip())
        if start >= 0 and option and option.group("option"):
            key, key_indent = Key(option.group("option").lower(), number, number + 1), _indent(line)
            keys.append(key)
    if start >= 0:
        found.append(Section(header, start, len(lines), tuple(keys)))
    return found


def find(lines: list[str], profile: str, *, config_file: bool) -> Section | None:
    """The section of `profile`: `[profile NAME]` or `[default]` in the config file, `[NAME]`
    in the credentials file; the last one, as configparser merges repeated headers."""
    matches = [
        s
        for s in sections(lines)
        if (config_profile(s.header) if config_file else s.header) == profile
    ]
    return matches[-1] if matches else None


def newline(lines: list[str]) -> str:
    """The file's own line ending, for lines credproc adds."""
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def without_keys(lines: list[str], section: Section, names: set[str]) -> list[str]:
    """`lines` without the lines of these keys of `section`, continuations included; a blank
    or comment line among them stays."""
    spans = [range(key.start, key.end) for key in section.keys if key.name in names]
    dropped = {n for span in spans for n in span if not _is_filler(lines[n])}
    return [line for number, line in enumerate(lines) if number not in dropped]


def with_keys(lines: list[str], section: Section, items: list[tuple[str, str]]) -> list[str]:
    """`lines` with `key = value` lines added after the last key of `section`."""
    end = section.keys[-1].end if section.keys else section.start + 1
    eol = newline(lines)
    if end and not lines[end - 1].endswith("\n"):  # the file ended without a line break
        lines = [*lines[: end - 1], lines[end - 1] + eol, *lines[end:]]
    return [*lines[:end], *(f"{key} = {value}{eol}" for key, value in items), *lines[end:]]


def with_section(
    lines: list[str], header: str, items: list[tuple[str, str]], before: int
) -> list[str]:
    """`lines` with a new section, and a blank line after it, inserted at line `before`."""
    eol = newline(lines)
    block = [f"[{header}]{eol}", *(f"{key} = {value}{eol}" for key, value in items), eol]
    if before == len(lines) and lines and not lines[-1].endswith("\n"):
        lines = [*lines[:-1], lines[-1] + eol]
        block = [eol, *block[:-1]]
    return [*lines[:before], *block, *lines[before:]]


def read(path: str) -> list[str]:
    try:
        with open(path, encoding=ENCODING, errors="surrogateescape", newline="") as handle:
            return handle.read().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the file") from None


def rewrite(path: str, change: Callable[[list[str]], list[str]]) -> tuple[str, str]:
    """Apply `change` to the file's lines and write the result in its place, atomically,
    keeping its mode (and owner, where allowed); returns the text before and after.

    A symlinked file (a dotfile manager's) stays a symlink: its target is replaced.
    """
    real = os.path.realpath(path)
    before = read(real)
    after = change(list(before))
    old, new = "".join(before), "".join(after)
    if new == old:
        return old, new
    try:
        st = os.stat(real)
        fd, temp = tempfile.mkstemp(prefix=".credproc-", suffix=".tmp", dir=os.path.dirname(real))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}", "check its folder") from None
    try:
        with os.fdopen(fd, "w", encoding=ENCODING, errors="surrogateescape", newline="") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, st.st_mode & 0o7777)
        with contextlib.suppress(AttributeError, PermissionError):  # not ours to give away
            os.chown(temp, st.st_uid, st.st_gid)
        if "".join(read(real)) != old:
            raise ConfigError(
                f"{path} changed while credproc was rewriting it", "run the command again"
            )
        os.replace(temp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(os.path.dirname(real))
    return old, new
