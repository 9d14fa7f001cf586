"""Preparing an environment database (service/embedded/environment_database.py): a database
made before environments had owner roles (an older data directory, where the superuser
created everything) passes to the owner role, so the next migrations can change it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from service.embedded import environment_database
from service.embedded.shim import apply_shim
from tests.conftest import ADMIN_URL, create_database, database_url, drop_database

OLD_MIGRATIONS = """
create type public.mood as enum ('ok', 'meh');
create table public.notes (id bigserial primary key, mood public.mood, body text);
create view public.note_bodies as select body from public.notes;
create function public.note_count() returns bigint language sql
    as 'select count(*) from public.notes';
create schema app;
create table app.settings (k text primary key, v text);
create extension if not exists pgcrypto with schema extensions;
"""


@pytest.fixture
def old_database() -> Iterator[str]:
    name = create_database("old")
    apply_shim(database_url(name))  # as an earlier bot did: no owner role
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        conn.execute(OLD_MIGRATIONS)
    try:
        yield name
    finally:
        drop_database(name)


def test_an_older_database_passes_to_its_owner_role(old_database: str) -> None:
    url = environment_database.prepare(ADMIN_URL, old_database)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.info.parameter_status("is_superuser") == "off"
        # what the next migrations do to objects the superuser made
        conn.execute("alter table public.notes add column title text")
        conn.execute("insert into public.notes (mood, body) values ('ok', 'x')")
        conn.execute("alter type public.mood add value 'great'")
        conn.execute("create or replace view public.note_bodies as "
                     "select body, title from public.notes")
        conn.execute("drop function public.note_count()")
        conn.execute("alter table app.settings add column note text")
        conn.execute("create table app.more (id int)")
        # the extension stays the admin's: only its objects' users change
        assert conn.execute("select extensions.gen_random_bytes(2) is not null"
                            ).fetchone() == (True,)
    # and preparing again changes nothing further
    assert environment_database.prepare(ADMIN_URL, old_database) == url


# A user as seeds for `supabase db reset` insert them: GoTrue's columns by name.
GOTRUE_STYLE_USER = """
insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
    email_confirmed_at, recovery_sent_at, last_sign_in_at, raw_app_meta_data,
    raw_user_meta_data, created_at, updated_at, confirmation_token, email_change,
    email_change_token_new, recovery_token)
values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
    'authenticated', 'seeded@example.invalid', extensions.crypt('pw', extensions.gen_salt('bf')),
    now(), now(), now(), '{"provider": "email"}', '{}', now(), now(), '', '', '', '')
returning confirmed_at is not null as confirmed, is_sso_user
"""


def test_auth_users_takes_a_seed_written_for_supabase(shim_db: str) -> None:
    with psycopg.connect(shim_db) as conn:  # as the environment's owner, not the admin
        row = conn.execute(GOTRUE_STYLE_USER).fetchone()
        conn.rollback()
    assert row == (True, False)


def test_an_older_shims_auth_users_gets_the_missing_columns(old_database: str) -> None:
    with psycopg.connect(database_url(old_database), autocommit=True) as conn:
        conn.execute("alter table auth.users drop column confirmation_token, "
                     "drop column confirmed_at")
    apply_shim(database_url(old_database))
    apply_shim(database_url(old_database))  # idempotent
    with psycopg.connect(database_url(old_database)) as conn:
        row = conn.execute(GOTRUE_STYLE_USER).fetchone()
    assert row == (True, False)
