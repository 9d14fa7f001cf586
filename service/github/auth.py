"""githubkit auth strategies: the App's JWT (githubkit's own) and installation tokens from the
shared Redis cache (ours; githubkit's installation flow caches per process only)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx
from githubkit.auth import AppAuthStrategy, BaseAuthStrategy
from githubkit.cache import MemCacheStrategy

from service.github.tokens import TokenCache

if TYPE_CHECKING:
    from githubkit import GitHubCore

__all__ = ["AppAuthStrategy", "InstallationAuthStrategy", "MemCacheStrategy"]


class _InstallationAuth(httpx.Auth):
    def __init__(self, tokens: TokenCache, installation_id: int) -> None:
        self._tokens = tokens
        self._installation_id = installation_id

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the deploybot GitHub client is async only")
        yield request  # pragma: no cover  (makes this a generator)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.get(self._installation_id)
        request.headers["Authorization"] = f"token {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked or expired before its time: forget it and try once with a new one.
            await self._tokens.invalidate(self._installation_id, token)
            token = await self._tokens.get(self._installation_id)
            request.headers["Authorization"] = f"token {token}"
            yield request


class InstallationAuthStrategy(BaseAuthStrategy):
    def __init__(self, tokens: TokenCache, installation_id: int) -> None:
        self.tokens = tokens
        self.installation_id = installation_id

    def get_auth_flow(self, github: GitHubCore[BaseAuthStrategy]) -> httpx.Auth:
        return _InstallationAuth(self.tokens, self.installation_id)
