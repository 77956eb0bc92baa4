"""The vault key: 32 random bytes in the OS keystore through the keyring library (service
`credproc`, name `vault-key`), or in a file beside the cache key with CREDPROC_VAULT_KEY=file.

The only importer of keyring, and only when called: the cache hit never comes here. An
adapter: it takes values, returns the key or None, and raises VaultError with the fix.
"""

from __future__ import annotations

import base64
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from credproc import lock, paths, rules
from credproc.entry import KEY_BYTES
from credproc.errors import ConfigError, VaultError
from credproc.private import private_dir, read_private, write_private

SERVICE, NAME = "credproc", "vault-key"
MODE_VARIABLE = "CREDPROC_VAULT_KEY"
KEYSTORE, FILE = "keystore", "file"
# keyring's backends that keep nothing, or keep it in plain files: never a keystore,
# whatever priority they claim (the chainer is looked into instead)
REFUSED_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
NO_KEYSTORE_FIX = (
    "start a Secret Service (GNOME Keyring, KeePassXC, KWallet) in your session, or set "
    f"{MODE_VARIABLE}={FILE} to keep the vault key in a file beside the cache key"
)
UNLOCK_FIX = (
    "unlock it: log in to your desktop session, or unlock the login keyring in "
    "Passwords and Keys, then run again"
)
# where the absence of a keystore has a reason worth saying: the Secret Service on D-Bus
SECRET_SERVICE_PLATFORM = sys.platform not in ("darwin", "win32", "cygwin")

T = TypeVar("T")


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "").strip().lower() or KEYSTORE
    if value not in (KEYSTORE, FILE):
        raise ConfigError(f"{MODE_VARIABLE}={value} is not known", f"use {KEYSTORE} or {FILE}")
    return value


def where() -> str:
    """Where the vault key is kept, for messages."""
    if mode() == FILE:
        return f"the file {paths.vault_key_file()}"
    return f"the OS keystore (service {SERVICE}, name {NAME})"


def load(*, adding: bool = False) -> bytes | None:
    """The vault key, or None when there is none yet; `adding`: for keys about to be stored,
    which a key kept elsewhere (the file) could serve as well."""
    return _file_key(create=False) if mode() == FILE else _keystore_key(False, adding)


def create() -> bytes:
    """The vault key, made now unless another process made it first."""
    key = _file_key(create=True) if mode() == FILE else _keystore_key(True, True)
    assert key is not None  # made, or read back after another process made it
    return key


def _keystore_key(create: bool, adding: bool) -> bytes | None:
    backend = _ask(lambda: _backend(adding), adding)  # finding it talks to D-Bus too
    text: str | None = _ask(lambda: backend.get_password(SERVICE, NAME), adding)
    if text is None and create:
        # two first `add`s at once must agree on one key, or one of them loses its entry
        with lock.held(_lock_path(), f"pid {os.getpid()}, vault key", _seconds()):
            text = _ask(lambda: backend.get_password(SERVICE, NAME), adding)
            if text is None:
                made = base64.b64encode(os.urandom(KEY_BYTES)).decode()
                _ask(lambda: backend.set_password(SERVICE, NAME, made), adding)
                text = _ask(lambda: backend.get_password(SERVICE, NAME), adding)
                if text != made:
                    raise VaultError(f"{where()} did not keep the vault key", NO_KEYSTORE_FIX)
    return None if text is None else _decode(text)


def _decode(text: str) -> bytes:
    try:
        key = base64.b64decode(text.encode(), validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"the vault key in {where()} is damaged",
            "restore it, or delete it and run `credproc add PROFILE` again for each profile",
        )
    return key


def _backend(adding: bool) -> Any:
    """keyring's best backend that really keeps secrets in a keystore."""
    try:
        import keyring

        chosen = keyring.get_keyring()
    except Exception as exc:  # keyring's own configuration (keyringrc.cfg) is broken
        raise VaultError(f"keyring cannot start: {_words(exc)}", _fix(adding)) from None
    candidates = list(getattr(chosen, "backends", None) or [chosen])
    real = [b for b in candidates if not type(b).__module__.startswith(REFUSED_BACKENDS)]
    if real:
        return real[0]
    found = ", ".join(f"{type(b).__module__}.{type(b).__name__}" for b in candidates)
    what = "no OS keystore to keep the vault key in" if adding else "no OS keystore answers"
    raise VaultError(f"{what} ({_why_none(found)})", _fix(adding))


def _why_none(found: str) -> str:
    if SECRET_SERVICE_PLATFORM:
        try:
            from keyring.backends import SecretService

            SecretService.Keyring.priority  # noqa: B018 (raises with the reason)
        except Exception as exc:
            bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "") or "unset"
            return f"no Secret Service on the D-Bus session bus ({bus}): {_words(exc)}"
    return f"keyring offers only {found}"


def _fix(adding: bool) -> str:
    """Keys being added may use a file instead; a key in use must be reached where it is."""
    if adding:
        return NO_KEYSTORE_FIX
    if os.path.exists(paths.vault_key_file()):  # added with the file, run without the variable
        return f"set {MODE_VARIABLE}=file wherever credproc runs: the vault key is in a file here"
    return "start your keystore, e.g. by logging in to your desktop session, and run again"


def _ask(call: Callable[[], T], adding: bool) -> T:
    """One call to the keystore, bounded: an unlock dialog is a prompt, and a keystore that
    never answers must not hang an SDK's credential_process."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except Exception as exc:
            outcome.append((False, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(_seconds())
    if not outcome:
        raise VaultError(
            f"the OS keystore did not answer within {_seconds():g} s",
            "check that your keystore is running and unlocked",
        )
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise _failed(value, adding)


def _failed(exc: Exception, adding: bool) -> VaultError:
    if isinstance(exc, VaultError):
        return exc  # keyring may not even import
    from keyring.errors import KeyringLocked, NoKeyringError

    if isinstance(exc, KeyringLocked):
        return VaultError("the OS keystore is locked", UNLOCK_FIX)
    if isinstance(exc, NoKeyringError):
        return VaultError(f"no OS keystore: {_words(exc)}", _fix(adding))
    return VaultError(f"the OS keystore failed: {_words(exc)}", _fix(adding))


def _words(exc: BaseException) -> str:
    """An error from keyring or D-Bus on one line (they never carry the secret)."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _seconds() -> float:
    return rules.prompt_timeout()


def _lock_path() -> str:
    return os.path.join(private_dir(paths.vault_dir()), ".vault-key.lock")


def _file_key(*, create: bool) -> bytes | None:
    """The key file: created once (the first writer wins); of the wrong size it is refused,
    never replaced, since the vault's keys cannot be minted again."""
    path = paths.vault_key_file()
    try:
        private_dir(os.path.dirname(path) or ".")
        key = read_private(path, KEY_BYTES + 1, secret=True)
        if key is None and create:
            write_private(path, os.urandom(KEY_BYTES), replace=False)
            key = read_private(path, KEY_BYTES + 1, secret=True)
        if key is None:
            return None
    except OSError as exc:  # the checks' own refusals (a symlink, loose modes) pass as they are
        raise VaultError(
            f"cannot use the vault key file {path}: {exc.strerror}", "check it"
        ) from None
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"the vault key file {path} has {len(key)} bytes, not {KEY_BYTES}",
            "restore it from your backup, or remove it and run `credproc add PROFILE` again",
        )
    return key
