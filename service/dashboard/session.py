"""Dashboard sessions, kept in Redis so any web process serves any person.

The cookie holds a random id (HttpOnly, SameSite=Lax, Secure behind https); Redis holds who
signed in, the repository permissions GitHub reported at sign-in, and the session's CSRF
token, under the SHA-256 of the id (a copy of Redis yields no usable cookie)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field

from redis.asyncio import Redis

from service.permissions import LEVELS, rank

COOKIE = "deploybot_session"


@dataclass
class Viewer:
    login: str
    kind: str  # "github" (signed in with GitHub) or "token" (the operator's sign-in token)
    permissions: dict[str, str] = field(default_factory=dict)  # repo (lower case) → level
    checked_at: float = 0.0  # when GitHub last told us the permissions
    csrf: str = ""
    flash: list[str] = field(default_factory=list)

    @property
    def operator(self) -> bool:
        return self.kind == "token"

    def level(self, repo: str) -> str:
        """The person's permission on `repo`, as the comment commands rank them."""
        if self.operator:
            return "admin"  # holds the server's own token: runs this deploybot
        level = self.permissions.get(repo.lower(), "none")
        return level if level in LEVELS else "none"

    def can_read(self, repo: str) -> bool:
        return rank(self.level(repo)) >= rank("read")

    def age(self) -> float:
        return time.time() - self.checked_at

    @property
    def display(self) -> str:
        return "operator (sign-in token)" if self.operator else self.login


def _key(prefix: str, session_id: str) -> str:
    return f"{prefix}session:{hashlib.sha256(session_id.encode()).hexdigest()}"


async def create(redis: Redis, prefix: str, viewer: Viewer, ttl: float) -> str:
    session_id = secrets.token_urlsafe(32)
    viewer.csrf = secrets.token_urlsafe(24)
    viewer.checked_at = viewer.checked_at or time.time()
    await redis.set(_key(prefix, session_id), json.dumps(asdict(viewer)), ex=int(ttl))
    return session_id


async def load(redis: Redis, prefix: str, session_id: str | None) -> Viewer | None:
    if not session_id or len(session_id) > 100:
        return None
    raw = await redis.get(_key(prefix, session_id))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Viewer(**data)
    except (ValueError, TypeError):
        return None


async def save(redis: Redis, prefix: str, session_id: str, viewer: Viewer) -> None:
    """Store changes (flash messages) without extending the session's life."""
    await redis.set(_key(prefix, session_id), json.dumps(asdict(viewer)), keepttl=True)


async def destroy(redis: Redis, prefix: str, session_id: str | None) -> None:
    if session_id:
        await redis.delete(_key(prefix, session_id))
