"""Registering the App from app.yml through GitHub's manifest flow — from the /setup page on
first start and with `deploybot setup` — stores the credentials where the server reads
them, and no page ever shows the private key or the secrets."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from html import unescape
from pathlib import Path

import httpx
import pytest

from service.settings import github_app_from_env
from service.setup import credentials
from service.setup.command import SetupFailed, SetupOptions, run
from service.webhooks.signature import sign
from tests.dashboard.support import (
    browser,
    dashboard_config,
    running_dashboard,
    sign_in_with_token,
)
from tests.github_server.routes_oauth import oauth
from tests.github_server.server import GitHubTestServer
from workers.cli import main


def _form(page: str) -> tuple[str, str]:
    action = re.search(r'<form method="post" action="([^"]+)" id="manifest-form">', page)
    manifest = re.search(r'name="manifest" value="([^"]+)"', page)
    assert action and manifest, page
    return unescape(action.group(1)), unescape(manifest.group(1))


def _no_secret_in(text: str, stored: dict[str, str]) -> None:
    for key in ("private_key", "webhook_secret", "client_secret"):
        assert stored[key] not in text, key
    for line in stored["private_key"].splitlines()[1:-1]:
        assert line not in text


def test_the_setup_page_registers_the_app_on_first_start(
        fresh_db: str, redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    oauth(github_server.state).manifest_pem = github_server.private_key
    config = dashboard_config(github_server, tmp_path / "data")
    with running_dashboard(fresh_db, redis_prefix, config, webhook_secret="") as url, \
            browser(url) as b:
        body = b"{}"
        before = httpx.post(f"{url}/webhooks", content=body, headers={
            "X-GitHub-Event": "ping", "X-GitHub-Delivery": "1",
            "X-Hub-Signature-256": sign("", body)})
        assert before.status_code == 503 and "not set up" in before.text
        assert b.get("/setup").status_code == 303  # the operator signs in first
        sign_in_with_token(b)
        page = b.get("/setup").text
        action, manifest_json = _form(page)
        assert action.startswith(f"{github_server.url}/settings/apps/new?state=")
        manifest = json.loads(manifest_json)
        assert manifest["hook_attributes"]["url"] == f"{url}/webhooks"
        assert manifest["redirect_url"] == f"{url}/setup/callback"
        assert "issue_comment" in manifest["default_events"]
        with httpx.Client() as gh:  # the browser posts the manifest to GitHub
            created = gh.post(action, data={"manifest": manifest_json})
        assert created.status_code == 302
        done = b.get(created.headers["location"])
        assert done.status_code == 200, done.text
        assert "The GitHub App is registered" in done.text
        assert "/installations/new" in done.text
        stored = credentials.stored(tmp_path / "data")
        assert stored is not None and stored["app_id"] == str(github_server.app_id)
        assert stat.S_IMODE(os.stat(credentials.path(tmp_path / "data")).st_mode) == 0o600
        for page_text in (done.text, b.get("/setup").text, b.get("/").text,
                          b.get("/metrics").text):
            _no_secret_in(page_text, stored)
        replay = b.get(created.headers["location"])  # the code and state are spent
        assert "deploybot is set up" in replay.text
        signed = httpx.post(f"{url}/webhooks", content=body, headers={
            "X-GitHub-Event": "ping", "X-GitHub-Delivery": "2",
            "X-Hub-Signature-256": sign(stored["webhook_secret"], body)})
        assert signed.status_code == 200  # the running server took the new secret
    app = github_app_from_env({"DEPLOYBOT_DATA_DIR": str(tmp_path / "data")})
    assert app.app_id == str(github_server.app_id)
    assert app.private_key == github_server.private_key
    assert app.client_id and app.client_secret and app.api_url == github_server.url


def test_a_callback_without_our_state_is_refused(
        fresh_db: str, redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    config = dashboard_config(github_server, tmp_path / "data")
    with running_dashboard(fresh_db, redis_prefix, config, webhook_secret="") as url, \
            browser(url) as b:
        sign_in_with_token(b)
        r = b.get("/setup/callback?code=abc&state=made-up")
        assert r.status_code == 400 and "did not start here" in r.text
    assert credentials.stored(tmp_path / "data") is None


async def test_deploybot_setup_runs_the_manifest_flow(github_server: GitHubTestServer,
                                                      tmp_path: Path) -> None:
    oauth(github_server.state).manifest_pem = github_server.private_key
    said: list[str] = []
    spoke = asyncio.Event()

    def say(text: str) -> None:
        said.append(text)
        spoke.set()

    options = SetupOptions(data_dir=tmp_path / "data", api_url=github_server.url,
                           public_url="https://deploybot.example.org", org="3d3d",
                           open_browser=False, timeout=60)
    task = asyncio.create_task(run(options, say=say))
    await asyncio.wait_for(spoke.wait(), 30)
    local = re.search(r"(http://127\.0\.0\.1:\d+/setup)", said[0])
    assert local, said
    async with httpx.AsyncClient() as client:
        page = (await client.get(local.group(1))).text
        action, manifest_json = _form(page)
        assert action.startswith(f"{github_server.url}/organizations/3d3d/settings/apps/new")
        manifest = json.loads(manifest_json)
        assert manifest["hook_attributes"] == {
            "url": "https://deploybot.example.org/webhooks", "active": True}
        created = await client.post(action, data={"manifest": manifest_json})
        done = await client.get(created.headers["location"])
        assert "The GitHub App is registered" in done.text
    stored = await asyncio.wait_for(task, 30)
    assert stored["app_id"] == str(github_server.app_id)
    assert any("/installations/new" in line for line in said)
    _no_secret_in("\n".join(said), stored)
    with pytest.raises(SetupFailed, match="already set up"):
        await run(options, say=said.append)


def test_deploybot_setup_code_finishes_a_registration(
        github_server: GitHubTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    oauth(github_server.state).manifest_pem = github_server.private_key
    manifest = {"name": "deploybot-test", "hook_attributes": {"url": "https://x.example/hooks"},
                "redirect_url": "https://x.example/setup/callback"}
    created = httpx.post(f"{github_server.url}/settings/apps/new?state=s",
                         data={"manifest": json.dumps(manifest)})
    code = re.search(r"code=([A-Za-z0-9]+)", created.headers["location"])
    assert code
    monkeypatch.setenv("DEPLOYBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["setup", "--api-url", github_server.url, "--code", code.group(1)]) == 0
    assert "registered" in capsys.readouterr().out
    assert credentials.stored(tmp_path / "data") is not None
    assert main(["setup", "--api-url", github_server.url, "--code", "spent"]) == 2
    assert "already set up" in capsys.readouterr().err
    assert main(["setup", "--api-url", github_server.url, "--code", code.group(1),
                 "--force"]) == 2  # a code works once
    assert "used once" in capsys.readouterr().err
