"""Dry runs, refusals and no-op redeploys on the dashboard: recorded and listed under their
kind, never counted as deployments (history numbers, plot, failure rate, an environment's
last deployment); a refusal's page says what does not hold and the fix for each, as HTML;
the failure-rate plot of a short history is drawn inside the plot, not clipped at its
edge."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

from service.config.model import default_config
from service.dashboard import plots
from service.ledger.deployments import Ledger
from tests.dashboard.conftest import Dash
from tests.dashboard.support import add_deployment, browser, sign_in_with_token
from workers.deploy import record_result
from workers.gates.checklist import evaluate
from workers.gates.facts import GateFacts
from workers.runbook.events import Outcome
from workers.runbook.run_state import RunState


def _records(dash: Dash) -> dict[str, list[int]]:
    now = datetime.now(UTC)

    def at(minutes: int) -> datetime:
        return now - timedelta(minutes=minutes)

    return {
        "real": [add_deployment(dash.db, started=at(60), seconds=40),
                 add_deployment(dash.db, started=at(50), seconds=50, status="rolled_back",
                                failed_step="smoke"),
                 add_deployment(dash.db, started=at(40), seconds=20, kind="rollback")],
        "dry-run": [add_deployment(dash.db, started=at(m), kind="dry_run", status="planned")
                    for m in (35, 34)],
        "refused": [add_deployment(dash.db, environment="production", started=at(30),
                                   seconds=1, status="refused", failed_step="gates",
                                   reason="4 of 7 checklist items do not hold")],
        "noop": [add_deployment(dash.db, started=at(20 - m), seconds=2, status="up_to_date")
                 for m in range(10)],
    }


def test_history_counts_and_plots_only_real_deployments_and_filters_by_kind(
        dash: Dash) -> None:
    ids = _records(dash)
    everything = [i for group in ids.values() for i in group]
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = html.unescape(b.get("/history?repo=octo/backend").text)
        svg = page[page.index("<svg"):page.index("</svg>")]
        table = page[page.index('<table class="deployments">'):]
        assert re.search(r'Deployments</span><span class="value">3<', page)
        assert "33%" in page and "1 of 3 finished" in page  # not 1 of 16
        for dep_id in everything:
            listed = f'href="/deployments/{dep_id}"'
            assert (listed in svg) == (dep_id in ids["real"]), dep_id
            assert (listed in table) == (dep_id in ids["real"]), dep_id
        others = page[page.index('id="other-records"'):]
        assert "2 dry runs" in others and "1 refused" in others and "10 no-ops" in others
        for kind, expected in (("refused", ids["refused"]), ("noop", ids["noop"]),
                               ("dry-run", ids["dry-run"]), ("all", everything)):
            listed_page = html.unescape(b.get(f"/history?repo=octo/backend&kind={kind}").text)
            listed_table = listed_page[listed_page.index('<table class="deployments">'):]
            shown = {int(n) for n in re.findall(r'href="/deployments/(\d+)"', listed_table)}
            assert shown == set(expected), kind
            # the numbers stay those of real deployments whatever the table lists
            assert re.search(r'Deployments</span><span class="value">3<', listed_page)
        noop = b.get(f"/deployments/{ids['noop'][0]}").text
        assert "nothing was deployed. Recorded, not counted as a deployment." in noop
        dry = b.get(f"/deployments/{ids['dry-run'][0]}").text
        assert "A dry run: the checks and the plan only, nothing was changed." in dry
        real = b.get(f"/deployments/{ids['real'][0]}").text
        assert 'id="not-a-deployment"' not in real
        bad = b.get("/history?kind=everything")
        assert bad.status_code == 400 and "No such kind of record" in bad.text


def test_a_refusal_is_neither_the_last_deployment_nor_a_failure_on_the_overview(
        dash: Dash) -> None:
    live = add_deployment(dash.db, environment="production", sha="2" * 40,
                          started=datetime.now(UTC) - timedelta(hours=1))
    refused = add_deployment(dash.db, environment="production", sha="3" * 40,
                             status="refused", failed_step="gates",
                             reason="4 of 7 checklist items do not hold")
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = html.unescape(b.get("/").text)
    card = page[page.index('data-env="production"'):]
    card = card[:card.index("</article>")]
    assert f"deployment #{live}" in card and "2222222" in card
    assert f"#{refused}" not in card and "3333333" not in card
    assert "pill-bad" not in card and "failed" not in card
    recent = page[page.index("Recent deployments"):]
    assert f'href="/deployments/{refused}"' not in recent


def _refusal(dash: Dash) -> int:
    """A refused CLI run recorded as the deployment runner records it."""
    env = default_config().environment("production")
    assert env is not None
    facts = GateFacts(environment="production", commit="c" * 40, now=datetime.now(UTC),
                      source="cli")
    results = evaluate(env, facts)
    dep = add_deployment(dash.db, environment="production", status="refused", trigger="cli",
                         who=None, failed_step="gates",
                         reason="4 of 6 checklist items do not hold")

    async def record() -> None:
        async with Ledger.open(dash.db) as ledger:
            await record_result(ledger, dep, "octo/backend", "production",
                                RunState(gates=results, gate_facts=facts), Outcome.FAILED,
                                rollback_of=None)
    asyncio.run(record())
    return dep


def test_a_refusal_page_lists_what_does_not_hold_with_each_fix_as_html(dash: Dash) -> None:
    dep = _refusal(dash)
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = b.get(f"/deployments/{dep}").text
    block = page[page.index('id="refusal"'):]
    block = block[:block.index("</div>")]
    assert "Refused: 4 of 6 checklist items do not hold" in block
    assert "nothing ran and nothing changed" in block
    assert ("From a terminal, <code>--force --reason &#34;why&#34;</code> overrides 2 of them"
            in block)
    assert block.count('<li class="unmet">') == 4
    assert "<code>deploybot deploy staging --ref cccccccccccc</code>" in block
    assert "<code>deploybot confirm production leaked-password-protection --by NAME</code>" \
        in block
    for mark in ("**", "<br>↳", "- [ ]", "`"):
        assert mark not in block, mark
    assert "Held: Inside the deploy window · Database backup taken before changes" in block
    assert "pill-bad" not in page and "stop the line" not in page


def test_the_failure_rate_of_a_short_history_is_drawn_inside_the_plot() -> None:
    start = datetime(2026, 12, 6, 15, 40, tzinfo=UTC)
    points = [plots.Point(i, start + timedelta(minutes=i), 30.0,
                          "failed" if i == 1 else "succeeded", "staging deploy")
              for i in range(3)]
    svg = plots.history_svg(points, now=start + timedelta(minutes=3))
    rate = svg[svg.index("Failure rate"):]
    dots = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', rate)]
    assert len(dots) == 1  # one hour, one rate: 1 of 3
    middle = plots.LEFT + (plots.WIDTH - plots.LEFT - plots.RIGHT) / 2
    assert abs(dots[0] - middle) < 1, dots  # in the middle of what it covers, not the edge
    span = re.search(r'<line x1="([\d.]+)" x2="([\d.]+)"[^>]*class="rate-span"', rate)
    assert span is not None
    assert float(span[1]) == plots.LEFT and float(span[2]) == plots.WIDTH - plots.RIGHT
