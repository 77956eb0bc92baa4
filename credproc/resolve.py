"""The refresh rules: which cached step is still good, what to mint, what to serve when no
one can give a code. Locks are taken and the cache looked at again before botocore or the
prompt code is imported, so processes that waited for another's prompt stay light.
"""

from __future__ import annotations

import os
from typing import Any

from credproc import lock, log
from credproc.cache import Store
from credproc.config import AwsConfig
from credproc.errors import AwsUnreachable, NoPrompt, SourceRejected
from credproc.plan import Plan, Step
from credproc.protocol import GRACE_SECONDS, SERVE_SECONDS, Credentials, from_entry

SOURCE_SECONDS = 5 * 60  # a cached source is good for one more STS call while this is left


class Resolver:
    def __init__(self, plan: Plan, config: AwsConfig, store: Store, *, renew: bool = False) -> None:
        from credproc.prompt import prompt_timeout

        self.plan, self.config, self.store, self.renew = plan, config, store, renew
        self.timeout = prompt_timeout()
        self.who = f"pid {os.getpid()}, profile {plan.profile}"

    def credentials(self) -> Credentials:
        return self._step(len(self.plan.steps) - 1, SERVE_SECONDS)

    def _step(self, index: int, need: float) -> Credentials:
        step = self.plan.steps[index]
        wait = lock.wait_bound(self.timeout)
        with lock.held(self.store.path(step.identity) + ".lock", self.who, wait):
            old = from_entry(self.store.read(step.identity), step.kind)
            if old and old.seconds_left() > need and not self.renew:
                log.debug(
                    f"{step.kind} for {step.profile}: cached, "
                    f"{old.seconds_left() / 60:.0f} min left"
                )
                return old
            try:
                fresh = self._mint_from_source(index)
            except (NoPrompt, AwsUnreachable) as exc:
                # `login` promised new credentials: it reports the failure instead
                if old and old.seconds_left() > GRACE_SECONDS and not self.renew:
                    log.warn(
                        f"{exc.what}; serving cached credentials "
                        f"with {old.seconds_left() / 60:.0f} min left"
                    )
                    return old
                raise
            self.store.write(step.identity, self._record(step, fresh))
            return fresh

    def _mint_from_source(self, index: int) -> Credentials:
        step = self.plan.steps[index]
        if index == 0:
            return self._mint(step, self._source())
        try:
            return self._mint(step, self._step(index - 1, SOURCE_SECONDS))
        except SourceRejected as exc:
            # a cached session AWS no longer takes (revoked, keys deactivated): get a new one
            log.warn(f"{exc.what}: dropping the cached {self.plan.steps[index - 1].kind}")
            self.store.remove(self.plan.steps[index - 1].identity)
            return self._mint(step, self._step(index - 1, SOURCE_SECONDS))

    def _record(self, step: Step, creds: Credentials) -> dict[str, Any]:
        return {
            "kind": step.kind,
            "profile": step.profile,
            "role_arn": step.role_arn,
            "mfa_serial": step.mfa_serial,
            "credentials": creds.to_record(),
        }

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
        from credproc import sts

        return sts.botocore_source(source, self.plan.profile)

    def _mint(self, step: Step, source: Credentials) -> Credentials:
        from credproc import sts
        from credproc.prompt import CodeRequest, CodeSource
        from credproc.used_codes import UsedCodes

        client = sts.client(step, source)
        if not step.mfa_serial:
            return sts.mint(client, step, self.plan.source)
        if step.kind == "role":
            direct = self.plan.steps[0] is step and self.plan.source.long_term
            why = (
                "no MFA session for this role (credproc_mfa_session = false or "
                "duration_seconds > 3600)"
                if direct
                else "the source is temporary credentials, which cannot call GetSessionToken"
            )
            log.debug(f"{why}: AssumeRole with the MFA code directly")
        request = CodeRequest(
            self.plan.profile, step.mfa_serial, step.role_arn, self.plan.settings, self.timeout
        )
        used = UsedCodes(self.store, step.mfa_serial, self.who, self.timeout)
        codes = CodeSource(request, used.claim, asking=used.asking)
        return sts.mint(client, step, self.plan.source, codes.next)
