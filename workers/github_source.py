"""The deployed source and the configuration, fetched from GitHub.

The code comes from the repository tarball at the pinned commit; the configuration from the
default branch, never from the pull request (DESIGN.md, Trust)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.config import CONFIG_PATH, Config, parse_config
from service.config.model import default_config
from service.github.client import InstallationClient
from workers.runbook.context import SourceTree
from workers.source import unpack_commit


async def load_config(client: InstallationClient, repo: str, default_branch: str) -> Config:
    text = await client.get_file_content(repo, CONFIG_PATH, ref=default_branch)
    if text is None:
        return default_config()
    return parse_config(text, f"{CONFIG_PATH} (on {default_branch})")


async def fetch_source(client: InstallationClient | None, repo: str, sha: str,
                       cache_dir: Path) -> SourceTree:
    """The tree of `repo` at `sha`, unpacked once under `cache_dir` and shared after that;
    without a client (a deployment from the command line) only an unpacked one is found."""
    dest = cache_dir / repo.replace("/", "__") / sha  # data_dir is absolute (settings)
    if (dest / ".deploybot-complete").exists():
        return SourceTree(dest, sha, sha)
    if client is None:
        raise FileNotFoundError(f"{sha[:7]} of {repo} is not unpacked here, and there is no "
                                "GitHub installation to download it from")
    data: bytes = await client.download_tarball(repo, sha)
    dest.parent.mkdir(parents=True, exist_ok=True)

    await asyncio.to_thread(unpack_commit, data, dest, sha, strip_top=True)
    return SourceTree(dest, sha, sha)
