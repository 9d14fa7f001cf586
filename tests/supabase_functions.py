"""A repository with Supabase edge functions of its own, for tests of the Deno preflight.

The layout is the Supabase CLI's: `supabase/config.toml` (public-ping with verify_jwt =
false), `supabase/functions/<name>/index.ts` calling Deno.serve, a `_shared/` module, an
`npm:` import (inline in hello, through deno.json's import map in public-ping) and Deno
tests in each naming the CLI and Deno know (`*_test.ts`, `*.test.ts`, `tests/*-test.ts`).
The migrations and checks are this project's, so the rest of preflight passes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixture_repo import CONFIG, commit, make_repo

FUNCTIONS = "supabase/functions"
CONFIG_WITH_SUPABASE_FUNCTIONS = CONFIG + f"paths:\n  functions: {FUNCTIONS}\n"

CONFIG_TOML = """\
project_id = "deno-preflight-test"

[functions.public-ping]
verify_jwt = false
"""

SHARED = """\
export function greeting(name: string): string {
  return `Hello, ${name}!`;
}
"""

HELLO = """\
import ms from "npm:ms@2.1.3";
import { greeting } from "../_shared/greeting.ts";

export async function handler(req: Request): Promise<Response> {
  const body = await req.json().catch(() => ({}));
  const name = typeof body.name === "string" ? body.name : "world";
  return Response.json({ message: greeting(name), cacheFor: ms("2 days") });
}

if (import.meta.main) {
  Deno.serve(handler);
}
"""

HELLO_TEST = """\
import { strictEqual } from "node:assert/strict";
import { handler } from "./index.ts";

function ask(body: unknown): Promise<Response> {
  return handler(new Request("http://hello/", { method: "POST", body: JSON.stringify(body) }));
}

Deno.test("greets by name", async () => {
  const answer = await ask({ name: "Ada" });
  strictEqual((await answer.json()).message, "Hello, Ada!");
});

Deno.test("says how long to cache", async () => {
  strictEqual((await (await ask({})).json()).cacheFor, 172800000);
});
"""

PING_DENO_JSON = '{\n  "imports": { "ms": "npm:ms@2.1.3" }\n}\n'

PING = """\
import ms from "ms";

export function handler(): Response {
  return Response.json({ pong: true, within: ms("1s") });
}

if (import.meta.main) {
  Deno.serve(handler);
}
"""

PING_TEST = """\
import { deepStrictEqual } from "node:assert/strict";
import { handler } from "./index.ts";

Deno.test("pongs", async () => {
  deepStrictEqual(await handler().json(), { pong: true, within: 1000 });
});
"""

SHARED_TEST = """\
import { strictEqual } from "node:assert/strict";
import { greeting } from "../_shared/greeting.ts";

Deno.test("shared greeting", () => {
  strictEqual(greeting("you"), "Hello, you!");
});
"""

PROJECT_FILES: dict[str, str] = {
    "supabase/config.toml": CONFIG_TOML,
    f"{FUNCTIONS}/_shared/greeting.ts": SHARED,
    f"{FUNCTIONS}/hello/index.ts": HELLO,
    f"{FUNCTIONS}/hello/hello_test.ts": HELLO_TEST,
    f"{FUNCTIONS}/public-ping/deno.json": PING_DENO_JSON,
    f"{FUNCTIONS}/public-ping/index.ts": PING,
    f"{FUNCTIONS}/public-ping/index.test.ts": PING_TEST,
    f"{FUNCTIONS}/tests/shared-test.ts": SHARED_TEST,
}
PASSING_TESTS = 4


def make_supabase_repo(dest: Path, files: dict[str, str] | None = None) -> Path:
    """This project's backend with its functions replaced by `files` (the Supabase-style
    project above when None), committed on main."""
    repo = make_repo(dest, CONFIG_WITH_SUPABASE_FUNCTIONS)
    shutil.rmtree(repo / "functions")
    for rel, text in (PROJECT_FILES if files is None else files).items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    commit(repo, "supabase functions")
    return repo
