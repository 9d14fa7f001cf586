"""The parts of the Deno preflight that need no sandbox: which files are tests, how they are
grouped by config, how a JUnit report is read, what a missing Deno says, what changes a
release's digest, and what the reported output hides."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from service.denotool import DenoNotFound, deno_binary
from workers.drivers.functions import digest_of
from workers.repository.function_files import config_toml_path, discover
from workers.runbook import deno_junit
from workers.runbook.deno_junit import read_report
from workers.runbook.deno_tests import (
    _DENO_ENV,
    _FETCH_ENV,
    Group,
    _Run,
    _shown,
    find_test_files,
    plan_groups,
)
from workers.sandbox.bubblewrap import Unconfined


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_test_files_follow_deno_and_supabase_naming(tmp_path: Path) -> None:
    write(tmp_path, {name: "" for name in [
        "a/test.ts", "a/index_test.ts", "a/index.test.tsx", "a/x_test.mjs", "a/y.test.js",
        "tests/hello-test.ts",  # the Supabase guide's naming
        "a/index.ts", "a/testing.ts", "a/latest.ts", "a/test_support.ts", "a/test.py",
        "node_modules/p/z_test.ts", ".hidden/h_test.ts", "a/.cache/c_test.ts"]})
    assert find_test_files(tmp_path) == [
        "a/index.test.tsx", "a/index_test.ts", "a/test.ts", "a/x_test.mjs", "a/y.test.js",
        "tests/hello-test.ts"]


def test_tests_run_with_their_function_config_or_the_nearest_one(tmp_path: Path) -> None:
    functions = tmp_path / "supabase" / "functions"
    write(tmp_path, {
        "supabase/config.toml": '[functions.two]\nimport_map = "./functions/two/map.json"\n',
        "supabase/functions/one/index.ts": "", "supabase/functions/one/deno.json": "{}",
        "supabase/functions/one/one_test.ts": "", "supabase/functions/one/sub/s_test.ts": "",
        "supabase/functions/two/index.ts": "", "supabase/functions/two/map.json": "{}",
        "supabase/functions/tests/all-test.ts": "",
        "supabase/functions/_shared/deno.json": "{}",
        "supabase/functions/_shared/lib/l_test.ts": ""})
    found = discover(functions, config_toml_path(functions))
    groups = plan_groups(functions, "supabase/functions", found, find_test_files(functions))
    got = {g.label: (g.cwd, g.config, g.entrypoints, g.tests) for g in groups}
    src = "/src/supabase/functions"
    assert got == {
        "one": ("one", ("--config", f"{src}/one/deno.json"), ("index.ts",),
                ("one_test.ts", "sub/s_test.ts")),
        "two": ("two", ("--import-map", f"{src}/two/map.json"), ("index.ts",), ()),
        "shared tests": (".", (), (), ("tests/all-test.ts",)),
        "tests in _shared/": ("_shared", (), (), ("lib/l_test.ts",)),
    }


JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="5" failures="3" errors="0" time="0.011">
  <testsuite name="./greet_test.ts" tests="5" disabled="0" errors="0" failures="3">
    <testcase name="greets" classname="./greet_test.ts" time="0.000" line="3" col="6">
    </testcase>
    <testcase name="fails on purpose" classname="./greet_test.ts" time="0.001" line="4" col="6">
      <failure message="Uncaught AssertionError: Expected values to be strictly equal:

&apos;hi a&apos; !== &apos;hello a&apos;
">AssertionError: Expected values to be strictly equal:
    at file:///src/fns/hello/lib.ts:40:3
    at file:///src/fns/hello/greet_test.ts:5:3</failure>
    </testcase>
    <testcase name="steps" classname="./greet_test.ts" time="0.001" line="7" col="6">
      <failure message="1 test step failed">1 test step failed.</failure>
    </testcase>
    <testcase name="steps &gt; inner bad" classname="./greet_test.ts" time="0.001" line="9"
              col="11">
      <failure message="Uncaught Error: step broke">Error: step broke
    at ext:cli/40_test.js:300:11</failure>
    </testcase>
    <testcase name="later" classname="./greet_test.ts" time="0" line="12" col="6">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_a_junit_report_names_each_failed_test_and_its_line(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    read = read_report(report, repo_dir="fns/hello", sandbox_dir="/src/fns/hello")
    assert read is not None
    assert [(f.name, f.path, f.line) for f in read.failed] == [
        ("fails on purpose", "fns/hello/greet_test.ts", 5),  # the frame in the test file
        ("steps > inner bad", "fns/hello/greet_test.ts", 9),  # no frame there: declared
    ]
    assert read.failed[0].message.startswith("AssertionError: Expected values")
    assert (read.total, read.passed, read.skipped) == (4, 1, 1)  # "steps" counts as its step


@pytest.mark.parametrize("text", ["", "<testsuites><testcase", "not xml at all"])
def test_a_report_that_cannot_be_read_is_no_report(tmp_path: Path, text: str) -> None:
    report = tmp_path / "report.xml"
    report.write_text(text)
    assert read_report(report, repo_dir="f", sandbox_dir="/src/f") is None
    assert read_report(tmp_path / "missing.xml", repo_dir="f", sandbox_dir="/src/f") is None


def test_an_oversized_report_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    monkeypatch.setattr(deno_junit, "MAX_REPORT_BYTES", len(JUNIT) - 1)
    assert read_report(report, repo_dir="f", sandbox_dir="/src/f") is None


def test_without_the_deno_package_the_message_names_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deno", None)  # import deno → ImportError
    with pytest.raises(DenoNotFound) as caught:
        deno_binary()
    assert "pip install deno" in str(caught.value)


def test_the_deno_package_gives_a_binary() -> None:
    assert deno_binary().is_file()


@pytest.mark.parametrize("rel", ["hello/deno.json", "import_map.json", "_shared/cors.ts",
                                 "hello/hello_test.ts"])
def test_everything_a_typescript_function_needs_changes_the_release(
        tmp_path: Path, rel: str) -> None:
    write(tmp_path, {"hello/index.ts": "Deno.serve(() => new Response('hi'));\n",
                     "hello/deno.json": "{}\n", "import_map.json": "{}\n",
                     "_shared/cors.ts": "export const cors = {};\n",
                     "hello/hello_test.ts": ""})
    before = digest_of(tmp_path)
    (tmp_path / rel).write_text((tmp_path / rel).read_text() + "// changed\n")
    assert digest_of(tmp_path) != before


def test_reported_output_names_repository_paths_and_hides_fetch_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "https://npm-mirror.internal.example:4873/")
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", "/srv/secret-place/ca.pem")
    shown = _shown("error: Failed loading https://npm-mirror.internal.example:4873/ms\n"
                   "    at file:///src/supabase/functions/hello/src/index.ts:1:16\n"
                   "reading /srv/secret-place/ca.pem")
    assert "npm-mirror.internal" not in shown and "secret-place" not in shown
    assert "supabase/functions/hello/src/index.ts:1:16" in shown
    assert "file:///src" not in shown


def test_each_phase_gets_only_what_it_needs(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for key in _FETCH_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "sekrit")
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "https://registry.example/")
    run = _Run(tmp_path / "functions", "supabase/functions", Path("/usr/bin/true"),
               tmp_path / "deno", Unconfined())
    group = Group("hello", "hello", (), ("index.ts",), ("hello_test.ts",))
    fetch = run.policy(group, fetch=True)
    test = run.policy(group, fetch=False, out_dir=tmp_path / "out")
    assert dict(fetch.env) == {**_DENO_ENV, "NPM_CONFIG_REGISTRY": "https://registry.example/"}
    assert dict(test.env) == _DENO_ENV
    assert (fetch.network, test.network) == (True, False)
    assert fetch.cwd == test.cwd == "/src/supabase/functions/hello"
    for policy in (fetch, test):
        source = next(b for b in policy.binds if b.target == "/src/supabase/functions")
        assert source.copy and not source.writable  # a private, read-only copy
    fetch_cache, test_cache = (next(b for b in p.binds if b.target == "/deno")
                               for p in (fetch, test))
    assert fetch_cache.writable and not test_cache.writable  # only the fetcher writes it
    assert [b.target for b in test.binds if b.writable] == ["/out"]
