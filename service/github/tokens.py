"""Installation access tokens, cached in Redis and shared by every worker process.

A token is kept until `expires_at` minus a safety margin (GitHub: one hour; nothing here
assumes a token's length or format). Minting is serialised per installation with a short
Redis lock so a burst of workers does not mint a token each; losing the lock race only
costs a short wait. Tokens never reach a log or an exception message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio import Redis

from service.redis_calls import awaited

log = logging.getLogger(__name__)

# Deletes the cached entry only if it still is the refused one (another worker may already
# have stored a fresh token).
_DELETE_IF_SAME = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds

    def dumps(self) -> str:
        return json.dumps({"token": self.token, "expires_at": self.expires_at})

    @classmethod
    def loads(cls, raw: str | bytes) -> InstallationToken | None:
        try:
            data = json.loads(raw)
            return cls(token=str(data["token"]), expires_at=float(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None


def parse_expires_at(value: str) -> float:
    """GitHub's `expires_at` ("2016-07-11T22:14:10Z") as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


Mint = Callable[[int], Awaitable[InstallationToken]]


class TokenCache:
    """Redis-backed cache of installation tokens of one App on one GitHub host."""

    def __init__(self, redis: Redis, prefix: str, *, app_id: str, api_url: str, mint: Mint,
                 margin: float = 300.0, clock: Callable[[], float] = time.time,
                 lock_timeout: float = 10.0) -> None:
        self._redis = redis
        host = hashlib.sha256(api_url.encode()).hexdigest()[:8]  # GHES and github.com apart
        self._prefix = f"{prefix}github:token:{host}:{app_id}:"
        self._mint = mint
        self.margin = margin
        self._clock = clock
        self._lock_timeout = lock_timeout
        self.minted = 0  # tokens this process minted (for tests and metrics)

    def key(self, installation_id: int) -> str:
        return f"{self._prefix}{installation_id}"

    def _fresh(self, token: InstallationToken | None) -> bool:
        return token is not None and token.expires_at - self.margin > self._clock()

    async def _cached(self, installation_id: int) -> InstallationToken | None:
        raw = await self._redis.get(self.key(installation_id))
        token = InstallationToken.loads(raw) if raw is not None else None
        return token if self._fresh(token) else None

    async def get(self, installation_id: int) -> str:
        """A token valid for at least `margin` more seconds, minting one when needed."""
        token = await self._cached(installation_id)
        if token is not None:
            return token.token
        key = self.key(installation_id)
        lock_key, lock_value = f"{key}:lock", secrets.token_hex(8)
        locked = await self._redis.set(lock_key, lock_value, nx=True,
                                       px=int(self._lock_timeout * 1000))
        if not locked:
            # Another process is minting: wait for its token, mint ourselves if it is slow.
            deadline = time.monotonic() + self._lock_timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                token = await self._cached(installation_id)
                if token is not None:
                    return token.token
        try:
            token = await self._cached(installation_id)  # stored while we took the lock
            if token is None:
                token = await self._mint(installation_id)
                self.minted += 1
                await self._store(installation_id, token)
            return token.token
        finally:
            if locked:
                await awaited(self._redis.eval(_DELETE_IF_SAME, 1, lock_key, lock_value))

    async def _store(self, installation_id: int, token: InstallationToken) -> None:
        ttl = token.expires_at - self.margin - self._clock()
        if ttl <= 1:
            log.warning("installation %s: GitHub gave a token expiring within the %.0f s safety "
                        "margin; it is used once and not cached", installation_id, self.margin)
            return
        await self._redis.set(self.key(installation_id), token.dumps(), px=int(ttl * 1000))

    async def invalidate(self, installation_id: int, token: str) -> None:
        """Forget `token` after GitHub refused it (revoked, or expired early)."""
        key = self.key(installation_id)
        raw = await self._redis.get(key)
        if raw is None:
            return
        cached = InstallationToken.loads(raw)
        if cached is None or cached.token == token:
            await awaited(self._redis.eval(_DELETE_IF_SAME, 1, key, raw))
