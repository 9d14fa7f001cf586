"""Threshold evaluation and the small pure parts of the watch: stored settings, wording,
how the host's figures and the probe combine, which cleanup statements a probe runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.config.load import parse_config
from service.config.model import EnvironmentConfig, Paths, WatchConfig, default_config
from workers.runbook.smoke_spec import parse_smoke_spec
from workers.watch import messages
from workers.watch.probe import ProbeResult, cleanup_statements, load_probe
from workers.watch.sampler import combine
from workers.watch.stored_config import from_json, to_json
from workers.watch.thresholds import Figures, evaluate, percent, summary

RUNBOOK = WatchConfig()  # latency > 2000 ms, errors > 1 %, connections > 50


def figures(p95: float | None = 100.0, requests: int = 10, errors: int = 0,
            connections: int | None = 5, database_error: str | None = None) -> Figures:
    return Figures(latency_p95_ms=p95, error_rate=errors / requests if requests else None,
                   requests=requests, errors=errors, connections=connections,
                   database_error=database_error)


def metrics_of(f: Figures) -> list[str]:
    return [b.metric for b in evaluate(f, RUNBOOK)]


def test_within_the_runbook_thresholds_is_no_breach() -> None:
    assert evaluate(figures(), RUNBOOK) == []


@pytest.mark.parametrize(("f", "expected"), [
    (figures(p95=2000.0), []),  # "alert > 2 s": 2 s itself is fine
    (figures(p95=2000.5), ["latency_p95_ms"]),
    (figures(requests=100, errors=1), []),  # exactly 1 %
    (figures(requests=100, errors=2), ["error_rate"]),
    (figures(connections=50), []),
    (figures(connections=51), ["connections"]),
    (figures(p95=2500, requests=1, errors=1, connections=60),
     ["latency_p95_ms", "error_rate", "connections"]),
])
def test_a_breach_is_a_value_over_its_threshold(f: Figures, expected: list[str]) -> None:
    assert metrics_of(f) == expected


def test_figures_that_could_not_be_taken_are_not_judged() -> None:
    assert metrics_of(figures(p95=None, requests=0, connections=None)) == []


def test_an_unreachable_database_is_a_breach() -> None:
    found = evaluate(figures(connections=None, database_error="cannot reach db after 5 "
                             "attempts"), RUNBOOK)
    assert [b.metric for b in found] == ["database"]
    assert "cannot reach db" in found[0].text


def test_the_thresholds_come_from_the_configuration() -> None:
    strict = WatchConfig(latency_p95_ms=100, error_rate=0.0, max_connections=3)
    found = evaluate(figures(p95=150, requests=50, errors=1, connections=4), strict)
    assert summary(found) == ("latency p95 150 ms over 100 ms; error rate 2 % (1 of 50 "
                              "requests) over 0 %; 4 database connections, over 3")


def test_percent() -> None:
    assert [percent(x) for x in (0, 0.01, 0.125, 1)] == ["0 %", "1 %", "12.5 %", "100 %"]


def test_watch_defaults_follow_the_runbook_and_the_config_file() -> None:
    defaults = default_config()
    staging, production = defaults.environments["staging"], defaults.environments["production"]
    assert staging.watch.auto_rollback and not production.watch.auto_rollback
    assert (production.watch.window_seconds, production.watch.latency_p95_ms,
            production.watch.error_rate, production.watch.max_connections) == (
        3600, 2000, 0.01, 50)
    parsed = parse_config("environments:\n  staging:\n    watch: {window: 5m, interval: 10s}\n"
                          "  canary:\n    watch: {auto_rollback: false}\n")
    assert parsed.environments["staging"].watch == WatchConfig(
        window_seconds=300, interval_seconds=10, auto_rollback=True)
    assert parsed.environments["canary"].watch.auto_rollback is False


def test_the_stored_settings_come_back_as_they_were() -> None:
    env = EnvironmentConfig(name="canary", database_url_env="CANARY_DATABASE_URL",
                            deploy_on_push=("main", "next"), lead="@octo/leads",
                            watch=WatchConfig(window_seconds=60, auto_rollback=False))
    paths = Paths(smoke="checks/smoke.yml")
    stored = to_json(env, paths)
    stored["environment"]["retired_setting"] = 1  # a row older than the model: ignored
    assert from_json(stored) == (env, paths)


def test_the_check_run_section_is_replaced_not_repeated() -> None:
    first = messages.with_section("### Deployed", messages.SECTION_MARKER + "\nold")
    again = messages.with_section(first, messages.SECTION_MARKER + "\nnew")
    assert again == "### Deployed\n\n" + messages.SECTION_MARKER + "\nnew"


def test_wording() -> None:
    assert [messages.duration(s) for s in (3600, 300, 30, 1.5)] == [
        "1 h", "5 min", "30 s", "1.5 s"]
    assert messages.mention("octo/leads") == messages.mention("@octo/leads") == "@octo/leads"
    assert messages.mention(None) == ""
    table = messages.samples_table([{
        "seq": 1, "at": datetime(2026, 1, 7, 9, 30, tzinfo=UTC), "latency_p95_ms": 2521.4,
        "error_rate": 0.0, "requests": 1, "connections": 3, "probe_status": 200,
        "probe_latency_ms": 2530.0, "breaches": [{"metric": "latency_p95_ms"}]}])
    assert "| 1 ⚠ | 09:30:00 UTC | 2521 ms | 0 % of 1 | 3 | 200 in 2530 ms |" in table


def test_host_figures_include_the_probe_and_stand_in_for_it_when_missing() -> None:
    answered = ProbeResult("quote", 200, 30.0)
    unanswered = ProbeResult("quote", None, 30_000.0, "no answer within 30 s")
    host = {"requests": 9, "errors": 0, "latency_ms": {"p95": 40.0}}
    assert combine(host, answered) == (9, 0, 40.0, "host metrics")
    assert combine(host, unanswered) == (10, 1, 40.0, "host metrics")
    assert combine(None, answered) == (1, 0, 30.0, "probe")
    assert combine(None, ProbeResult("quote", 503, 12.0)) == (1, 1, 12.0, "probe")
    assert combine(None, unanswered) == (1, 1, None, "probe")
    assert combine(None, None) == (0, 0, None, "none")


SPEC = """\
version: 1
checks:
  - name: rows exist
    sql: select 1
    expect: {row_count: 1}
  - name: quote
    http: {method: POST, path: /functions/v1/calculate-quote, json: {grams: 1}}
    expect: {status: 200}
    capture: {quote_id: json.quote_id}
  - name: later
    http: {path: /functions/v1/other}
    expect: {status: 200}
    capture: {other_id: json.id}
cleanup:
  - delete from public.quotes where id = cast(:quote_id as uuid)
  - delete from public.others where id = cast(:other_id as uuid)
  - delete from public.quotes where customer_id is null
"""


def test_the_probe_is_the_first_http_check_and_cleans_only_its_own_rows(
        tmp_path: Path) -> None:
    (tmp_path / "smoke.yml").write_text(SPEC)
    probe, why = load_probe(tmp_path, "smoke.yml")
    assert probe is not None and probe.check.name == "quote" and why == "probe: quote"
    statements = cleanup_statements(probe, {"quote_id": "0b0c4a1e-0000-4000-8000-000000000001"})
    # not the statement needing a value the probe never captures, nor the one without
    # parameters (it is not tied to the probe's rows)
    assert statements == ["delete from public.quotes where id = cast("
                          "'0b0c4a1e-0000-4000-8000-000000000001' as uuid)"]
    assert cleanup_statements(probe, {}) == []
    assert parse_smoke_spec(SPEC).checks[1] == probe.check


def test_no_probe_says_why(tmp_path: Path) -> None:
    assert load_probe(tmp_path, "smoke.yml") == (None, "no probe: smoke.yml does not exist")
    (tmp_path / "smoke.yml").write_text("version: 1\nchecks:\n  - name: q\n    sql: select 1\n"
                                        "    expect: {row_count: 1}\n")
    assert load_probe(tmp_path, "smoke.yml") == (None, "no probe: smoke.yml has no HTTP check")
    (tmp_path / "smoke.yml").write_text("version: 1\nchecks: 3\n")
    probe, why = load_probe(tmp_path, "smoke.yml")
    assert probe is None and why.startswith("no probe: smoke.yml is invalid")
