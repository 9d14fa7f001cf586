"""Telling the team: a comment on the pull request and, where configured, Slack."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from service.config.model import EnvironmentConfig
from service.github.client import InstallationClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announcement:
    """One announcement written for each place it is shown."""

    markdown: str  # a pull request comment, Slack
    text: str  # a terminal: plain words, no markdown


Announce = Callable[[Announcement], Awaitable[None]]


async def slack(env: EnvironmentConfig, text: str) -> None:
    """Post to the environment's Slack incoming webhook, if one is configured."""
    if not env.slack_webhook_env:
        return
    url = os.environ.get(env.slack_webhook_env)
    if not url:
        raise RuntimeError(f"{env.slack_webhook_env} is not set (environments.{env.name}"
                           ".slack_webhook_env names it)")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json={"text": text})
    if response.status_code >= 300:
        raise RuntimeError(f"Slack answered {response.status_code}")


def github_announcer(client: InstallationClient, repo: str, pr_number: int | None,
                     env: EnvironmentConfig, marker: str) -> Announce:
    async def announce(message: Announcement) -> None:
        if pr_number is not None:
            await client.create_comment(repo, pr_number, f"{marker}\n{message.markdown}")
        await slack(env, message.markdown)
    return announce


def console_announcer(print_: Callable[[str], None], env: EnvironmentConfig) -> Announce:
    async def announce(message: Announcement) -> None:
        print_(message.text)
        await slack(env, message.markdown)
    return announce
