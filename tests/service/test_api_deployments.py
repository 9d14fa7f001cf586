"""GET /api/deployments reads the same ledger as `deploybot history`, with filters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from service.app import WebConfig, create_app
from service.ledger.deployments import Ledger
from tests.conftest import REDIS_URL
from tests.http_server import serve

API_TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def _seed(db: str) -> None:
    async with Ledger.open(db) as ledger:
        for env, status in (("staging", "succeeded"), ("staging", "rolled_back"),
                            ("production", "succeeded")):
            dep = await ledger.create_deployment(repo="o/r", environment=env, kind="deploy",
                                                 commit_sha="c" * 40)
            await ledger.mark_running(dep)
            await ledger.finish(dep, status=status)


@pytest.fixture
def api(fresh_db: str, redis_prefix: str) -> Iterator[str]:
    asyncio.run(_seed(fresh_db))
    with serve(create_app(WebConfig(fresh_db, REDIS_URL, "s", redis_prefix,
                                    api_token=API_TOKEN))) as url:
        yield url


def test_filters(api: str) -> None:
    all_ = httpx.get(f"{api}/api/deployments", headers=AUTH).json()
    assert all_["count"] == 3 and all_["deployments"][0]["environment"] == "production"
    assert all_["deployments"][0]["duration_seconds"] is not None
    staging = httpx.get(f"{api}/api/deployments", headers=AUTH,
                        params={"environment": "staging", "status": "rolled_back"}).json()
    assert [d["status"] for d in staging["deployments"]] == ["rolled_back"]
    assert httpx.get(f"{api}/api/deployments", headers=AUTH,
                     params={"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0


@pytest.mark.parametrize("params,fragment", [
    ({"status": "great"}, "`status` must be one of"),
    ({"limit": "0"}, "`limit` must be a whole number"),
    ({"since": "yesterday"}, "ISO 8601"),
    ({"since": "2026-01-01T00:00:00"}, "needs a time zone"),
    ({"colour": "blue"}, "unknown filter(s): colour"),
])
def test_bad_filters_are_400_with_the_fix(api: str, params: dict[str, str],
                                          fragment: str) -> None:
    r = httpx.get(f"{api}/api/deployments", params=params, headers=AUTH)
    assert r.status_code == 400 and fragment in r.json()["error"]
