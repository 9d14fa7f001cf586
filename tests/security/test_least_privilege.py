"""Issue 11.2: a pull request's migration runs as the environment's least-privilege owner
role, on the embedded default and on the machine's PostgreSQL alike.

Each attack is a migration on a branch, deployed through `deploybot deploy staging --ref`
(the whole runbook). It must fail at the protection it targets (the test checks the
server's refusal, not just "it failed"), leave nothing in the ledger, and leave staging as it
was. `test_with_the_opt_in_the_same_attack_reaches_the_ledger` is the control: with a
superuser URL (the protection removed) the very same dblink migration forges the ledger row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.environment_worlds import SERVERS, World, full_embedded_build, make_world
from tests.fixture_repo import branch_with
from workers.runbook.snapshot import EnvironmentSnapshot, diff, snapshot

VERSION = "20260301000000"
FORGER = "mallory"
PRODUCTION_CONFIRMATION = (
    "insert into ledger.confirmations (repo, environment, item, confirmed_by) "
    f"values ('acme/backend', 'production', 'leaked-password-protection', '{FORGER}')")


@pytest.fixture(scope="module", params=SERVERS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"world-{request.param}")
    for w in make_world(str(request.param), tmp):
        with pytest.MonkeyPatch.context() as mp:
            w.apply(mp)
            assert w.deploy() == 0  # staging runs main: what each attack starts from
        yield w


@pytest.fixture
def on(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    world.apply(monkeypatch)
    return world


def state(url: str) -> EnvironmentSnapshot:
    return asyncio.run(snapshot(url))


def forged_rows(world: World) -> int:
    with psycopg.connect(world.ledger_admin_url) as conn:
        if conn.execute("SELECT to_regclass('ledger.confirmations')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM ledger.confirmations WHERE confirmed_by = %s",
                           (FORGER,)).fetchone()
    return int(row[0]) if row else 0


def attack(world: World, name: str, sql: str, capsys: pytest.CaptureFixture[str]
           ) -> tuple[int, str]:
    """Deploy a branch whose one new migration is `sql`; the exit code and the output."""
    files = {f"migrations/{VERSION}_{name}.sql": sql,
             f"migrations/rollback/{VERSION}_{name}.sql": "drop table if exists public.pwn;\n"}
    sha = branch_with(world.repo, name, files)
    capsys.readouterr()
    code = world.deploy("--ref", sha)
    return code, capsys.readouterr().out


def assert_refused(code: int, out: str, before: EnvironmentSnapshot, world: World,
                   *refusals: str) -> None:
    assert code == 1, out
    flat = " ".join(out.split())
    assert any(r in flat for r in refusals), out
    assert forged_rows(world) == 0
    assert diff(before, state(world.staging_admin_url), sequences=False) == []


def dblink_attack(world: World) -> str:
    return (f"create extension if not exists dblink;\n"
            f"select dblink_exec('{world.dblink_ledger()}', $x${PRODUCTION_CONFIRMATION}$x$);\n")


def test_the_environment_role_is_no_superuser_and_cannot_connect_to_the_ledger(
        on: World) -> None:
    with psycopg.connect(on.staging_url) as conn:
        assert conn.info.parameter_status("is_superuser") == "off"
        role = conn.info.user
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user").fetchone()
        assert attributes == (False, False, False, False)
        for predefined in ("pg_execute_server_program", "pg_read_server_files",
                           "pg_write_server_files"):
            assert conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')",
                                (predefined,)).fetchone() == (False,)
    own = psycopg.conninfo.conninfo_to_dict(on.staging_url).get("password")
    ledger_as_env = psycopg.conninfo.make_conninfo(  # its own password, the ledger's database
        on.ledger_admin_url, user=role, **({"password": own} if own else {}))
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(ledger_as_env).close()


def test_a_migration_cannot_reach_the_ledger_with_dblink(
        on: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(on.staging_admin_url)
    code, out = attack(on, "dblink_ledger", dblink_attack(on), capsys)
    refusals = ['permission denied to create extension "dblink"']
    if on.server == "embedded" and not full_embedded_build():
        refusals.append("has no extension 'dblink'")  # the wheel's server lacks it anyway
    assert_refused(code, out, before, on, *refusals)


def test_a_migration_cannot_run_programs_on_the_server(
        on: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(on.staging_admin_url)
    code, out = attack(on, "copy_program", (
        "create table public.pwn (line text);\n"
        "copy public.pwn from program 'id';\n"), capsys)
    assert_refused(code, out, before, on,
                   "privileges of the pg_execute_server_program role",  # PostgreSQL 15
                   "permission denied to COPY to or from an external program")  # 16+


def test_a_migration_cannot_read_server_files(
        on: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(on.staging_admin_url)
    code, out = attack(on, "read_files", (
        "create table public.pwn (line text);\n"
        "copy public.pwn from '/etc/passwd';\n"), capsys)
    assert_refused(code, out, before, on,
                   "privileges of the pg_read_server_files role",  # PostgreSQL 15
                   "permission denied to COPY from a file")  # 16+


def test_a_migration_cannot_create_an_untrusted_language_function(
        on: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(on.staging_admin_url)
    code, out = attack(on, "plpython", (
        "create extension if not exists plpython3u;\n"
        "create function public.pwn() returns text language plpython3u as $$\n"
        "import os\nreturn os.popen('id').read()\n$$;\n"), capsys)
    with psycopg.connect(on.staging_admin_url) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions "
                                 "WHERE name = 'plpython3u'").fetchone() is not None
    # where the server has it, only the role's lack of superuser stops it
    refusal = ('permission denied to create extension "plpython3u"' if available
               else "has no extension 'plpython3u'")
    assert_refused(code, out, before, on, refusal)


def test_a_superuser_url_is_refused_naming_the_fix(
        on: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_DATABASE_URL", on.staging_admin_url)
    before = state(on.staging_admin_url)
    code, out = attack(on, "as_superuser", dblink_attack(on), capsys)
    assert code == 1, out
    flat = " ".join(out.split())
    assert "a superuser" in flat and "CREATE ROLE" in flat and "REVOKE ALL ON DATABASE" in flat
    assert "DEPLOYBOT_ALLOW_SUPERUSER_DATABASES=1" in flat
    assert forged_rows(on) == 0
    assert diff(before, state(on.staging_admin_url), sequences=False) == []


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A world of its own: the control below leaves it changed."""
    for w in make_world("machine", tmp_path):
        w.apply(monkeypatch)
        assert w.deploy() == 0
        yield w


def test_with_the_opt_in_the_same_attack_reaches_the_ledger(
        machine: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The operator's explicit opt-in (a server setting) and a superuser URL: the protection
    # is off, and the dblink migration above does forge the confirmation — which is why the
    # refusals above matter. Every such connection is logged as a warning.
    monkeypatch.setenv("STAGING_DATABASE_URL", machine.staging_admin_url)
    monkeypatch.setenv("DEPLOYBOT_ALLOW_SUPERUSER_DATABASES", "1")
    with caplog.at_level(logging.WARNING, logger="workers.drivers.privileges"):
        attack(machine, "dblink_ledger", dblink_attack(machine), capsys)
    assert forged_rows(machine) == 1
    warnings = [r for r in caplog.records if "DEPLOYBOT_ALLOW_SUPERUSER_DATABASES=1"
                in r.getMessage() and r.levelno == logging.WARNING]
    assert warnings
