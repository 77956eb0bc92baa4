"""Codes sent lately for a device, kept as keyed hashes in the encrypted cache.

AWS refuses a TOTP code it has seen; a code stays suspect for USED_CODE_SECONDS (its 30 s
window plus the clock skew AWS tolerates), so credproc never sends one twice in that time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from credproc import lock
from credproc.cache import Store
from credproc.entry import USED_CODES, CacheEntry
from credproc.plan import identity
from credproc.rules import USED_CODE_SECONDS

PROMPT_LOCK = identity(kind="prompt")  # one per user, whatever the device


class UsedCodes:
    def __init__(
        self,
        store: Store,
        mfa_serial: str,
        who: str,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.mfa_serial, self.who, self.timeout = store, mfa_serial, who, timeout
        self.clock = clock
        self.name = identity(kind=USED_CODES, mfa_serial=mfa_serial)
        self.hash_key = hmac.new(store.key, b"credproc used-code hash key", hashlib.sha256).digest()

    def _digest(self, code: str) -> str:
        message = f"{self.mfa_serial}\0{code}".encode()
        return hmac.new(self.hash_key, message, hashlib.sha256).hexdigest()

    def asking(self, timeout: float) -> AbstractContextManager[None]:
        """One prompt at a time for this user, whatever the entry: two prompts on one terminal
        would race for the typed line. Held around asking alone, never with another lock."""
        return lock.held(self.store.path(PROMPT_LOCK) + ".lock", self.who, timeout)

    def claim(self, code: str) -> bool:
        """Mark `code` as sent; False if it was sent lately (by any process)."""
        now = self.clock()
        with lock.held(self.store.path(self.name) + ".lock", self.who, self.timeout):
            found = self.store.read(self.name)
            # abs(): after the clock went back a long way, forget rather than keep forever
            recent = [
                (digest, when)
                for digest, when in (found.used_codes if found and found.kind == USED_CODES else ())
                if abs(now - when) < USED_CODE_SECONDS
            ]
            digest = self._digest(code)
            if any(seen == digest for seen, _ in recent):
                return False
            record = CacheEntry(
                USED_CODES, mfa_serial=self.mfa_serial, used_codes=(*recent, (digest, now))
            )
            self.store.write(self.name, record)
            return True
