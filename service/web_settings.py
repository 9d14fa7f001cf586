"""The web process's configuration from the environment, and the app factory `serve` runs in
each of its worker processes (uvicorn imports it by name, so every process builds its own
app from the same settings)."""

from __future__ import annotations

import gc
import os

from starlette.applications import Starlette

from service.app import WebConfig, create_app
from service.dashboard.config import from_env as dashboard_from_env
from service.runtime import bot_database_url, redis_url
from service.settings import GitHubAppSettings, Settings, SettingsError, github_app_from_env


def from_env() -> tuple[WebConfig, str]:
    """The web configuration, and why the GitHub App is not usable yet ("" when it is)."""
    settings = Settings.from_env()
    app: GitHubAppSettings | None
    try:
        app, problem = github_app_from_env(), ""
    except SettingsError as exc:  # first start: /setup registers the App
        app, problem = None, str(exc)
    dashboard = dashboard_from_env(
        settings.data_dir, embedded=settings.embedded,
        client_id=app.client_id if app else "",
        client_secret=app.client_secret if app else "",
        api_url=app.api_url if app else "")
    web = WebConfig(database_url=bot_database_url(settings), redis_url=redis_url(settings),
                    webhook_secret=app.webhook_secret if app else "",
                    redis_prefix=settings.redis_prefix, dashboard=dashboard,
                    metrics_token=os.environ.get("DEPLOYBOT_METRICS_TOKEN", ""),
                    api_token=os.environ.get("DEPLOYBOT_API_TOKEN", ""),
                    # set by `deploybot serve` from --host; unset means not loopback
                    bind_host=os.environ.get("DEPLOYBOT_BIND_HOST") or None)
    return web, problem


def app_from_env() -> Starlette:
    app = create_app(from_env()[0])
    # What is loaded by now lives as long as the process: out of the collector's sight, a
    # full collection under a burst of webhooks walks only what the requests made.
    gc.freeze()
    return app
