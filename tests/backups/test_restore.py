"""Backups are taken with pg_dump, read back, and restore the environment exactly."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.backups.conftest import apply_migrations, as_database, migration_files
from workers.drivers.backups import LocalBackupStore
from workers.drivers.interfaces import BackupError
from workers.runbook.snapshot import diff, snapshot

SETUP = """
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations
    (version text PRIMARY KEY, statements text[], name text);
INSERT INTO supabase_migrations.schema_migrations VALUES ('20260101000000', '{x}', 'baseline');
CREATE TABLE public.items (id serial PRIMARY KEY, name text NOT NULL, price numeric,
                           note text);
INSERT INTO public.items (name, price, note) VALUES ('a', 1.5, 'x'), ('b', 2, NULL);
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_read ON public.items FOR SELECT TO authenticated USING (true);
COMMENT ON TABLE public.items IS 'things';
CREATE FUNCTION public.on_signup() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER on_signup AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.on_signup();
-- more platform objects that depend on the project's schema (dropped by the cascade)
CREATE FUNCTION public.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT lower(t)';
CREATE INDEX users_norm_email ON auth.users (public.norm(email));
CREATE POLICY users_admin ON auth.users USING (public.norm(email) = 'admin');
CREATE TABLE auth.item_audit (item_id int REFERENCES public.items (id));
CREATE SCHEMA deploybot;
CREATE TABLE deploybot.active_function_release (singleton boolean PRIMARY KEY, release_id bigint);
INSERT INTO deploybot.active_function_release VALUES (true, 1);
"""

CHANGES = """
CREATE TABLE public.extra (id int PRIMARY KEY);
INSERT INTO public.extra VALUES (1);
ALTER TABLE public.items DROP COLUMN note;
UPDATE public.items SET price = price * 2;
DELETE FROM public.items WHERE name = 'b';
DROP POLICY items_read ON public.items;
INSERT INTO supabase_migrations.schema_migrations VALUES ('20260107000001', '{y}', 'next');
UPDATE deploybot.active_function_release SET release_id = 2;
CREATE SCHEMA newstuff;
CREATE TABLE newstuff.t (x int);
GRANT ALL ON SCHEMA public TO anon;
SELECT nextval('public.items_id_seq');
"""


def run_sql(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


async def test_restore_undoes_schema_and_data_changes(shim_db: str, tmp_path: Path) -> None:
    run_sql(shim_db, SETUP)
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    before = await snapshot(shim_db)
    backup = await store.create(db, "staging-1")
    run_sql(shim_db, CHANGES)
    changed = await snapshot(shim_db)
    assert diff(before, changed)  # the snapshot sees every kind of change

    await store.restore(backup, db)

    assert diff(before, await snapshot(shim_db)) == []


async def test_restore_puts_back_the_owners_global_default_privileges(
        shim_db: str, tmp_path: Path) -> None:
    # A common first line of Supabase migrations: no EXECUTE for PUBLIC on new functions,
    # for the migrating role in every schema (no IN SCHEMA, so no schema drop removes it).
    run_sql(shim_db, SETUP + "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO anon;")
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    before = await snapshot(shim_db)
    backup = await store.create(db, "staging-1")
    run_sql(shim_db, "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;"
                     "ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM anon;"
                     "ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO authenticated;"
                     "ALTER DEFAULT PRIVILEGES GRANT SELECT ON SEQUENCES TO anon;")
    assert diff(before, await snapshot(shim_db))

    await store.restore(backup, db)

    assert diff(before, await snapshot(shim_db)) == []
    with psycopg.connect(shim_db) as conn:
        acls = conn.execute("SELECT defaclobjtype::text, defaclacl::text FROM pg_default_acl"
                            " WHERE defaclnamespace = 0 AND defaclrole = current_user::regrole"
                            ).fetchall()
    assert [kind for kind, _ in acls] == ["r"] and "anon=r/" in acls[0][1]


async def test_restore_puts_back_the_owners_publications(shim_db: str, tmp_path: Path) -> None:
    # Supabase Realtime's publication, made and changed by migrations; one the dump has
    # and one it lacks.
    run_sql(shim_db, SETUP + "CREATE PUBLICATION kept FOR TABLE public.items;")
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    before = await snapshot(shim_db)
    backup = await store.create(db, "staging-1")
    run_sql(shim_db, "CREATE TABLE public.products (id int PRIMARY KEY);"
                     "CREATE PUBLICATION supabase_realtime FOR TABLE public.products;"
                     "ALTER PUBLICATION kept DROP TABLE public.items;"
                     "ALTER PUBLICATION kept ADD TABLE public.products;")
    assert diff(before, await snapshot(shim_db))

    await store.restore(backup, db)

    assert diff(before, await snapshot(shim_db)) == []
    with psycopg.connect(shim_db) as conn:
        rows = conn.execute("SELECT pubname, schemaname || '.' || tablename "
                            "FROM pg_publication_tables ORDER BY 1, 2").fetchall()
    assert rows == [("kept", "public.items")]


FIXTURE_DATA = """
INSERT INTO auth.users (id, email) VALUES
    ('00000000-0000-0000-0000-0000000000a1', 'a@example.invalid'),
    ('00000000-0000-0000-0000-0000000000b2', 'b@example.invalid') ON CONFLICT DO NOTHING;
INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, delivery_speed,
                           breakdown, total, expires_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 100, 'PLA_STANDARD', 'standard', 1, 'standard',
        '{"total": 24}', 24, now() + interval '7 days')
"""


def _try_fixture_data(url: str) -> None:
    """Some rows in the migrated tables (best effort: the migrations' columns may change)."""
    try:
        run_sql(url, FIXTURE_DATA)
    except psycopg.Error:
        run_sql(url, FIXTURE_DATA.split(";")[0])


async def test_restore_after_migrations_on_a_project_database(shim_db: str,
                                                              tmp_path: Path) -> None:
    files = migration_files()
    if len(files) < 2:
        pytest.skip("needs migrations/*.sql")
    # The environment has the baseline; the deployment applies the rest, then restores.
    apply_migrations(shim_db, files[:1])
    _try_fixture_data(shim_db)
    run_sql(shim_db, "CREATE SCHEMA deploybot; CREATE TABLE deploybot.active_function_release"
                     " (singleton boolean PRIMARY KEY, release_id bigint);"
                     "INSERT INTO deploybot.active_function_release VALUES (true, 3)")
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    before = await snapshot(shim_db)
    backup = await store.create(db, "staging-5")

    apply_migrations(shim_db, files[1:])
    _try_fixture_data(shim_db)
    run_sql(shim_db, "UPDATE deploybot.active_function_release SET release_id = 4")
    assert diff(before, await snapshot(shim_db))

    await store.restore(backup, db)
    assert diff(before, await snapshot(shim_db)) == []


async def test_restore_of_a_fully_migrated_database(migrated_db: str, tmp_path: Path) -> None:
    _try_fixture_data(migrated_db)
    store = LocalBackupStore(tmp_path)
    db = as_database(migrated_db)
    before = await snapshot(migrated_db)
    backup = await store.create(db, "production-8")
    run_sql(migrated_db, "DROP TABLE public.quotes CASCADE; DELETE FROM public.profiles;"
                         "DELETE FROM supabase_migrations.schema_migrations;"
                         "REVOKE USAGE ON SCHEMA public FROM anon")
    await store.restore(backup, db)
    assert diff(before, await snapshot(migrated_db)) == []
    # restoring twice is harmless
    await store.restore(backup, db)
    assert diff(before, await snapshot(migrated_db)) == []


async def test_restore_refuses_to_lose_platform_objects(shim_db: str, tmp_path: Path) -> None:
    run_sql(shim_db, "CREATE TABLE public.plans (id int PRIMARY KEY)")
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    backup = await store.create(db, "staging-2")
    # a platform view that depends on a project table: the cascade would drop it for good
    run_sql(shim_db, "CREATE VIEW auth.plan_ids AS SELECT id FROM public.plans;"
                     "INSERT INTO public.plans VALUES (1)")
    changed = await snapshot(shim_db)
    with pytest.raises(BackupError, match=r"auth\.plan_ids") as refused:
        await store.restore(backup, db)
    assert "nothing was changed" in str(refused.value)
    assert diff(changed, await snapshot(shim_db)) == []


async def test_failed_restore_changes_nothing(shim_db: str, tmp_path: Path) -> None:
    run_sql(shim_db, "CREATE TABLE public.owners (id uuid REFERENCES auth.users (id));"
                     "INSERT INTO auth.users (id) VALUES ('00000000-0000-0000-0000-000000000001');"
                     "INSERT INTO public.owners VALUES ('00000000-0000-0000-0000-000000000001')")
    store = LocalBackupStore(tmp_path)
    db = as_database(shim_db)
    backup = await store.create(db, "staging-3")
    # the referenced user is gone: the restored foreign key cannot be validated
    run_sql(shim_db, "DROP TABLE public.owners; DELETE FROM auth.users;"
                     "CREATE TABLE public.newer (x int)")
    changed = await snapshot(shim_db)
    with pytest.raises(BackupError, match="nothing was changed"):
        await store.restore(backup, db)
    assert diff(changed, await snapshot(shim_db)) == []


@pytest.mark.slow
async def test_restore_on_embedded_postgres_18(tmp_path: Path) -> None:
    from service.embedded.postgres import EmbeddedPostgres

    # Not under pytest's tmp_path: concurrent pytest runs of the machine prune those
    # directories, and the server's files outlive a test's stay there.
    data = tempfile.mkdtemp(prefix="deploybot-pg18-")
    server = EmbeddedPostgres(Path(data))
    try:
        server.ensure_running()
        # as the bot prepares an environment: its own owner role, the shim by the admin
        url = server.prepare_environment("env18")
        run_sql(url, SETUP)
        store = LocalBackupStore(tmp_path / "store")
        db = as_database(url)
        before = await snapshot(url)
        assert before.server_version_num >= 180000
        backup = await store.create(db, "staging-18")
        assert backup.server_version_num >= 180000 and backup.entries > 0
        run_sql(url, CHANGES)
        await store.restore(backup, db)
        assert diff(before, await snapshot(url)) == []

        files = migration_files()
        if len(files) >= 2:  # the project's migrations, the last one undone by a restore
            url = server.prepare_environment("project18")
            apply_migrations(url, files[:-1])
            _try_fixture_data(url)
            before = await snapshot(url)
            backup = await store.create(as_database(url), "production-18")
            apply_migrations(url, files[-1:])
            _try_fixture_data(url)
            await store.restore(backup, as_database(url))
            assert diff(before, await snapshot(url)) == []
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
