"""GitHub deployments: 201 / 202 / 409 as distinct results, statuses and auto_inactive."""

from __future__ import annotations

from tests.github.support import MakeApp
from tests.github_server import GitHubTestServer

SHA = "a" * 40


async def test_created_merged_and_conflict_are_distinct_results(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)

    created = await gh.create_deployment(repo, ref=SHA, environment="staging",
                                         payload={"request_id": 12})
    github_server.state.queue_deployment_outcome(repo, "merged")
    merged = await gh.create_deployment(repo, ref="feature", environment="staging")
    github_server.state.queue_deployment_outcome(repo, "conflict")
    conflict = await gh.create_deployment(repo, ref="feature", environment="staging")

    assert created.outcome == "created" and created.id is not None
    assert created.deployment is not None and created.deployment["sha"] == SHA
    assert created.deployment["payload"] == {"request_id": 12}
    assert merged.outcome == "merged" and "Auto-merged" in merged.message
    assert merged.deployment is None
    assert conflict.outcome == "conflict" and "Conflict merging" in conflict.message
    sent = github_server.calls("POST", "/repos/*/deployments")[0].body
    assert sent["auto_merge"] is False and sent["required_contexts"] == []
    github_server.assert_no_validation_errors()


async def test_failing_required_contexts_are_a_conflict_with_the_contexts(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    github_server.state.add_status(repo, SHA, "ci/unit", "failure")
    github_server.state.add_status(repo, SHA, "ci/lint", "success")
    gh = (await make_app()).installation(1)

    result = await gh.create_deployment(repo, ref=SHA, environment="production",
                                        required_contexts=None)  # GitHub checks them all

    assert result.outcome == "conflict"
    assert result.errors[0]["contexts"] == [{"context": "ci/unit", "state": "failure"}]
    ok = await gh.create_deployment(repo, ref=SHA, environment="production",
                                    required_contexts=["ci/lint"])
    assert ok.outcome == "created"


async def test_statuses_and_older_deployments_going_inactive(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    gh = (await make_app()).installation(1)
    first = await gh.create_deployment(repo, ref=SHA, environment="staging")
    assert first.id is not None
    await gh.create_deployment_status(repo, first.id, state="success",
                                      environment_url="https://staging.example.com")
    second = await gh.create_deployment(repo, ref=SHA, environment="staging")
    assert second.id is not None
    await gh.create_deployment_status(repo, second.id, state="in_progress",
                                      log_url="https://deploybot.example.com/d/2",
                                      description="d" * 300)
    await gh.create_deployment_status(repo, second.id, state="success", auto_inactive=True)

    statuses = github_server.state.repo(repo).deployment_statuses
    assert [s["state"] for s in statuses[first.id]] == ["success", "inactive"]
    assert [s["state"] for s in statuses[second.id]] == ["in_progress", "success"]
    assert len(statuses[second.id][0]["description"]) == 140
    listed = await gh.list_deployments(repo, environment="staging")
    assert [d["id"] for d in listed] == [second.id, first.id]
    assert await gh.list_deployments(repo, environment="production") == []
    newest_first = await gh.list_deployment_statuses(repo, second.id)
    assert [s["state"] for s in newest_first] == ["success", "in_progress"]
    github_server.assert_no_validation_errors()
