"""A request whose commit cannot be fetched never runs, and says so where it was shown: the
check run is concluded (not left queued or in progress) and the deployment is an error."""

from __future__ import annotations

from typing import Any

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer


async def test_a_commit_github_will_not_hand_over_concludes_the_check_run(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state = github_server.state
    state.add_pull(REPO, 82, head_sha=sha, user_login="alice")
    github_server.faults.fail("/repos/*/tarball/*", status=502, times=None)
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=82))
        run = await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                      if r.get("status") == "completed"], what="the check run")
        # The deployment's status is sent right after the check run's conclusion.
        await wait_for(lambda: any(s["state"] == "error" for statuses in
                                   state.repo(REPO).deployment_statuses.values()
                                   for s in statuses), what="the deployment's error status")
    assert run[0]["conclusion"] == "failure"
    output = run[0]["output"]
    assert output["title"] == "Not started: nothing ran, nothing changed"
    assert f"`{sha[:7]}` was not deployed: GitHub did not hand over the commit" \
        in output["summary"]
    assert "127.0.0.1" not in output["summary"]
    deployment = next(iter(state.repo(REPO).deployments.values()))
    assert [s["state"] for s in state.repo(REPO).deployment_statuses[deployment["id"]]
            ][-1] == "error"
    github_server.assert_no_validation_errors()
