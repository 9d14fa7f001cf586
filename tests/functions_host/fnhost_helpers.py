"""Helpers for the function host tests: small Supabase-style TypeScript functions written
into a tmp dir (`<functions>/<slug>/index.ts` calling Deno.serve)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx

from service.config.model import Config, EnvironmentConfig
from tests.polling import wait_for as wait_for  # re-exported for the host tests
from tests.recorder import Recorder
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.interfaces import Database, FunctionReleases
from workers.runbook.context import DeployContext, Environment, SourceTree

ANON_KEY = "anon-key-for-tests-0123456789"
SERVICE_KEY = "service-key-for-tests-9876543210"
JWT_SECRET = "jwt-secret-for-the-function-host-tests-0123456789"
# Names a function may look for in its environment (Deno.env.get of any name reads).
PROBED_ENV = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL",
              "SUPABASE_SERVICE_ROLE_KEY", "GITHUB_PRIVATE_KEY", "DATABASE_URL",
              "PRODUCTION_DATABASE_URL", "PATH", "HOME", "DENO_DIR")

# A function that tells which version answered, and what it saw of its request.
VERSION_FN = """
const VERSION = %(version)s;
const PROBED = %(probed)s;

Deno.serve(async (req: Request) => {
  const url = new URL(req.url);
  const env = PROBED.filter((name: string) => {
    try { return Deno.env.get(name) !== undefined; } catch { return false; }
  });
  return Response.json({
    version: VERSION,
    path: url.pathname,
    query: url.search.slice(1),
    method: req.method,
    body: await req.text(),
    env,
    supabase_url: Deno.env.get("SUPABASE_URL"),
  });
});
"""

RAISING_FN = """
Deno.serve(() => {
  throw new Error("secret internal detail: do not leak me");
});
"""

# What Supabase's edge runtime gives a function beyond Deno: the `EdgeRuntime` global, whose
# waitUntil keeps a background task running after the response, and reads of variables it
# was not given (an optional secret) that return undefined instead of throwing.
EDGE_RUNTIME_FN = """
const BOOT = crypto.randomUUID();  // changes if the process is started again
const OPTIONAL = Deno.env.get("STRIPE_API_KEY") || "not set";  // read while loading
const done: string[] = [];

Deno.serve((req: Request) => {
  const task = new URL(req.url).searchParams.get("task");
  if (task) {
    EdgeRuntime.waitUntil((async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      done.push(task);
    })());
    EdgeRuntime.waitUntil(Promise.reject(new Error("a background task that fails")));
    return Response.json({ accepted: task });
  }
  return Response.json({
    boot: BOOT, done, optional: OPTIONAL, edgeRuntime: typeof EdgeRuntime.waitUntil,
    has: Deno.env.has("GITHUB_PRIVATE_KEY"), all: Object.keys(Deno.env.toObject()).sort(),
  });
});
"""

# A function in several modules, with a shared module (`_shared/`) and an npm dependency.
GREET_FN = """
import { z } from "npm:zod@3.23.8";
import { GREETING } from "../_shared/greeting.ts";

const Body = z.object({ name: z.string().min(1) });

Deno.serve({ port: 8000 }, async (req: Request) => {
  const parsed = Body.safeParse(await req.json().catch(() => null));
  if (!parsed.success) {
    return Response.json({ error: "name is required" }, { status: 400 });
  }
  return Response.json({ greeting: `${GREETING}, ${parsed.data.name}` });
});
"""


def write_function(root: Path, slug: str, source: str, **extra: str) -> Path:
    """functions/<slug>/index.ts (plus other files of the function, by name)."""
    directory = root / slug
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.ts").write_text(textwrap.dedent(source))
    for name, text in extra.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def write_version(root: Path, slug: str, version: str) -> Path:
    return write_function(root, slug, VERSION_FN % {"version": json.dumps(version),
                                                    "probed": json.dumps(PROBED_ENV)})


def write_config_toml(functions_dir: Path, text: str) -> Path:
    """supabase/config.toml beside supabase/functions."""
    path = functions_dir.parent / "config.toml"
    path.write_text(textwrap.dedent(text))
    return path


def auth(key: str = ANON_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}




async def version_of(client: httpx.AsyncClient, base: str, slug: str = "hello") -> Any:
    response = await client.get(f"{base}/functions/v1/{slug}", headers=auth())
    if response.status_code != 200:
        return response.status_code
    return response.json()["version"]






def make_env(database: Database, releases: FunctionReleases,
             host: FunctionHostProcess | None, anon_key: str = ANON_KEY) -> Environment:
    return Environment(
        name="staging",
        config=EnvironmentConfig(name="staging", database_url_env="STAGING_DATABASE_URL"),
        database=database,
        backups=None,  # type: ignore[arg-type]  # not used by these steps
        functions=releases,
        anon_key=anon_key,
        functions_url=host.ensure_started if host is not None else None,
    )


def make_ctx(env: Environment, root: Path, commit: str = "f" * 40,
             reporter: Recorder | None = None) -> DeployContext:
    return DeployContext(deployment_id=1, environment=env, source=SourceTree(root, commit),
                         config=Config(environments={"staging": env.config}),
                         reporter=reporter or Recorder())
