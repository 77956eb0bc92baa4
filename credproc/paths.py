"""Where the cache folder, the key and the vault live (CREDPROC_CACHE_DIR, CREDPROC_KEY_FILE
override the first two), and the AWS files credproc reads (AWS_CONFIG_FILE,
AWS_SHARED_CREDENTIALS_FILE)."""

from __future__ import annotations

import os
import sys

APP = "credproc"


def _xdg(var: str, fallback: str) -> str:
    value = os.environ.get(var, "").strip()
    return os.path.join(value if value else os.path.expanduser(fallback), APP)


def _platform_dirs() -> tuple[str, str]:
    # On Linux and the BSDs the answer is two XDG variables: computing it here spares the
    # cache-hit path platformdirs' import (about 14 ms). tests/test_paths.py proves both agree.
    if sys.platform not in ("win32", "darwin", "cygwin") and "ANDROID_DATA" not in os.environ:
        return _xdg("XDG_CACHE_HOME", "~/.cache"), _xdg("XDG_DATA_HOME", "~/.local/share")
    import platformdirs

    return platformdirs.user_cache_dir(APP), platformdirs.user_data_dir(APP)


def _override(var: str) -> str:
    return os.path.expanduser(os.environ.get(var, "").strip())


def cache_dir() -> str:
    return _override("CREDPROC_CACHE_DIR") or _platform_dirs()[0]


def key_file() -> str:
    return _override("CREDPROC_KEY_FILE") or os.path.join(_platform_dirs()[1], "key")


def vault_dir() -> str:
    """The sealed long-term keys: in the data folder, apart from the cache that `clear` empties."""
    return os.path.join(_platform_dirs()[1], "vault")


def vault_key_file() -> str:
    """The vault key when CREDPROC_VAULT_KEY=file: beside the cache key."""
    return os.path.join(os.path.dirname(key_file()), "vault-key")


def _aws_file(env_var: str, default: str) -> str:
    return os.path.expanduser(os.path.expandvars(os.environ.get(env_var) or default))


def aws_files() -> tuple[str, str]:
    """The config file and the shared credentials file, as botocore finds them."""
    return (
        _aws_file("AWS_CONFIG_FILE", "~/.aws/config"),
        _aws_file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    )
