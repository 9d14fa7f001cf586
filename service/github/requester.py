"""One GitHub call: githubkit sends it; we add the API version, retries, rate-limit waits,
counters and errors that name the route.

githubkit's own retry is switched off (`auto_retry=False`): its waits can be neither bounded
nor observed in tests, and it does not retry timeouts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from githubkit import GitHub
from githubkit.exception import RequestError, RequestFailed, RequestTimeout

from service.github.errors import (
    GitHubError,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUncertain,
    error_for_status,
)
from service.github.metrics import CallCounter
from service.github.outgoing import prepare
from service.github.ratelimit import RateLimitInfo, RetryPolicy, is_rate_limited, rate_limit_wait

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Failures after which the request certainly never reached GitHub: safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class SharedTransport(httpx.AsyncBaseTransport):
    """Lets every short-lived httpx client githubkit makes share one connection pool.

    githubkit opens and closes an AsyncClient per request outside `async with`; closing the
    client closes its transport, so the pool is wrapped and only `aclose_pool` closes it.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Called by each short-lived client: the pool stays open."""

    async def aclose_pool(self) -> None:
        await self._inner.aclose()


def expand(route: str, path: Mapping[str, object] | None) -> str:
    """`/repos/{owner}/{repo}` with its parameters URL-quoted (slashes kept: refs and file
    paths contain them)."""
    if not path:
        return route
    return route.format(**{k: quote(str(v), safe="/") for k, v in path.items()})


def _error_body(response: httpx.Response) -> tuple[str, list[Any], str | None]:
    try:
        data = json.loads(response.content)
    except ValueError:
        text = response.text.strip()
        return (text[:200] or response.reason_phrase or "error"), [], None
    if not isinstance(data, dict):
        return str(data)[:200], [], None
    errors = data.get("errors")
    return (str(data.get("message") or response.reason_phrase),
            errors if isinstance(errors, list) else [], data.get("documentation_url"))


class Requester:
    def __init__(self, github: GitHub[Any], *, api_version: str, policy: RetryPolicy,
                 counter: CallCounter, sleep: Sleep, clock: Callable[[], float]) -> None:
        self.github = github
        self.api_version = api_version
        self.policy = policy
        self.counter = counter
        self.rate_limit = RateLimitInfo()
        self._sleep = sleep
        self._clock = clock
        base = github.config.base_url
        self._origin = (base.scheme, base.host, base.port)

    def _check_origin(self, url: str) -> None:
        target = httpx.URL(url)
        if target.is_absolute_url and (target.scheme, target.host, target.port) != self._origin:
            # A Link header pointing elsewhere must not receive our token.
            raise GitHubError("GET", url, None, "refusing to follow a link to another host")

    async def request(self, method: str, route: str, path: Mapping[str, object] | None = None,
                      *, params: Mapping[str, Any] | None = None, json: Any = None,
                      accept: str | None = None, url: str | None = None,
                      repeatable: bool | None = None, link: str | None = None
                      ) -> httpx.Response:
        """Send and retry; return the 2xx/3xx response or raise a GitHubError subclass.

        `route` is the template (the metrics label); `url` overrides the expanded route
        (pagination links). A request that is not `repeatable` (by default: a POST) is not
        sent again after a timeout, a broken connection or a 5xx — GitHub may have acted on
        it — but raises GitHubUncertain (see `create`). Rate-limit answers are always
        retried: GitHub did nothing. `link` is where the full text is (the dashboard), named
        when a long text is cut to GitHub's limits.
        """
        # Whatever the bot shows on GitHub may quote SQL output, logs or errors: no secret
        # in play leaves this process, whichever report it is in, and what is left fits
        # GitHub's limits (redacted first, then cut: see outgoing.py).
        return await self._send(method, route, path, params=params,
                                json=prepare(route, json, link=link), accept=accept, url=url,
                                repeatable=repeatable)

    async def _send(self, method: str, route: str, path: Mapping[str, object] | None, *,
                    params: Mapping[str, Any] | None, json: Any, accept: str | None,
                    url: str | None, repeatable: bool | None) -> httpx.Response:
        """`request` once the body is prepared (prepared exactly once: a second pass of the
        redactor over a cut text could change it)."""
        if repeatable is None:
            repeatable = method != "POST"
        target = url or expand(route, path)
        self._check_origin(target)
        headers = {"X-GitHub-Api-Version": self.api_version}
        if accept:
            headers["Accept"] = accept
        attempt = 0
        while True:
            attempt += 1
            self.counter.call(method, route)
            try:
                resp = await self.github.arequest(method, target, params=params, json=json,
                                                  headers=headers)
                self.rate_limit.observe(resp.raw_response.headers)
                return resp.raw_response
            except RequestFailed as exc:
                raw = exc.response.raw_response
                self.rate_limit.observe(raw.headers)
                self.counter.error(method, route, str(raw.status_code))
                delay = self._delay_for(raw, attempt)
                if delay is not None and not repeatable and not is_rate_limited(raw):
                    raise GitHubUncertain(method, route, raw.status_code,
                                          _error_body(raw)[0]) from None
                if delay is None or attempt >= self.policy.max_attempts:
                    raise self._error(method, route, raw, delay) from None
                if delay > self.policy.max_wait:
                    raise GitHubRateLimited(method, route, raw.status_code,
                                            "rate limited for longer than the client waits",
                                            retry_after=delay) from None
                log.warning("GitHub %s %s → %s; retrying in %.1f s (attempt %d of %d)",
                            method, route, raw.status_code, delay, attempt,
                            self.policy.max_attempts)
            except RequestTimeout as exc:
                self.counter.error(method, route, "timeout")
                if not repeatable and not isinstance(exc.exc, _NOT_SENT):
                    raise GitHubUncertain(method, route, None, "timed out") from None
                if attempt >= self.policy.max_attempts:
                    raise GitHubUnavailable(method, route, None,
                                            f"timed out {attempt} times") from None
                delay = self.policy.backoff(attempt)
                log.warning("GitHub %s %s timed out; retrying in %.1f s", method, route, delay)
            except RequestError as exc:
                inner = exc.exc
                if isinstance(inner, GitHubError):  # from minting a token in the auth flow
                    raise inner from None
                if not isinstance(inner, httpx.TransportError):
                    raise inner from None
                self.counter.error(method, route, "network")
                if not repeatable and not isinstance(inner, _NOT_SENT):
                    raise GitHubUncertain(method, route, None,
                                          f"connection lost: {type(inner).__name__}") from None
                if attempt >= self.policy.max_attempts:
                    raise GitHubUnavailable(method, route, None,
                                            f"cannot reach GitHub: {type(inner).__name__}"
                                            ) from None
                delay = self.policy.backoff(attempt)
                log.warning("GitHub %s %s: %s; retrying in %.1f s", method, route,
                            type(inner).__name__, delay)
            self.counter.retry(method, route)
            await self._sleep(delay)

    async def create(self, route: str, path: Mapping[str, object] | None, *, json: Any,
                     find: Callable[[Any], Awaitable[Any | None]],
                     link: str | None = None) -> Any:
        """POST something GitHub keeps (a check run, a comment, a deployment) exactly once.

        When a POST times out, loses its connection or gets a 5xx, GitHub may have created
        the thing anyway; sending again blindly would make two summary comments or two
        check runs. So `find` looks for it first (by its external id, marker or body — it is
        given the body as sent, redacted and cut), and only when it is not there is the POST
        sent again — within the retry policy."""
        json = prepare(route, json, link=link)  # as GitHub will hold it
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send("POST", route, path, params=None, json=json,
                                            accept=None, url=None, repeatable=False)
                return response.json() if response.content else None
            except GitHubUncertain as exc:
                if attempt >= self.policy.max_attempts:
                    raise GitHubUnavailable(exc.method, route, exc.status,
                                            f"{exc.message} {attempt} times") from None
                delay = self.policy.backoff(attempt)
                log.warning("GitHub POST %s: %s; looking for what it may have created, "
                            "then retrying in %.1f s", route, exc.message, delay)
                self.counter.retry("POST", route)
                await self._sleep(delay)
                found = await find(json)
                if found is not None:
                    return found

    def _delay_for(self, response: httpx.Response, attempt: int) -> float | None:
        if is_rate_limited(response):
            return rate_limit_wait(response, self._clock(), self.policy)
        if response.status_code >= 500:
            return self.policy.backoff(attempt)
        return None

    @staticmethod
    def _error(method: str, route: str, response: httpx.Response,
               delay: float | None) -> GitHubError:
        message, errors, doc = _error_body(response)
        if delay is not None and is_rate_limited(response):
            return GitHubRateLimited(method, route, response.status_code, message,
                                     retry_after=delay)
        return error_for_status(response.status_code)(
            method, route, response.status_code, message, errors, doc)

    async def json(self, method: str, route: str, path: Mapping[str, object] | None = None,
                   **kwargs: Any) -> Any:
        response = await self.request(method, route, path, **kwargs)
        return response.json() if response.content else None

    async def paginate(self, route: str, path: Mapping[str, object] | None = None, *,
                       params: Mapping[str, Any] | None = None, key: str | None = None,
                       limit: int | None = None) -> list[Any]:
        """Every item of a list endpoint, following `Link: rel="next"` (page or cursor).

        `key` names the list inside an object answer (`check_runs`, `statuses`).
        """
        items: list[Any] = []
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        url: str | None = None
        while True:
            response = await self.request("GET", route, path, params=query, url=url)
            data = response.json()
            page = data.get(key, []) if key else data
            items.extend(page)
            next_link = response.links.get("next", {}).get("url")
            if not next_link or not page or (limit is not None and len(items) >= limit):
                break
            url, query = next_link, None  # the link carries the query
        return items[:limit] if limit is not None else items
