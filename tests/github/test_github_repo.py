"""Reads the bot makes (pull requests, reviews, permissions, statuses, config, tarballs) and
what it writes to issues and comments."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from service.github import GitHubError, GitHubNotFound
from tests.github.support import REPO, MakeApp
from tests.github_server import BOT_LOGIN, GitHubTestServer, add_commit, make_fixture_repo

PROJECT = Path(__file__).resolve().parents[2]
SHA = "b" * 40


@pytest.mark.parametrize("role, legacy, expected", [
    ("admin", None, "admin"),
    ("maintain", None, "maintain"),  # legacy `permission` says "write"
    ("write", None, "write"),
    ("triage", None, "triage"),  # legacy `permission` says "read"
    ("read", None, "read"),
    ("release-manager", "write", "write"),  # a custom role: its base permission
])
async def test_collaborator_permission(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str, role: str,
        legacy: str | None, expected: str) -> None:
    github_server.state.set_permission(repo, "Alice", role, permission=legacy)
    gh = (await make_app()).installation(1)
    assert await gh.get_collaborator_permission(repo, "alice") == expected


async def test_unknown_user_has_no_permission(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)
    assert await gh.get_collaborator_permission(repo, "mallory") == "none"


async def test_pull_request_from_a_fork_and_its_reviews(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    state = github_server.state
    state.add_pull(repo, 7, head_sha=SHA, head_repo="mallory/backend", user_login="mallory")
    state.add_review(repo, 7, user_login="alice")
    state.add_review(repo, 7, user_login="bob", state="CHANGES_REQUESTED")
    gh = (await make_app()).installation(1)

    pr = await gh.get_pull(repo, 7)
    reviews = await gh.list_pull_reviews(repo, 7)

    assert pr["head"]["sha"] == SHA and pr["head"]["repo"]["fork"] is True
    assert pr["head"]["repo"]["full_name"] == "mallory/backend"
    assert [(r["user"]["login"], r["state"]) for r in reviews] == [
        ("alice", "APPROVED"), ("bob", "CHANGES_REQUESTED")]


async def test_statuses_and_check_runs_of_a_ref_across_pages(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    state = github_server.state
    state.add_status(repo, SHA, "ci/unit", "pending")
    state.add_status(repo, SHA, "ci/unit", "success")  # the latest per context counts
    state.add_status(repo, SHA, "ci/lint", "success")
    for i in range(130):
        state.add_check_run(repo, SHA, f"job-{i}")
    state.add_check_run(repo, "c" * 40, "elsewhere")
    gh = (await make_app()).installation(1)

    combined = await gh.get_combined_status(repo, SHA)
    runs = await gh.list_check_runs_for_ref(repo, SHA)

    assert combined["state"] == "success"
    assert sorted(s["context"] for s in combined["statuses"]) == ["ci/lint", "ci/unit"]
    assert len(runs) == 130 and {r["conclusion"] for r in runs} == {"success"}
    assert len(github_server.calls("GET", "/repos/*/check-runs")) == 2  # two pages of 100


async def test_config_from_the_default_branch_not_the_pull_request(
        github_server: GitHubTestServer, make_app: MakeApp, tmp_path: Path) -> None:
    fixture = make_fixture_repo(tmp_path, copy_from=[".github/deploybot.yml"])
    pr_sha = fixture.commit({".github/deploybot.yml": "environments: {}\n"}, branch="pr")
    github_server.state.add_repo(REPO, git=fixture)
    gh = (await make_app()).installation(1)

    on_main = await gh.get_file_content(REPO, ".github/deploybot.yml")
    on_pr = await gh.get_file_content(REPO, ".github/deploybot.yml", ref=pr_sha)

    assert on_main == (PROJECT / ".github/deploybot.yml").read_text()
    assert on_pr == "environments: {}\n"
    assert await gh.get_file_content(REPO, "missing.yml") is None
    with pytest.raises(GitHubError, match="is a directory"):
        await gh.get_file_content(REPO, ".github")


async def test_big_file_comes_through_the_raw_media_type(
        github_server: GitHubTestServer, make_app: MakeApp, tmp_path: Path) -> None:
    big = "-- filler\n" * 150_000  # 1.5 MB: GitHub's JSON carries no content
    fixture = make_fixture_repo(tmp_path, files={"big.sql": big})
    github_server.state.add_repo(REPO, git=fixture)
    gh = (await make_app()).installation(1)
    assert await gh.get_file_content(REPO, "big.sql") == big


async def test_tarball_of_a_commit_unpacks_to_the_files(
        github_server: GitHubTestServer, make_app: MakeApp, tmp_path: Path) -> None:
    path, sha = make_fixture_repo(
        tmp_path, files={"README.md": "fixture\n", "bin/blob": b"\x00\x01"},
        copy_from=["migrations", ".github/deploybot.yml"])
    github_server.state.add_repo(REPO, git=path)
    later = add_commit(path, {"README.md": "changed\n"})
    gh = (await make_app()).installation(1)

    data = await gh.download_tarball(REPO, sha)

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(tmp_path / "out", filter="data")
    top = tmp_path / "out" / f"octo-backend-{sha[:7]}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [top.name]
    assert (top / "README.md").read_text() == "fixture\n"  # the pinned commit, not `later`
    assert (top / "bin/blob").read_bytes() == b"\x00\x01"
    for migration in (PROJECT / "migrations").rglob("*.sql"):
        rel = migration.relative_to(PROJECT)
        assert (top / rel).read_bytes() == migration.read_bytes()
    assert [r.status for r in github_server.calls("GET", "/repos/*/tarball/*")] == [302]
    assert later != sha
    with pytest.raises(GitHubNotFound):
        await gh.download_tarball(REPO, "no-such-branch")


async def test_comments_reactions_and_issues(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    state = github_server.state
    state.add_pull(repo, 7, head_sha=SHA)
    command = state.add_comment(repo, 7, "/deploy staging", user_login="alice")
    gh = (await make_app()).installation(1)

    await gh.add_reaction_to_comment(repo, command["id"], "eyes")
    await gh.add_reaction_to_comment(repo, command["id"], "eyes")  # GitHub answers 200
    mine = await gh.create_comment(repo, 7, "Deploying `" + SHA[:7] + "` to staging…")
    await gh.update_comment(repo, mine["id"], "x" * 70_000)
    comments = await gh.list_comments(repo, 7)
    issue = await gh.create_issue(repo, title="Post-mortem: staging rollback", body="What…",
                                  labels=["post-mortem"], assignees=["alice"])

    assert [r["content"] for r in state.repo(repo).reactions[command["id"]]] == ["eyes"]
    assert [c["user"]["login"] for c in comments] == ["alice", BOT_LOGIN]
    assert len(comments[1]["body"]) <= 65_536 and "characters omitted" in comments[1]["body"]
    assert issue["number"] == 8 and issue["labels"] == [{"name": "post-mortem"}]
    github_server.assert_no_validation_errors()


async def test_commit_metadata(
        github_server: GitHubTestServer, make_app: MakeApp, tmp_path: Path, repo: str) -> None:
    fixture = make_fixture_repo(tmp_path)
    second = fixture.commit({"a.txt": "a"}, message="second\n\nwith a body")
    github_server.state.add_repo("octo/other", git=fixture)
    github_server.state.set_commit(repo, SHA, date="2026-03-01T09:00:00Z")
    gh = (await make_app()).installation(1)

    from_git = await gh.get_commit("octo/other", "main")
    set_by_test = await gh.get_commit(repo, SHA)
    unknown = await gh.get_commit(repo, "d" * 40)

    assert from_git["sha"] == second
    assert [p["sha"] for p in from_git["parents"]] == [fixture.sha]
    assert from_git["commit"]["message"] == "second\n\nwith a body"
    assert datetime.fromisoformat(from_git["commit"]["committer"]["date"]).tzinfo is not None
    assert set_by_test["commit"]["committer"]["date"] == "2026-03-01T09:00:00Z"
    assert unknown["commit"]["committer"]["date"] == "2020-01-01T00:00:00Z"
    with pytest.raises(GitHubError):
        await gh.get_commit("octo/other", "e" * 40)  # not in the git repository
