"""An IAM user's long-term keys as a person hands them to `credproc add`: typed on the
terminal (the secret not echoed), from the environment, or moved out of the AWS files.
Never from the command line or stdin. A refusal never quotes what was given: a secret
pasted into the wrong place must not reach a message."""

from __future__ import annotations

import os
import re

from credproc import inifile
from credproc.config import AwsConfig, file_profiles
from credproc.entry import Credentials
from credproc.errors import ConfigError, CredprocError, MfaCancelled, MfaUnavailable, UsageError

KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key")
LONG_TERM_KEY_ID = re.compile(r"AKIA[A-Z0-9]{16}")
TEMPORARY_KEY_ID = re.compile(r"ASIA[A-Z0-9]{16}")
SECRET = re.compile(r"[A-Za-z0-9/+=]{16,128}")


def refusal(key_id: str, secret: str) -> tuple[str, str] | None:
    """Why these keys cannot go into the vault, and the fix; None when they can."""
    if TEMPORARY_KEY_ID.fullmatch(key_id):
        return (
            "the access key id is a temporary key (ASIA...): the vault keeps an IAM user's "
            "long-term keys, which mint sessions; temporary keys expire",
            "use the IAM user's access key (AKIA...)",
        )
    if not LONG_TERM_KEY_ID.fullmatch(key_id):
        return (
            "the access key id is not a long-term one (AKIA and 16 upper-case letters or digits)",
            "copy the access key id again",
        )
    if not SECRET.fullmatch(secret):
        return (
            "the secret access key is empty or has characters AWS never uses",
            "copy the secret access key again",
        )
    return None


def checked(key_id: str, secret: str, error: type[CredprocError] = UsageError) -> Credentials:
    problem = refusal(key_id, secret)
    if problem:
        raise error(*problem)
    return Credentials(key_id, secret, "", 0)


def from_env() -> Credentials:
    env = os.environ
    if not env.get("AWS_ACCESS_KEY_ID") or not env.get("AWS_SECRET_ACCESS_KEY"):
        raise UsageError(
            "--from-env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            "set both, or type the keys: credproc add PROFILE",
        )
    if env.get("AWS_SESSION_TOKEN"):
        raise UsageError(
            "AWS_SESSION_TOKEN is set: these are temporary credentials, not an IAM user's keys",
            "use the IAM user's long-term keys (AKIA...)",
        )
    return checked(env["AWS_ACCESS_KEY_ID"].strip(), env["AWS_SECRET_ACCESS_KEY"].strip())


def from_terminal(profile: str, timeout: float) -> Credentials:
    """Asked on /dev/tty: the key id echoed, the secret not."""
    from credproc.prompt.terminal import open_terminal

    terminal = open_terminal()
    if terminal is None:
        raise UsageError(
            "credproc add asks for the keys on a terminal, and there is none",
            "run it in a terminal, or use --from-env or --from-file",
        )
    try:
        terminal.discard_typeahead()
        terminal.write(f"Access key id for profile {profile}: ")
        key_id = terminal.read_line(timeout).strip()
        terminal.write("Secret access key (not shown): ")
        secret = terminal.read_line(timeout, echo=False).strip()
    except MfaCancelled:
        raise MfaCancelled("typing the keys was cancelled", "nothing was stored") from None
    except MfaUnavailable:
        raise MfaUnavailable(
            f"no keys typed within {timeout:g} s", "run credproc add again"
        ) from None
    finally:
        terminal.close()
    return checked(key_id, secret)


def _files(config: AwsConfig) -> list[tuple[str, bool]]:
    """The AWS files, each with whether it is the config file: the credentials file first."""
    return [(config.credentials_file, False), (config.config_file, True)]


def in_files(config: AwsConfig, profile: str) -> list[tuple[str, Credentials]]:
    """The keys of `profile` written in each AWS file that has them, credentials file first."""
    found = []
    for path, config_file in _files(config):
        values = file_profiles(path, config_file=config_file).get(profile, {})
        if any(values.get(name, "").strip() for name in KEY_NAMES):
            keys = [values.get(name, "").strip() for name in KEY_NAMES]
            found.append((path, Credentials(keys[0], keys[1], "", 0)))
    return found


def from_files(config: AwsConfig, profile: str) -> Credentials:
    """The keys botocore would use for `profile`: the credentials file's win."""
    found = in_files(config, profile)
    if not found:
        raise ConfigError(
            f"profile {profile} has no aws_access_key_id in {config.credentials_file} "
            f"or {config.config_file}",
            f"type the keys instead: credproc add {profile}",
        )
    path, keys = found[0]
    problem = refusal(keys.access_key_id, keys.secret_access_key)
    if problem:
        raise ConfigError(f"{path}: profile {profile}: {problem[0]}", problem[1])
    return keys


def remove_from_files(config: AwsConfig, profile: str, keys: Credentials) -> list[str]:
    """Take these keys' lines out of every AWS file that has exactly them; every other byte,
    and each file's mode, stays. Returns the files rewritten."""
    rewritten = []
    for path, written in in_files(config, profile):
        if written[:2] != keys[:2]:
            continue  # other keys: not what the vault holds, so not ours to drop
        config_file = path == config.config_file

        def drop(lines: list[str], config_file: bool = config_file) -> list[str]:
            section = inifile.find(lines, profile, config_file=config_file)
            return lines if section is None else inifile.without_keys(lines, section, {*KEY_NAMES})

        inifile.rewrite(path, drop)
        rewritten.append(path)
    return rewritten
