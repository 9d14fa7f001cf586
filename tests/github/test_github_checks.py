"""Check runs: GitHub's limits applied before sending, and bodies the server validates
against githubkit's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.github import GitHubUsageError, GitHubValidationError
from tests.github.support import MakeApp
from tests.github_server import GitHubTestServer

SHA = "a" * 40


def _annotations(n: int) -> list[dict[str, object]]:
    return [{"path": "migrations/x.sql", "start_line": i + 1, "end_line": i + 1,
             "annotation_level": "failure", "message": f"problem {i}"} for i in range(n)]


async def test_long_summary_is_truncated_with_a_note(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)
    summary = "x" * 70_000

    run = await gh.create_check_run(repo, name="deploy", head_sha=SHA, status="in_progress",
                                    output={"title": "Deploying", "summary": summary,
                                            "text": "y" * 80_000},
                                    details_url="https://deploybot.example.com/d/1")

    stored = github_server.state.repo(repo).check_runs[run["id"]]["output"]
    assert len(stored["summary"]) <= 65_535 and len(stored["text"]) <= 65_535
    assert stored["summary"].startswith("x" * 60_000)
    assert "characters omitted" in stored["summary"]
    assert "https://deploybot.example.com/d/1" in stored["summary"]
    github_server.assert_no_validation_errors()


async def test_120_annotations_go_out_in_three_requests(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)

    run = await gh.create_check_run(repo, name="deploy", head_sha=SHA,
                                    output={"title": "Lint", "summary": "3 files",
                                            "annotations": _annotations(120)})

    state = github_server.state.repo(repo)
    bodies = state.check_run_requests[run["id"]]
    assert [len(b["output"]["annotations"]) for b in bodies] == [50, 50, 20]
    assert [r.method for r in github_server.calls(path="/repos/*/check-runs*")] == [
        "POST", "PATCH", "PATCH"]
    assert [a["start_line"] for a in state.annotations[run["id"]]] == list(range(1, 121))
    assert run["output"]["annotations_count"] == 120
    github_server.assert_no_validation_errors()


async def test_update_keeps_every_patch_and_concludes(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)
    run = await gh.create_check_run(repo, name="deploy", head_sha=SHA)
    await gh.update_check_run(repo, run["id"], status="in_progress",
                              started_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
                              output={"title": "Deploying", "summary": "backup…"})
    done = await gh.update_check_run(
        repo, run["id"], conclusion="failure",
        output={"title": "Failed", "summary": "migrate failed"},
        actions=[{"label": "Retry", "description": "Run the deployment again",
                  "identifier": "retry"}])

    assert done["status"] == "completed" and done["conclusion"] == "failure"
    bodies = github_server.state.repo(repo).check_run_requests[run["id"]]
    assert [b.get("status") for b in bodies] == ["queued", "in_progress", None]
    assert bodies[1]["started_at"] == "2026-03-01T09:30:15Z"
    assert bodies[-1]["actions"][0]["identifier"] == "retry"
    assert (await gh.get_check_run(repo, run["id"]))["output"]["title"] == "Failed"
    github_server.assert_no_validation_errors()


@pytest.mark.parametrize("actions, problem", [
    ([{"label": "L", "description": "d", "identifier": str(i)} for i in range(4)],
     "at most 3 actions"),
    ([{"label": "A label far, far too long", "description": "d", "identifier": "x"}],
     "label"),
    ([{"label": "Retry", "description": "d" * 41, "identifier": "x"}], "description"),
    ([{"label": "Retry", "description": "d", "identifier": "i" * 21}], "identifier"),
])
async def test_action_mistakes_fail_before_sending(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str,
        actions: list[dict[str, str]], problem: str) -> None:
    gh = (await make_app()).installation(1)
    with pytest.raises(GitHubUsageError, match=problem):
        await gh.create_check_run(repo, name="deploy", head_sha=SHA, actions=actions)
    assert github_server.calls(path="/repos/*/check-runs*") == []


async def test_wrong_body_gets_422_and_a_clear_error(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)
    bogus: Any = "bogus"
    with pytest.raises(GitHubValidationError) as info:
        await gh.create_check_run(repo, name="deploy", head_sha=SHA, status="completed",
                                  conclusion=bogus)

    assert info.value.status == 422
    assert "conclusion" in str(info.value) and "POST /repos/{owner}/{repo}/check-runs" in str(
        info.value)
    failures = github_server.state.validation_errors
    assert len(failures) == 1 and failures[0].path == "/repos/octo/backend/check-runs"
    assert any(e["field"] == "conclusion" for e in failures[0].errors)
    with pytest.raises(AssertionError):
        github_server.assert_no_validation_errors()
