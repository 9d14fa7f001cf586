"""A repository shaped like a Supabase project (supabase/functions in TypeScript, config.toml,
pgTAP-free RLS suite, smoke checks) whose environments are hosted projects on the stand-in."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixture_repo import commit, git

STAGING_REF = "stagingprojectrefabc"  # 20 lower-case letters, like Supabase refs
PRODUCTION_REF = "productionprojectref"

HELLO = """\
import { greeting } from "../_shared/greeting.ts";

Deno.serve(async (req: Request) => {
  const body = req.method === "POST" ? await req.json() : {};
  return Response.json({ message: greeting(body.name ?? "world"), release: "one" });
});
"""
HELLO_500 = """\
Deno.serve(() => Response.json({ error: "boom" }, { status: 500 }));
"""
SHARED = """\
export function greeting(name: string): string {
  return `hello ${name}`;
}
"""
PING = """\
Deno.serve(() => Response.json({ pong: true }));
"""
CONFIG_TOML = """\
project_id = "hosted-example"

[functions.public-ping]
verify_jwt = false
"""
SMOKE = """\
version: 1
checks:
  - name: hello answers
    http:
      method: POST
      path: /functions/v1/hello
      json: {name: deploybot}
    expect:
      status: 200
      json: {message: hello deploybot}
  - name: ping answers without a key
    http:
      method: GET
      path: /functions/v1/public-ping
      auth: false
    expect:
      status: 200
      json: {pong: true}
"""
RLS = ("\\pset format unaligned\n\\pset tuples_only on\nselect '1..1';\n"
       "select 'ok 1 - nothing to protect';\n")


def config(functions_url: str) -> str:
    return f"""\
default_branch: main
paths:
  migrations: supabase/migrations
  rollbacks: supabase/migrations/rollback
  functions: supabase/functions
  rls_suite: supabase/tests/rls.sql
  smoke: supabase/smoke.yml
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
    supabase_project_ref: {STAGING_REF}
    supabase_access_token_env: STAGING_SUPABASE_TOKEN
    functions_url: {functions_url}
    deploy_on_push: [main]
  production:
    production: true
    database_url_env: PRODUCTION_DATABASE_URL
    anon_key_env: PRODUCTION_ANON_KEY
    supabase_project_ref: {PRODUCTION_REF}
    supabase_access_token_env: PRODUCTION_SUPABASE_TOKEN
    enable_leaked_password_protection: true
    functions_url: {functions_url}
    requires_staging: staging
"""


def hosted_repo(dest: Path, functions_url: str) -> Path:
    files = {
        ".github/deploybot.yml": config(functions_url),
        "supabase/config.toml": CONFIG_TOML,
        "supabase/functions/hello/index.ts": HELLO,
        "supabase/functions/_shared/greeting.ts": SHARED,
        "supabase/functions/public-ping/index.ts": PING,
        "supabase/tests/rls.sql": RLS,
        "supabase/smoke.yml": SMOKE,
    }
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    git(dest, "config", "user.email", "dev@example.com")
    git(dest, "config", "user.name", "Dev")
    commit(dest, "a Supabase project")
    return dest
