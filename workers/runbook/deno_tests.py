"""The functions' Deno type check and tests, run on pull-request code inside the sandbox.

Everything from the pinned commit is untrusted (DESIGN.md, Trust), so every Deno command
runs confined (workers/sandbox) on a private read-only copy of the functions directory:

1. fetch: `deno cache` of every entrypoint and test file, with the network and the Deno
   cache writable. Only Deno's fetcher runs: nothing of the commit is executed (npm
   lifecycle scripts would need --allow-scripts, never given) or type-checked.
2. check: `deno check` of each function's entrypoint and its tests: no network, cached only,
   the cache read-only.
3. test: `deno test` with no network, cached only, the cache read-only and an environment
   holding only what Deno needs. Deno's own permissions are all granted: tests of Supabase
   functions use env, net and files (Supabase runs them with --allow-all); the sandbox is
   the boundary, and nothing of the worker is inside it to reach.

The Deno cache is shared by all runs (under the data directory) so dependencies download
once. That is safe because only the fetcher writes it (checks and tests see it read-only,
so code of one commit cannot change what another commit runs), and the fetcher files what
it fetches under where it came from (the URL; for npm: the registry's host, the package
and the version, checked against the registry's integrity hash): a commit can add entries,
not change what another commit's imports resolve to.

Tests are the files Deno's default pattern finds (`test.ts`, `*_test.ts`, `*.test.ts`,
and .tsx/.mts/.js/.mjs/.jsx) plus `*-test.ts`, the naming Supabase's guide uses. Each
function's tests run with that function's Deno config and import map; other tests (in
`tests/`, `_shared/`) with the config of the nearest folder that has one.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.denotool import DenoNotFound, deno_binary, deno_version
from service.settings import data_dir_from_env
from workers.repository.function_files import (
    DENO_CONFIGS,
    FunctionLayoutError,
    FunctionSet,
    config_toml_path,
    discover,
)
from workers.runbook.deno_junit import TestReport, read_report
from workers.runbook.events import Annotation
from workers.runbook.step import StepFailed
from workers.sandbox.bubblewrap import Sandbox, SandboxUnavailable, sandbox_from_env
from workers.sandbox.policy import Bind, Policy
from workers.sandbox.runner import Completed, hand_over, run_confined

# Where things are inside the sandbox (never a path of the worker's host).
DENO = "/opt/deno/bin/deno"
DENO_DIR = "/deno"
SRC = "/src"
OUT = "/out"
EDGE_RUNTIME_TYPES = "/opt/deploybot/edge_runtime.d.ts"
EDGE_RUNTIME_TYPES_SOURCE = Path(__file__).with_name("edge_runtime.d.ts")
# What deno check says of a function using Supabase's EdgeRuntime global undeclared.
_UNDECLARED_EDGE_RUNTIME = "Cannot find name 'EdgeRuntime'"

FETCH_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 300.0  # the checks and the tests together
CACHE_SETTING = "DEPLOYBOT_DENO_DIR"  # the shared Deno cache; default <data dir>/deno

TEST_FILE = re.compile(r"^(?:.+[._-])?test\.(?:ts|tsx|mts|js|mjs|jsx)$")
_COMMON_FLAGS = ("--no-lock", "--node-modules-dir=none")
# What Deno itself needs; HOME is the sandbox's private /tmp.
_DENO_ENV = {"HOME": "/tmp", "DENO_DIR": DENO_DIR, "NO_COLOR": "1",  # noqa: S108
             "DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PROMPT": "1"}
# Given to the fetcher only, when the worker has them: a registry mirror, a proxy, and the
# certificate authorities to trust (a proxy that inspects TLS has its own; Deno reads
# DENO_CERT / NODE_EXTRA_CA_CERTS, not SSL_CERT_FILE). None is a secret of the worker, but
# their values never appear in what is reported (they may name internal hosts and paths).
_FETCH_ENV = ("NPM_CONFIG_REGISTRY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
              "https_proxy", "http_proxy", "no_proxy", "DENO_CERT", "DENO_TLS_CA_STORE",
              "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR")
_CA_FILES = ("DENO_CERT", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR")
_BOUND_SYSTEM_DIRS = ("/usr/", "/etc/ssl/", "/etc/ca-certificates/")
_SHOWN_OUTPUT = 20_000


@dataclass(frozen=True)
class Group:
    """Files Deno handles in one command: one function, or shared tests under one config."""

    label: str
    cwd: str  # relative to the functions directory ("." for itself)
    config: tuple[str, ...]  # --config / --import-map arguments (sandbox paths)
    entrypoints: tuple[str, ...]  # relative to cwd
    tests: tuple[str, ...]  # relative to cwd


def find_test_files(functions_dir: Path) -> list[str]:
    """Test files under `functions_dir` (relative POSIX paths), sorted."""
    found: list[str] = []
    for path in functions_dir.rglob("*"):
        rel = path.relative_to(functions_dir)
        if any(part.startswith(".") or part == "node_modules" for part in rel.parts):
            continue
        if TEST_FILE.match(path.name) and path.is_file() and not path.is_symlink():
            found.append(rel.as_posix())
    return sorted(found)


def _config_home(functions_dir: Path, rel: str) -> str:
    """The nearest folder (relative, "." for the root) above `rel` with a Deno config."""
    folder = posixpath.dirname(rel)
    while folder:
        if any((functions_dir / folder / name).is_file() for name in DENO_CONFIGS):
            return folder
        folder = posixpath.dirname(folder)
    return "."


def plan_groups(functions_dir: Path, functions_rel: str, found: FunctionSet,
                tests: Sequence[str]) -> list[Group]:
    src = posixpath.join(SRC, functions_rel)
    groups: list[Group] = []
    claimed: set[str] = set()
    for fn in found.functions:
        config: list[str] = []
        if fn.deno_config:
            config += ["--config", posixpath.join(src, fn.deno_config)]
        if fn.import_map:
            config += ["--import-map", posixpath.join(src, fn.import_map)]
        mine = [t for t in tests if t.startswith(fn.slug + "/")]
        claimed.update(mine)
        groups.append(Group(fn.slug, fn.slug, tuple(config),
                            (posixpath.relpath(fn.entrypoint, fn.slug),),
                            tuple(posixpath.relpath(t, fn.slug) for t in mine)))
    shared: dict[str, list[str]] = {}
    for t in tests:
        if t not in claimed:
            shared.setdefault(_config_home(functions_dir, t), []).append(t)
    for home, files in sorted(shared.items()):
        groups.append(Group(f"tests in {home}/" if home != "." else "shared tests", home, (),
                            (), tuple(posixpath.relpath(t, home) for t in files)))
    return groups


@dataclass
class _Run:
    """One preflight's Deno work: where things are, and the sandbox it runs in."""

    functions_dir: Path
    functions_rel: str
    deno: Path
    deno_dir: Path
    sandbox: Sandbox

    def policy(self, group: Group, *, fetch: bool, out_dir: Path | None = None) -> Policy:
        binds = [Bind(self.deno, DENO),
                 Bind(self.functions_dir, posixpath.join(SRC, self.functions_rel), copy=True),
                 Bind(self.deno_dir, DENO_DIR, writable=fetch),
                 Bind(EDGE_RUNTIME_TYPES_SOURCE, EDGE_RUNTIME_TYPES)]
        if out_dir is not None:
            binds.append(Bind(out_dir, OUT, writable=True))
        env = dict(_DENO_ENV)
        if fetch:
            env.update({k: v for k in _FETCH_ENV if (v := os.environ.get(k))})
            binds += _certificate_binds()
        cwd = posixpath.normpath(posixpath.join(SRC, self.functions_rel, group.cwd))
        return Policy(binds=tuple(binds), env=env, cwd=cwd, network=fetch)

    async def run(self, argv: list[str], policy: Policy, timeout_s: float) -> Completed:
        return await run_confined(argv, policy, timeout_s=max(timeout_s, 1.0),
                                  sandbox=self.sandbox)


_SANDBOX_PATH = re.compile("file://" + re.escape(SRC + "/") + r"|(?<![\w./:-])"
                           + re.escape(SRC + "/"))


def _certificate_binds() -> list[Bind]:
    """The worker's CA files the fetcher is told about, where the sandbox has none."""
    binds: list[Bind] = []
    for key in _CA_FILES:
        value = os.environ.get(key, "")
        if (value.startswith("/") and not value.startswith(_BOUND_SYSTEM_DIRS)
                and Path(value).exists()):
            binds.append(Bind(Path(value), value))
    return binds


def _shown(output: str) -> str:
    """Deno's output as a person should read it: repository paths, no fetch settings."""
    text = _SANDBOX_PATH.sub("", output)
    for key in _FETCH_ENV:
        value = os.environ.get(key)
        if value:
            text = text.replace(value, f"<{key}>")
    return text[-_SHOWN_OUTPUT:]


_LOCATION = re.compile(re.escape(f"file://{SRC}/") + r"(\S+?):(\d+):\d+")
_TS_ERROR = re.compile(r"(TS\d+) \[ERROR\]: (.+?)\n.*?" + _LOCATION.pattern, re.DOTALL)


def _annotations(output: str, title: str) -> list[Annotation]:
    """Where Deno's errors point in the repository (type errors, failed imports)."""
    notes = [Annotation(m.group(3), int(m.group(4)),
                        _shown(f"{m.group(1)}: {m.group(2).strip()}"), title)
             for m in _TS_ERROR.finditer(output)]
    if not notes:
        error = next((line for line in output.splitlines() if line.startswith("error:")),
                     "")
        m = _LOCATION.search(output)
        if m and error:
            notes.append(Annotation(m.group(1), int(m.group(2)), _shown(error), title))
    return notes[:50]


def _first_error(output: str, fallback: str) -> str:
    lines = [line.strip() for line in _shown(output).splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    text = " ".join(lines[start:start + 2]) if start is not None else fallback
    return text if len(text) <= 300 else text[:299] + "…"


@contextmanager
def _scratch(sandbox: Sandbox) -> Iterator[Path]:
    """A directory the sandboxed tests write their reports into, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="deploybot-deno-out-"))
    try:
        hand_over(path, sandbox)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def shared_deno_dir() -> Path:
    configured = os.environ.get(CACHE_SETTING)
    return Path(configured) if configured else data_dir_from_env() / "deno"


async def _fetch(run: _Run, groups: list[Group]) -> None:
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    for group in groups:
        argv = [DENO, "cache", *_COMMON_FLAGS, *group.config, *group.entrypoints, *group.tests]
        done = await run.run(argv, run.policy(group, fetch=True), deadline - time.monotonic())
        if done.timed_out:
            raise StepFailed(f"fetching the dependencies of {group.label} took more than "
                             f"{FETCH_TIMEOUT_S:.0f} s", output=_shown(done.output),
                             stop_the_line="unit tests failed")
        if done.returncode != 0:
            raise StepFailed(
                f"the dependencies of {group.label} could not be fetched: "
                + _first_error(done.output, f"deno cache exited with {done.returncode}"),
                output=_shown(done.output), stop_the_line="unit tests failed",
                annotations=_annotations(done.output, "deno cache"))


async def _check(run: _Run, groups: list[Group], deadline: float) -> None:
    for group in groups:
        base = [DENO, "check", "--cached-only", *_COMMON_FLAGS, *group.config]
        roots = [*group.entrypoints, *group.tests]
        done = await run.run([*base, *roots], run.policy(group, fetch=False),
                             deadline - time.monotonic())
        if done.returncode != 0 and _UNDECLARED_EDGE_RUNTIME in done.output:
            # Supabase's runtime has the EdgeRuntime global, and so does the function host:
            # check again with its declaration as one more root of the same program.
            done = await run.run([*base, EDGE_RUNTIME_TYPES, *roots],
                                 run.policy(group, fetch=False), deadline - time.monotonic())
        if done.timed_out:
            raise StepFailed(f"deno check of {group.label} did not finish within "
                             f"{RUN_TIMEOUT_S:.0f} s", output=_shown(done.output),
                             stop_the_line="unit tests failed")
        if done.returncode != 0:
            notes = _annotations(done.output, "deno check")
            where = f" (first: {notes[0].path}:{notes[0].line})" if notes else ""
            raise StepFailed(
                f"deno check failed for {group.label}{where}: "
                + _first_error(done.output, f"deno check exited with {done.returncode}"),
                output=_shown(done.output), annotations=notes,
                stop_the_line="unit tests failed")


async def _test(run: _Run, groups: list[Group], deadline: float) -> TestReport:
    total = TestReport()
    for group in (g for g in groups if g.tests):
        with _scratch(run.sandbox) as out_dir:
            argv = [DENO, "test", "--allow-all", "--cached-only", "--no-check",
                    *_COMMON_FLAGS, *group.config, "--junit-path", f"{OUT}/report.xml",
                    *group.tests]
            done = await run.run(argv, run.policy(group, fetch=False, out_dir=out_dir),
                                 deadline - time.monotonic())
            repo_dir = posixpath.normpath(posixpath.join(run.functions_rel, group.cwd))
            report = read_report(out_dir / "report.xml", repo_dir=repo_dir,
                                 sandbox_dir=posixpath.join(SRC, repo_dir))
        if done.timed_out:
            raise StepFailed(f"the Deno tests of {group.label} did not finish within "
                             f"{RUN_TIMEOUT_S:.0f} s", output=_shown(done.output),
                             stop_the_line="unit tests failed")
        if done.returncode == 0:
            total += report or TestReport()
            continue
        failures = report.failed if report else ()
        if not failures:
            raise StepFailed(
                f"the Deno tests of {group.label} failed: "
                + _first_error(done.output, f"deno test exited with {done.returncode}"),
                output=_shown(done.output), annotations=_annotations(done.output, "deno test"),
                stop_the_line="unit tests failed")
        first = failures[0]
        raise StepFailed(
            f"{len(failures)} Deno test(s) failed; first: \"{first.name}\" at "
            f"{first.path}:{first.line}: {_shown(first.message)}",
            output=_shown(done.output),
            annotations=[Annotation(f.path, f.line,
                                    _shown(f"\"{f.name}\" failed: {f.message}"), "deno test")
                         for f in failures[:50]],
            stop_the_line="unit tests failed")
    return total


@dataclass(frozen=True)
class DenoResult:
    output: str  # for the step's log
    summary: str  # a few words for the step's note: "2 functions checked, 143 tests passed"


async def run_deno_tests(source_root: Path, functions_rel: str) -> DenoResult:
    """Check and test the functions of `functions_rel` in the checkout at `source_root`;
    what was checked and tested when all is well, StepFailed (with the reason and the fix)
    otherwise."""
    functions_dir = source_root / functions_rel
    if not functions_dir.is_dir():
        return DenoResult(f"no functions directory ({functions_rel}): no Deno tests to run",
                          "no functions")
    try:
        found = discover(functions_dir, config_toml_path(functions_dir))
    except FunctionLayoutError as exc:
        reason = str(exc)  # it names the folder by its last part: name it as configured
        if reason.startswith(f"{functions_dir.name}/ "):
            reason = functions_rel.rstrip("/") + reason[len(functions_dir.name):]
        raise StepFailed(reason, stop_the_line="unit tests failed") from None
    tests = find_test_files(functions_dir)
    groups = plan_groups(functions_dir, functions_rel, found, tests)
    if not groups:
        return DenoResult(f"no functions and no Deno tests in {functions_rel}", "no functions")
    try:
        deno = deno_binary()
    except DenoNotFound as exc:
        raise StepFailed(str(exc), stop_the_line="required tools missing") from None
    try:
        sandbox = sandbox_from_env()
    except SandboxUnavailable as exc:
        raise StepFailed(f"the functions' checks and tests were not run: pull-request code "
                         f"runs only in a sandbox, and {exc}",
                         stop_the_line="sandbox unavailable") from None
    deno_dir = shared_deno_dir()
    deno_dir.mkdir(parents=True, exist_ok=True)
    hand_over(deno_dir, sandbox)
    run = _Run(functions_dir, functions_rel, deno, deno_dir, sandbox)
    await _fetch(run, groups)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    await _check(run, [g for g in groups if g.entrypoints or g.tests], deadline)
    report = await _test(run, groups, deadline)
    lines = [deno_version(deno) or "deno",
             f"deno check: {len(found.functions)} function(s) "
             f"({', '.join(found.slugs) or 'none'})"
             + (f" and {len(tests)} test file(s)" if tests else "")]
    if not tests:
        lines.append(f"no Deno tests found in {functions_rel}")
    else:
        counts = [f"{report.passed} passed"]
        if report.skipped:
            counts.append(f"{report.skipped} ignored")
        lines.append(f"deno test: {', '.join(counts)}")
    if found.skipped:
        lines.append("not functions (no entrypoint): " + ", ".join(found.skipped))
    checked = f"{_count(len(found.functions), 'function')} checked"
    tested = (f"{_count(report.passed, 'Deno test')} passed" if tests else "no Deno tests")
    return DenoResult("\n".join(lines), f"{checked}, {tested}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
