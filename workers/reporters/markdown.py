"""Markdown views of a deployment for GitHub: the step table and the folded logs, sized for
GitHub's limits (65 535 characters for check-run output, 65 536 for comments; the client
makes the final cut, after redaction: service/github/outgoing.py).

Every cut made here for readability redacts first, so no cut splits a secret into a piece the
redactor would no longer recognise."""

from __future__ import annotations

import re

from service.observability.redact import redact
from workers.reporters.progress import Progress, StepState
from workers.runbook.events import Outcome

GITHUB_TEXT_LIMIT = 65_535
REASON_MAX = 2_000  # a failure's reason in a summary; the logs and the dashboard have it all

ICONS = {
    "pending": "⚪", "running": "🔄", "succeeded": "✅", "skipped": "⏭️", "failed": "❌",
}
UNDO_ICONS = {"running": "🔄 undoing", "undone": "↩️ undone", "undo_failed": "‼️ undo failed"}

HEADLINES = {
    None: "⏳ Deploying `{sha}` to **{env}**",
    Outcome.SUCCEEDED: "✅ Deployed `{sha}` to **{env}**",
    Outcome.UP_TO_DATE: "✅ **{env}** already runs `{sha}`: nothing to do",
    Outcome.PLANNED: "✅ Dry run of `{sha}` on **{env}**: nothing was changed",
    Outcome.FAILED: "❌ Deploying `{sha}` to **{env}** failed before changing anything",
    Outcome.ROLLED_BACK: "❌ Deploying `{sha}` to **{env}** failed and was rolled back",
    Outcome.ROLLBACK_FAILED: "❌ Deploying `{sha}` to **{env}** failed and the rollback "
                             "failed: a person is needed now",
}
# A rollback of deployment #{target} is told in its own words, not by rewriting the above.
ROLLBACK_HEADLINES = {
    None: "⏳ Rolling back #{target} (`{sha}`) on **{env}**",
    Outcome.SUCCEEDED: "✅ Rolled back #{target} (`{sha}`) on **{env}**",
    Outcome.UP_TO_DATE: "✅ **{env}** no longer runs #{target} (`{sha}`): nothing to undo",
    Outcome.PLANNED: "✅ Dry run of rolling back #{target} (`{sha}`) on **{env}**: nothing "
                     "was changed",
    Outcome.FAILED: "❌ Rolling back #{target} (`{sha}`) on **{env}** failed before changing "
                    "anything",
    Outcome.ROLLED_BACK: "❌ Rolling back #{target} (`{sha}`) on **{env}** failed; what it "
                         "had begun was undone",
    Outcome.ROLLBACK_FAILED: "❌ Rolling back #{target} (`{sha}`) on **{env}** failed and "
                             "could not be undone: a person is needed now",
}
WHY = "**Why:** {why}{stop}"
STOP = " _(stop-the-line: {stop})_"
CHECK_RUN_LINK = "[check run and logs]({url})"
DASHBOARD_LINK = "[dashboard]({url})"
FAILED = (Outcome.ROLLED_BACK, Outcome.FAILED, Outcome.ROLLBACK_FAILED)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def headline(p: Progress) -> str:
    if p.rollback_of:
        text = ROLLBACK_HEADLINES[p.outcome].format(target=p.rollback_of, sha=p.commit[:7],
                                                    env=p.environment)
    else:
        text = HEADLINES[p.outcome].format(sha=p.commit[:7], env=p.environment)
    if p.outcome is not None and p.elapsed is not None:
        text += f" in {fmt_duration(p.elapsed)}"
    elif p.outcome is None and p.running is not None:
        text += f" — now: {p.running.title}"
    return text


def excerpt(text: str, limit: int, *, tail: bool = False) -> str:
    """`text` redacted, then cut to about `limit` characters: its start, or its end (`tail`,
    where errors are), marked with "…"."""
    text = redact(text)
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if tail else text[:limit - 1] + "…"


def _cell(text: str) -> str:
    return excerpt(text, 200).replace("|", "\\|").replace("\n", " ")


def step_table(p: Progress) -> str:
    rows = ["| | step | time | note |", "|---|---|---|---|"]
    for s in p.steps.values():
        icon = ICONS.get(s.status, "")
        note = s.note
        if s.undo:
            note = f"{UNDO_ICONS[s.undo]}{': ' + s.undo_note if s.undo_note else ''}" + (
                f" — {s.note}" if s.note else "")
        rows.append(f"| {icon} | {_cell(s.title)} | {fmt_duration(s.duration)} | {_cell(note)} |")
    return "\n".join(rows)


def why(p: Progress) -> str:
    """A failure's reason, named after the step it stopped at ("" unless it failed)."""
    if p.outcome not in FAILED:
        return ""
    reason = excerpt(p.reason, REASON_MAX)
    step = p.steps.get(p.failed_step or "")
    where = step.title if step is not None else p.failed_step
    return WHY.format(why=f"**{where}**: {reason}" if where else reason,
                      stop=STOP.format(stop=p.stop_the_line) if p.stop_the_line else "")


def sections(p: Progress) -> list[str]:
    """What steps offered the summary (the checklist table, the plan), in step order."""
    return [s.section for s in p.steps.values() if s.section]


def links(check_run_url: str | None, log_url: str | None) -> str:
    found = [CHECK_RUN_LINK.format(url=check_run_url) if check_run_url else "",
             DASHBOARD_LINK.format(url=log_url) if log_url else ""]
    return " · ".join(f for f in found if f)


def summary(p: Progress, log_url: str | None = None, *, promotion: str = "") -> str:
    """The check run's summary: headline, steps, why it failed, the steps' sections."""
    parts = [f"### {headline(p)}", step_table(p), why(p), *sections(p), promotion,
             f"[Full log]({log_url})" if log_url else ""]
    return "\n\n".join(x for x in parts if x)


def comment(p: Progress, *, check_run_url: str | None, log_url: str | None,
            promotion: str = "", mention: str | None = None) -> str:
    """The pull request's summary comment: short — headline, steps, why, links. The logs
    are in the check run."""
    head = f"### {headline(p)}"
    parts = [f"@{mention}" if mention and p.outcome is not None else "", head, step_table(p),
             why(p), *(s for s in sections(p) if p.outcome in (Outcome.PLANNED,
                                                                 Outcome.UP_TO_DATE)),
             promotion, links(check_run_url, log_url)]
    return "\n\n".join(x for x in parts if x)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _details(step: StepState, body: str, *, open_: bool) -> str:
    fence = _fence(body)
    lines = body.count("\n")
    return (f"<details{' open' if open_ else ''}><summary>{step.title} — {lines} "
            f"line{'s' if lines != 1 else ''}</summary>\n\n{fence}text\n{body}{fence}\n\n"
            "</details>")


def logs(p: Progress, limit: int = GITHUB_TEXT_LIMIT, log_url: str | None = None) -> str:
    """Each step's output folded in <details>, the failed step's first and open. Long output
    keeps its end (where errors are) and says where the rest is."""
    # the failing part first: it is what a reader opens the logs for
    with_output = sorted((s for s in p.steps.values() if s.output.strip()),
                         key=lambda s: s.status != "failed")
    if not with_output:
        return ""
    note = (f"\n\n… cut to fit GitHub's limit; the [full log]({log_url}) has every line."
            if log_url else "\n\n… cut to fit GitHub's limit; `deploybot history` has it all.")
    budget = limit - len(note) - 200 * len(with_output)
    if budget <= 0:
        return ""
    share = max(500, budget // len(with_output))
    blocks: list[str] = []
    cut = False
    for s in with_output:
        body = redact(s.output)
        if len(body) > share:
            cut = True
            body = "… (earlier lines cut)\n" + body[-share:]
        blocks.append(_details(s, body, open_=s.status == "failed"))
    text = "\n\n".join(blocks)
    if cut or len(text) > limit:
        text = text[: limit - len(note)] + note
    return text
