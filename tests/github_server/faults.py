"""Fault injection: per-route rules the middleware applies before a request reaches a route.

    server.faults.fail("/repos/*/check-runs*", status=502, times=2)
    server.faults.rate_limit("/repos/*", retry_after=1)            # 429 + Retry-After, once
    server.faults.secondary_rate_limit("/repos/*", retry_after=2)  # 403 + Retry-After
    server.faults.primary_rate_limit("/repos/*", reset_at=...)     # 403, remaining 0 + reset
    server.faults.delay("/repos/*/pulls/*", seconds=5)             # for client timeouts

Patterns are fnmatch globs on the path ("*" also matches "/"); `method` narrows to one verb.
`times=None` keeps a rule forever.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field

DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"


@dataclass
class FaultRule:
    pattern: str
    method: str | None = None
    times: int | None = 1
    status: int | None = None  # None: no answer of its own (a pure delay)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, object] = field(default_factory=dict)
    delay: float = 0.0
    late: bool = False  # handle the request, then hold the answer `delay` seconds
    label: str = "fault"
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.pattern)

    def body_bytes(self) -> bytes:
        return json.dumps(self.body or {"message": f"injected {self.status}"}).encode()


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live rule for this request, counting the hit."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path) and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    rule.hits += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    # -- shorthands ----------------------------------------------------------------------

    def fail(self, pattern: str, *, status: int = 502, times: int | None = 1,
             method: str | None = None) -> FaultRule:
        return self.add(FaultRule(pattern, method, times, status,
                                  body={"message": "Server Error"}, label=f"fail {status}"))

    def rate_limit(self, pattern: str, *, retry_after: int | None = 1, times: int | None = 1,
                   method: str | None = None) -> FaultRule:
        """429 Too Many Requests, with `Retry-After` unless None."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return self.add(FaultRule(pattern, method, times, 429, headers,
                                  {"message": "You have exceeded a secondary rate limit.",
                                   "documentation_url": DOCS}, label="429"))

    def secondary_rate_limit(self, pattern: str, *, retry_after: int = 1,
                             times: int | None = 1, method: str | None = None) -> FaultRule:
        return self.add(FaultRule(pattern, method, times, 403, {"retry-after": str(retry_after)},
                                  {"message": "You have exceeded a secondary rate limit. Please "
                                   "wait a few minutes before you try again.",
                                   "documentation_url": DOCS}, label="secondary rate limit"))

    def primary_rate_limit(self, pattern: str, *, reset_at: int | None = None,
                           times: int | None = 1, method: str | None = None) -> FaultRule:
        reset = reset_at if reset_at is not None else int(time.time()) + 60
        headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                   "x-ratelimit-used": "5000", "x-ratelimit-reset": str(reset),
                   "x-ratelimit-resource": "core"}
        return self.add(FaultRule(pattern, method, times, 403, headers,
                                  {"message": "API rate limit exceeded for installation.",
                                   "documentation_url": DOCS}, label="primary rate limit"))

    def delay(self, pattern: str, *, seconds: float = 5.0, times: int | None = 1,
              method: str | None = None) -> FaultRule:
        """Hold the request `seconds` before handling it normally (a client that timed out
        has gone by then; its attempt is logged with status 0)."""
        return self.add(FaultRule(pattern, method, times, None, delay=seconds,
                                  label=f"delay {seconds}s"))

    def answer_late(self, pattern: str, *, seconds: float = 5.0, times: int | None = 1,
                    method: str | None = None) -> FaultRule:
        """Act on the request, then hold the answer `seconds`: GitHub did it, but a client
        that timed out cannot know (a comment created whose answer never arrived)."""
        return self.add(FaultRule(pattern, method, times, None, delay=seconds, late=True,
                                  label=f"answer {seconds}s late"))
