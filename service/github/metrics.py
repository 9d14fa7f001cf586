"""In-process counters of GitHub calls per route, for the metrics endpoint and for tests.

Workers are separate processes: `drain()` hands over what was counted since the last drain,
for service.observability to add to the counters every process shares in Redis."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CallCounter:
    """Counts keyed by (method, route template), e.g. ("PATCH", "/repos/{owner}/{repo}/check-runs/
    {check_run_id}"). `errors` is keyed by (method, route, reason) where reason is the HTTP status
    as text, "timeout" or "network"; `retries` counts the attempts that were retried."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _drained_calls: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)
    _drained_errors: Counter[tuple[str, str, str]] = field(default_factory=Counter, repr=False)
    _drained_retries: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)

    def call(self, method: str, route: str) -> None:
        with self._lock:
            self.calls[(method, route)] += 1

    def error(self, method: str, route: str, reason: str) -> None:
        with self._lock:
            self.errors[(method, route, reason)] += 1

    def retry(self, method: str, route: str) -> None:
        with self._lock:
            self.retries[(method, route)] += 1

    def drain(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str, str]],
                             Counter[tuple[str, str]]]:
        """(calls, errors, retries) counted since the last drain; `snapshot()` keeps the
        totals of the process's life."""
        with self._lock:
            calls = self.calls - self._drained_calls
            errors = self.errors - self._drained_errors
            retries = self.retries - self._drained_retries
            self._drained_calls = Counter(self.calls)
            self._drained_errors = Counter(self.errors)
            self._drained_retries = Counter(self.retries)
        return calls, errors, retries

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Plain data for a metrics exporter: {"calls": {"GET /repos/...": n}, ...}."""
        with self._lock:
            return {
                "calls": {f"{m} {r}": n for (m, r), n in self.calls.items()},
                "errors": {f"{m} {r} {why}": n for (m, r, why), n in self.errors.items()},
                "retries": {f"{m} {r}": n for (m, r), n in self.retries.items()},
            }
