"""Browser tests: Playwright driving Debian's Chromium (`apt-get install chromium`), headless,
against the running app. Screenshots are kept under test-artifacts/browser/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("DEPLOYBOT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return (f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/test does it "
                "where apt-get works)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    why = _missing()
    if why:
        pytest.skip(why)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    where = ARTIFACTS / request.node.name
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True, exist_ok=True)
    return where
