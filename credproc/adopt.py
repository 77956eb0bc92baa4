"""`credproc init PROFILE`: adopt a standard role profile into SPEC section 2's layout.

The role keys of `[profile P]` move to a new `[profile P-mfa]`, which credproc reads; P
keeps every other key (region, output...) and gets `credential_process = credproc --profile
P-mfa`, so every SDK runs credproc instead of assuming the role itself (stdlib only).
"""

from __future__ import annotations

import configparser
import difflib
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from typing import NamedTuple

from credproc import inifile
from credproc.config import AwsConfig, Profile, served_profile
from credproc.errors import ConfigError
from credproc.plan import build

SUFFIX = "-mfa"  # P's role moves to profile P-mfa
# What botocore's assume-role provider reads from a profile; with credproc's own keys
# (credproc_*), which credproc looks up from the profile it resolves, never from P.
ROLE_KEYS = (
    "role_arn",
    "source_profile",
    "credential_source",
    "mfa_serial",
    "external_id",
    "duration_seconds",
    "role_session_name",
)
# what botocore reads for the STS call that assumed the role, and credproc reads from the
# profile it resolves: copied to that profile too (SDKs keep using them on P)
STS_KEYS = (
    "region",
    "sts_regional_endpoints",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "endpoint_url",
    "ca_bundle",
)
# context lines of the diff that would show these get their value masked
SECRET_KEYS = ("aws_secret_access_key", "aws_session_token", "aws_security_token")
KEYS_FIX = "credproc init adopts a profile with role_arn, source_profile and mfa_serial"


class Adoption(NamedTuple):
    path: str  # the config file
    new_profile: str
    change: Callable[[list[str]], list[str]]  # the file's lines before -> after


def moves(key: str) -> bool:
    return key in ROLE_KEYS or key.startswith("credproc_")


def _refuse_profile(config: AwsConfig, profile: Profile) -> None:
    """The reasons that make `profile` itself no standard role profile to adopt."""
    name = profile.name
    served = served_profile(profile)
    if served:
        raise ConfigError(
            f"profile {name} already uses credential_process: it runs credproc --profile {served}",
            f"nothing to adopt; credproc check --profile {served} shows its chain",
        )
    if profile.get("credential_process"):
        raise ConfigError(f"profile {name} already uses credential_process", KEYS_FIX)
    if not profile.get("role_arn"):
        raise ConfigError(f"profile {name} has no role_arn: it is not a role profile", KEYS_FIX)
    if profile.get("web_identity_token_file"):
        raise ConfigError(
            f"profile {name} assumes its role with web_identity_token_file, which SDKs do "
            "themselves without a code",
            "keep it as it is",
        )
    if profile.get("aws_access_key_id"):
        raise ConfigError(
            f"profile {name} has access keys of its own: SDKs would use them and never run "
            "credential_process",
            f"move the keys to a profile of their own, e.g. [{name}-keys] in "
            f"{config.credentials_file}, and set source_profile = {name}-keys",
        )


def _refuse_layout(config: AwsConfig, name: str, new: str) -> None:
    """The reasons in where `name`'s keys are, and what is there already."""
    lines = inifile.read(config.config_file)
    if inifile.find(lines, name, config_file=True) is None:
        raise ConfigError(
            f"profile {name} is only in {config.credentials_file}; credproc init edits "
            f"{config.config_file}",
            f"move its role_arn, source_profile and mfa_serial to [profile {name}] in "
            f"{config.config_file}",
        )
    held = inifile.find(inifile.read(config.credentials_file), name, config_file=False)
    in_credentials = sorted({k.name for k in held.keys if moves(k.name)}) if held else []
    if in_credentials:
        raise ConfigError(
            f"profile {name} has {', '.join(in_credentials)} in {config.credentials_file}, "
            "which credproc init does not edit",
            f"move those lines to [profile {name}] in {config.config_file}, then run it again",
        )
    if new in config.profiles:
        raise ConfigError(
            f"profile {new} exists already",
            f"remove or rename [profile {new}], or adopt {name} by hand (see the README)",
        )


def _section_values(lines: list[str], section: inifile.Section) -> dict[str, str]:
    """The section's values as configparser (and so botocore) reads them."""
    parser = configparser.RawConfigParser()
    parser.read_string("".join(lines[section.start : section.end]))
    (header,) = parser.sections()
    return dict(parser.items(header))


def _above_comments(lines: list[str], start: int) -> int:
    """The first line of the comment block right above line `start`, which belongs to what
    follows it."""
    while start > 0 and lines[start - 1].strip().startswith(inifile.COMMENTS):
        start -= 1
    return start


def _value(text: str, eol: str) -> str:
    """A value as written back: a continued value keeps its continuation lines indented."""
    return text.replace("\n", eol + "    ")


def _changer(name: str, new: str, command: str) -> Callable[[list[str]], list[str]]:
    def change(lines: list[str]) -> list[str]:
        def section() -> inifile.Section:
            found = inifile.find(lines, name, config_file=True)
            if found is None:
                raise ConfigError(f"profile {name} went away", "run credproc init again")
            return found

        values, eol = _section_values(lines, section()), inifile.newline(lines)
        moved = [k.name for k in section().keys if moves(k.name)]
        copied = [k.name for k in section().keys if k.name in STS_KEYS]
        items = [(key, _value(values[key], eol)) for key in dict.fromkeys(moved + copied)]
        lines = inifile.without_keys(lines, section(), set(moved))
        lines = inifile.with_keys(lines, section(), [("credential_process", command)])
        at = _above_comments(lines, section().end)  # after P: the diff reads as a move
        if at and lines[at - 1].strip():  # a blank line between P and its role
            lines, at = [*lines[:at], eol, *lines[at:]], at + 1
        return inifile.with_section(lines, f"profile {new}", items, before=at)

    return change


def plan(config: AwsConfig, name: str, command: Callable[[str], str]) -> Adoption:
    """The change that adopts profile `name`, or the ConfigError that says why not.
    `command(profile)` is the credential_process line to write."""
    new = name + SUFFIX
    profile = config.profile(name)
    _refuse_profile(config, profile)
    _refuse_layout(config, name, new)
    try:
        build(config, name)  # the chain beneath moves unchanged: it must already hold
    except ConfigError as exc:
        raise ConfigError(
            f"profile {name} cannot be adopted as it is: {exc.what}", exc.fix
        ) from None
    return Adoption(config.config_file, new, _changer(name, new, command(new)))


def _masked(line: str) -> str:
    option = inifile.OPTION.match(line[1:].strip())
    if option and option.group("option").strip().lower() in SECRET_KEYS:
        return f"{line[0]}{option.group('option')} = ****\n"
    return line


def diff(path: str, before: str, after: str) -> str:
    """A unified diff of the change, secret values of context lines masked."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(old, new, fromfile=path, tofile=path):
        if not line.endswith("\n"):  # a last line without its line break, as diff(1) marks it
            line += "\n\\ No newline at end of file\n"
        out.append(
            _masked(line) if line[:1] in " -+" and not line.startswith(("---", "+++")) else line
        )
    return "".join(out)


def _this_program() -> tuple[list[str], bool]:
    """The words that run this credproc, and whether `credproc` on PATH is this one."""
    on_path = shutil.which("credproc")
    me = sys.argv[0]
    if os.path.basename(me) == "__main__.py":  # python -m credproc
        with open(on_path or os.devnull, "rb") as script:
            same = script.readline().strip() == b"#!" + os.fsencode(sys.executable)
        return [sys.executable, "-m", "credproc"], same
    same = bool(on_path) and os.path.realpath(on_path or "") == os.path.realpath(me)
    if not os.access(me, os.X_OK):  # credproc.pyz run by python3, not executable itself
        return ["python3", os.path.abspath(me)], same
    return [os.path.abspath(me)], same


def command(profile: str) -> str:
    """`credproc --profile PROFILE` when the credproc on PATH is this one (SDKs run
    credential_process through PATH or a shell), else with this one's absolute path."""
    words, same = _this_program()
    return shlex.join([*(["credproc"] if same else words), "--profile", profile])


def run(adoption: Adoption, *, write: bool) -> str:
    """The diff of the adoption; with `write`, applied to the file (atomically, mode kept)."""
    if write:
        before, after = inifile.rewrite(adoption.path, adoption.change)
    else:
        lines = inifile.read(adoption.path)
        before, after = "".join(lines), "".join(adoption.change(list(lines)))
    return diff(adoption.path, before, after)
