"""Nothing posted to GitHub names the worker's internal hosts, ports or paths: database URLs,
the function host's loopback address, backup and checkout paths (issue 14). Every body the
bot sent during a deployment that succeeds, one that fails and is rolled back, and refusals
(one of them repeated, so edited) is scanned; URL fields the operator configured are
checked apart: public links only."""

from __future__ import annotations

import json
import re
from typing import Any

from service.github.internal import allow, hide, hide_json, register_root
from tests.app.bot import REPO, post_comment, requests_settled, running_bot, wait_for
from tests.app.test_pr_deploy import BROKEN, world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer

# An absolute path of this machine: a slash-rooted path of two or more parts, standing on its
# own (not the end of a URL or of a repository path like `migrations/rollback/x.sql`).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\-])/(?:[\w.\-]+/)+[\w.\-]*")
LOCALHOST_PORT = re.compile(r"localhost:\d+")
PUBLIC = "https://deploybot.example.com"


def _urls(value: object, key: str = "") -> list[str]:
    if isinstance(value, str):
        return [value] if key.endswith("_url") or key == "url" else []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _urls(v, str(k))]
    if isinstance(value, list):
        return [t for v in value for t in _urls(v, key)]
    return []


def _text(value: object, key: str = "") -> list[str]:
    if isinstance(value, str):
        return [] if key.endswith("_url") or key == "url" else [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _text(v, str(k))]
    if isinstance(value, list):
        return [t for v in value for t in _text(v, key)]
    return []


async def test_no_body_sent_to_github_names_internal_hosts_ports_or_paths(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    good = branch_with(world["repo"], "feature", {"README.md": "hello\n"})
    bad = branch_with(world["repo"], "broken", {
        "migrations/20260301000000_add_note.sql": BROKEN,
        "migrations/rollback/20260301000000_add_note.sql":
            "alter table public.quotes drop column if exists note;\n"})
    github_server.state.add_pull(REPO, 7, head_sha=good, user_login="alice")
    github_server.state.add_pull(REPO, 8, head_sha=bad, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           public_url=PUBLIC) as bot:
        for n, pr in enumerate((7, 8), start=1):
            await bot.send("issue_comment", post_comment(github_server, "/deploy staging",
                                                         pr=pr))
            await wait_for(lambda n=n: len([r for r in github_server.state.repo(REPO)
                                            .check_runs.values()
                                            if r.get("status") == "completed"]) == n,
                           limit=180, what=f"deployment {n}")
        # refusals: a reader's deploy, twice (the second edits the first reply), and a
        # command the grammar refuses
        def replied() -> int:
            return len([c for c in github_server.state.repo(REPO).comments_on(7)
                        if "@rita" in c["body"]])

        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=7,
                                                     user="rita"))
        # asked again once answered (two at the same moment may each get their own reply)
        await wait_for(replied, what="the first refusal")
        for body, user in (("/deploy staging", "rita"), ("/deploy staging now", "alice")):
            await bot.send("issue_comment", post_comment(github_server, body, pr=7, user=user))
        await wait_for(lambda: "Asked 2 times" in "".join(
            c["body"] for c in github_server.state.repo(REPO).comments_on(7)),
            what="the repeated refusal")
        await wait_for(lambda: "unexpected `now`" in "".join(
            c["body"] for c in github_server.state.repo(REPO).comments_on(7)),
            what="the parse error")
        await wait_for(lambda: requests_settled(world["bot"]), what="every request to end")
    sent = [r.body for r in github_server.requests if r.method in ("POST", "PATCH", "PUT")]
    texts = [t for body in sent for t in _text(body)]
    joined = "\n".join(texts)
    assert "Preflight" in joined or "preflight" in joined  # the reports were scanned
    assert "needs **write** permission" in joined and "rolled back" in joined
    data_dir = str(world["data"].resolve())
    found = {needle for needle in ("127.0.0.1", "postgresql://", data_dir, "/tmp/",
                                   "/checkouts/") if needle in joined}
    found |= set(LOCALHOST_PORT.findall(joined)) | set(ABSOLUTE_PATH.findall(joined))
    assert not found, f"internal addresses posted to GitHub: {sorted(found)}\n" + "\n".join(
        t for t in texts if any(n in t for n in found))[:4000]
    # the links the bot sets itself (details_url, log_url, environment_url) are public ones
    links = [u for body in sent for u in _urls(body)]
    assert links and all(u.startswith(PUBLIC) for u in links), sorted(set(links))


def test_hide_keeps_repository_paths_and_public_links() -> None:
    register_root("/srv/deploybot-data")
    allow("http://127.0.0.1:9999")
    sha = "b" * 40
    text = (f"/srv/deploybot-data/checkouts/{sha}/migrations/1_a.sql:4: syntax error; "
            "backup /srv/deploybot-data/backups/staging/x.dump; "
            "postgresql://stg_owner:pw@127.0.0.1:54331/stg (function host "
            "http://127.0.0.1:48957); full log http://127.0.0.1:9999/deployments/2")
    out = hide(text)
    assert out.startswith("migrations/1_a.sql:4: syntax error")
    assert "x.dump (on the worker)" in out and "/srv/" not in out
    assert "54331" not in out and "48957" not in out and "the environment database" in out
    assert "http://127.0.0.1:9999/deployments/2" in out  # the operator's public dashboard
    body = hide_json({"details_url": "http://127.0.0.1:1/x", "output": {"text": text}})
    assert json.dumps(body).count("127.0.0.1:1/x") == 1
