"""The functions' Deno tests are pull-request code: preflight runs them sandboxed.

A pull request adds a Deno test that probes what it can reach: the worker's environment
(a fake GITHUB_PRIVATE_KEY is set in it), a file of the worker's host (the data directory's
github-app.json), the checkout (it tries to write into it) and the machine's PostgreSQL on
127.0.0.1:5432. Each probe reports what it saw by failing with a `PROBE <what> <seen>`
line, so the deployment stops at preflight and its output shows every observation. One
`deploybot deploy --dry-run` runs all probes; each test below checks one protection and
fails when that protection is removed from workers/runbook/deno_tests.py (the policy's
environment, the read-only copy, the unshared network) or the sandbox itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    ADMIN_URL,
    create_database,
    database_url,
    drop_database,
    prepare_environment,
)
from tests.supabase_functions import FUNCTIONS, make_supabase_repo
from workers.cli import main
from workers.source import checkout

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")

SECRET = "fake-app-key sekrit-worker-key"  # what the worker holds; no real key
APP_FILE_SECRET = "sekrit-app-file"
# Everything the tests' environment may hold: what Deno needs (workers/runbook/deno_tests.py,
# _DENO_ENV), PWD (bubblewrap sets it to the working directory) and PATH (the runner's).
DENO_ENV_KEYS = {"HOME", "DENO_DIR", "NO_COLOR", "DENO_NO_UPDATE_CHECK", "DENO_NO_PROMPT"}
ALLOWED_KEYS = DENO_ENV_KEYS | {"PWD", "PATH"}

PROBES = """\
const SECRET = %(secret)s;
const HOST_FILE = %(host_file)s;

function observed(what: string, seen: string): never {
  throw new Error(`PROBE ${what} ${seen} END`);
}

function why(error: unknown): string {
  return error instanceof Error ? `${error.name}:${error.message.split(" ")[0]}` : "thrown";
}

Deno.test("probe: the worker's environment", async () => {
  const env = Deno.env.toObject();
  let first = "";
  try {
    first = await Deno.readTextFile("/proc/1/environ");
  } catch (error) {
    first = why(error);
  }
  const everything = JSON.stringify(env) + first;
  const leaked = everything.includes(SECRET) || everything.includes("GITHUB_PRIVATE_KEY");
  observed("env", `keys=${Object.keys(env).sort().join(",")} secret=${leaked ? "SEEN" : "absent"}`);
});

Deno.test("probe: a file of the worker's host", async () => {
  try {
    const text = await Deno.readTextFile(HOST_FILE);
    observed("hostfile", `read=${text.length}chars`);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("PROBE")) throw error;
    observed("hostfile", `denied=${why(error)}`);
  }
});

Deno.test("probe: writing into the checkout", async () => {
  try {
    await Deno.writeTextFile(new URL("./pwned.txt", import.meta.url), "pwned");
    observed("write", "written");
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("PROBE")) throw error;
    observed("write", `denied=${why(error)}`);
  }
});

Deno.test("probe: the machine's PostgreSQL", async () => {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: 5432 });
    conn.close();
    observed("tcp", "connected");
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("PROBE")) throw error;
    observed("tcp", `denied=${why(error)}`);
  }
});
"""


def _ts(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("sandboxed-unit-tests")
    data = tmp / "data"
    data.mkdir()
    app_file = data / "github-app.json"
    app_file.write_text(json.dumps({"pem": APP_FILE_SECRET}))
    app_file.chmod(0o644)  # readable by anyone on the host: only the sandbox keeps it out
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    repo = make_supabase_repo(tmp / "repo")
    probe = repo / FUNCTIONS / "hello" / "probe_test.ts"
    probe.write_text(PROBES.replace("%(secret)s", _ts(SECRET))
                     .replace("%(host_file)s", _ts(str(app_file))))
    from tests.fixture_repo import commit

    commit(repo, "a pull request's probing tests")
    # The worker's checkout of the commit, writable by anyone: only the sandbox's read-only
    # copy can keep the tests from writing into it.
    tree = checkout(repo, "HEAD", data / "checkouts").root
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", bot)
        mp.setenv("STAGING_DATABASE_URL", staging)
        mp.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
        mp.setenv("DEPLOYBOT_DATA_DIR", str(data))
        mp.setenv("GITHUB_PRIVATE_KEY", SECRET)
        mp.setenv("COLUMNS", "400")
        mp.chdir(repo)
        try:
            with contextlib.redirect_stdout(out):
                code = main(["deploy", "staging", "--dry-run"])
        finally:
            for n in names:
                drop_database(n)
    text = out.getvalue()
    seen = dict(re.findall(r"PROBE (\w+) (.*?) END", text))
    yield {"code": code, "out": text, "seen": seen, "repo": repo, "data": data}


def test_the_probes_ran_and_stopped_the_deployment_at_preflight(
        probed: dict[str, object]) -> None:
    seen = probed["seen"]
    assert isinstance(seen, dict)
    assert set(seen) == {"env", "hostfile", "write", "tcp"}, probed["out"]
    assert probed["code"] == 1
    assert "4 Deno test(s) failed" in str(probed["out"])


def test_the_tests_get_none_of_the_worker_environment(probed: dict[str, object]) -> None:
    seen = probed["seen"]
    assert isinstance(seen, dict)
    keys, secret = seen["env"].split(" ")
    names = set(keys.removeprefix("keys=").split(","))
    assert DENO_ENV_KEYS <= names <= ALLOWED_KEYS, names
    assert secret == "secret=absent"
    assert "sekrit" not in str(probed["out"])  # nor does the output show it


def test_the_tests_cannot_read_a_file_of_the_worker_host(probed: dict[str, object]) -> None:
    seen = probed["seen"]
    assert isinstance(seen, dict)
    assert seen["hostfile"] == "denied=NotFound:No", seen
    assert APP_FILE_SECRET not in str(probed["out"])


def test_the_tests_cannot_write_into_the_checkout(probed: dict[str, object]) -> None:
    seen = probed["seen"]
    assert isinstance(seen, dict)
    assert seen["write"].startswith("denied="), seen
    written = [p for root in (probed["repo"], probed["data"]) if isinstance(root, Path)
               for p in root.rglob("pwned.txt")]
    assert written == []  # not in the repository, nor in the worker's (writable) checkout


def test_the_tests_cannot_reach_the_machine_postgresql(probed: dict[str, object]) -> None:
    host, port = "127.0.0.1", 5432
    assert f"@{host}:{port}/" in ADMIN_URL  # the server the probe aims at is there ...
    with socket.create_connection((host, port), timeout=5):
        pass  # ... and answers from the worker
    seen = probed["seen"]
    assert isinstance(seen, dict)
    assert seen["tcp"].startswith("denied="), seen
