"""Preflight checks and tests Supabase edge functions with Deno, sandboxed, through
`deploybot deploy`: a repository of its own (tests/supabase_functions.py) with TypeScript
functions, an npm: import, Deno tests and a supabase/config.toml."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, git
from tests.supabase_functions import FUNCTIONS, HELLO_TEST, PASSING_TESTS, make_supabase_repo
from workers.cli import main
from workers.runbook.deno_tests import run_deno_tests
from workers.runbook.snapshot import diff, snapshot
from workers.runbook.step import StepFailed

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")

FAILING_TEST = HELLO_TEST.replace('"Hello, Ada!"', '"Hi, Ada!"')
FAILING_LINE = FAILING_TEST.splitlines().index(
    '  strictEqual((await answer.json()).message, "Hi, Ada!");') + 1


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    monkeypatch.setenv("DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    monkeypatch.setenv("DEPLOYBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "400")  # long paths on one line of the console's output
    repo = make_supabase_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    try:
        yield repo
    finally:
        for n in names:
            drop_database(n)


def deploy(*args: str) -> int:
    return main(["deploy", "staging", *args])


def test_passing_deno_tests_pass_preflight(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy("--dry-run") == 0
    out = capsys.readouterr().out
    assert "deno check: 2 function(s) (hello, public-ping) and 3 test file(s)" in out, out
    assert f"deno test: {PASSING_TESTS} passed" in out, out
    assert "(hello, public-ping; active: none)" in out, out  # the plan names the functions


def test_a_failing_deno_test_stops_the_deployment_at_preflight(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staging = os.environ["STAGING_DATABASE_URL"]
    before = asyncio.run(snapshot(staging))
    sha = branch_with(project, "failing-test", {f"{FUNCTIONS}/hello/hello_test.ts": FAILING_TEST})
    assert deploy("--ref", sha) == 1
    out = capsys.readouterr().out
    assert re.search(r"preflight\s*│\s*✗ failed", out), out
    assert re.search(r"migrate\s*│\s*– skipped\s*│\s*│ not run: preflight failed", out), out
    where = f"{FUNCTIONS}/hello/hello_test.ts:{FAILING_LINE}"
    assert f'reason: 1 Deno test(s) failed; first: "greets by name" at {where}' in out, out
    assert diff(before, asyncio.run(snapshot(staging)), sequences=False) == []

    # The check run's annotation points at the failing line (the step's failure carries it).
    git(project, "checkout", "-q", sha)
    with pytest.raises(StepFailed) as failed:
        asyncio.run(run_deno_tests(project, FUNCTIONS))
    notes = failed.value.annotations
    assert [(n.path, n.line) for n in notes] == [(f"{FUNCTIONS}/hello/hello_test.ts",
                                                  FAILING_LINE)]
    assert "greets by name" in notes[0].message and "Hi, Ada!" in notes[0].message


def test_a_functions_folder_without_a_function_is_refused(
        tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_supabase_repo(tmp_path / "no-function", {
        f"{FUNCTIONS}/utils/helpers.ts": "export const x = 1;\n",
        f"{FUNCTIONS}/README.md": "our functions\n"})
    os.chdir(repo)
    assert deploy("--dry-run") == 1
    out = capsys.readouterr().out
    assert "holds files but no function" in out, out
    assert "a function is a directory <functions>/<name>/ with an index.ts that calls " \
           "Deno.serve" in out, out


def test_without_a_sandbox_no_pull_request_code_runs_and_the_step_says_how_to_enable_it(
        tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"  # the worker's PATH without bwrap (git is still needed)
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(git_path())
    monkeypatch.setenv("PATH", str(bin_dir))
    cache = tmp_path / "deno-cache"
    monkeypatch.setenv("DEPLOYBOT_DENO_DIR", str(cache))
    assert deploy("--dry-run") == 1
    out = capsys.readouterr().out
    assert re.search(r"preflight\s*│\s*✗ failed", out), out
    assert "were not run" in out and "only in a sandbox" in out, out
    assert "apt-get install bubblewrap" in out, out  # how to enable it
    assert not cache.exists()  # not even the fetcher ran


def git_path() -> str:
    found = shutil.which("git")
    assert found, "git is not installed"
    return found


def test_a_type_error_fails_deno_check_with_its_line(tmp_path: Path) -> None:
    broken = HELLO_TYPE_ERROR
    make_tree(tmp_path, {f"{FUNCTIONS}/hello/index.ts": broken})
    line = broken.splitlines().index('const wait: number = "soon";') + 1
    with pytest.raises(StepFailed) as failed:
        asyncio.run(run_deno_tests(tmp_path, FUNCTIONS))
    where = f"{FUNCTIONS}/hello/index.ts:{line}"
    assert failed.value.reason.startswith(f"deno check failed for hello (first: {where})")
    notes = failed.value.annotations
    assert [(n.path, n.line) for n in notes] == [(f"{FUNCTIONS}/hello/index.ts", line)]
    assert notes[0].message.startswith("TS2322")


def test_an_import_that_cannot_be_fetched_is_named(tmp_path: Path) -> None:
    missing = "npm:deploybot-test-no-such-package-4f9a@1.0.0"
    make_tree(tmp_path, {f"{FUNCTIONS}/hello/index.ts":
                         f'import x from "{missing}";\nDeno.serve(() => new Response(x));\n'})
    with pytest.raises(StepFailed) as failed:
        asyncio.run(run_deno_tests(tmp_path, FUNCTIONS))
    assert failed.value.reason.startswith("the dependencies of hello could not be fetched")
    assert "deploybot-test-no-such-package-4f9a" in failed.value.reason


HELLO_TYPE_ERROR = """\
const wait: number = "soon";

Deno.serve(() => new Response(String(wait)));
"""


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# Supabase's EdgeRuntime global, used without a declaration (its own deploy does not type
# check), with its type used wrongly in the second function.
BACKGROUND_FN = """\
async function audit(): Promise<void> {}

Deno.serve(() => {
  EdgeRuntime.waitUntil(audit());
  return new Response("accepted", { status: 202 });
});
"""
BACKGROUND_MISUSED = BACKGROUND_FN.replace("EdgeRuntime.waitUntil(audit());",
                                           'EdgeRuntime.waitUntil("not a promise");')


def test_the_edge_runtime_global_type_checks_as_on_supabase(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{FUNCTIONS}/background/index.ts": BACKGROUND_FN})
    output = asyncio.run(run_deno_tests(tmp_path, FUNCTIONS)).output  # raises if it fails
    assert "deno check: 1 function(s) (background)" in output
    make_tree(tmp_path / "misused", {f"{FUNCTIONS}/background/index.ts": BACKGROUND_MISUSED})
    with pytest.raises(StepFailed) as failed:
        asyncio.run(run_deno_tests(tmp_path / "misused", FUNCTIONS))
    assert failed.value.reason.startswith("deno check failed for background")
    assert [n.message[:6] for n in failed.value.annotations] == ["TS2345"]
