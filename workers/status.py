"""`deploybot status <env>`: what an environment runs now, read from the environment itself
and from the ledger."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from service.config.model import Config
from service.ledger.deployments import REAL, Ledger
from service.runtime import bot_database_url
from service.settings import Settings
from workers.environments import hosted_functions_url, resolve


async def environment_status(settings: Settings, config: Config, name: str,
                             repo: str) -> dict[str, Any]:
    env = resolve(config, name, settings)
    try:
        applied = await env.database.applied_migrations()
        active = await env.functions.active()
        functions_url = (hosted_functions_url(env.config)
                         or "(started on demand by the worker)")
    finally:
        if env.close is not None:
            await env.close()
    async with Ledger.open(bot_database_url(settings)) as ledger:
        # the last real deployment: dry runs, refusals and no-ops deployed nothing
        recent = await ledger.history(repo=repo, environment=name, kinds=REAL, limit=1)
        last = recent[0] if recent else None
        good = await ledger.last_successful(repo, name)
    return {
        "environment": name,
        "database_url": env.database.redacted_url,
        "functions_url": functions_url,
        "migrations": [{"version": m.version, "name": m.name} for m in applied],
        "functions": None if active is None else {
            "release": active.id, "commit": active.commit, "slugs": list(active.slugs),
            "created_at": active.created_at,
        },
        "last_deployment": None if last is None else {
            "id": last["id"], "kind": last["kind"], "commit_sha": last["commit_sha"],
            "status": last["status"], "trigger": last["trigger"],
            "requested_by": last["requested_by"], "started_at": last["started_at"],
            "finished_at": last["finished_at"], "reason": last["reason"]},
        "running_commit": good["commit_sha"] if good else None,
    }


def render(status: dict[str, Any]) -> RenderableType:
    head = Text(f"{status['environment']}", style="bold")
    info = Table.grid(padding=(0, 2))
    info.add_row("database", status["database_url"])
    info.add_row("functions url", status["functions_url"])
    fn = status["functions"]
    info.add_row("functions", "none active" if fn is None else
                 f"release {fn['release']} from {fn['commit'][:12]}: {', '.join(fn['slugs'])}")
    last = status["last_deployment"]
    info.add_row("last deployment", "none" if last is None else
                 f"#{last['id']} {last['kind']} {last['commit_sha'][:12]} {last['status']}")
    if last is not None and last["status"] in ("failed", "rollback_failed") and last["reason"]:
        info.add_row("why", last["reason"])
    info.add_row("running commit", (status["running_commit"] or "unknown")[:12])
    parts: list[RenderableType] = [head]
    if last is not None and last["status"] == "rollback_failed":
        # The environment may be partly changed: the first thing a person must see.
        parts.append(Text(f"deployment #{last['id']} failed and could not be rolled back: "
                          "a person must check this environment before deploying again "
                          "(applied migrations below)", style="bold red"))
    mig = Table(title=f"applied migrations ({len(status['migrations'])})")
    mig.add_column("version")
    mig.add_column("name")
    for m in status["migrations"]:
        mig.add_row(m["version"], m["name"] or "")
    return Group(*parts, info, mig)
