"""`credproc rotate PROFILE`: a new access key for the IAM user, stored, proven, then the old
one deleted. At every step the vault holds a key that works, and a failure says which key
exists where; never a state in which neither works."""

from __future__ import annotations

import time

from credproc import rules
from credproc.cache import Store
from credproc.config import AwsConfig, load
from credproc.entry import Credentials, VaultKeys
from credproc.errors import (
    AwsRefused,
    CredprocError,
    MfaCancelled,
    SourceRejected,
    UsageError,
    mask,
)
from credproc.plan import device_session, in_vault
from credproc.sts_keys import Endpoint, Iam, caller_arn, prove
from credproc.vault import Vault
from credproc.vault_commands import plans_from, where_to_call


def _said(exc: CredprocError, state: str, fix: str = "") -> CredprocError:
    """The same kind of error (so the same exit code), with where the keys are now."""
    return type(exc)(f"{exc.what}; {state}", fix or exc.fix)


def _mfa_session(config: AwsConfig, profile: str) -> Credentials | None:
    """The MFA session of the user's device, as the chains from these keys name it (the
    profile's own mfa_serial, else that of a role above it, as in SPEC section 2's layout):
    policies commonly demand MFA for key management, and IAM's calls take no code of their
    own. None when no chain names a device: the keys then sign for themselves."""
    for plan in plans_from(config, profile):
        step = device_session(config, plan.profile)
        if step is not None:
            from credproc.resolve import Resolver

            return Resolver(plan._replace(steps=(step,)), config, Store.open()).credentials()
    return None


def _user_name(user_arn: str) -> str:
    kind, _, path = user_arn.partition(":user/")
    if not path or not kind.startswith("arn:"):
        raise UsageError(
            f"the keys are those of {user_arn}, not of an IAM user",
            "rotate them where they were made (the root user's in the console)",
        )
    return path.rsplit("/", 1)[-1]


class Rotation:
    def __init__(self, vault: Vault, iam: Iam, where: Endpoint, old: VaultKeys, arn: str) -> None:
        self.vault, self.iam, self.where, self.old, self.arn = vault, iam, where, old, arn
        self.profile = old.profile

    def room(self) -> None:
        others = [k for k in self.iam.key_ids() if k != self.old.access_key_id]
        if others:
            raise AwsRefused(
                f"IAM user {self.iam.user} has two access keys already: "
                f"{mask(self.old.access_key_id)} in the vault and {mask(others[0])}",
                f"delete the key ending in {others[0][-4:]} in IAM if nothing uses it "
                "(IAM allows two), then run again",
            )

    def create(self) -> Credentials:
        try:
            return self.iam.create_key()
        except KeyboardInterrupt:  # IAM may have made the key just before
            state = f"the vault holds {self._old()}; IAM may hold a new key it made meanwhile"
            raise _said(self._cancelled(), state) from None
        except CredprocError as exc:
            raise _said(exc, f"no new key was made: the vault holds {self._old()}") from None

    def store(self, new: Credentials) -> None:
        record = VaultKeys(
            self.profile, new.access_key_id, new.secret_access_key, int(time.time()), self.arn
        )
        try:
            self.vault.write(record)
        except KeyboardInterrupt:
            raise _said(self._cancelled(), self._back(new)) from None
        except CredprocError as exc:
            raise _said(exc, f"the vault holds {self._old()}; {self._undo(new)}") from None

    def prove(self, new: Credentials) -> None:
        try:
            prove(self.where, new, self.profile, self.arn)
        except KeyboardInterrupt:  # Ctrl-C while IAM spreads the key: back to the old one
            raise _said(self._cancelled(), self._back(new)) from None
        except CredprocError as exc:
            if isinstance(exc, SourceRejected):
                seconds = rules.NEW_KEY_PROOF_SECONDS
                exc = SourceRejected(
                    f"AWS did not accept the new key {mask(new.access_key_id)} in {seconds} s"
                )
            state = self._back(new)
            raise _said(exc, state, f"run `credproc rotate {self.profile}` again later") from None

    def _cancelled(self) -> MfaCancelled:
        return MfaCancelled("rotation cancelled", f"run `credproc rotate {self.profile}` again")

    def _back(self, new: Credentials) -> str:
        """Put the old key (never deleted: it still works) back in the vault, and undo the
        new one; where each key is now."""
        try:
            self.vault.write(self.old)
        except CredprocError as exc:
            return (
                f"the vault could not take the old key back ({exc.what}): it holds the new key "
                f"{mask(new.access_key_id)}, not yet proven; the old key "
                f"{mask(self.old.access_key_id)} is still active in IAM"
            )
        return (
            f"the vault holds the old key {mask(self.old.access_key_id)} again, which works; "
            f"{self._undo(new)}"
        )

    def retire(self, new: Credentials) -> bool:
        """Delete the old key; False when IAM had it no more (deleted by someone else)."""
        try:
            return self.iam.delete_key(self.old.access_key_id)
        except CredprocError as exc:
            raise _said(
                exc,
                f"the vault holds the new key {mask(new.access_key_id)}, which works; the old "
                f"key {mask(self.old.access_key_id)} is still active in IAM",
                f"delete the key ending in {self.old.access_key_id[-4:]} of IAM user "
                f"{self.iam.user} when nothing else uses it",
            ) from None

    def _old(self) -> str:
        return f"the old key {mask(self.old.access_key_id)}, which works"

    def _undo(self, new: Credentials) -> str:
        """Delete the key that never made it into use; say where it is if IAM will not."""
        try:
            self.iam.delete_key(new.access_key_id)  # or IAM has it no more: gone either way
        except CredprocError:
            return (
                f"the new key {mask(new.access_key_id)} is in IAM but not in the vault: "
                "delete it in IAM"
            )
        return f"the new key {mask(new.access_key_id)} was deleted again"


def rotate(profile: str) -> list[str]:
    if not in_vault(profile):
        raise UsageError(
            f"the vault holds no keys for profile {profile}", f"run `credproc add {profile}` first"
        )
    config = load()
    where = where_to_call(config, profile)
    session = _mfa_session(config, profile)  # may ask for a code: before taking the lock
    vault = Vault()
    with vault.writing(profile):
        old = vault.read(profile)
        arn = caller_arn(where, old.credentials(), profile)
        iam = Iam(where, session or old.credentials(), profile, _user_name(arn))
        rotation = Rotation(vault, iam, where, old, arn)
        rotation.room()
        new = rotation.create()
        rotation.store(new)
        rotation.prove(new)
        deleted = "was deleted from IAM" if rotation.retire(new) else "was gone from IAM already"
    return [
        f"{profile}: rotated: the vault holds the new key {mask(new.access_key_id)} of {arn}; "
        f"the old key {mask(old.access_key_id)} {deleted}",
        "sessions minted with the old key stay valid until they end, as AWS keeps them",
    ]
