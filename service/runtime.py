"""Where the bot's own database and Redis are: the configured URLs, or the embedded default
started on demand."""

from __future__ import annotations

from service import embedded
from service.settings import Settings

BOT_DATABASE = "deploybot"


def bot_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    services = embedded.start(settings.data_dir)
    return embedded.ensure_database(services.postgres.url(), services.database_url(BOT_DATABASE),
                                    BOT_DATABASE)


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return embedded.start(settings.data_dir).redis_url
