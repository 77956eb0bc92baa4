"""`credproc add` and `credproc remove`, and the vault's rows of `credproc status`: recipes
over the vault (vault.py), the keys a person hands over (user_keys.py) and STS (sts_keys.py).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from credproc import log, paths, rules
from credproc.cache import Store
from credproc.config import AwsConfig, load
from credproc.entry import Credentials, VaultKeys
from credproc.errors import AwsRefused, AwsUnreachable, CredprocError, UsageError, mask
from credproc.plan import Plan, build, endpoint, in_vault
from credproc.profiles import VAULT
from credproc.protocol import utc_iso
from credproc.vault import Vault

if TYPE_CHECKING:  # botocore is imported only by the commands that call AWS
    from credproc.sts_keys import Endpoint

DAY = 86400


class AddRequest(NamedTuple):
    profile: str
    source: str  # "tty", "env" or "file"
    verify: bool


def where_to_call(config: AwsConfig, profile: str) -> Endpoint:
    """STS and IAM endpoints for calls signed with `profile`'s keys."""
    from credproc.sts_keys import Endpoint, iam_url

    known = config.profiles.get(profile)
    url, region = endpoint([known] if known else [])
    own_url = known.get("endpoint_url") if known else ""
    return Endpoint(profile if known else "", region, url, iam_url(own_url))


def plans_from(config: AwsConfig, profile: str) -> list[Plan]:
    """The plans of every profile whose source is `profile`'s keys in the vault, `profile`'s
    own first."""
    found = []
    for name in sorted(config.profiles, key=lambda name: name != profile):
        try:
            plan = build(config, name)
        except CredprocError:
            continue  # a profile credproc cannot resolve has minted nothing
        if plan.source.kind == VAULT and plan.source.profile == profile:
            found.append(plan)
    return found


def minted_from(config: AwsConfig, profile: str) -> list[str]:
    """The cache entries of every plan whose source is `profile`'s keys in the vault."""
    return sorted({step.identity for plan in plans_from(config, profile) for step in plan.steps})


def _given(config: AwsConfig, request: AddRequest) -> Credentials:
    from credproc import user_keys

    if request.source == "env":
        return user_keys.from_env()
    if request.source == "file":
        return user_keys.from_files(config, request.profile)
    return user_keys.from_terminal(request.profile, rules.prompt_timeout())


def _proven(config: AwsConfig, profile: str, keys: Credentials) -> str:
    """Who AWS says the keys are; nothing is stored when it refuses them."""
    from credproc import sts_keys

    try:
        return sts_keys.caller_arn(where_to_call(config, profile), keys, profile)
    except AwsRefused as exc:
        raise type(exc)(f"{exc.what}; nothing was stored", "check the keys") from None
    except AwsUnreachable as exc:
        raise AwsUnreachable(
            f"{exc.what}; nothing was stored", "try again online, or add --no-verify"
        ) from None


def _store(vault: Vault, profile: str, keys: Credentials, user_arn: str) -> bool:
    """Put the keys in the vault; True unless they are the keys it held: what the cache holds
    for this profile's vault keys was minted from other keys (replaced, damaged, or of an
    entry deleted by hand)."""
    with vault.writing(profile):
        held = vault.lookup(profile) if in_vault(profile) else None
        same = isinstance(held, VaultKeys) and held.access_key_id == keys.access_key_id
        if isinstance(held, VaultKeys) and not same:
            raise UsageError(
                f"the vault already holds other keys for profile {profile} "
                f"({mask(held.access_key_id)}, added {utc_iso(held.added)[:10]})",
                f"run `credproc rotate {profile}` to replace them, "
                f"or `credproc remove {profile}` first",
            )
        added = held.added if isinstance(held, VaultKeys) else int(time.time())
        user_arn = user_arn or (held.user_arn if isinstance(held, VaultKeys) else "")
        vault.write(VaultKeys(profile, keys.access_key_id, keys.secret_access_key, added, user_arn))
        if isinstance(held, str):
            log.alert(f"{held}: replaced")
        return not same


def add(request: AddRequest) -> list[str]:
    """Prove, store, then (for --from-file) take the keys out of the files; lines to print."""
    from credproc import keystore, user_keys

    config, profile = load(), request.profile
    keys = _given(config, request)
    user_arn = _proven(config, profile, keys) if request.verify else ""
    vault = Vault()
    if _store(vault, profile, keys, user_arn):
        _forget(config, profile)  # sessions minted from other keys
    whose = f" of {user_arn}" if user_arn else " (not verified)"
    lines = [
        f"{profile}: keys {mask(keys.access_key_id)}{whose} are in the vault; "
        f"the vault key is in {keystore.where()}"
    ]
    if request.source == "file":
        try:
            moved = user_keys.remove_from_files(config, profile, keys)
        except CredprocError as exc:
            raise type(exc)(
                f"the keys are in the vault, but {exc.what}",
                f"run `credproc add {profile} --from-file` again to take them out of the file",
            ) from None
        lines += [f"{profile}: removed them from {path}" for path in moved]
    known = config.profiles.get(profile)
    if known is None:
        lines.append(
            f"note: no profile {profile} in {config.config_file}: add [profile {profile}] "
            "so that other profiles can name it in source_profile"
        )
    elif not known.get("credential_process"):
        lines.append(
            f"if you use profile {profile} itself (aws --profile {profile}), set "
            f"credential_process = credproc --profile {profile} in [profile {profile}]"
        )
    return lines


def _forget(config: AwsConfig, profile: str) -> int:
    return Store.open().forget(minted_from(config, profile))


def _confirmed(profile: str) -> bool:
    from credproc.prompt.terminal import open_terminal

    terminal = open_terminal()
    if terminal is None:
        raise UsageError(
            f"credproc remove asks on a terminal before it forgets the keys of {profile}",
            "run it in a terminal, or add --yes",
        )
    try:
        terminal.write(f"Remove the keys of profile {profile} from the vault? [y/N] ")
        return terminal.read_line(rules.prompt_timeout()).strip().lower() in ("y", "yes")
    finally:
        terminal.close()


def remove(profile: str, *, yes: bool) -> list[str]:
    """Forget the keys and what was minted from them; the keystore is not needed for this."""
    if not in_vault(profile):
        raise UsageError(f"the vault holds no keys for profile {profile}", "see credproc status")
    if not yes and not _confirmed(profile):
        return [f"{profile}: kept"]
    config = load()
    names = minted_from(config, profile)  # while the vault still names the source
    vault = Vault()
    with vault.writing(profile):
        vault.remove(profile)
    forgotten = Store.open().forget(names)
    return [
        f"{profile}: keys removed from the vault, and {forgotten} cached "
        f"entr{'y' if forgotten == 1 else 'ies'} minted from them",
        "the key itself is still active in IAM: delete it there if nothing else uses it",
    ]


def status_rows(now: float | None = None) -> list[dict[str, Any]]:
    """One row per vault entry: profile, masked key id, added, age; never a secret."""
    if not os.path.isdir(paths.vault_dir()):
        return []  # status makes no vault
    vault = Vault()
    names = vault.names()
    if not names:
        return []  # the keystore is asked only when there is something to show
    now = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for name in names:
        keys = vault.read_name(name)
        if keys is None:
            rows.append({"profile": "", "kind": VAULT, "problem": "does not open"})
            continue
        age = int((now - keys.added) // DAY)
        rows.append(
            {
                "profile": keys.profile,
                "kind": VAULT,
                "key_id": mask(keys.access_key_id),
                "user_arn": keys.user_arn,
                "added": utc_iso(keys.added),
                "age_days": age,
                "rotate": age >= rules.KEY_ROTATE_DAYS,
            }
        )
    return rows


def status_line(row: dict[str, Any]) -> str:
    if "problem" in row:
        return f"{'?':<24} {VAULT:<8} an entry that {row['problem']} (add its profile again)"
    line = (
        f"{row['profile']:<24} {VAULT:<8} {row['key_id']}  added {row['added'][:10]}, "
        f"{row['age_days']} days ago"
    )
    if row["rotate"]:
        line += f": {rules.KEY_ROTATE_DAYS} days or older, run `credproc rotate {row['profile']}`"
    return line
