"""The cache hit, as a recipe: parse the config, plan the profile, open the cache, read the
entry of the plan's last step, serve it while it has more than 16 minutes left. Anything
else is a miss, handed to resolve.py, which this module imports only then."""

from __future__ import annotations

from typing import NamedTuple

from credproc import log
from credproc.cache import Store
from credproc.config import load
from credproc.entry import Credentials
from credproc.errors import ConfigError
from credproc.plan import Plan, build, resolving
from credproc.rules import SERVE_SECONDS


class Obtained(NamedTuple):
    plan: Plan
    credentials: Credentials


def _chain_guard(profile: str) -> None:
    chain = resolving()
    if profile in chain:
        loop = " -> ".join([*chain, profile])
        raise ConfigError(
            f"credproc calls itself in a loop: {loop}",
            "a source profile's credential_process must not lead back to this profile",
        )


def obtain(profile: str, *, renew: bool = False) -> Obtained:
    """Credentials for `profile`: from the cache when fresh, else minted (and cached)."""
    _chain_guard(profile)
    config = load()
    plan = build(config, profile)
    store = Store.open()
    if not renew:
        hit = store.credentials(plan.target.identity, plan.target.kind)
        if hit and hit.seconds_left() > SERVE_SECONDS:
            log.debug(f"cache hit for {profile}, {hit.seconds_left() / 60:.0f} min left")
            return Obtained(plan, hit)
    from credproc.resolve import Resolver  # only when the cache cannot answer

    return Obtained(plan, Resolver(plan, config, store, renew=renew).credentials())
