"""The runbook's pre-production checklist, one function per item.

Staging deployment successful; all smoke tests pass on staging; RLS tests pass on staging;
approvals; required checks; deploy window; database backup taken (configured); rollback plan
(a rollback for every pending migration — judged in the gates step, where the environment's
history is at hand); team notified (done by the gates step itself); leaked password
protection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from service.config.model import EnvironmentConfig
from service.config.window import DeployWindow
from workers.gates.approvals import count_approvals, describe
from workers.gates.facts import GateFacts
from workers.gates.result import GateResult

OK_CONCLUSIONS = {"success", "neutral", "skipped"}


def staging_passed(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    title = "Staging deployment successful, smoke and RLS tests passed there"
    if env.requires_staging is None:
        return GateResult("staging", title, True, "not required for this environment")
    where = f"`{env.requires_staging}`"
    fix = f"Deploy `{f.commit[:7]}` to {where} first (`/deploy {env.requires_staging}`)."
    cli = f"Deploy it to {where} first: `deploybot deploy {env.requires_staging} --ref " \
          f"{f.commit[:12]}`"
    d = f.staging
    if d is None:
        return GateResult("staging", title, False,
                          f"`{f.commit[:7]}` has not been deployed to {where}", fix, cli_fix=cli)
    if d["status"] not in ("succeeded", "up_to_date"):
        return GateResult("staging", title, False,
                          f"the last deployment of `{f.commit[:7]}` to {where} (#{d['id']}) "
                          f"is {d['status']}", fix, cli_fix=cli)
    # Name the deployment whose tests ran: a no-op found the state and ran none.
    tested = d if d["status"] == "succeeded" else d.get("tested_in")
    if tested is None:
        return GateResult("staging", title, False,
                          f"`{f.commit[:7]}` found {where} up to date, but no deployment "
                          f"there ran the RLS and smoke tests on what it runs",
                          f"Deploy a change to {where} so its tests run, or (admins) "
                          "`--force --reason`.")
    steps: dict[str, str] = tested.get("steps", {})
    missing = [s for s in ("verify", "smoke") if steps.get(s) != "succeeded"]
    if missing:
        return GateResult("staging", title, False,
                          f"#{tested['id']} did not pass {' and '.join(missing)} on {where}",
                          fix, cli_fix=cli)
    same = "" if tested is d else f" (`{f.commit[:7]}` found {where} up to date after it)"
    return GateResult("staging", title, True,
                      f"RLS and smoke tests passed in #{tested['id']} on {where}{same}")


def approvals(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    need = env.approvals
    title = f"Approved ({need} approval{'s' if need != 1 else ''}, no changes requested)"
    if need == 0:
        return GateResult("approvals", title, True, "no approval required")
    if f.reviews is None:
        return GateResult("approvals", title, False,
                          "reviews cannot be read here (no pull request or no GitHub)",
                          "Deploy from the pull request's comments, or (admins) "
                          "`--force --reason`.",
                          cli_fix="`--force --reason \"why\"` (admins; recorded and "
                                  "announced), or deploy from the pull request's comments.",
                          forceable=True)
    count = count_approvals(f.reviews, commit=f.commit, author=f.pr_author,
                            permissions=f.reviewer_permissions or {},
                            any_commit=env.approvals_on_any_commit)
    if count.blocking:
        return GateResult("approvals", title, False,
                          "changes requested by " + ", ".join(f"@{u}" for u in count.blocking),
                          "Address the review, and ask them to approve.")
    where = "any commit" if env.approvals_on_any_commit else f"`{f.commit[:7]}`"
    if len(count.counted) < need:
        found = f"{len(count.counted)} of {need} approval(s) on {where}"
        if count.counted:
            found += f" ({describe(count.counted)})"
        if count.not_counted:
            found += "; not counted: " + "; ".join(f"@{a.login} {why}"
                                                   for a, why in count.not_counted)
        return GateResult("approvals", title, False, found,
                          "Ask a reviewer with write permission to approve "
                          + ("the pull request." if env.approvals_on_any_commit else
                             f"`{f.commit[:7]}`."))
    return GateResult("approvals", title, True, "approved by " + describe(count.counted))


def checks_green(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    title = "Required status checks green"
    if f.combined_status is None or f.check_runs is None:
        return GateResult("checks", title, False, "checks cannot be read here (no GitHub)",
                          "Deploy from the pull request, or (admins) `--force --reason`.",
                          cli_fix="`--force --reason \"why\"` (admins; recorded and "
                                  "announced), or deploy from the pull request.",
                          forceable=True)
    bad: list[str] = []
    waiting: list[str] = []
    for s in f.combined_status.get("statuses", []):
        if s.get("state") == "pending":
            waiting.append(str(s.get("context")))
        elif s.get("state") != "success":
            bad.append(f"{s.get('context')} ({s.get('state')})")
    for run in f.check_runs:
        name = str(run.get("name") or "")
        if name.startswith("deploybot/"):
            continue  # our own deployments are not checks of the code
        if run.get("status") != "completed":
            waiting.append(name)
        elif run.get("conclusion") not in OK_CONCLUSIONS:
            bad.append(f"{name} ({run.get('conclusion')})")
    if bad:
        return GateResult("checks", title, False, "failing: " + ", ".join(bad),
                          "Fix the failing checks on this commit.")
    if waiting:
        return GateResult("checks", title, False, "still running: " + ", ".join(waiting),
                          "Wait for them to finish, then comment again.")
    return GateResult("checks", title, True, "all green")


def deploy_window(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    if env.deploy_window is None:
        return GateResult("window", "Inside the deploy window", True, "no window configured")
    window = DeployWindow.parse(env.deploy_window)
    title = f"Inside the deploy window ({window.text})"
    local = f.now.astimezone(window.tz)
    if window.contains(f.now):
        return GateResult("window", title, True, f"now is {local:%a %H:%M} {window.tz.key}")
    return GateResult("window", title, False, f"now is {local:%a %H:%M} {window.tz.key}",
                      "Wait for the window, or (admins) `--force --reason \"why\"` — "
                      "recorded and announced.", forced=bool(f.forced_reason),
                      cli_fix="Wait for the window, or (admins) `--force --reason \"why\"` "
                              "— recorded and announced.", forceable=True)


def backup_configured(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    title = "Database backup taken before changes"
    if env.backup:
        return GateResult("backup", title, True, "a verified pg_dump runs before migrations")
    return GateResult("backup", title, False, f"backups are off for `{env.name}`",
                      f"Remove `backup: false` from environments.{env.name} in "
                      "`.github/deploybot.yml`.")


def leaked_password_protection(env: EnvironmentConfig, f: GateFacts) -> GateResult:
    title = "Leaked password protection enabled"
    confirm = f"`/confirm {env.name} leaked-password-protection`"
    cli_confirm = f"`deploybot confirm {env.name} leaked-password-protection --by NAME`"
    c = f.hibp_confirmation
    if f.hibp_enabled is True:
        how = "enabled just now" if f.hibp_enabled_now else "enabled"
        return GateResult("hibp", title, True, f"{how} (Supabase Management API)")
    if f.hibp_unavailable:
        if c is not None:
            return GateResult("hibp", title, True,
                              "not available on the project's plan (Pro Plans and up); "
                              f"accepted by @{c['confirmed_by']} on {c['confirmed_at']:%Y-%m-%d}")
        return GateResult("hibp", title, False,
                          "leaked password protection is available on Pro Plans and up: "
                          f"{f.hibp_unavailable}",
                          "Upgrade the project to Pro (deploybot enables it on the next "
                          f"deployment), or comment {confirm} to go on without it (recorded).",
                          cli_fix="Upgrade the project to Pro (deploybot enables it on the "
                                  f"next deployment), or run {cli_confirm} to go on without "
                                  "it (recorded).")
    if f.hibp_enabled is False:
        return GateResult("hibp", title, False, "disabled on the Supabase project",
                          "Set `enable_leaked_password_protection: true` under environments."
                          f"{env.name} in `.github/deploybot.yml` to let deploybot enable it, "
                          "or enable it in the dashboard: Authentication → Attack Protection.")
    if f.hibp_error is not None:
        return GateResult("hibp", title, False, f.hibp_error,
                          "Fix the access to the Supabase Management API, then deploy again.")
    if c is not None:
        return GateResult("hibp", title, True,
                          f"confirmed by @{c['confirmed_by']} on {c['confirmed_at']:%Y-%m-%d}")
    return GateResult("hibp", title, False, "not a Supabase project and not confirmed yet",
                      f"Comment {confirm} once it is enabled (recorded).",
                      cli_fix=f"Run {cli_confirm} once it is enabled (recorded).")


Gate = Callable[[EnvironmentConfig, GateFacts], GateResult]
# In the runbook's order; rollback scripts and the announcement are judged by the gates step.
GATES: list[Gate] = [staging_passed, approvals, checks_green, deploy_window,
                     backup_configured, leaked_password_protection]


def evaluate(env: EnvironmentConfig, facts: GateFacts) -> list[GateResult]:
    results = [gate(env, facts) for gate in GATES]
    if facts.source == "cli" and facts.forced_reason:
        # The emergency path without GitHub: an operator's --force --reason stands in for
        # what only GitHub can tell (approvals, checks), recorded and announced.
        results = [dataclasses.replace(r, forced=True)
                   if not r.ok and r.key in ("approvals", "checks", "window") else r
                   for r in results]
    return results
