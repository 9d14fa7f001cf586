"""One sample of a deployed environment: probe the functions, read the function host's
figures, count the database's connections.

The host's own figures (GET /_deploybot/metrics) are read after the probe, so they include
it along with whatever real traffic the host served since the last sample. A host that has
no such endpoint (not a deploybot host) leaves the probe as the only measurement. An
environment without a configured function host gets one started for the sample and
stopped after it (about a second; a worker keeps nothing from one sample to the next) —
only when there is a probe to send, since a host nobody calls has nothing to report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from workers.drivers.interfaces import DatabaseUnavailable
from workers.runbook.context import Environment
from workers.watch.probe import Probe, ProbeResult, clean_up, send
from workers.watch.thresholds import Figures

METRICS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Sample:
    at: datetime
    figures: Figures
    probe: ProbeResult | None
    source: str  # "host metrics", "probe" or "none": where the latency and errors come from
    notes: tuple[str, ...] = ()


async def read_metrics(client: httpx.AsyncClient, base_url: str, window_s: float
                       ) -> tuple[dict[str, Any] | None, str | None]:
    """The host's figures for the last `window_s` seconds, or None and why not."""
    url = f"{base_url.rstrip('/')}/_deploybot/metrics"
    try:
        response = await client.get(url, params={"window": f"{max(window_s, 1.0):.3f}"},
                                    timeout=METRICS_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return None, f"host metrics unavailable: {type(exc).__name__}"
    try:
        data = response.json() if response.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("requests"), int):
        return None, f"host metrics unavailable (GET /_deploybot/metrics answered " \
                     f"{response.status_code}); the probe alone is measured"
    return data, None


def combine(metrics: dict[str, Any] | None, probe: ProbeResult | None
            ) -> tuple[int, int, float | None, str]:
    """(requests, errors, latency p95 in ms, source) from the host's figures and the probe."""
    if metrics is not None:
        requests, errors = int(metrics["requests"]), int(metrics.get("errors") or 0)
        p95 = (metrics.get("latency_ms") or {}).get("p95")
        if probe is not None and probe.status is None:
            requests, errors = requests + 1, errors + 1  # unanswered: the host may not know
        return requests, errors, (float(p95) if p95 is not None else None), "host metrics"
    if probe is not None:
        latency = probe.latency_ms if probe.status is not None else None
        return 1, int(probe.failed), latency, "probe"
    return 0, 0, None, "none"


async def take_sample(env: Environment, probe: Probe | None, window_s: float,
                      client: httpx.AsyncClient) -> Sample:
    notes: list[str] = []
    key = env.anon_key

    def note(text: str) -> None:
        notes.append(text.replace(key, "[anon key]") if key else text)

    base_url: str | None = None
    result: ProbeResult | None = None
    wants_host = env.config.functions_url is not None or probe is not None
    if wants_host and env.functions_url is not None:
        started = time.perf_counter()
        try:
            base_url = await env.functions_url()
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            note(f"no function host: {first}")
            if probe is not None:  # the functions cannot be reached: the probe fails
                result = ProbeResult(probe.check.name, None,
                                     (time.perf_counter() - started) * 1000,
                                     f"no function host: {first}")
    if base_url is not None and probe is not None:
        result = await send(client, base_url, key, probe)
        if result.status is None:
            note(f"probe {probe.check.name!r}: {result.error}")
        elif not result.expected:
            note(f"probe {probe.check.name!r} answered {result.status}, not the status the "
                 f"smoke file expects")
        left = await clean_up(env.database, probe, result)
        if left:
            note(left)
    metrics: dict[str, Any] | None = None
    # A hosted Supabase project has no deploybot host figures: its probe is the measure.
    if base_url is not None and env.config.supabase_project_ref is None:
        metrics, why = await read_metrics(client, base_url, window_s)
        if why:
            note(why)
    requests, errors, p95, source = combine(metrics, result)
    connections: int | None = None
    database_error: str | None = None
    try:
        connections = await env.database.connection_count()
    except DatabaseUnavailable as exc:
        database_error = str(exc)
    except Exception as exc:  # a query problem, not an outage: noted, not judged
        note(f"connections not counted: {type(exc).__name__}")
    figures = Figures(latency_p95_ms=p95, error_rate=(errors / requests) if requests else None,
                      requests=requests, errors=errors, connections=connections,
                      database_error=database_error)
    return Sample(datetime.now(UTC), figures, result, source, tuple(notes))
