"""The `deploybot` command line.

Exit codes (stable, for scripts): 0 deployed, up to date or planned; 1 failed and rolled
back (or failed before changing anything); 2 usage or configuration error; 3 the rollback
itself failed and a person is needed."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from service.config import CONFIG_PATH, Config, ConfigError, parse_config
from service.config.model import default_config
from service.embedded import EmbeddedError
from service.ledger.deployments import Ledger
from service.pgtools import ToolNotFound
from service.runtime import bot_database_url
from service.settings import Settings, SettingsError
from workers.drivers.interfaces import DatabaseUnavailable
from workers.environments import EnvironmentError_
from workers.runbook.events import Outcome
from workers.source import SourceError, checkout, repo_identity

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NEEDS_PERSON = 0, 1, 2, 3
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
    req = DeployRequest(repo=repo_identity(repo), environment=env.name,
                        source=source, config=config, dry_run=args.dry_run, trigger="cli",
                        forced_reason=args.reason if args.force else None)
    async with Ledger.open(bot_database_url(settings)) as ledger:
        state = {}
        announce = None
        if env.production:
            from workers.gates.gather import gather
            from workers.notify import console_announcer

            state["gate_facts"] = await gather(ledger, env, repo=req.repo,
                                               commit=source.commit,
                                               forced_reason=req.forced_reason)
            announce = console_announcer(lambda text: console.print(text, highlight=False),
                                         env)
        result = await run_deployment(settings, ledger, req, [ConsoleReporter(console)],
                                      initial_state=state, announce=announce)
    console.print(f"deployment #{result.deployment_id} — `deploybot history` lists it",
                  style="dim")
    return EXIT_FOR[result.outcome]


async def _confirm(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from service.ledger import confirmations

    repo = Path(args.repo)
    config = load_repo_config(repo)
    if config.environment(args.environment) is None:
        from workers.environments import unknown_environment_message

        raise UsageError(unknown_environment_message(config, args.environment))
    async with Ledger.open(bot_database_url(settings)) as ledger:
        await confirmations.record(ledger.conn, repo_identity(repo), args.environment.lower(),
                                   args.item, args.by)
    console.print(f"recorded: {args.item} confirmed for {args.environment} by {args.by}")
    return EXIT_OK


async def _rollback(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.deploy import DeployRequest, run_deployment
    from workers.reporters.console import ConsoleReporter
    from workers.runbook.rollback_plan import RollbackRefused, prepare_rollback

    repo = Path(args.repo)
    config = load_repo_config(repo)
    env = args.environment.lower()
    if config.environment(env) is None:
        from workers.environments import unknown_environment_message

        raise UsageError(unknown_environment_message(config, env))
    ident = repo_identity(repo)
    async with Ledger.open(bot_database_url(settings)) as ledger:
        good = [d for d in await ledger.history(repo=ident, environment=env,
                                                 status="succeeded", limit=100)
                if d["kind"] == "deploy" and not d["details"].get("rolled_back_by")]
        if args.to is not None:
            if not any(d["id"] == args.to for d in good) and (
                    await ledger.get(args.to)) is None:
                raise UsageError(f"there is no deployment #{args.to}; "
                                 "`deploybot history` lists them")
            targets = [d for d in good if d["id"] > args.to]
        else:
            targets = good[:1]
        if not targets:
            console.print(f"nothing to roll back on {env}"
                          + (f" after #{args.to}" if args.to is not None else ""))
            return EXIT_OK
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
                trigger="cli", rollback_of=int(target["id"]))
            console.print(f"rolling back deployment #{target['id']} "
                          f"({target['commit_sha'][:12]})", style="bold")
            result = await run_deployment(settings, ledger, req, [ConsoleReporter(console)],
                                          deployment_id=dep_id, steps=steps,
                                          initial_state=state, rollback_of=int(target["id"]))
            code = EXIT_FOR[result.outcome]
            if code != EXIT_OK:
                break
    return code


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


async def _history(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    async with Ledger.open(bot_database_url(settings)) as ledger:
        rows = await ledger.history(environment=args.env, limit=args.limit)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return EXIT_OK
    if not rows:
        console.print("no deployments recorded yet" + (f" for {args.env}" if args.env else ""))
        return EXIT_OK
    table = Table(title="deployments")
    for col in ("id", "env", "kind", "commit", "status", "trigger", "started", "took", "note"):
        table.add_column(col)
    for r in rows:
        took = ""
        if r["started_at"] and r["finished_at"]:
            took = f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}s"
        note = (r["failed_step"] + ": " if r["failed_step"] else "") + (r["reason"] or "")
        if r["details"].get("rolled_back_by"):
            note = f"rolled back by #{r['details']['rolled_back_by']}"
        table.add_row(str(r["id"]), r["environment"], r["kind"], r["commit_sha"][:12],
                      r["status"], r["trigger"], _fmt_time(r["started_at"]), took,
                      note if len(note) <= 60 else note[:59] + "…")
    console.print(table)
    return EXIT_OK


async def _status(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from workers.status import environment_status

    repo = Path(args.repo)
    config = load_repo_config(repo)
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
        argv += ["--database-url-env", "DEPLOYBOT_HOST_DATABASE_URL",
                 "--anon-key-env", "DEPLOYBOT_HOST_ANON_KEY",
                 "--jwt-secret-env", "DEPLOYBOT_HOST_JWT_SECRET"]
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

    from service.app import WebConfig, create_app
    from service.dashboard.config import from_env as dashboard_from_env
    from service.observability import logs
    from service.runtime import redis_url
    from service.settings import github_app_from_env

    logs.configure(json_lines=os.environ.get("DEPLOYBOT_LOG_FORMAT", "json") == "json")
    try:
        app_settings: Any = github_app_from_env()
    except SettingsError as exc:  # first start: /setup registers the App
        app_settings = None
        console.print(f"the GitHub App is not set up yet ({exc})", style="yellow")
    dashboard = dashboard_from_env(
        settings.data_dir, embedded=settings.embedded,
        client_id=app_settings.client_id if app_settings else "",
        client_secret=app_settings.client_secret if app_settings else "",
        api_url=app_settings.api_url if app_settings else "")
    web = WebConfig(database_url=bot_database_url(settings), redis_url=redis_url(settings),
                    webhook_secret=app_settings.webhook_secret if app_settings else "",
                    redis_prefix=settings.redis_prefix, dashboard=dashboard,
                    metrics_token=os.environ.get("DEPLOYBOT_METRICS_TOKEN", ""))
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    base = dashboard.public_url or f"http://{host}:{args.port}"
    console.print(f"dashboard: {base}/")
    if dashboard.token:  # the operator's way in (the fragment never reaches a server log)
        console.print(f"sign in:   {base}/login#token={dashboard.token}")
    if app_settings is None:
        console.print(f"set up:    {base}/setup registers the GitHub App")
    uvicorn.run(create_app(web), host=args.host, port=args.port, log_config=None,
                proxy_headers=True)
    return EXIT_OK


def _worker(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    import os

    from service.observability import logs
    from service.observability.redact import register_secrets_in_play
    from service.runtime import redis_url
    from service.settings import github_app_from_env
    from workers.arq_settings import worker_settings
    from workers.arq_worker import Worker

    logs.configure(json_lines=os.environ.get("DEPLOYBOT_LOG_FORMAT", "json") == "json")
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
    for name, server, url in (("postgres", pg, pg.url if pg.port_file.exists() else None),
                              ("redis", rd, rd.url if rd.port_file.exists() else None)):
        running = server.is_running()
        where = url() if (running and url) else ""
        console.print(f"{name}: {'running' if running else 'stopped'} {where}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploybot",
        description="Run the backend deployment runbook: deploy, roll back, report.",
        epilog="exit codes: 0 deployed/up to date, 1 failed and rolled back, "
               "2 usage or configuration error, 3 rollback failed (a person is needed)")
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
    r.add_argument("--repo", default=".")
    r.set_defaults(func=_rollback, is_async=True)

    h = sub.add_parser("history", help="list recorded deployments")
    h.add_argument("--env", help="only this environment")
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
    return p


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
        if args.is_async:
            code: int = asyncio.run(args.func(args, settings, console))
        else:
            code = args.func(args, settings, console)
    except UsageError as exc:
        err.print(f"deploybot: {exc}", style="red", highlight=False)
        return EXIT_USAGE
    except USER_ERRORS as exc:
        err.print(f"deploybot: {exc}", style="red", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("deploybot: interrupted", style="red")
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
