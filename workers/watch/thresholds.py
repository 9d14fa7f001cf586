"""The runbook's alert thresholds (Key Metrics), applied to one sample.

"Alert threshold > 2 s" means over: a value equal to the threshold is no breach. A figure
that could not be taken is not judged (the sample's notes say why), except a database that
cannot be reached at all, which the runbook lists among its stop-the-line conditions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.config.model import WatchConfig


@dataclass(frozen=True)
class Figures:
    """What one sample measured; None where it could not be measured."""

    latency_p95_ms: float | None
    error_rate: float | None
    requests: int
    errors: int
    connections: int | None
    database_error: str | None = None


@dataclass(frozen=True)
class Breach:
    metric: str  # latency_p95_ms, error_rate, connections or database
    value: float | None
    threshold: float | None
    text: str  # e.g. "latency p95 2512 ms over 2000 ms"

    def as_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "threshold": self.threshold,
                "text": self.text}


def percent(rate: float) -> str:
    text = f"{rate * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"


def evaluate(f: Figures, cfg: WatchConfig) -> list[Breach]:
    """The thresholds the sample is over, in the runbook's order."""
    out: list[Breach] = []
    if f.latency_p95_ms is not None and f.latency_p95_ms > cfg.latency_p95_ms:
        out.append(Breach("latency_p95_ms", f.latency_p95_ms, cfg.latency_p95_ms,
                          f"latency p95 {f.latency_p95_ms:.0f} ms over "
                          f"{cfg.latency_p95_ms:.0f} ms"))
    if f.requests and f.error_rate is not None and f.error_rate > cfg.error_rate:
        out.append(Breach("error_rate", f.error_rate, cfg.error_rate,
                          f"error rate {percent(f.error_rate)} ({f.errors} of {f.requests} "
                          f"requests) over {percent(cfg.error_rate)}"))
    if f.connections is not None and f.connections > cfg.max_connections:
        out.append(Breach("connections", f.connections, cfg.max_connections,
                          f"{f.connections} database connections, over "
                          f"{cfg.max_connections}"))
    if f.database_error is not None:
        out.append(Breach("database", None, None,
                          f"database unreachable: {f.database_error}"))
    return out


def summary(breaches: list[Breach]) -> str:
    return "; ".join(b.text for b in breaches)
