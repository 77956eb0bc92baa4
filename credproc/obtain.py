"""The cache hit, as a recipe: open the cache; the shortcut first (a pointer from the profile
and its unchanged inputs to its entry's credentials); else parse the config, plan the profile
and read the entry of the plan's last step; serve it while it has more than 16 minutes left.
Anything else is a miss, handed to resolve.py. The config, the plan and resolve.py are
imported only when the shortcut cannot answer."""

from typing import TYPE_CHECKING, Optional

from credproc import log
from credproc.cache import Store
from credproc.entry import Credentials
from credproc.errors import ConfigError
from credproc.rules import SERVE_SECONDS, resolving
from credproc.shortcut import Shortcut

if TYPE_CHECKING:  # no `from __future__ import annotations`: see entry.py
    from credproc.plan import Obtained


def _chain_guard(profile: str) -> None:
    chain = resolving()
    if profile in chain:
        loop = " -> ".join([*chain, profile])
        raise ConfigError(
            f"credproc calls itself in a loop: {loop}",
            "a source profile's credential_process must not lead back to this profile",
        )


def _fresh(store: Store, name: str, kind: str, profile: str) -> Optional[Credentials]:
    hit = store.credentials(name, kind)
    if hit and hit.seconds_left() > SERVE_SECONDS:
        log.debug(f"cache hit for {profile}, {hit.seconds_left() / 60:.0f} min left")
        return hit
    return None


def credentials(profile: str) -> Credentials:
    """What `credproc --profile P` prints: the shortcut's answer when fresh, else obtain()."""
    _chain_guard(profile)
    store = Store.open()
    shortcut = Shortcut(store, profile)
    hit = shortcut.credentials()
    if hit and hit.seconds_left() > SERVE_SECONDS:
        log.debug(f"cache hit for {profile} (shortcut), {hit.seconds_left() / 60:.0f} min left")
        return hit
    return obtain(profile, store=store, shortcut=shortcut).credentials


def obtain(
    profile: str,
    *,
    renew: bool = False,
    store: Optional[Store] = None,
    shortcut: Optional[Shortcut] = None,
) -> "Obtained":
    """Credentials for `profile` and its plan: from the cache when fresh, else minted (and
    cached). The shortcut, made before the config was read, learns where the answer is."""
    from credproc.config import load
    from credproc.plan import Obtained, build

    _chain_guard(profile)
    store = store or Store.open()
    shortcut = shortcut or Shortcut(store, profile)
    config = load()
    plan = build(config, profile)
    hit = None if renew else _fresh(store, plan.target.identity, plan.target.kind, profile)
    if hit is None:
        from credproc.resolve import Resolver  # only when the cache cannot answer

        hit = Resolver(plan, config, store, renew=renew).credentials()
    shortcut.remember(plan.target.identity, plan.target.kind)
    return Obtained(plan, hit)
