"""The `deploybot` command line.

Exit codes (stable, for scripts; the README's table): 0 deployed, up to date or planned;
1 failed and rolled back (or failed before changing anything); 2 usage or configuration
error; 3 the rollback itself failed and a person is needed; 4 refused by the pre-production
checklist, nothing ran; 130 interrupted (Ctrl-C or SIGTERM), what the run had changed
undone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from service.config import CONFIG_PATH, Config, ConfigError, parse_config
from service.config.model import default_config
from service.embedded import EmbeddedError
from service.ledger import undoable
from service.ledger.deployments import REAL, Ledger
from service.ledger.rows import DeploymentRow
from service.pgtools import ToolNotFound
from service.runtime import bot_database_url
from service.settings import Settings, SettingsError
from workers.cli_runs import end_dead_runs, this_process
from workers.drivers.interfaces import DatabaseUnavailable
from workers.environments import EnvironmentError_
from workers.runbook.events import Outcome
from workers.source import SourceError, checkout, repo_identity

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NEEDS_PERSON, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
EXIT_FOR = {
    Outcome.SUCCEEDED: EXIT_OK,
    Outcome.UP_TO_DATE: EXIT_OK,
    Outcome.PLANNED: EXIT_OK,
    Outcome.ROLLED_BACK: EXIT_FAILED,
    Outcome.FAILED: EXIT_FAILED,
    Outcome.ROLLBACK_FAILED: EXIT_NEEDS_PERSON,
}
# Errors a user can cause: a clear message and exit code 2, never a traceback.
USER_ERRORS = (ConfigError, EnvironmentError_, SourceError, SettingsError, EmbeddedError,
               ToolNotFound, DatabaseUnavailable)


class UsageError(Exception):
    pass


@contextlib.asynccontextmanager
async def _ledger(settings: Settings) -> AsyncIterator[Ledger]:
    """The ledger, after ending the runs of earlier CLI processes that died mid-run."""
    async with Ledger.open(bot_database_url(settings)) as ledger:
        await end_dead_runs(ledger)
        yield ledger


# Commands about one repository: run from anywhere inside it, they use its root and the one
# data directory there (`<root>/.deploybot`), as git finds its repository from a subfolder.
REPO_COMMANDS = frozenset({"deploy", "rollback", "status", "confirm", "functions-host",
                           "history", "services"})


def _locate_repository(args: argparse.Namespace, settings: Settings) -> Settings:
    """Point `--repo` at the repository's root and the data directory at its one
    `.deploybot` (unless DEPLOYBOT_DATA_DIR names another); outside a repository, say so
    before anything starts."""
    import dataclasses
    import os

    from workers.source import repository_root

    given = Path(getattr(args, "repo", "."))
    root = repository_root(given) if given.is_dir() else None
    named = bool(os.environ.get("DEPLOYBOT_DATA_DIR"))
    if root is None:
        # Commands that need no repository still work where the operator named the data.
        if not hasattr(args, "repo") and (named or os.environ.get("DATABASE_URL")):
            return settings
        where = "this folder" if str(given) == "." else str(given)
        raise UsageError(f"{where} is not inside a git repository: run deploybot from a "
                         "clone of the repository it deploys, or pass --repo PATH")
    if hasattr(args, "repo"):
        args.repo = str(root)
    return settings if named else dataclasses.replace(settings, data_dir=root / ".deploybot")


def _default_branch(repo: Path) -> str:
    for ref in ("refs/remotes/origin/HEAD",):
        res = subprocess.run(["git", "-C", str(repo), "symbolic-ref", "--short", ref],
                             capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip():
            return res.stdout.strip()
    for branch in ("main", "master"):
        res = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", branch],
                             capture_output=True, text=True, check=False)
        if res.returncode == 0:
            return branch
    return "HEAD"


def load_repo_config(repo: Path) -> Config:
    """The configuration as on the default branch — never from the commit being deployed,
    so a change cannot loosen its own gates (DESIGN.md, Trust)."""
    branch = _default_branch(repo)
    res = subprocess.run(["git", "-C", str(repo), "show", f"{branch}:{CONFIG_PATH}"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return default_config()
    return parse_config(res.stdout, f"{CONFIG_PATH} (on {branch})")


async def _deploy(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.deploy import DeployRequest, run_deployment
    from workers.reporters.console import ConsoleReporter
    from workers.runbook.run_state import RunState

    repo = Path(args.repo)
    config = load_repo_config(repo)
    if config.environment(args.environment) is None:
        from workers.environments import unknown_environment_message

        raise UsageError(unknown_environment_message(config, args.environment))
    if args.force and not args.reason:
        raise UsageError('--force needs --reason "why": it is recorded and announced')
    source = checkout(repo, args.ref, settings.data_dir / "checkouts")
    env = config.environment(args.environment)
    assert env is not None
    from workers.local_state import local_warnings

    for warning in local_warnings(repo, config, _default_branch(repo), source.commit):
        console.print(f"warning: {warning}", style="yellow", highlight=False, soft_wrap=True)
    req = DeployRequest(repo=repo_identity(repo), environment=env.name,
                        source=source, config=config, dry_run=args.dry_run, trigger="cli",
                        forced_reason=args.reason if args.force else None)
    async with _ledger(settings) as ledger:
        state = RunState()
        announce = None
        if env.production:
            from workers.gates.gather import gather
            from workers.notify import console_announcer

            state.gate_facts = await gather(ledger, env, repo=req.repo,
                                               commit=source.commit,
                                               forced_reason=req.forced_reason,
                                               settings=settings)
            announce = console_announcer(lambda text: console.print(text, highlight=False),
                                         env)
        result = await run_deployment(settings, ledger, req, [ConsoleReporter(console)],
                                      initial_state=state, announce=announce,
                                      undo_on_interrupt=True)
    console.print(_recorded_as(result, dry_run=req.dry_run), style="dim", highlight=False)
    return _exit_code(result)


def _recorded_as(result: Any, *, dry_run: bool) -> str:
    """Where the run is recorded: a real deployment in the history, the others (kept for
    the audit trail, never counted as deployments) under their own kind."""
    kind = ("refused" if result.refused else "dry-run" if dry_run
            else "noop" if result.outcome is Outcome.UP_TO_DATE else "")
    if not kind:
        return f"deployment #{result.deployment_id}: deploybot history lists it"
    return (f"recorded as #{result.deployment_id}, not a deployment: "
            f"deploybot history --kind {kind} lists it")


def _exit_code(result: Any) -> int:
    """The run's exit code; an interrupted run is 130 (as a shell reports Ctrl-C), or 3
    when undoing what it had changed failed."""
    if result.interrupted and result.outcome is not Outcome.ROLLBACK_FAILED:
        return EXIT_INTERRUPTED
    if result.refused:
        return EXIT_REFUSED
    return EXIT_FOR[result.outcome]


async def _confirm(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from service.ledger import confirmations

    repo = Path(args.repo)
    config = load_repo_config(repo)
    if config.environment(args.environment) is None:
        from workers.environments import unknown_environment_message

        raise UsageError(unknown_environment_message(config, args.environment))
    async with _ledger(settings) as ledger:
        await confirmations.record(ledger.conn, repo_identity(repo), args.environment.lower(),
                                   args.item, args.by)
    console.print(f"recorded: {args.item} confirmed for {args.environment} by {args.by}")
    return EXIT_OK


async def _rollback(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.deploy import DeployRequest, run_deployment
    from workers.plans import RollbackRefused, prepare_rollback
    from workers.reporters.console import ConsoleReporter

    repo = Path(args.repo)
    config = load_repo_config(repo)
    env = args.environment.lower()
    if config.environment(env) is None:
        from workers.environments import unknown_environment_message

        raise UsageError(unknown_environment_message(config, env))
    ident = repo_identity(repo)
    async with _ledger(settings) as ledger:
        good = await undoable.candidates(ledger, ident, env)
        if args.to is not None and not any(d["id"] == args.to for d in good) and (
                await ledger.get(args.to)) is None:
            raise UsageError(f"there is no deployment #{args.to}; "
                             "`deploybot history` lists them")
        choice = undoable.choose(good, after=args.to)
        targets, earlier = choice.targets, choice.earlier
        if not targets:
            console.print(f"nothing to roll back on {env}"
                          + (f" after #{args.to}" if args.to is not None else ""))
            return EXIT_OK
        console.print(_rollback_preview(env, targets, earlier), highlight=False)
        if not earlier and not args.allow_empty:
            raise UsageError(f"that would undo the first deployment of {env} and leave it "
                             "with none of this repository's migrations or functions; add "
                             "--allow-empty if that is what you want")
        if not args.yes and not _confirmed(console, "roll back?"):
            raise UsageError("nothing rolled back: confirm at the prompt, or pass --yes "
                             "(needed where there is no terminal to ask)")
        code = EXIT_OK
        for target in targets:  # newest first
            try:
                steps, state = await prepare_rollback(ledger, int(target["id"]))
            except RollbackRefused as exc:
                raise UsageError(str(exc)) from None
            source = checkout(repo, target["commit_sha"], settings.data_dir / "checkouts")
            req = DeployRequest(repo=ident, environment=env, source=source, config=config,
                                trigger="cli")
            dep_id = await ledger.create_deployment(
                repo=ident, environment=env, kind="rollback", commit_sha=source.commit,
                trigger="cli", rollback_of=int(target["id"]),
                details={"process": this_process()})
            console.print(f"rolling back deployment #{target['id']} "
                          f"({target['commit_sha'][:12]})", style="bold")
            result = await run_deployment(settings, ledger, req, [ConsoleReporter(console)],
                                          deployment_id=dep_id, steps=steps,
                                          initial_state=state, rollback_of=int(target["id"]),
                                          undo_on_interrupt=True)
            code = _exit_code(result)
            if code != EXIT_OK:
                break
    return code


def _json_logs() -> bool:
    """JSON lines for log collectors; a person at a terminal reads text. DEPLOYBOT_LOG_FORMAT
    (`json` or `text`) decides when set."""
    import os

    chosen = os.environ.get("DEPLOYBOT_LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen == "json"
    return not sys.stderr.isatty()


def _rollback_preview(env: str, targets: list[DeploymentRow],
                      earlier: list[DeploymentRow]) -> str:
    """What a rollback will undo, newest first, and what the environment runs after it."""
    lines = [f"this rolls back {env}:"]
    for t in targets:
        details = t["details"]
        files = [f"{a['version']}_{a['name']}.sql" for a in reversed(details.get("applied", []))]
        release = details.get("release")
        lines.append(f"  #{t['id']} ({t['commit_sha'][:12]})")
        lines.append("    migrations reverted: " + (", ".join(files) or "none"))
        if release:
            before = details.get("previous_release")
            lines.append(f"    functions: release {release.get('id')} replaced by "
                         + (f"release {before}" if before else "no functions"))
    after = earlier[0] if earlier else None
    lines.append(f"  afterwards {env} runs " + (
        f"#{after['id']} ({after['commit_sha'][:12]})" if after
        else "none of this repository's deployments (empty)"))
    return "\n".join(lines)


def _confirmed(console: Console, question: str) -> bool:
    """Ask on a terminal; without one, nothing is confirmed."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = console.input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


HISTORY_KINDS = ("real", "deploy", "rollback", "dry-run", "refused", "noop", "all")


def _kinds(choice: str) -> tuple[str, ...] | None:
    """The record kinds `--kind` lists (None: every record)."""
    return REAL if choice == "real" else None if choice == "all" else (choice,)


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


async def _history(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    kinds = _kinds(args.kind)
    async with _ledger(settings) as ledger:
        rows = await ledger.history(environment=args.env, kinds=kinds, limit=args.limit)
        others = [] if rows or args.kind != "real" else await ledger.history(
            environment=args.env, limit=1)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return EXIT_OK
    if not rows:
        what = {"real": "deployments", "all": "runs"}.get(args.kind, f"{args.kind} runs")
        console.print(f"no {what} recorded yet" + (f" for {args.env}" if args.env else "")
                      + ("; other runs are recorded: --kind all lists them" if others else ""),
                      highlight=False)
        return EXIT_OK
    columns = ("id", "env", "kind", "commit", "status", "trigger", "started", "took", "note")
    lines = []
    for r in rows:
        took = ""
        if r["started_at"] and r["finished_at"]:
            took = f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}s"
        note = (r["failed_step"] + ": " if r["failed_step"] else "") + (r["reason"] or "")
        if r["details"].get("rolled_back_by"):
            note = f"rolled back by #{r['details']['rolled_back_by']}"
        lines.append((str(r["id"]), r["environment"], r["record_kind"], r["commit_sha"],
                      r["status"],
                      r["trigger"], _fmt_time(r["started_at"]), took, note))
    if not console.is_terminal:
        # A pipe gets every value whole, one row per line, tab-separated: nothing to cut.
        print("\t".join(columns))
        for line in lines:
            print("\t".join(value.replace("\t", " ").replace("\n", " ") for value in line))
        return EXIT_OK
    table = Table(title="deployments" if args.kind == "real" else "recorded runs")
    for col in columns:  # a narrow terminal folds long values rather than cutting them
        table.add_column(col, overflow="fold")
    for line in lines:
        table.add_row(*line[:3], line[3][:12], *line[4:])
    console.print(table)
    return EXIT_OK


async def _status(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.status import environment_status

    repo = Path(args.repo)
    config = load_repo_config(repo)
    async with _ledger(settings):
        pass
    status = await environment_status(settings, config, args.environment.lower(),
                                      repo_identity(repo))
    if args.json:
        print(json.dumps(status, default=str, indent=2))
    else:
        from workers.status import render

        console.print(render(status))
    return EXIT_OK


def _functions_host(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.functions_host.__main__ import main as host_main

    argv = ["--host", args.host, "--port", str(args.port),
            "--data-dir", str(settings.data_dir)]
    if args.env:
        repo = Path(args.repo)
        from workers.environments import resolve_secrets

        resolved = resolve_secrets(load_repo_config(repo), args.env, settings)
        import os

        os.environ["DEPLOYBOT_HOST_DATABASE_URL"] = resolved.database_url
        os.environ["DEPLOYBOT_HOST_ANON_KEY"] = resolved.anon_key
        os.environ["DEPLOYBOT_HOST_JWT_SECRET"] = resolved.jwt_secret
        os.environ["DEPLOYBOT_HOST_SERVICE_KEY"] = resolved.service_key
        argv += ["--database-url-env", "DEPLOYBOT_HOST_DATABASE_URL",
                 "--anon-key-env", "DEPLOYBOT_HOST_ANON_KEY",
                 "--jwt-secret-env", "DEPLOYBOT_HOST_JWT_SECRET",
                 "--service-key-env", "DEPLOYBOT_HOST_SERVICE_KEY"]
    else:
        argv += ["--database-url-env", args.database_url_env,
                 "--anon-key-env", args.anon_key_env]
        if args.jwt_secret_env:
            argv += ["--jwt-secret-env", args.jwt_secret_env]
    host_main(argv)
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    import os

    import uvicorn

    from service.access import is_loopback
    from service.observability import logs
    from service.web_settings import from_env as web_from_env

    logs.configure(json_lines=_json_logs())
    # The web processes find the same data directory, and the embedded servers (when used)
    # already running: they are started here, once, not by each process.
    os.environ["DEPLOYBOT_DATA_DIR"] = str(settings.data_dir)
    # Where they listen decides whether /metrics may answer without its token (access.py).
    os.environ["DEPLOYBOT_BIND_HOST"] = args.host
    web, problem = web_from_env()
    if problem:  # first start: /setup registers the App
        console.print(f"the GitHub App is not set up yet ({problem})", style="yellow")
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    base = web.dashboard.public_url or f"http://{host}:{args.port}"
    console.print(f"dashboard: {base}/")
    if web.dashboard.token:  # the operator's way in (the fragment never reaches a server log)
        console.print(f"sign in:   {base}/login#token={web.dashboard.token}")
    if problem:
        console.print(f"set up:    {base}/setup registers the GitHub App")
    if not web.metrics_token and not is_loopback(args.host):
        console.print(f"metrics:   off — {args.host} is not loopback only; set "
                      "DEPLOYBOT_METRICS_TOKEN to scrape /metrics with it", style="yellow")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    from service.coalesced_writes import CoalescingHttpToolsProtocol

    # No access log in the request path: every webhook's answer is counted in /metrics,
    # and errors are logged where they happen. Each answer leaves in one socket write.
    uvicorn.run("service.web_settings:app_from_env", factory=True, host=args.host,
                port=args.port, workers=max(1, workers), log_config=None, access_log=False,
                proxy_headers=True, http=CoalescingHttpToolsProtocol)
    return EXIT_OK


def _worker(args: argparse.Namespace, settings: Settings, console: Console) -> int:

    from service.observability import logs
    from service.observability.redact import register_secrets_in_play
    from service.runtime import redis_url
    from service.settings import github_app_from_env
    from workers.arq_settings import worker_settings
    from workers.arq_worker import Worker

    logs.configure(json_lines=_json_logs())
    app_settings = github_app_from_env()
    database_url, queue_url = bot_database_url(settings), redis_url(settings)
    register_secrets_in_play(database_urls=[database_url, queue_url], app=app_settings)
    kwargs = worker_settings(settings, app_settings, database_url, queue_url,
                             reconcile_every=args.reconcile_every)
    Worker(**kwargs).run()
    return EXIT_OK


async def _setup(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    import os

    from service.setup.command import SetupFailed, SetupOptions, run
    from service.setup.manifest import ManifestError

    options = SetupOptions(
        data_dir=settings.data_dir,
        api_url=(args.api_url or os.environ.get("GITHUB_API_URL")
                 or "https://api.github.com").rstrip("/"),
        web_url=args.github_url or os.environ.get("GITHUB_WEB_URL", ""),
        public_url=args.public_url or os.environ.get("DEPLOYBOT_PUBLIC_URL", ""),
        org=args.org or "", host=args.host, port=args.port, manifest=args.manifest,
        open_browser=not args.no_browser, force=args.force, code=args.code or "",
        timeout=args.timeout)
    try:
        await run(options, say=lambda text: console.print(text, highlight=False))
    except (SetupFailed, ManifestError) as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def _services(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from service.embedded.postgres import EmbeddedPostgres
    from service.embedded.redis import EmbeddedRedis

    pg, rd = EmbeddedPostgres(settings.data_dir), EmbeddedRedis(settings.data_dir)
    if args.action == "start":
        pg.ensure_running()
        rd.ensure_running()
    elif args.action == "stop":
        stopped = [n for n, ok in (("postgres", pg.stop()), ("redis", rd.stop())) if ok]
        console.print("stopped: " + (", ".join(stopped) or "nothing was running"))
        return EXIT_OK
    for name, server, url in (("postgres", pg,
                               pg.display_url if pg.port_file.exists() else None),
                              ("redis", rd, rd.url if rd.port_file.exists() else None)):
        running = server.is_running()
        where = url() if (running and url) else ""
        console.print(f"{name}: {'running' if running else 'stopped'} {where}")
    return EXIT_OK


def _config(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from service.config.schema import text

    sys.stdout.write(text())  # not through rich: JSON's brackets would read as its markup
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploybot",
        description="Run the backend deployment runbook: deploy, roll back, report.",
        epilog="exit codes: 0 deployed/up to date/dry run, 1 failed (rolled back), "
               "2 usage or configuration error, 3 rollback failed (a person is needed), "
               "4 refused by the pre-production checklist (nothing ran), 130 interrupted")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("deploy", help="deploy a commit to an environment")
    d.add_argument("environment")
    d.add_argument("--ref", default="HEAD", help="branch, tag or commit to deploy (HEAD)")
    d.add_argument("--dry-run", action="store_true",
                   help="preflight and the plan only; change nothing")
    d.add_argument("--repo", default=".", help="the repository to deploy (.)")
    d.add_argument("--force", action="store_true",
                   help="override the checklist items only GitHub or the clock can confirm "
                        "(approvals, checks, deploy window); needs --reason")
    d.add_argument("--reason", help="why --force is needed (recorded and announced)")
    d.set_defaults(func=_deploy, is_async=True)

    c = sub.add_parser("confirm", help="record a checklist item confirmed by hand")
    c.add_argument("environment")
    c.add_argument("item", choices=["leaked-password-protection"])
    c.add_argument("--by", required=True, help="who confirms it")
    c.add_argument("--repo", default=".")
    c.set_defaults(func=_confirm, is_async=True)

    r = sub.add_parser("rollback", help="undo the latest deployment (or all after --to)")
    r.add_argument("environment")
    r.add_argument("--to", type=int, metavar="DEPLOYMENT_ID",
                   help="undo every deployment after this one, newest first")
    r.add_argument("--yes", action="store_true", help="do not ask before rolling back")
    r.add_argument("--allow-empty", action="store_true",
                   help="allow undoing the environment's first deployment (leaves it empty)")
    r.add_argument("--repo", default=".")
    r.set_defaults(func=_rollback, is_async=True)

    h = sub.add_parser("history", help="list recorded deployments")
    h.add_argument("--env", help="only this environment")
    h.add_argument("--kind", choices=HISTORY_KINDS, default="real",
                   help="real deployments (deploys and rollbacks, the default), one kind "
                        "of record, or all: dry runs, refusals and no-op redeploys are "
                        "recorded but are not deployments")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=_history, is_async=True)

    s = sub.add_parser("status", help="what an environment runs now")
    s.add_argument("environment")
    s.add_argument("--json", action="store_true")
    s.add_argument("--repo", default=".")
    s.set_defaults(func=_status, is_async=True)

    f = sub.add_parser("functions-host", help="serve an environment's active functions")
    f.add_argument("--env", help="environment whose database and key to use (from config)")
    f.add_argument("--repo", default=".")
    f.add_argument("--database-url-env", default="SUPABASE_DB_URL")
    f.add_argument("--anon-key-env", default="SUPABASE_ANON_KEY")
    f.add_argument("--jwt-secret-env", default=None,
                   help="variable holding the JWT secret callers' bearer JWTs are signed with")
    f.add_argument("--host", default="127.0.0.1")
    f.add_argument("--port", type=int, default=54321)
    f.set_defaults(func=_functions_host, is_async=False)

    w = sub.add_parser("serve", help="run the web process (webhooks, dashboard)")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=8000)
    w.add_argument("--workers", type=int, default=None, metavar="N",
                   help="web processes sharing the port (default: one per CPU core)")
    w.set_defaults(func=_serve, is_async=False)

    u = sub.add_parser("setup", help="register the GitHub App from app.yml (manifest flow)")
    u.add_argument("--public-url", help="where GitHub will send webhooks (https://…)")
    u.add_argument("--org", help="register the App for this organization")
    u.add_argument("--github-url", help="GitHub's web address (https://github.com)")
    u.add_argument("--api-url", help="GitHub's API address (https://api.github.com)")
    u.add_argument("--manifest", type=Path, help="the App manifest (app.yml)")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=0, help="port of the local page (any free)")
    u.add_argument("--no-browser", action="store_true", help="print the link only")
    u.add_argument("--code", help="finish with the code GitHub sent back (no local page)")
    u.add_argument("--force", action="store_true", help="register a new App over the stored")
    u.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS")
    u.set_defaults(func=_setup, is_async=True)

    k = sub.add_parser("worker", help="run a worker process (arq)")
    k.add_argument("--reconcile-every", type=int, default=30, metavar="SECONDS",
                   help="how often the reconciler runs (30)")
    k.set_defaults(func=_worker, is_async=False)

    v = sub.add_parser("services", help="the embedded PostgreSQL and Redis")
    v.add_argument("action", choices=["start", "stop", "status"])
    v.set_defaults(func=_services, is_async=False)

    g = sub.add_parser("config", help="the JSON Schema of .github/deploybot.yml (for editors)")
    g.add_argument("action", choices=["schema"])
    g.set_defaults(func=_config, is_async=False)
    return p


async def _stoppable(command: Coroutine[Any, Any, int]) -> int:
    """Run a command so SIGTERM stops it as Ctrl-C does (asyncio.run handles SIGINT): the
    task is cancelled, and a running deployment undoes what it began."""
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread
        return await command
    try:
        return await command
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from service.observability.logs import RedactingFilter

    for handler in logging.getLogger().handlers:  # secrets never reach a log line
        handler.addFilter(RedactingFilter())
    console = Console()
    err = Console(stderr=True)
    try:
        settings = Settings.from_env()
        if args.command in REPO_COMMANDS:
            settings = _locate_repository(args, settings)
        if args.is_async:
            code: int = asyncio.run(_stoppable(args.func(args, settings, console)))
        else:
            code = args.func(args, settings, console)
    except UsageError as exc:
        err.print(f"deploybot: {exc}", style="red", highlight=False)
        return EXIT_USAGE
    except USER_ERRORS as exc:
        err.print(f"deploybot: {exc}", style="red", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("\ndeploybot: interrupted", style="red")  # after a half-written line
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
