"""The permission a dashboard action needs — the comment command's, from the repository's
configuration (service/commands/authorization.py).

The web process never calls GitHub inside a request, so it cannot read
`.github/deploybot.yml` itself: every worker that reads the configuration for a deployment
leaves the part that matters here (each environment's required permission and production
flag) in Redis. Until a worker has read it, the built-in defaults apply, and an environment
they do not know needs `maintain`."""

from __future__ import annotations

import json
import logging
import time

from redis.asyncio import Redis

from service.commands import authorization
from service.commands.grammar import Command
from service.config.model import (
    Config,
    EnvironmentConfig,
    default_config,
    default_database_url_env,
)

log = logging.getLogger(__name__)
KEEP_SECONDS = 30 * 24 * 3600
UNKNOWN_ENVIRONMENT = "maintain"


def _key(prefix: str, repo: str) -> str:
    return f"{prefix}config:{repo.lower()}"


async def remember(redis: Redis, prefix: str, repo: str, config: Config) -> None:
    data = {"source": config.source, "read_at": time.time(), "environments": {
        name: {"required_permission": env.required_permission, "production": env.production}
        for name, env in config.environments.items()}}
    try:
        await redis.set(_key(prefix, repo), json.dumps(data), ex=KEEP_SECONDS)
    except Exception:  # the dashboard falls back to the defaults; the deployment goes on
        log.warning("could not cache the configuration of %s", repo, exc_info=True)


async def load(redis: Redis, prefix: str, repo: str) -> Config | None:
    try:
        raw = await redis.get(_key(prefix, repo))
        data = json.loads(raw) if raw else None
    except Exception:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("environments"), dict):
        return None
    envs = {}
    for name, e in data["environments"].items():
        if isinstance(e, dict):
            envs[str(name)] = EnvironmentConfig(
                name=str(name), database_url_env=default_database_url_env(str(name)),
                required_permission=str(e.get("required_permission") or "write"),
                production=bool(e.get("production")))
    return Config(environments=envs, source=str(data.get("source") or "cached"))


async def required(redis: Redis, prefix: str, repo: str, command: str, environment: str
                   ) -> str:
    """The permission `/<command> <environment>` needs on `repo`."""
    config = await load(redis, prefix, repo)
    if config is None:
        config = default_config()
        if config.environment(environment) is None:
            return UNKNOWN_ENVIRONMENT
    return authorization.required(Command(command, environment), config)


async def environments(redis: Redis, prefix: str, repo: str) -> list[str]:
    """Environments the configuration names (empty until a worker has read it)."""
    config = await load(redis, prefix, repo)
    return sorted(config.environments) if config is not None else []
