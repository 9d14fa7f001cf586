"""`deploybot deploy staging` to a hosted Supabase project (the stand-in Management API):
TypeScript functions deployed with OpenAPI-valid requests, answering at the functions URL;
a function answering 500 in the smoke step is rolled back to the previous source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixture_repo import branch_with
from tests.supabase_api.conftest import ANON
from tests.supabase_api.project import HELLO_500
from tests.supabase_api.server import SupabaseStandIn
from tests.supabase_api.state import Fault
from workers.cli import main


def deploy(*args: str) -> int:
    return main(["deploy", "staging", *args])


def deploys(supabase: SupabaseStandIn) -> list[str]:
    return [r.path for r in supabase.state.requests if r.operation == "v1-deploy-a-function"]


def test_functions_deploy_and_answer_at_the_functions_url(
        hosted: dict[str, Any], supabase: SupabaseStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy() == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "smoke" in out
    assert supabase.state.rejected == []
    project = hosted["project"]
    assert sorted(project.functions) == ["hello", "public-ping"]
    hello = project.functions["hello"].active
    # Server-side bundling: the entrypoint and the shared module it imports are uploaded.
    assert sorted(hello.files) == ["_shared/greeting.ts", "hello/index.ts"]
    assert hello.metadata == {"name": "hello", "entrypoint_path": "hello/index.ts",
                              "verify_jwt": True}
    assert project.functions["public-ping"].active.metadata["verify_jwt"] is False
    # Every token-bearing request sent the project's token, and it never reached the output.
    assert all(r.headers["authorization"] == f"Bearer {project.token}"
               for r in supabase.state.requests if r.operation)
    assert project.token not in out
    base = supabase.url
    assert httpx.get(f"{base}/functions/v1/public-ping").json() == {"pong": True}
    assert httpx.post(f"{base}/functions/v1/hello", json={}).status_code == 401
    answer = httpx.post(f"{base}/functions/v1/hello", json={"name": "you"},
                        headers={"Authorization": f"Bearer {ANON}"})
    assert answer.json() == {"message": "hello you", "release": "one"}
    # Unchanged functions: nothing is deployed again.
    count = len(deploys(supabase))
    assert deploy() == 0
    assert "already up to date" in capsys.readouterr().out
    assert len(deploys(supabase)) == count


def test_a_function_answering_500_rolls_back_to_the_previous_source(
        hosted: dict[str, Any], supabase: SupabaseStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy() == 0
    project = hosted["project"]
    first = dict(project.functions["hello"].active.files)
    sha = branch_with(Path(hosted["repo"]), "broken",
                      {"supabase/functions/hello/index.ts": HELLO_500})
    capsys.readouterr()
    assert deploy("--ref", sha) == 1
    out = capsys.readouterr().out
    assert "✗ " in out and "smoke" in out and "500" in out
    versions = project.functions["hello"].versions
    # v1 good, v2 answering 500, v3 the first source again (the rollback).
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[1].files["hello/index.ts"] == HELLO_500.encode()
    assert versions[2].files == first
    assert [v.version for v in project.functions["public-ping"].versions] == [1]
    answer = httpx.post(f"{supabase.url}/functions/v1/hello", json={},
                        headers={"Authorization": f"Bearer {ANON}"})
    assert answer.status_code == 200 and answer.json()["release"] == "one"
    assert supabase.state.rejected == []


def test_a_removed_function_is_deleted(hosted: dict[str, Any], supabase: SupabaseStandIn,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy() == 0
    repo = Path(hosted["repo"])
    (repo / "supabase/functions/public-ping/index.ts").unlink()
    (repo / "supabase/config.toml").write_text('project_id = "hosted-example"\n')
    smoke = (repo / "supabase/smoke.yml").read_text()
    (repo / "supabase/smoke.yml").write_text(smoke.split("  - name: ping")[0])
    from tests.fixture_repo import commit

    commit(repo, "retire ping")
    assert deploy() == 0, capsys.readouterr().out
    assert hosted["project"].functions["public-ping"].deleted
    assert httpx.get(f"{supabase.url}/functions/v1/public-ping").status_code == 404


def test_a_bad_token_names_the_fix_and_never_shows(
        hosted: dict[str, Any], supabase: SupabaseStandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "sbp_" + "0123456789abcdef" * 2 + "01234567"
    monkeypatch.setenv("STAGING_SUPABASE_TOKEN", wrong)
    assert deploy() == 1
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())  # the console wraps lines
    assert "refused the access token in STAGING_SUPABASE_TOKEN" in text
    assert "supabase.com/dashboard/account/tokens" in text
    assert wrong not in text and hosted["project"].token not in text
    assert "Traceback" not in text
    assert hosted["project"].functions == {}
    assert main(["history", "--env", "staging", "--json"]) == 0
    assert wrong not in capsys.readouterr().out


def test_rate_limits_are_waited_out(hosted: dict[str, Any], supabase: SupabaseStandIn,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    supabase.state.faults.append(Fault(429, times=2, headers={"retry-after": "0"},
                                       body={"message": "Too many requests"}))
    assert deploy() == 0, capsys.readouterr().out
    assert [r.status for r in supabase.state.requests[:3]] == [429, 429, 201]
    assert sorted(hosted["project"].functions) == ["hello", "public-ping"]


def test_a_switch_failing_midway_is_undone(
        hosted: dict[str, Any], supabase: SupabaseStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The first deployment: hello is deployed, public-ping keeps failing (5xx) — the undo
    removes hello again, since nothing ran before."""
    supabase.state.faults.append(Fault(502, times=4, match="slug=public-ping",
                                       headers={"retry-after": "0"}))
    assert deploy() == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "the Supabase Management API failed while deploying function 'public-ping' " \
           "(502: injected); try again" in out
    assert hosted["project"].functions["hello"].deleted
    assert "public-ping" not in hosted["project"].functions
    assert supabase.state.rejected == []


def test_an_unknown_project_names_the_setting(
        hosted: dict[str, Any], supabase: SupabaseStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    supabase.state.projects.pop(hosted["project"].ref)
    supabase.add_project("anotherprojectrefxyz", token=hosted["project"].token)
    assert deploy() == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "no project 'stagingprojectrefabc'" in out
    assert "environments.staging.supabase_project_ref" in out
    json.dumps(out)  # the message is plain text
