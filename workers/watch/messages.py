"""What the watch says: the "Watch" section of the deployment's check run and the comment a
breach leaves on the pull request."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from service.config.model import WatchConfig
from service.ledger.rows import WatchSampleRow
from workers import messages
from workers.watch.thresholds import percent

SECTION_MARKER = "<!-- deploybot:watch -->"
MAX_ROWS = 12  # samples shown; the dashboard has them all


def comment_marker(deployment_id: int) -> str:
    return f"<!-- deploybot:watch:{deployment_id} -->"


def duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def mention(lead: str | None) -> str:
    if not lead:
        return ""
    return lead if lead.startswith("@") else f"@{lead}"


def thresholds(cfg: WatchConfig) -> str:
    return (f"latency p95 over {cfg.latency_p95_ms:g} ms, errors over "
            f"{percent(cfg.error_rate)}, connections over {cfg.max_connections}; "
            f"every {duration(cfg.interval_seconds)} for {duration(cfg.window_seconds)}")


def _time(value: Any) -> str:
    return value.strftime("%H:%M:%S UTC") if isinstance(value, datetime) else str(value)


def _num(value: Any, unit: str = "") -> str:
    return "–" if value is None else f"{float(value):.0f}{unit}"


def samples_table(samples: list[WatchSampleRow]) -> str:
    """The latest samples as a Markdown table (ledger.watch_samples rows)."""
    if not samples:
        return "_no samples_"
    shown = samples[-MAX_ROWS:]
    lines = ["| # | at | latency p95 | errors | connections | probe |",
             "|---|---|---|---|---|---|"]
    for s in shown:
        errors = "–" if s["error_rate"] is None else \
            f"{percent(s['error_rate'])} of {s['requests']}"
        probe = "–" if s["probe_latency_ms"] is None and s["probe_status"] is None else \
            f"{s['probe_status'] or 'no answer'} in {_num(s['probe_latency_ms'], ' ms')}"
        flag = " ⚠" if s["breaches"] else ""
        lines.append(f"| {s['seq']}{flag} | {_time(s['at'])} | "
                     f"{_num(s['latency_p95_ms'], ' ms')} | {errors} | "
                     f"{_num(s['connections'])} | {probe} |")
    more = len(samples) - len(shown)
    if more > 0:
        lines.append(f"\n{more} earlier sample(s) not shown.")
    return "\n".join(lines)


def next_step(environment: str, deployment_id: int, auto_rollback: bool,
              rollback_request: int | None) -> str:
    if auto_rollback:
        if rollback_request is None:
            return "Rolling back automatically."
        return (f"Rolling back automatically: request #{rollback_request} undoes deployment "
                f"#{deployment_id}; its progress shows in its own `deploybot/{environment}` "
                "check run.")
    return (f"Auto rollback is off for `{environment}`: **Roll back** on the "
            f"`deploybot/{environment}` check run undoes deployment #{deployment_id}, as does "
            f"the comment `/rollback {environment} {deployment_id}`.")


def breach_section(*, summary: str, seq: int, at: datetime, cfg: WatchConfig,
                   environment: str, deployment_id: int, rollback_request: int | None,
                   samples: list[WatchSampleRow]) -> str:
    return "\n\n".join([
        SECTION_MARKER + "\n### Watch",
        f"**Breach** at sample {seq} ({_time(at)}): {summary}.",
        next_step(environment, deployment_id, cfg.auto_rollback, rollback_request),
        f"Thresholds: {thresholds(cfg)}.",
        samples_table(samples),
    ])


def passed_section(*, cfg: WatchConfig, samples: list[WatchSampleRow]) -> str:
    def most(key: Literal["error_rate", "latency_p95_ms", "connections"]) -> float | None:
        values = [v for s in samples if (v := s[key]) is not None]
        return max(values) if values else None

    worst_rate = most("error_rate")
    return "\n\n".join([
        SECTION_MARKER + "\n### Watch",
        f"**Passed**: {len(samples)} sample(s) over {duration(cfg.window_seconds)}, none over "
        f"the thresholds (latency p95 at most {_num(most('latency_p95_ms'), ' ms')}, errors "
        f"at most {'–' if worst_rate is None else percent(worst_rate)}, connections at most "
        f"{_num(most('connections'))}).",
        f"Thresholds: {thresholds(cfg)}.",
        samples_table(samples),
    ])


def with_section(summary: str, section: str) -> str:
    """The check run's summary with its watch section added, or replaced if it has one."""
    head = summary.split(SECTION_MARKER, 1)[0].rstrip()
    return f"{head}\n\n{section}" if head else section


def breach_comment(*, deployment_id: int, environment: str, commit: str, summary_items: list[str],
                   cfg: WatchConfig, lead: str | None, rollback_request: int | None,
                   samples: list[WatchSampleRow], log_url: str | None) -> str:
    who = mention(lead)
    head = (f"{who + ' ' if who else ''}**`{environment}` is over the watch thresholds** "
            f"after deployment #{deployment_id} of `{commit[:7]}`:")
    parts = [comment_marker(deployment_id), head,
             "\n".join(f"- {item}" for item in summary_items),
             next_step(environment, deployment_id, cfg.auto_rollback, rollback_request),
             f"<details><summary>Samples ({thresholds(cfg)})</summary>\n\n"
             f"{samples_table(samples)}\n\n</details>"]
    if log_url:
        parts.append(f"[Full log]({log_url})")
    return messages.reply("\n\n".join(parts))
