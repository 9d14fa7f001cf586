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
    None: "🔄 Deploying `{sha}` to **{env}**",
    Outcome.SUCCEEDED: "✅ Deployed `{sha}` to **{env}**",
    Outcome.UP_TO_DATE: "✅ **{env}** is already up to date with `{sha}`",
    Outcome.PLANNED: "📝 Dry run of `{sha}` on **{env}**: nothing was changed",
    Outcome.FAILED: "❌ Deploying `{sha}` to **{env}** failed before changing anything",
    Outcome.ROLLED_BACK: "↩️ Deploying `{sha}` to **{env}** failed and was rolled back",
    Outcome.ROLLBACK_FAILED: "🚨 Deploying `{sha}` to **{env}** failed and the rollback "
                             "failed: a person is needed now",
}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def headline(p: Progress) -> str:
    text = HEADLINES[p.outcome].format(sha=p.commit[:7], env=p.environment)
    if p.rollback_of:
        text = text.replace("Deploying", f"Rolling back #{p.rollback_of} of").replace(
            "Deployed", f"Rolled back #{p.rollback_of} of").replace(" to **", " on **")
    if p.outcome is not None and p.elapsed is not None:
        text += f" in {fmt_duration(p.elapsed)}"
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


def summary(p: Progress, log_url: str | None = None) -> str:
    parts = [f"### {headline(p)}", step_table(p)]
    if p.outcome in (Outcome.ROLLED_BACK, Outcome.FAILED, Outcome.ROLLBACK_FAILED):
        reason = excerpt(p.reason, REASON_MAX)
        why = f"**{p.failed_step}**: {reason}" if p.failed_step else reason
        parts.append(f"**Why:** {why}" + (f" _(stop-the-line: {p.stop_the_line})_"
                                          if p.stop_the_line else ""))
    if log_url:
        parts.append(f"[Full log]({log_url})")
    return "\n\n".join(parts)


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
    """Each step's output folded in <details>; the failed step's open. Long output keeps its
    end (where errors are) and says where the rest is."""
    with_output = [s for s in p.steps.values() if s.output.strip()]
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
