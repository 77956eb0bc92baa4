"""A cache miss, top to bottom: for the plan's last step, take its lock and look again; when
the cache still cannot answer, get the credentials to sign with (the source, or the step
before, resolved the same way), ask for a code if the step carries one, call STS, write the
entry, return. When no one can give a code, still-valid cached credentials are served.

Locks are taken and the cache looked at again before botocore or the prompt code is
imported, so processes that waited for another's prompt stay light.
"""

from __future__ import annotations

import os

from credproc import lock, log, rules
from credproc.cache import Store
from credproc.config import AwsConfig
from credproc.entry import ROLE, CacheEntry, Credentials
from credproc.errors import AwsUnreachable, NoPrompt, SourceRejected, VaultError
from credproc.plan import Plan, Step
from credproc.profiles import VAULT

# what may pass while still-valid cached credentials are served instead: no one to give a
# code, no network, a vault that cannot be read now (a locked keystore)
PASSING = (NoPrompt, AwsUnreachable, VaultError)


class Resolver:
    def __init__(self, plan: Plan, config: AwsConfig, store: Store, *, renew: bool = False) -> None:
        self.plan, self.config, self.store = plan, config, store
        self.renew = renew  # `login`: mint the last step even if the cache could answer
        self.timeout = rules.prompt_timeout()
        self.who = f"pid {os.getpid()}, profile {plan.profile}"

    def credentials(self) -> Credentials:
        return self._step(len(self.plan.steps) - 1, rules.SERVE_SECONDS)

    def _step(self, index: int, need: float) -> Credentials:
        """Step `index`'s credentials with more than `need` seconds left, cached or minted."""
        step = self.plan.steps[index]
        wait = lock.wait_bound(self.timeout)
        with lock.held(self.store.path(step.identity) + ".lock", self.who, wait):
            old = self.store.credentials(step.identity, step.kind)
            if old and old.seconds_left() > need and not self.renew:
                left = old.seconds_left() / 60
                log.debug(f"{step.kind} for {step.profile}: cached, {left:.0f} min left")
                return old
            try:
                fresh = self._mint(index)
            except PASSING as exc:
                # `login` promised new credentials: it reports the failure instead
                if old and old.seconds_left() > rules.GRACE_SECONDS and not self.renew:
                    log.warn(
                        f"{exc.what}; serving cached credentials "
                        f"with {old.seconds_left() / 60:.0f} min left"
                    )
                    return old
                raise
            self.store.write(step.identity, self._entry(step, fresh))
            return fresh

    def _entry(self, step: Step, creds: Credentials) -> CacheEntry:
        return CacheEntry(step.kind, step.profile, step.role_arn, step.mfa_serial, creds)

    def _mint(self, index: int) -> Credentials:
        """Sign with the source (first step) or the step before, which AWS may no longer
        accept (revoked, keys deactivated): then that one is dropped and obtained again."""
        if index == 0:
            return self._call(self.plan.steps[0], self._source())
        before = self.plan.steps[index - 1]
        try:
            return self._call(self.plan.steps[index], self._step(index - 1, rules.SOURCE_SECONDS))
        except SourceRejected as exc:
            log.warn(f"{exc.what}: dropping the cached {before.kind}")
            self.store.remove(before.identity)
            return self._call(self.plan.steps[index], self._step(index - 1, rules.SOURCE_SECONDS))

    def _source(self) -> Credentials:
        source = self.plan.source
        if source.kind == "static":
            profile = self.config.profiles[source.profile]
            return Credentials(
                profile.get("aws_access_key_id"),
                profile.get("aws_secret_access_key"),
                profile.get("aws_session_token"),
                0,
            )
        if source.kind == VAULT:
            from credproc import vault  # asks the keystore: once per MFA session minted

            return vault.source_keys(source.profile)
        from credproc import sources

        return sources.load(source, self.plan.profile)

    def _call(self, step: Step, signer: Credentials) -> Credentials:
        """The STS call of `step`, signed by `signer`; with a code when the step carries one."""
        from credproc import sts

        client = sts.client(step, signer)
        if not step.mfa_serial:
            return sts.mint(client, step, self.plan.source)
        from credproc.prompt import CodeSource
        from credproc.prompt.request import CodeRequest
        from credproc.used_codes import UsedCodes

        if step.kind == ROLE:
            log.debug(f"{self._why_direct(step)}: AssumeRole with the MFA code directly")
        request = CodeRequest(
            self.plan.profile, step.mfa_serial, step.role_arn, self.plan.settings, self.timeout
        )
        used = UsedCodes(self.store, step.mfa_serial, self.who, self.timeout)
        codes = CodeSource(request, used.claim, asking=used.asking)
        return codes.until_accepted(lambda code: sts.mint(client, step, self.plan.source, code))

    def _why_direct(self, step: Step) -> str:
        if self.plan.steps[0] is step and self.plan.source.long_term:
            return (
                "no MFA session for this role (credproc_mfa_session = false or "
                "duration_seconds > 3600)"
            )
        return "the source is temporary credentials, which cannot call GetSessionToken"
