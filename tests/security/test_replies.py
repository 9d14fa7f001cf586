"""Replies only to those who may act, and nothing of theirs renders.

A commenter below `read` (a stranger on a public repository) gets no reply and no reaction,
whatever they write — a parse error included. Words of a comment that come back in a reply
(an unknown environment, a lock reason) are inline code: no link, image, @mention,
#reference or HTML of the commenter's renders. Replies are checked by rendering them with
a CommonMark parser, as GitHub would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.commands import grammar
from service.commands.echo import code
from service.config.model import EnvironmentConfig, default_config
from service.github import GitHubApp
from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import reactions, world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from tests.recorder import Recorder
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase
from workers.drivers.functions import PostgresFunctionReleases
from workers.gates.facts import GateFacts
from workers.messages import BOT_MARKER
from workers.notify import github_announcer
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.steps import gates

# What an attacker writes: each marker must never render outside a code span.
IMAGE = "![x](https://evil.example/pixel.png)"
LINK = "[click](https://evil.example/phish)"
HTML = '<img src="https://evil.example/h.png">'
MARKERS = ("evil.example", "@mona", "#77", "<img", "<b>")
PAYLOADS = [
    IMAGE, LINK, HTML, "<b>bold</b>", "@mona", "#77",
    f"a`{IMAGE}`", f"``{LINK}``", f"`` ` {HTML} ` ``", f"x```{IMAGE}", "`", "``",
    f"{IMAGE}\n\n{LINK}",
]


def rendered_outside_code(markdown: str) -> list[str]:
    """Markers of attacker text that a CommonMark renderer shows as anything but code."""
    found: list[str] = []

    def walk(tokens: list[Token]) -> None:
        for t in tokens:
            if t.type in ("code_inline", "code_block", "fence"):
                continue
            if t.type in ("image", "link_open"):
                found.append(f"{t.type} {t.attrs.get('src') or t.attrs.get('href')}")
            text = t.content if t.type != "inline" else ""
            found.extend(f"{t.type}: {m}" for m in MARKERS if m in text)
            if t.children:
                walk(t.children)

    walk(MarkdownIt("commonmark").parse(markdown))
    return found


@pytest.mark.parametrize("text", PAYLOADS)
def test_echoed_text_renders_as_its_literal_characters(text: str) -> None:
    span = code(text)
    tokens = MarkdownIt("commonmark").parseInline(f"unexpected {span}: use `/deploy`")
    children = tokens[0].children or []
    codes = [t.content for t in children if t.type == "code_inline"]
    assert codes[0] == " ".join(text.split()), (span, codes)
    assert not rendered_outside_code(f"unexpected {span}: use `/deploy`")


def test_long_echoes_are_cut() -> None:
    assert len(code("x" * 10_000)) < 120


@pytest.mark.parametrize("text", [p.replace("\n", " ") for p in PAYLOADS[:10]])
def test_parse_errors_quote_the_comment_as_code(text: str) -> None:
    for body in (f"/deploy {text}", f"/deploy staging {text}", f"/rollback staging {text}",
                 f"/wcid {text}", f"/{text}"):
        parsed = grammar.parse(body)
        if isinstance(parsed, grammar.ParseError):
            assert not rendered_outside_code(parsed.message), (body, parsed.message)


def _delivery_result(db: str, delivery: str) -> str | None:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT result FROM ledger.deliveries WHERE id = %s AND "
                           "status NOT IN ('received', 'handling')", (delivery,)).fetchone()
    return str(row[0]) if row else None


def _replies(github: GitHubTestServer, pr: int) -> list[str]:
    return [c["body"] for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")]


async def test_strangers_get_no_answer_and_echoes_render_nothing(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    github_server.state.add_pull(REPO, 21, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        # eve has no permission on the repository: a parse error, a command, a refusal
        stranger = [f"/deploy st`{IMAGE}` {HTML} @mona #77", "/deploy staging",
                    f"/lock staging {IMAGE}", f"/dep{LINK}"]
        stranger_comments = []
        for body in stranger:
            payload = post_comment(github_server, body, pr=21, user="eve")
            stranger_comments.append(payload["comment"]["id"])
            delivery = str(uuid.uuid4())
            await bot.send("issue_comment", payload, delivery=delivery)
            result = await wait_for(lambda d=delivery: _delivery_result(world["bot"], d),
                                    what=f"the delivery of {body!r} to be handled")
            assert result.startswith("ignored: eve has none"), result
        assert _replies(github_server, 21) == []
        assert all(reactions(github_server, c) == [] for c in stranger_comments)

        # rita can read: she is answered, and what she wrote does not render
        asked = [(f"/deploy st`{IMAGE}` {HTML} @mona #77", "rita", "not an environment name"),
                 ("/deploy staging", "rita", "needs **write** permission"),
                 (f"/deploy staging now{IMAGE}", "rita", "unexpected"),
                 (f"/lock staging `{LINK}` <b>hi</b> @mona {IMAGE}", "alice", "is locked for")]
        for body, user, expected in asked:
            before = len(_replies(github_server, 21))
            await bot.send("issue_comment", post_comment(github_server, body, pr=21,
                                                         user=user))
            new = await wait_for(lambda n=before: _replies(github_server, 21)[n:] or None,
                                 what=f"a reply to {body!r}")
            assert expected in new[0], new[0]
            assert not rendered_outside_code(new[0]), (body, new[0])
    github_server.assert_no_validation_errors()


# A reason written by the holder of a lock (or an admin's --force): it comes back to others.
HOSTILE_REASON = f"`{LINK}` <b>hi</b> @mona #77 {IMAGE}"


async def test_a_lock_reason_shown_to_another_pull_request_renders_nothing(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    """alice locks staging for #31 with a hostile reason; bob, on #32, is told who holds it
    and why, both when he deploys (workers/commands/deploy.py) and when he asks for the
    lock himself (workers/commands/lock.py)."""
    github_server.state.set_permission(REPO, "bob", "write")
    first = branch_with(world["repo"], "first", {"README.md": "first\n"})
    second = branch_with(world["repo"], "second", {"README.md": "second\n"})
    github_server.state.add_pull(REPO, 31, head_sha=first, user_login="alice",
                                 head_ref="first")
    github_server.state.add_pull(REPO, 32, head_sha=second, user_login="bob",
                                 head_ref="second")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(
            github_server, f"/lock staging {HOSTILE_REASON}", pr=31, user="alice"))
        locked = await wait_for(lambda: _replies(github_server, 31) or None,
                                what="the lock to be taken")
        assert "is locked for" in locked[0], locked[0]
        for body, expected in (("/deploy staging", "`staging` is locked by @alice for #31"),
                               ("/lock staging mine", "is already locked by @alice for #31")):
            before = len(_replies(github_server, 32))
            await bot.send("issue_comment", post_comment(github_server, body, pr=32,
                                                         user="bob"))
            new = await wait_for(lambda n=before: _replies(github_server, 32)[n:] or None,
                                 what=f"a reply to {body!r}")
            assert expected in new[0] and "evil.example/phish" in new[0], new[0]  # the reason
            assert not rendered_outside_code(new[0]), (body, new[0])
    github_server.assert_no_validation_errors()


async def test_a_forced_reason_in_the_announcement_renders_nothing(
        fresh_db: str, tmp_path: Path, github_server: GitHubTestServer,
        github_app: GitHubApp) -> None:
    """The gates step announces a forced production deployment on the pull request
    (workers/steps/gates.py, through the worker's own announcer): the admin's --reason is
    in it, and none of it renders."""
    sha = "d" * 40
    github_server.state.add_repo(REPO, refs={"main": sha})
    github_server.state.add_pull(REPO, 41, head_sha=sha, user_login="alice")
    env = EnvironmentConfig(name="production", database_url_env="PRODUCTION_DATABASE_URL",
                            production=True, approvals=0,
                            deploy_window="Mon-Fri 09:00-17:00 UTC")
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # outside the window: forced
    async with PostgresDatabase(fresh_db) as db:
        ctx = DeployContext(
            deployment_id=1,
            environment=Environment(name="production", config=env, database=db,
                                    backups=LocalBackupStore(tmp_path / "backups"),
                                    functions=PostgresFunctionReleases(fresh_db)),
            source=SourceTree(root=tmp_path, commit=sha), config=default_config(),
            reporter=Recorder(),
            announce=github_announcer(github_app.installation(1), REPO, 41, env, BOT_MARKER))
        ctx.state.gate_facts = GateFacts(
            environment="production", commit=sha, now=saturday, pr_number=41,
            pr_author="alice", reviews=[], combined_status={"state": "success", "statuses": []},
            check_runs=[], hibp_enabled=True, forced_reason=HOSTILE_REASON)
        await gates.run(ctx)
    announced = [b for b in _replies(github_server, 41) if "📣 Deploying" in b]
    assert len(announced) == 1
    assert "Overridden by `--force`" in announced[0] and "evil.example/phish" in announced[0]
    assert not rendered_outside_code(announced[0]), announced[0]
    github_server.assert_no_validation_errors()
