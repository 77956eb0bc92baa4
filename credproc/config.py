"""The AWS config and credentials files, read as botocore reads them (stdlib only)."""

from __future__ import annotations

import configparser
from typing import NamedTuple

from credproc import paths
from credproc.errors import ConfigError

PROGRAMS = ("credproc", "credproc.pyz")  # what a command line that runs credproc names


class Profile(NamedTuple):
    name: str
    values: dict[str, str]
    origin: str  # the file that defines it, for messages

    def get(self, key: str) -> str:
        return self.values.get(key, "").strip()


def _read_ini(path: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, path)
    except FileNotFoundError:
        return {}
    except (configparser.Error, UnicodeDecodeError, IsADirectoryError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse {path}: {reason}", "fix the file's INI syntax") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the file") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def config_paths() -> tuple[str, str]:
    return paths.aws_files()


class AwsConfig(NamedTuple):
    profiles: dict[str, Profile]
    config_file: str
    credentials_file: str

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(
                f"profile '{name}' is not in {self.config_file} or {self.credentials_file}",
                f"add [profile {name}] to {self.config_file} or check the spelling",
            ) from None


def config_profile(section: str) -> str:
    """The profile a section of the config file is, or "" (sso-session, services, plugins)."""
    if section == "default":
        return "default"
    if section.startswith("profile ") or section.startswith("profile\t"):
        return section[len("profile") :].strip().strip('"')
    return ""


def file_profiles(path: str, *, config_file: bool) -> dict[str, dict[str, str]]:
    """The profiles one AWS file defines, with their values as written in that file."""
    sections = _read_ini(path).items()
    if not config_file:
        return dict(sections)
    return {config_profile(name): values for name, values in sections if config_profile(name)}


def load() -> AwsConfig:
    """Profiles of both files; the credentials file's values win, as in botocore."""
    config_file, credentials_file = config_paths()
    profiles: dict[str, Profile] = {}
    for section, values in _read_ini(config_file).items():
        name = config_profile(section)
        if name:
            profiles[name] = Profile(name, values, config_file)
    for name, values in _read_ini(credentials_file).items():
        if name in profiles:
            merged = {**profiles[name].values, **values}
            profiles[name] = Profile(name, merged, profiles[name].origin)
        else:
            profiles[name] = Profile(name, values, credentials_file)
    return AwsConfig(profiles, config_file, credentials_file)


def served_profile(profile: Profile) -> str:
    """The profile that `profile`'s credential_process asks credproc for (`credproc
    --profile X`: the SDK profile of SPEC section 2's layout), or "" when it runs no credproc."""
    import os
    import shlex

    try:
        words = shlex.split(profile.get("credential_process"))
    except ValueError:
        return ""
    runs = [n for n, w in enumerate(words[:3]) if os.path.basename(w) in PROGRAMS]
    rest = words[runs[0] + 1 :] if runs else []
    for at, word in enumerate(rest):  # -v and the like may stand around it
        if word == "--profile" and at + 1 < len(rest):
            return rest[at + 1]
        if word.startswith("--profile="):
            return word[len("--profile=") :]
    return ""
